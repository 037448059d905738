"""A copy of a training melody planted in a generated track is flagged, and that track is not uploaded; the
original track from the same model uploads. The model is the tiny one with an index of 40 tunes (its
"training melodies"); the copy is 28 notes, transposed, slower, with a note changed and an ornament."""

from __future__ import annotations

import json
import random
import shutil
from pathlib import Path

import numpy as np
import pytest
from fake_youtube import GRANULE, TOKEN, FakeYouTube
from symusic import Note, Track

from lofi.analysis.originality import MODEL_INDEX, OriginalityIndex, Reference
from lofi.compose import ComposeRequest
from lofi.jobs.pipeline import TrackOptions, analyze_step, run_track
from lofi.jobs.upload import NotOriginal, Publishing, upload_track
from lofi.model import load_checkpoint
from lofi.publish.schedule import UploadPattern
from lofi.publish.youtube import Retry, YouTubeConfig
from lofi.render.midi import read_midi
from lofi.track import TrackFolder
from melodies import as_line, plant, random_tune


@pytest.fixture
def model(tiny_checkpoint, tmp_path) -> tuple[Path, list]:
    """The tiny model with the index of 40 random tunes, as `lofi train` would leave its training melodies."""
    folder = tmp_path / "model"
    shutil.copytree(tiny_checkpoint.path, folder)
    tunes = [random_tune(np.random.default_rng(7 + i)) for i in range(40)]
    refs = [(Reference(f"midi/melody/{i:02d}.mid", "melody", "Lead"), as_line(t)) for i, t in enumerate(tunes)]
    OriginalityIndex.build(refs).save(folder / MODEL_INDEX, compressed=True)
    return folder, tunes


def as_track(tune: list[tuple[float, float, int]], beat_ticks: int) -> Track:
    lead = Track(name="Lead", program=73, is_drum=False)
    for onset, duration, pitch in tune:
        lead.notes.append(Note(round(onset * beat_ticks), max(1, round(duration * beat_ticks)), pitch, 90))
    return lead


def test_a_planted_copy_is_flagged_and_its_upload_refused(model, lofi_home, tmp_path):
    folder, tunes = model
    checkpoint = load_checkpoint(folder, build=False)
    made = [
        run_track(checkpoint, ComposeRequest(minutes=0.25, seed=seed), tmp_path / "tracks", TrackOptions(audio=False))
        for seed in (21, 22)
    ]  # fmt: skip
    assert all(TrackFolder(f).metadata.originality["verdict"] == "clear" for f in made)  # the model's own music

    # a person adds a lead playing 28 notes of training melody 17 to the first track
    planted, _ = plant(tunes[17], first=8, length=28, host=random_tune(np.random.default_rng(99), 40), at=6)
    score = read_midi(made[0] / "track.mid")
    score.tracks.append(as_track(planted, score.ticks_per_quarter))
    score.dump_midi(str(made[0] / "track.mid"))
    track = TrackFolder(made[0])
    analyze_step(track, score, folder)
    track.save()
    found = track.metadata.originality
    assert found["verdict"] == "flagged" and found["match"]["reference"]["id"] == "midi/melody/17.mid"
    assert track.metadata.provenance["originality"]["nearest"]["id"] == "midi/melody/17.mid"

    token = tmp_path / "token.json"
    token.write_text(json.dumps({"token": TOKEN, "refresh_token": "r", "client_id": "c", "client_secret": "s",
                                 "expiry": "2100-01-01T00:00:00Z"}))  # fmt: skip
    for f in made:  # what the video step would leave; the fake does not decode it
        (f / "video.mp4").write_bytes(random.Random(1).randbytes(GRANULE + 100))
    with FakeYouTube() as fake:
        youtube = YouTubeConfig(token_file=token, api_url=fake.url, chunk_bytes=GRANULE, retry=Retry(1, 0.01))
        publishing = Publishing(f"sqlite:///{tmp_path / 'catalog.db'}", UploadPattern(), youtube)
        with pytest.raises(NotOriginal, match=r"flagged it \(midi/melody/17\.mid, \d+ bits\)"):
            upload_track(made[0], publishing)
        assert fake.requests == []
        upload_track(made[1], publishing)
        assert len(fake.videos) == 1


def test_the_planted_copy_is_28_notes_of_a_training_melody_changed_as_a_copier_would(model):
    """The test above is only as strong as its copy: check that it is one."""
    _, tunes = model
    planted, (first, last) = plant(tunes[17], first=8, length=28, host=random_tune(np.random.default_rng(99), 40), at=6)
    copy = planted[first : last + 1]
    assert len(copy) == 29  # 28 notes and an ornament
    original = [p for _, _, p in tunes[17][8:36]]
    heard = [p for _, _, p in copy[:12] + copy[13:]]  # the ornament left out
    assert sum(a + 5 != b for a, b in zip(original, heard, strict=True)) == 1  # transposed, one note changed
