from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lofi.moods import MOODS
from lofi.publish import seo

METADATA = {
    "track_id": "rainy-d-minor-72bpm-7",
    "request": {"mood": "rainy", "bpm": 72, "key": "D minor"},
    "seed": 7,
    "key": "D minor",
    "bpm": 72,
    "duration_s": 121.3,
    "chords": ["Dm7", "Dm7", None, "G7", "Cmaj7", "A7"],
    "instruments": ["Electric Piano 1", "Fingered Bass", "drums"],
}

weird = st.text(alphabet=st.characters(blacklist_categories=["Cs"]) | st.sampled_from("<>,\"' \n\t😀"), max_size=300)
metadata = st.fixed_dictionaries(
    {
        "request": st.fixed_dictionaries({"mood": st.sampled_from(MOODS) | weird}),
        "seed": st.integers(0, 2**32 - 1),
        "key": st.sampled_from(["D minor", "C major", "F♯ minor"]) | weird,
        "bpm": st.integers(40, 200) | st.floats(allow_nan=False, allow_infinity=False) | weird,
        "duration_s": st.floats(0, 10_000),
        "chords": st.lists(st.none() | weird, max_size=200),
        "instruments": st.lists(weird, max_size=60),
    }
)


def test_a_real_track_gets_words_from_its_music():
    title, description, tags = seo.seo_for(METADATA)
    assert "D minor" in title and "72" in title
    assert "Dm7 – G7 – Cmaj7 – A7" in description
    assert "Electric Piano 1" in description
    assert "rainy lofi" in tags and "72 bpm" in tags
    seo.validate(title, description, tags)


def test_the_same_seed_gives_the_same_words_and_seeds_vary_them():
    assert seo.seo_for(METADATA) == seo.seo_for(dict(METADATA))
    titles = {seo.seo_for({**METADATA, "seed": s}).title for s in range(12)}
    assert len(titles) > 3


def test_rendered_instrument_names_win_over_midi_parts():
    rendered = {**METADATA, "audio": {"instruments": {"keys": "Rhodes", "bass": "Upright"}}}
    assert "Instruments: Rhodes, Upright" in seo.seo_for(rendered).description


@settings(max_examples=150, deadline=None)
@given(metadata)
def test_generated_words_always_fit_youtube(meta):
    title, description, tags = seo.seo_for(meta)
    assert 0 < seo.characters(title) <= seo.TITLE_MAX
    assert len(description.encode("utf-8")) <= seo.DESCRIPTION_MAX
    assert seo.tags_length(tags) <= seo.TAGS_MAX
    for text in (title, description, *tags):
        assert "<" not in text and ">" not in text
    assert "\n" not in title
    assert all(tag and "," not in tag for tag in tags)
    seo.validate(title, description, tags)


def test_tags_are_counted_as_youtube_counts_them():
    # YouTube's own example: Foo-Baz is 7 characters, Foo Baz is 9 (quoted); commas between count
    assert seo.tags_length(["Foo-Baz"]) == 7
    assert seo.tags_length(["Foo Baz"]) == 9
    assert seo.tags_length(["Foo-Baz", "Foo Baz"]) == 7 + 1 + 9
    assert seo.tags_length(["😀"]) == 2  # outside the BMP: two UTF-16 units
    assert seo.tags_length([]) == 0


def test_tags_stop_at_the_limit():
    tags = seo.fit_tags(f"tag number {i}" for i in range(200))
    assert seo.tags_length(tags) <= 500
    assert seo.tags_length([*tags, "tag number 999"]) > 500


