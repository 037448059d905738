"""Long mixes on synthetic tracks: where the tracks switch, loudness as pyloudnorm measures it, mastering in
blocks equal to mastering at once, descriptions within YouTube's limits, and a whole mix folder."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyloudnorm
import pytest
import soundfile

from lofi.publish import mix, seo
from lofi.render import master

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


def wav_tracks(folder: Path, lengths_s: tuple[float, ...]) -> list[mix.MixTrack]:
    """Sine tracks of the given lengths as 24-bit WAV files, one frequency each."""
    tracks = []
    for i, seconds in enumerate(lengths_s):
        path = folder / f"t{i}.wav"
        soundfile.write(path, sine(FREQUENCIES[i], seconds).T, RATE, subtype="PCM_24")
        tracks.append(mix.MixTrack(f"Track {i}", path, f"track-{i}"))
    return tracks


def test_the_audio_switches_tracks_at_each_timestamp(tmp_path: Path):
    tracks = wav_tracks(tmp_path, (12.0, 10.0, 3.0, 11.0))  # the 3 s track shortens both its crossfades
    result, mixed = mix.mix_tracks(tracks, tmp_path / "raw", crossfade_s=4.0)
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


def test_mastering_in_blocks_equals_mastering_at_once(tmp_path: Path, monkeypatch):
    monkeypatch.setattr(mix, "BLOCK", 30011)  # many blocks, none aligned with anything
    tracks = [mix.MixTrack(f"t{i}", beat(hz, 9.0, i), sample_rate=RATE) for i, hz in enumerate(FREQUENCIES[:3])]
    _, mixed = mix.mix_tracks(tracks, tmp_path / "raw", crossfade_s=3.0)
    blocks: list[np.ndarray] = []
    record = mix.master_mix(mixed, RATE, lufs=-9.0, ceiling_db=-1.0, write=blocks.append)
    out = np.concatenate(blocks, axis=1)

    at_once = master.master(np.asarray(mixed).T.copy(), RATE, -9.0, -1.0)
    assert record["limiter_max_reduction_db"] > 1  # the limiter had work to do
    np.testing.assert_allclose(out, at_once.audio, atol=1e-6)
    assert record["lufs"] == pytest.approx(at_once.lufs, abs=0.01)
    assert abs(pyloudnorm.Meter(RATE).integrated_loudness(out.T.astype(np.float64)) + 9.0) <= master.TOLERANCE_LU
    assert master.true_peak_db(out) <= -1.0 + 1e-6


def test_a_long_tracklist_is_cut_to_fit_with_a_count_of_the_rest():
    entries = [(i * 180.0, f"Very Long Track Title Number {i} With Extra Words") for i in range(400)]
    words = seo.mix_seo(["rainy", "chill"], 400 * 180.0, entries)
    assert seo.description_bytes(words.description) <= seo.DESCRIPTION_MAX
    lines = words.description.splitlines()
    listed = [line for line in lines if line[:1].isdigit() and ":" in line.split()[0]]
    assert listed[0].startswith("0:00:00 ") and listed[-1].startswith(seo.timestamp(entries[len(listed) - 1][0], True))
    assert f"…and {400 - len(listed)} more tracks" in lines
    assert len(listed) > 100  # as many as fit, not a handful
    seo.validate(*words)
    assert words.title.startswith("20 hours of rainy & chill lofi") and "lofi mix" in words.tags

    short = seo.mix_seo(["jazzy"], 95.0, [(0.0, "A"), (40.0, "B"), (70.0, "C")])
    assert "0:00 A\n0:40 B\n1:10 C" in short.description and "more track" not in short.description


def test_a_mix_folder(tmp_path: Path):
    tracks = wav_tracks(tmp_path, (10.0, 10.0, 10.0))
    folder = tmp_path / "mixes" / "mix-test"
    seen: list[float] = []
    options = mix.MixOptions(crossfade_s=2.0, video=True, resolution="320x180", moods=("rainy",), seed=3)
    metadata = mix.make_mix(tracks, folder, options, lambda f, m: seen.append(f))

    assert sorted(p.name for p in folder.iterdir()) == [
        "cover.png",
        "metadata.json",
        "mix.flac",
        "mix.mp3",
        "thumbnail.png",
        "video.mp4",
    ]  # fmt: skip (no temporary left)
    assert json.loads((folder / "metadata.json").read_text()) == metadata
    audio, rate = soundfile.read(folder / "mix.flac", always_2d=True)
    assert rate == RATE and len(audio) == metadata["samples"] == 26 * RATE
    assert pyloudnorm.Meter(RATE).integrated_loudness(audio) == pytest.approx(-14.0, abs=0.25)
    assert metadata["audio"]["lufs"] == pytest.approx(-14.0, abs=master.TOLERANCE_LU)
    assert [e["timestamp"] for e in metadata["tracklist"]] == ["0:00", "0:09", "0:17"]
    assert [e["offset_samples"] for e in metadata["tracklist"]] == [0, 8 * RATE, 16 * RATE]
    assert "0:00 Track 0\n0:09 Track 1\n0:17 Track 2" in metadata["description"]
    seo.validate(metadata["title"], metadata["description"], metadata["tags"])
    assert metadata["publish"]["video"]["resolution"] == "320x180"
    assert (folder / "mix.mp3").stat().st_size > 10_000 and (folder / "video.mp4").stat().st_size > 10_000
    assert seen == sorted(seen) and seen[-1] == 1.0


def test_tracks_at_different_rates_are_refused(tmp_path: Path):
    tracks = [mix.MixTrack("a", sine(220, 2), sample_rate=RATE), mix.MixTrack("b", sine(220, 2), sample_rate=48000)]
    with pytest.raises(ValueError, match="another sample rate than 44100 Hz: b"):
        mix.mix_tracks(tracks, tmp_path / "raw")
