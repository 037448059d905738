"""`lofi vary` on the bundled default model: one part written again, every other part kept note for note."""

import json

import pytest
from symusic import Score
from typer.testing import CliRunner

from lofi.analysis.figures import compute_figures
from lofi.cli.main import app
from lofi.compose import Composer, ComposeRequest, arrange, write_track
from lofi.compose.request import VaryRequest
from lofi.compose.vary import Varier, turns
from lofi.instruments import BASS_PROGRAMS, MELODY_PROGRAMS
from lofi.model import load_checkpoint
from lofi.render.midi import read_midi
from lofi.settings import get_settings
from lofi.theory import Key

pytestmark = pytest.mark.slow
KEY = Key.parse("A minor")


def part_of(track) -> str:
    if track.is_drum:
        return "drums"
    if track.program in BASS_PROGRAMS:
        return "bass"
    return "lead" if track.program in MELODY_PROGRAMS else "keys"


def notes(track) -> list[tuple[int, int, int, int]]:
    return [(n.time, n.duration, n.pitch, n.velocity) for n in track.notes]


@pytest.fixture(scope="module")
def varier():
    checkpoint = load_checkpoint(get_settings().default_model, build=False)
    return Varier(Composer(checkpoint, engine="onnx-int8"))


@pytest.fixture(scope="module")
def source(varier, tmp_path_factory):
    """A 1.5-minute track of the default model (a melody over the loop, drums with fills)."""
    request = ComposeRequest(mood="jazzy", bpm=84, key=KEY.name, minutes=1.5, seed=21)
    return write_track(varier.composer.compose(request), tmp_path_factory.mktemp("tracks"))


@pytest.fixture(scope="module", params=["drums", "bass", "keys", "lead"])
def varied(request, varier, source):
    return request.param, varier.vary(source, read_midi(source / "track.mid"), VaryRequest(request.param, seed=4))


def test_the_other_parts_are_kept_note_for_note_and_the_part_is_new(source, varied):
    part, composition = varied
    before = Score(str(source / "track.mid"))
    after = composition.score
    # keys: the busiest chord part is written again; a second one, if any, is kept
    target = max(
        (i for i, t in enumerate(before.tracks) if part_of(t) == part), key=lambda i: len(before.tracks[i].notes)
    )
    assert len(after.tracks) == len(before.tracks)
    for i, (old, new) in enumerate(zip(before.tracks, after.tracks, strict=True)):
        assert (old.program, old.is_drum) == (new.program, new.is_drum)
        if i == target:
            assert notes(new) != notes(old), f"the {part} did not change"
            assert len(new.notes) > 0
        else:
            assert notes(new) == notes(old), f"{old.name} changed when only the {part} was to"


def test_the_new_part_keeps_the_key_and_the_lofi_figures(source, varied):
    _part, composition = varied
    metadata = json.loads((source / "metadata.json").read_text())
    score = composition.score
    for track in score.tracks:
        if not track.is_drum:
            outside = {n.pitch % 12 for n in track.notes} - set(KEY.usable_pitch_classes)
            assert not outside, f"{track.name}: pitch classes {outside} are not in {KEY.name}"
    figures = compute_figures(score, metadata["form"], composition.metadata["chords"], KEY).to_dict()
    assert figures["backbeat"] >= 0.9
    assert figures["drum_coverage"] == 1.0
    assert figures["bass_coverage"] >= 0.95
    assert figures["stacked_notes"] == 0.0
    assert figures["loop_repetition"] >= 0.75


