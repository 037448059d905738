"""`lofi mix`: from tracks already in LOFI_HOME (synthetic WAVs), and from new ones the tiny model composes."""

from __future__ import annotations

import json
from pathlib import Path

import pyloudnorm
import pytest
import soundfile
from typer.testing import CliRunner

from helpers import add_midi_only, add_track
from lofi.cli.main import app

RATE = 44100
runner = CliRunner()


def test_a_mix_from_the_library(lofi_home: Path):
    add_track(lofi_home, "chill-1", "chill", 12.0, 220.0, 1)
    add_track(lofi_home, "chill-2", "chill", 12.0, 330.0, 2)
    add_track(lofi_home, "rainy-3", "rainy", 12.0, 495.0, 3)
    add_track(lofi_home, "sad-4", "sad", 12.0, 740.0, 4)  # not asked for
    add_midi_only(lofi_home, "rainy-midi", "rainy")

    result = runner.invoke(
        app, ["mix", "--minutes", "0.5", "--moods", "chill,rainy", "--crossfade-s", "2", "--no-video", "--seed", "4"]
    )
    assert result.exit_code == 0, result.output
    (folder,) = (lofi_home / "mixes").iterdir()
    assert folder.name.startswith("mix-chill-rainy-0.5min-")
    assert sorted(p.name for p in folder.iterdir()) == [
        "cover.png", "metadata.json", "mix.flac", "mix.mp3", "thumbnail.png"
    ]  # fmt: skip
    metadata = json.loads((folder / "metadata.json").read_text())
    # moods take turns, newest first: chill-2, rainy-3, then chill-1 reaches 30 s (12 + 12 + 12 - 2 - 2 = 32)
    assert [e["track_id"] for e in metadata["tracklist"]] == ["chill-2", "rainy-3", "chill-1"]
    assert [e["timestamp"] for e in metadata["tracklist"]] == ["0:00", "0:11", "0:21"]
    assert metadata["samples"] == 32 * RATE and metadata["request"]["source"] == "catalog"
    audio, _ = soundfile.read(folder / "mix.flac")
    assert pyloudnorm.Meter(RATE).integrated_loudness(audio) == pytest.approx(-14.0, abs=0.25)
    names = [e["title"] for e in metadata["tracklist"]]
    assert all(name in result.output for name in names) and "0:21" in result.output
    assert f"0:00 {names[0]}\n0:11 {names[1]}\n0:21 {names[2]}" in metadata["description"]


def test_not_enough_tracks_says_how_to_get_more(lofi_home: Path):
    add_track(lofi_home, "chill-1", "chill", 12.0, 220.0, 1)
    result = runner.invoke(app, ["mix", "--minutes", "5", "--moods", "chill", "--no-video"])
    assert result.exit_code == 2 and "0.2 minutes of chill tracks" in result.output and "--new" in result.output
    assert not (lofi_home / "mixes").exists()


@pytest.mark.slow
def test_a_mix_of_new_tracks(lofi_home: Path, monkeypatch, tiny_checkpoint):
    monkeypatch.setenv("LOFI_DEFAULT_MODEL", str(tiny_checkpoint.path))
    result = runner.invoke(
        app,
        ["mix", "--new", "--minutes", "0.4", "--track-minutes", "0.25", "--moods", "sleepy", "--crossfade-s", "2",
         "--workers", "1", "--seed", "11", "--video", "--resolution", "320x180"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    (folder,) = (lofi_home / "mixes").iterdir()
    metadata = json.loads((folder / "metadata.json").read_text())
    made = sorted(p.name for p in (lofi_home / "tracks").iterdir())
    assert sorted(e["track_id"] for e in metadata["tracklist"]) == made and len(made) >= 2
    assert metadata["duration_s"] >= 24 and metadata["request"]["source"] == "new"
    assert (folder / "video.mp4").stat().st_size > 0 and metadata["publish"]["video"]["resolution"] == "320x180"


def test_an_unreadable_catalog_is_said_before_the_folders_are_used(lofi_home: Path, monkeypatch, tmp_path: Path):
    monkeypatch.setenv("LOFI_DATABASE_URL", f"sqlite:///{tmp_path}")  # a folder is no database
    add_track(lofi_home, "chill-1", "chill", 12.0, 220.0, 1)
    result = runner.invoke(app, ["mix", "--minutes", "5", "--moods", "chill", "--no-video"])
    assert "warning: the catalog could not be read" in result.output
    assert result.exit_code == 2 and "0.2 minutes of chill tracks" in result.output  # chill-1 still counted
