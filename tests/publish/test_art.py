from __future__ import annotations

import io
import itertools
from dataclasses import replace

import numpy as np
import pytest
from PIL import Image

from lofi.moods import MOODS
from lofi.publish import art, fonts

TITLE, SUBTITLE = "Misty Rooftop", "lofi · rainy · D minor · 72 BPM"


def test_cover_and_thumbnail_files_have_their_sizes(tmp_path):
    plan = art.plan_art(7, "rainy")
    art.write_cover(tmp_path / "cover.png", plan, TITLE, SUBTITLE)
    art.write_thumbnail(tmp_path / "thumbnail.png", plan, TITLE, SUBTITLE)
    with Image.open(tmp_path / "cover.png") as cover, Image.open(tmp_path / "thumbnail.png") as thumb:
        assert (cover.size, cover.mode, cover.format) == ((3000, 3000), "RGB", "PNG")
        assert (thumb.size, thumb.mode, thumb.format) == ((1280, 720), "RGB", "PNG")
    assert (tmp_path / "thumbnail.png").stat().st_size < 2_000_000  # YouTube's thumbnail limit
    assert not list(tmp_path.glob("*.tmp"))


def test_a_preview_is_a_small_jpeg_of_the_picture(tmp_path):
    """For lists of tracks: the thumbnail's shape at the width of a card, a fraction of its bytes."""
    art.write_thumbnail(tmp_path / "thumbnail.png", art.plan_art(7, "rainy"), TITLE, SUBTITLE)
    data = art.preview(tmp_path / "thumbnail.png")
    with Image.open(io.BytesIO(data)) as small:
        assert (small.format, small.mode, small.size) == ("JPEG", "RGB", (art.PREVIEW_WIDTH, 270))
    assert len(data) * 10 < (tmp_path / "thumbnail.png").stat().st_size
    Image.new("RGB", (200, 100)).save(tmp_path / "small.png")  # a picture already small is not enlarged
    with Image.open(io.BytesIO(art.preview(tmp_path / "small.png"))) as same:
        assert same.size == (200, 100)


def test_the_same_seed_draws_the_same_bytes(tmp_path):
    for name in ("a.png", "b.png"):
        art.write_thumbnail(tmp_path / name, art.plan_art(42, "chill"), TITLE, SUBTITLE)
    assert (tmp_path / "a.png").read_bytes() == (tmp_path / "b.png").read_bytes()


def test_different_seeds_draw_different_pictures():
    pictures = [
        np.asarray(art.cover(art.plan_art(seed, "chill", palette="midnight"), TITLE, size=240)) for seed in (1, 2)
    ]
    assert np.abs(pictures[0].astype(int) - pictures[1]).mean() > 2


def test_there_are_at_least_eight_palettes_and_each_looks_different():
    assert len(art.PALETTES) >= 8
    plan = art.plan_art(3, motif="skyline", rain=False)
    means = {
        name: art.scene(replace(plan, palette=art.PALETTES[name]), 160, 90, grain=0).reshape(-1, 3).mean(axis=0)
        for name in art.PALETTES
    }
    for a, b in itertools.combinations(means, 2):
        assert np.abs(means[a] - means[b]).sum() > 6, (a, b)


def test_mood_picks_from_its_own_palettes_and_every_mood_has_some():
    for mood in MOODS:
        names = art.MOOD_PALETTES[mood]
        assert names and all(name in art.PALETTES for name in names)
        assert {art.plan_art(seed, mood).palette.name for seed in range(20)} <= set(names)
    assert art.plan_art(5, "rainy") == art.plan_art(5, "rainy")


def test_unknown_palette_or_motif_is_refused_by_name():
    with pytest.raises(ValueError, match="unknown palette 'neon'"):
        art.plan_art(1, palette="neon")
    with pytest.raises(ValueError, match="unknown motif"):
        art.plan_art(1, motif="beach")


@pytest.mark.parametrize("motif", art.MOTIFS)
@pytest.mark.parametrize("rain", [False, True])
def test_every_motif_draws(motif, rain):
    picture = art.scene(art.plan_art(11, motif=motif, rain=rain), 320, 180)
    assert picture.shape == (180, 320, 3) and picture.dtype == np.uint8
    assert picture.std() > 10  # a picture, not a flat colour


def test_the_title_is_drawn_where_it_belongs():
    plan = art.plan_art(9, "dreamy")
    with_title = np.asarray(art.cover(plan, TITLE, SUBTITLE, size=600)).astype(int)
    without = np.asarray(art.cover(plan, "", "", size=600)).astype(int)
    changed = np.abs(with_title - without).sum(axis=2) > 30
    assert changed[480:570].mean() > 0.03  # the title band near the bottom
    assert changed[:400].mean() == 0  # and nothing above it


def test_a_very_long_title_is_shrunk_or_cut_to_fit():
    text, size = art._fit("A very long title " * 20, 500, 120, 20, True)
    assert fonts.font(size, True).getlength(text) <= 500
    assert text.endswith("…") and size == 20
    picture = art.thumbnail(art.plan_art(1), "A very long title " * 20, size=(320, 180))
    assert picture.size == (320, 180)


def test_titles_fall_back_to_pillows_font_without_dejavu(monkeypatch):
    monkeypatch.setattr(fonts, "FONT_DIRS", ())
    fonts.font.cache_clear()
    try:
        assert fonts.font_path() is None
        picture = np.asarray(art.cover(art.plan_art(2), TITLE, size=300)).astype(int)
        blank = np.asarray(art.cover(art.plan_art(2), "", size=300)).astype(int)
        assert (np.abs(picture - blank).sum(axis=2) > 30).any()
    finally:
        fonts.font.cache_clear()


def test_debian_font_is_used_when_installed():
    path = fonts.font_path(bold=True)
    assert path is not None, "fonts-dejavu-core is not installed (make setup installs it)"
    assert fonts.font(40, bold=True).path == str(path)
