"""A long mix's folder on synthetic tracks, and descriptions within YouTube's limits."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyloudnorm
import pytest
import soundfile

from lofi.publish import mix, seo
from lofi.render import master
from lofi.render.longmix import MixTrack

RATE = 44100


def sine(hz: float, seconds: float, amplitude: float = 0.3) -> np.ndarray:
    t = np.arange(int(seconds * RATE)) / RATE
    tone = amplitude * np.sin(2 * np.pi * hz * t)
    return np.stack([tone, tone]).astype(np.float32)


def wav_tracks(folder: Path, seconds: float, count: int) -> list[MixTrack]:
    """Sine tracks as 24-bit WAV files, one frequency each."""
    tracks = []
    for i in range(count):
        path = folder / f"t{i}.wav"
        soundfile.write(path, sine(220.0 * 1.5**i, seconds).T, RATE, subtype="PCM_24")
        tracks.append(MixTrack(f"Track {i}", path, f"track-{i}"))
    return tracks


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
    tracks = wav_tracks(tmp_path, 10.0, 3)
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