def test_the_part_plays_only_where_it_played(source, varied):
    """The band's parts play in the same bars as before; a new melody stays inside the turns that had one."""
    part, composition = varied
    before = Score(str(source / "track.mid"))

    def bars_played(score):
        return {n.time // (4 * score.tpq) for t in score.tracks if part_of(t) == part for n in t.notes}

    old, new = bars_played(before), bars_played(composition.score)
    if part == "lead":
        turns_of_old = {b - 1 for b in composition.metadata["varied_from"]["bars"]}
        assert new and new <= turns_of_old | old
    else:
        assert new == old


def test_a_loop_still_loops(source, varier):
    """Turns that were the same get the same new part: the new bass of every turn of the loop is one bass."""
    composition = varier.vary(source, read_midi(source / "track.mid"), VaryRequest("bass", seed=8))
    metadata = json.loads((source / "metadata.json").read_text())
    swing = metadata["swing"]
    bars = arrange.bars_of(arrange.swing(composition.score, swing, undo=True), count=metadata["bars"])
    body = [t for t in turns(metadata["form"], metadata["bars"])[:-1] if len(t.bars) == 4 and t.section != "intro"]
    basses = {tuple(tuple(sorted((n.time, n.pitch) for p, ns in bars[b].items() if arrange.role(p) == "bass"
                                 for n in ns)) for b in t.bars) for t in body}  # fmt: skip
    assert len(body) >= 4 and len(basses) == 1


def test_the_same_seed_gives_the_same_track_and_records_its_source(source, varier):
    first = varier.vary(source, read_midi(source / "track.mid"), VaryRequest("lead", seed=11))
    second = varier.vary(source, read_midi(source / "track.mid"), VaryRequest("lead", seed=11))
    assert first.score.dumps_midi() == second.score.dumps_midi()
    assert first.track_id == f"{source.name}-lead-11"
    assert first.metadata["varied_from"]["track_id"] == source.name
    assert first.metadata["varied_from"]["part"] == "lead"
    other = varier.vary(source, read_midi(source / "track.mid"), VaryRequest("lead", seed=12))
    assert other.score.dumps_midi() != first.score.dumps_midi()


def test_a_section_changes_only_its_bars(source, varier):
    metadata = json.loads((source / "metadata.json").read_text())
    composition = varier.vary(source, read_midi(source / "track.mid"), VaryRequest("drums", section="A'", seed=3))
    changed = set(composition.metadata["varied_from"]["bars"])
    expected = {b + 1 for t in turns(metadata["form"], metadata["bars"]) if t.section == "A'" for b in t.bars}
    assert changed and changed <= expected
    before = Score(str(source / "track.mid"))
    drums_before = next(t for t in before.tracks if t.is_drum)
    drums_after = next(t for t in composition.score.tracks if t.is_drum)
    bar = 4 * before.tpq
    outside = [(n.time, n.pitch) for n in drums_before.notes if n.time // bar + 1 not in changed]
    assert outside == [(n.time, n.pitch) for n in drums_after.notes if n.time // bar + 1 not in changed]


def test_bad_requests_say_what_is_wrong(source, varier):
    with pytest.raises(ValueError, match="part must be one of drums, bass, keys, lead"):
        VaryRequest("cowbell")
    with pytest.raises(ValueError, match="no section 'Z': it has"):
        varier.vary(source, read_midi(source / "track.mid"), VaryRequest("drums", section="Z"))
    with pytest.raises(ValueError, match="drums plays in no turn of intro"):
        varier.vary(source, read_midi(source / "track.mid"), VaryRequest("drums", section="intro"))


def test_the_command_makes_a_track_beside_its_source(source, lofi_home):
    tracks = lofi_home / "tracks"
    tracks.mkdir(parents=True)
    result = CliRunner().invoke(app, ["vary", str(source), "--part", "bass", "--seed", "2", "--no-audio",
                                      "--out", str(tracks)])  # fmt: skip
    assert result.exit_code == 0, result.output
    folder = tracks / f"{source.name}-bass-2"
    metadata = json.loads((folder / "metadata.json").read_text())
    assert metadata["varied_from"]["track_id"] == source.name
    assert metadata["originality"]["verdict"] in ("clear", "review", "flagged")
    assert (folder / "pianoroll.png").is_file() and (folder / "cover.png").is_file()
    bad = CliRunner().invoke(app, ["vary", "no-such-track", "--part", "bass"])
    assert bad.exit_code != 0 and "no track 'no-such-track'" in bad.output