@pytest.mark.parametrize(
    ("title", "description", "tags", "message"),
    [
        ("x" * 101, "", [], "title is 101 characters"),
        ("", "", [], "title is empty"),
        ("a <b>", "", [], "title contains <"),
        ("two\nlines", "", [], "line break"),
        ("ok", "é" * 2501, [], "description is 5002 bytes"),
        ("ok", "see > there", [], "description contains <"),
        ("ok", "", ["fine", "<bad>"], "tags contain <"),
        ("ok", "", ["a,b"], "comma"),
        ("ok", "", [""], "empty tag"),
        ("ok", "", ["word " * 20] * 5, "tags take 514 characters"),  # 5 x (100 + 2 quotes) + 4 commas
    ],
)
def test_validate_names_each_broken_limit(title, description, tags, message):
    with pytest.raises(ValueError, match=message):
        seo.validate(title, description, tags)


def test_validate_reports_every_problem_at_once():
    with pytest.raises(ValueError) as info:
        seo.validate("x" * 200, "<", ["a,b"])
    assert all(word in str(info.value) for word in ("title", "description", "comma"))


def test_limits_hold_exactly_at_the_edge():
    seo.validate("x" * 100, "x" * 5000, ["x" * 500])
    with pytest.raises(ValueError, match="tags take 501"):
        seo.validate("x", "", ["x" * 501])


def test_clean_removes_angle_brackets_and_control_characters():
    assert seo.clean("a <script>\x00 b\n\tc") == "a script b c"
    assert seo.clean("word " * 50, 20).endswith("…")
    assert seo.characters(seo.clean("😀" * 60, 21)) <= 21


def test_tracklist_for_a_long_mix():
    entries = [(0, "Misty Rooftop"), (185.4, "Velvet <Tea>"), (3725, "Slow Tram")]
    assert seo.tracklist(entries) == "0:00:00 Misty Rooftop\n0:03:05 Velvet Tea\n1:02:05 Slow Tram"
    assert seo.tracklist([(0, "a"), (65, "b")]) == "0:00 a\n1:05 b"
    with pytest.raises(ValueError, match="start at 0:00"):
        seo.tracklist([(5, "a")])
    with pytest.raises(ValueError, match="increase"):
        seo.tracklist([(0, "a"), (0, "b")])


def test_mix_description_shortens_titles_to_fit_then_lists_what_fits_and_counts_the_rest():
    entries = [(i * 180.0, f"Track {i} " + "long words " * 10) for i in range(60)]
    text = seo.mix_description("A long mix.", entries, "Thanks for listening.")
    assert len(text.encode("utf-8")) <= 5000
    assert text.startswith("A long mix.") and text.endswith("Thanks for listening.")
    assert "more track" not in text and "2:57:00 Track 59" in text
    seo.validate("mix", text, [])
    cut = seo.mix_description("", [(i * 60.0, "x" * 40) for i in range(400)])
    shown = [line for line in cut.splitlines() if line[:1].isdigit()]
    assert len(cut.encode("utf-8")) <= 5000 and cut.endswith(f"…and {400 - len(shown)} more tracks")
    assert shown[0] == "0:00:00 " + "x" * 29 + "…" and len(shown) > 100  # past an hour: h:mm:ss on every line


def test_a_library_never_repeats_a_name_until_the_moods_names_run_out():
    """Each new track's name avoids the ones the library's tracks have: by seed alone, 41 tracks of one
    mood share a name (the birthday problem among its 120 names)."""
    seeds = [int(s) for s in np.random.default_rng(16).integers(0, 2**32, 121)]
    assert len({seo.track_name({**METADATA, "seed": s}) for s in seeds[:41]}) < 41
    taken: list[str] = []
    for seed in seeds[:120]:
        meta = {**METADATA, "seed": seed}
        name = seo.track_name(meta, taken)
        assert name not in taken and name in seo.seo_for(meta, taken).title
        assert seo.seo_for(meta, taken) == seo.seo_for(dict(meta), list(taken))  # still the seed's choice
        taken.append(name)
    # a free name is the seed's own, as before; with all 120 taken the seed's name comes again
    last = {**METADATA, "seed": seeds[120]}
    own = seo.track_name(last)
    assert seo.track_name(last, [name for name in taken if name != own]) == own == seo.track_name(last, taken)
