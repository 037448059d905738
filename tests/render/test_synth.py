"""FluidSynth stems from the real SoundFont, the palette, and humanization."""

from __future__ import annotations

import builtins

import numpy as np
import pytest

from helpers import make_score
from lofi.render.humanize import Humanize
from lofi.render.palette import PALETTES, Preset, choose, role_of
from lofi.render.synth import SynthUnavailable, load_fluidsynth, render_stems
from lofi.settings import get_settings

RATE = 44100


@pytest.fixture(scope="module")
def rendered():
    score = make_score(bars=4, bpm=120)  # 8 s
    return score, *render_stems(score, get_settings().soundfont, RATE, mood="rainy")


def _rms_db(x: np.ndarray) -> float:
    return 10 * np.log10(max(float(np.mean(np.square(x, dtype=np.float64))), 1e-20))


def test_each_part_gets_its_own_aligned_stereo_stem(rendered):
    _, stems, _ = rendered
    assert set(stems) == {"keys", "bass", "drums"}
    lengths = {stem.shape for stem in stems.values()}
    assert len(lengths) == 1
    channels, samples = lengths.pop()
    assert channels == 2
    # the score's 8 seconds plus the release tail
    assert 8.0 * RATE <= samples <= 10.5 * RATE
    for stem in stems.values():
        assert stem.dtype == np.float32
        assert np.isfinite(stem).all()
        assert _rms_db(stem) > -45, "a part with notes must not be silent"
        assert np.abs(stem).max() < 1.0


def test_the_mood_palette_picks_presets_by_name(rendered):
    _, _, parts = rendered
    chosen = {part.role: part.preset.name for part in parts}
    assert chosen == {"keys": "Rhodes EP", "bass": "Acoustic Bass", "drums": "Brush"}
    assert {part.channel for part in parts if part.role == "drums"} == {9}


def test_bass_sits_below_keys_in_the_spectrum(rendered):
    _, stems, _ = rendered

    def share_below(x, hz):
        power = np.abs(np.fft.rfft(x.mean(axis=0))) ** 2
        freqs = np.fft.rfftfreq(x.shape[1], 1 / RATE)
        return float(power[freqs < hz].sum() / power.sum())

    # the bass line's fundamentals lie under 150 Hz; the keys' chords above 290 Hz
    assert share_below(stems["bass"], 150) > 0.5
    assert share_below(stems["keys"], 150) < 0.1


def test_notes_sound_when_they_are_played_and_not_before():
    score = make_score(bars=2, bpm=120, drums=False)
    score = score.shift_time(2 * 480 * 4)  # two bars (4 s at 120 BPM) of silence first
    stems, _ = render_stems(score, get_settings().soundfont, RATE)
    keys = stems["keys"]
    assert np.abs(keys[:, : int(3.9 * RATE)]).max() == 0.0
    assert _rms_db(keys[:, int(4.05 * RATE) : int(5 * RATE)]) > -40


def test_without_a_mood_every_part_keeps_its_general_midi_program():
    presets = {"Yamaha Grand Piano": Preset(0, 0, "Yamaha Grand Piano"), "Rhodes EP": Preset(0, 4, "Rhodes EP")}
    assert choose(presets, None, "keys", 4).name == "Rhodes EP"
    assert choose(presets, None, "keys", 0).name == "Yamaha Grand Piano"
    # a name the SoundFont lacks falls back to the program number
    assert choose({}, "jazzy", "keys", 0) == Preset(0, 0, "program 0")


@pytest.mark.parametrize(
    ("program", "is_drum", "role"),
    [(0, False, "keys"), (4, False, "keys"), (26, False, "guitar"), (33, False, "bass"), (89, False, "pad"),
     (48, False, "pad"), (65, False, "lead"), (0, True, "drums")],
)  # fmt: skip
def test_roles_follow_general_midi_families(program, is_drum, role):
    assert role_of(program, is_drum) == role


def test_every_mood_has_a_palette_of_known_roles():
    from lofi.moods import MOODS

    assert set(PALETTES) == set(MOODS)
    for palette in PALETTES.values():
        assert set(palette) <= {"keys", "guitar", "bass", "pad", "lead", "drums"}


def test_a_missing_soundfont_says_how_to_install_it(tmp_path):
    with pytest.raises(SynthUnavailable, match="make setup"):
        render_stems(make_score(bars=1), tmp_path / "nothing.sf2", RATE)


def test_a_missing_fluidsynth_library_says_how_to_install_it(monkeypatch):
    real_import = builtins.__import__

    def without_fluidsynth(name, *args, **kwargs):
        if name == "fluidsynth":
            raise ImportError("Couldn't find the FluidSynth library.")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", without_fluidsynth)
    with pytest.raises(SynthUnavailable, match=r"libfluidsynth3.*make setup|make setup.*libfluidsynth3"):
        load_fluidsynth()


def test_swing_moves_offbeat_eighths_late_and_leaves_downbeats():
    score = make_score(bars=2)
    swung = Humanize(swing=0.6, timing_ms=0.0, velocity=0.0)(score)
    before = [n.time for n in score.tracks[2].notes]
    after = [n.time for n in swung.tracks[2].notes]
    shift = round(0.1 * 480)
    for a, b in zip(sorted(before), sorted(after), strict=True):
        assert b - a == (shift if a % 480 == 240 else 0)


def test_humanize_is_seeded_and_keeps_velocities_in_range():
    score = make_score(bars=4)
    a, b, c = (Humanize(seed=s, velocity=30.0)(score) for s in (1, 1, 2))
    notes = lambda s: [(n.time, n.duration, n.velocity) for t in s.tracks for n in t.notes]  # noqa: E731
    assert notes(a) == notes(b)
    assert notes(a) != notes(c)
    assert all(1 <= v <= 127 for _, _, v in notes(a))
    assert all(d > 0 for _, d, _ in notes(a))
    assert sum(len(t.notes) for t in a.tracks) == sum(len(t.notes) for t in score.tracks)
