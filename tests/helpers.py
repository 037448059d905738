"""Small real MIDI pieces, signals and track folders built by code, for tests across the package."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import numpy as np
import pytest
import soundfile
from scipy.signal import butter, sosfilt
from symusic import Note, Score, Tempo, TimeSignature, Track

TPQ = 480

T = TypeVar("T")


def make_score(
    bars: int = 8,
    bpm: float = 80,
    chords: tuple[tuple[int, ...], ...] = (
        (50, 53, 57, 60),
        (43, 47, 50, 53),
        (48, 52, 55, 59),
        (45, 48, 52, 55),
    ),
    drums: bool = True,
    program: int = 4,
) -> Score:
    """Keys playing one chord per bar, a bass on the chord's lowest note, and a kick/snare/hat groove."""
    score = Score(TPQ)
    score.tempos.append(Tempo(0, bpm))
    score.time_signatures.append(TimeSignature(0, 4, 4))
    keys = Track(name="keys", program=program, is_drum=False)
    bass = Track(name="bass", program=33, is_drum=False)
    kit = Track(name="drums", program=0, is_drum=True)
    for bar in range(bars):
        start = bar * 4 * TPQ
        chord = chords[bar % len(chords)]
        for pitch in chord:
            keys.notes.append(Note(start, 4 * TPQ - 10, pitch + 12, 70))
        for beat in (0, 2):
            bass.notes.append(Note(start + beat * TPQ, TPQ, chord[0] - 12, 90))
        for beat in range(4):
            kit.notes.append(Note(start + beat * TPQ, TPQ // 4, 36 if beat % 2 == 0 else 38, 100))
            kit.notes.append(Note(start + beat * TPQ + TPQ // 2, TPQ // 4, 42, 70))
    score.tracks.extend([keys, bass] + ([kit] if drums else []))
    return score


def write_score(score: Score, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    score.dump_midi(str(path))
    return path


def music_like(seconds: float = 20.0, level: float = 0.05, seed: int = 0, rate: int = 44100) -> np.ndarray:
    """Band-limited noise with a few loud transients, stereo."""
    rng = np.random.default_rng(seed)
    band = butter(4, [60, 9000], btype="band", fs=rate, output="sos")
    x = sosfilt(band, rng.normal(0, level, (2, int(seconds * rate))))
    x[:, :: rate // 2] += 0.8  # a click every half second: peaks far above the body
    return x.astype(np.float32)


def wait_for(predicate: Callable[[], T], what: str, timeout_s: float = 180.0, poll_s: float = 0.1) -> T:
    """``predicate()`` once it is truthy; the test fails after a generous ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while not (value := predicate()):
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout_s:g} s waiting for {what}")
        time.sleep(poll_s)
    return value


def add_track(home: Path, track_id: str, mood: str, seconds: float, hz: float, seed: int, rate: int = 44100) -> Path:
    """A track folder as the pipeline leaves it, as far as a mix cares: metadata.json and track.wav."""
    folder = home / "tracks" / track_id
    folder.mkdir(parents=True)
    t = np.arange(int(seconds * rate)) / rate
    tone = 0.25 * np.sin(2 * np.pi * hz * t)
    soundfile.write(folder / "track.wav", np.stack([tone, tone], axis=1), rate, subtype="PCM_24")
    metadata = {
        "track_id": track_id, "request": {"mood": mood, "minutes": seconds / 60}, "seed": seed, "key": "D minor",
        "bpm": 72, "duration_s": seconds, "model_id": "test", "created_at": f"2026-01-0{seed}T12:00:00+00:00",
    }  # fmt: skip
    (folder / "metadata.json").write_text(json.dumps(metadata), encoding="utf-8")
    return folder


def add_midi_only(home: Path, track_id: str, mood: str) -> Path:
    """A track folder with no audio (as `lofi generate` without audio leaves it): a mix passes it over."""
    folder = home / "tracks" / track_id
    folder.mkdir(parents=True)
    (folder / "metadata.json").write_text(json.dumps({"track_id": track_id, "request": {"mood": mood}}))
    return folder
