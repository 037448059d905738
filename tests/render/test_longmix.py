"""The audio of a long mix on synthetic tracks: where the tracks switch, the crossfade rule, loudness as
pyloudnorm measures it, and mastering in blocks equal to mastering at once."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyloudnorm
import pytest
import soundfile

from lofi.publish import seo
from lofi.render import longmix, master

RATE = 44100
FREQUENCIES = (220.0, 330.0, 495.0, 740.0)


def sine(hz: float, seconds: float, amplitude: float = 0.3) -> np.ndarray:
    t = np.arange(int(seconds * RATE)) / RATE
    tone = amplitude * np.sin(2 * np.pi * hz * t)
    return np.stack([tone, tone]).astype(np.float32)


def beat(hz: float, seconds: float, seed: int) -> np.ndarray:
    """Loud enough that mastering at -9 LUFS has to limit: a tone with noise bursts on the beat."""
    t = np.arange(int(seconds * RATE)) / RATE
    rng = np.random.default_rng(seed)
    s = 0.2 * np.sin(2 * np.pi * hz * t) + 0.3 * rng.standard_normal(len(t)) * np.exp(-((t * 80 / 60) % 1) * 6)
    return np.stack([s, np.roll(s, 30)]).astype(np.float32)


def dominant_hz(audio: np.ndarray) -> float:
    """Which of the tracks' frequencies is the loudest in ``audio`` (Hann-windowed projections on each)."""
    t = np.arange(audio.shape[1]) / RATE
    window = np.hanning(audio.shape[1])
    return max(FREQUENCIES, key=lambda hz: abs(np.sum(audio[0] * window * np.exp(-2j * np.pi * hz * t))))


def wav_tracks(folder: Path, lengths_s: tuple[float, ...]) -> list[longmix.MixTrack]:
    """Sine tracks of the given lengths as 24-bit WAV files, one frequency each."""
    tracks = []
    for i, seconds in enumerate(lengths_s):
        path = folder / f"t{i}.wav"
        soundfile.write(path, sine(FREQUENCIES[i], seconds).T, RATE, subtype="PCM_24")
        tracks.append(longmix.MixTrack(f"Track {i}", path, f"track-{i}"))
    return tracks


def test_the_audio_switches_tracks_at_each_timestamp(tmp_path: Path):
    tracks = wav_tracks(tmp_path, (12.0, 10.0, 3.0, 11.0))  # the 3 s track shortens both its crossfades
    result, mixed = longmix.mix_tracks(tracks, tmp_path / "raw", crossfade_s=4.0)
    audio = np.asarray(mixed).T

    fades = [e.crossfade_samples for e in result.entries]
    assert fades == [0, 4 * RATE, int(1.5 * RATE), int(1.5 * RATE)]  # at most half of either track
    assert result.samples == audio.shape[1] == sum(e.length_samples for e in result.entries) - sum(fades)
    window = 2048
    for before, entry in zip(result.entries, result.entries[1:], strict=False):
        switch = entry.switch_sample
        assert entry.start_s == pytest.approx(switch / RATE)
        # the sample offsets used to join: the new track starts where the old one has `fade` samples left
        assert entry.offset_samples == before.offset_samples + before.length_samples - entry.crossfade_samples
        i = result.entries.index(entry)
        assert dominant_hz(audio[:, switch - window - 200 : switch - 200]) == FREQUENCIES[i - 1]
        assert dominant_hz(audio[:, switch + 200 : switch + window + 200]) == FREQUENCIES[i]
        # equal power: at the crossing both tracks are at -3 dB, so the level does not dip
        level = np.sqrt(np.mean(np.square(audio[0, switch - 500 : switch + 500])))
        assert level == pytest.approx(0.3 / np.sqrt(2), rel=0.05)
    # outside the crossfades each track plays alone, untouched (24-bit WAV precision)
    solo = result.entries[1].offset_samples + result.entries[1].crossfade_samples + 100
    expected = sine(FREQUENCIES[1], 10.0)[0, solo - result.entries[1].offset_samples]
    assert audio[0, solo] == pytest.approx(expected, abs=1e-6)
    # the tracklist's whole seconds are the switch points, rounded
    listed = result.tracklist()
    assert [t for t, _ in listed] == [0.0, *[float(round(e.start_s)) for e in result.entries[1:]]]
    assert seo.tracklist(listed).splitlines()[1] == f"0:{round(result.entries[1].start_s):02d} Track 1"


def test_a_crossfade_is_at_most_half_of_either_track_in_the_plan_and_in_the_length():
    lengths = [12 * RATE, 3 * RATE, 11 * RATE + 1]
    entries = longmix.plan_mix(["a", "b", "c"], lengths, RATE, 4 * RATE)
    assert [e.crossfade_samples for e in entries] == [0, 3 * RATE // 2, 3 * RATE // 2]
    end = entries[-1].offset_samples + entries[-1].length_samples
    assert end == longmix.mixed_length(lengths, 4 * RATE)
    # in seconds, as a chooser of tracks counts: the same rule
    assert longmix.mixed_length([12.0, 3.0, 11.0], 4.0) == 12 + 3 + 11 - 1.5 - 1.5
    assert longmix.mixed_length([12.0, 12.0, 12.0], 2.0) == 32.0
    assert longmix.mixed_length([7.0], 2.0) == 7.0


def test_mastering_in_blocks_equals_mastering_at_once(tmp_path: Path, monkeypatch):
    monkeypatch.setattr(longmix, "BLOCK", 30011)  # many blocks, none aligned with anything
    tracks = [longmix.MixTrack(f"t{i}", beat(hz, 9.0, i), sample_rate=RATE) for i, hz in enumerate(FREQUENCIES[:3])]
    _, mixed = longmix.mix_tracks(tracks, tmp_path / "raw", crossfade_s=3.0)
    blocks: list[np.ndarray] = []
    record = longmix.master_mix(mixed, RATE, lufs=-9.0, ceiling_db=-1.0, write=blocks.append)
    out = np.concatenate(blocks, axis=1)

    at_once = master.master(np.asarray(mixed).T.copy(), RATE, -9.0, -1.0)
    assert record["limiter_max_reduction_db"] > 1  # the limiter had work to do
    np.testing.assert_allclose(out, at_once.audio, atol=1e-6)
    assert record["lufs"] == pytest.approx(at_once.lufs, abs=0.01)
    assert abs(pyloudnorm.Meter(RATE).integrated_loudness(out.T.astype(np.float64)) + 9.0) <= master.TOLERANCE_LU
    assert master.true_peak_db(out) <= -1.0 + 1e-6


def test_tracks_at_different_rates_are_refused(tmp_path: Path):
    tracks = [
        longmix.MixTrack("a", sine(220, 2), sample_rate=RATE),
        longmix.MixTrack("b", sine(220, 2), sample_rate=48000),
    ]
    with pytest.raises(ValueError, match="another sample rate than 44100 Hz: b"):
        longmix.mix_tracks(tracks, tmp_path / "raw")
