"""The `lofi` command as a user meets it: real files in, real files out, messages that say why."""

import json

import pytest
from symusic import Score
from typer.testing import CliRunner

from helpers import make_score, write_score
from lofi.cli.main import app

runner = CliRunner()


def run(*args):
    result = runner.invoke(app, [str(a) for a in args])
    return result


@pytest.mark.parametrize(
    "command",
    [
        [],
        ["generate"],
        ["train"],
        ["version"],
        ["info"],
        ["corpus"],
        ["corpus", "build"],
        ["corpus", "add"],
        ["corpus", "stats"],
    ],
)
def test_every_command_has_help(command):
    result = run(*command, "--help")
    assert result.exit_code == 0
    assert "Usage" in result.output


def test_version():
    result = run("version")
    assert result.exit_code == 0
    assert result.output.startswith("lofi ")


def test_info_names_the_model_and_the_tools(lofi_home):
    result = run("info")
    assert result.exit_code == 0
    assert "default model" in result.output and "mma" in result.output
    assert "auto: onnx-int8" in result.output  # the infer extra is installed with the tests


def test_info_says_when_the_engine_setting_is_wrong(lofi_home, monkeypatch):
    from lofi.settings import get_settings

    monkeypatch.setenv("LOFI_ENGINE", "nope")
    get_settings.cache_clear()
    result = run("info")
    assert result.exit_code == 0
    assert "unknown engine 'nope'" in result.output


def test_corpus_add_skips_bad_files_with_reasons_and_goes_on(lofi_home, tmp_path):
    folder = tmp_path / "mine"
    write_score(make_score(bars=12), folder / "good.mid")
    write_score(make_score(bars=16, bpm=90, program=26), folder / "deeper" / "also good.midi")
    (folder / "corrupt.mid").write_bytes(b"MThd\x00\x00\x00\x06\x00\x01\x00\x03\x01\xe0MTrk\xff\xff")
    (folder / "notes.txt").write_text("not music")
    (folder / "fake.mid").write_text("this is a text file")
    result = run("corpus", "add", folder, "--workers", 1)
    assert result.exit_code == 0, result.output
    assert "added 2" in result.output
    manifest = [json.loads(line) for line in (lofi_home / "corpus" / "manifest.jsonl").read_text().splitlines()]
    reasons = {e["path"].rsplit("/", 1)[-1]: e["reason"] for e in manifest if e["status"] == "rejected"}
    assert reasons.keys() == {"corrupt.mid", "notes.txt", "fake.mid"}
    assert "unreadable MIDI" in reasons["corrupt.mid"]
    assert "not a MIDI file" in reasons["notes.txt"] and "not a MIDI file" in reasons["fake.mid"]
    accepted = [e for e in manifest if e["status"] == "accepted"]
    assert all((lofi_home / "corpus" / e["path"]).exists() for e in accepted)
    assert {e["key"] for e in accepted} and all(e["mood"] for e in accepted)
    # adding the same folder again adds nothing twice
    again = run("corpus", "add", folder, "--workers", 1)
    assert "added 0" in again.output


def test_corpus_add_of_a_missing_folder_is_one_red_line(lofi_home, tmp_path):
    result = run("corpus", "add", tmp_path / "nope")
    assert result.exit_code == 2
    assert "is not a folder" in result.output
    assert "Traceback" not in result.output


def test_generate_without_a_model_says_what_to_do(lofi_home, tmp_path):
    result = run("generate", "--model", tmp_path / "nothing", "--out", tmp_path)
    assert result.exit_code == 2
    assert "lofi train" in result.output


def test_generate_rejects_a_bad_request_clearly(lofi_home, tmp_path):
    result = run("generate", "--mood", "angry", "--out", tmp_path)
    assert result.exit_code == 2
    assert "unknown mood" in result.output and "chill" in result.output


@pytest.mark.slow
def test_build_train_generate_end_to_end(lofi_home, tmp_path):
    """The ML tinkerer's loop on a small corpus: build, look, train tiny, compose with it."""
    corpus = tmp_path / "corpus"
    built = run(
        "corpus",
        "build",
        "--corpus",
        corpus,
        "--mma-pieces",
        10,
        "--melody-pieces",
        3,
        "--melody-tunes",
        12,
        "--workers",
        2,
    )
    assert built.exit_code == 0, built.output
    stats = run("corpus", "stats", "--corpus", corpus)
    assert stats.exit_code == 0
    assert "mma 10" in stats.output and "openmsx" in stats.output
    out = tmp_path / "run"
    trained = run(
        "train",
        "--size",
        "tiny",
        "--corpus",
        corpus,
        "--out",
        out,
        "--max-steps",
        40,
        "--block-size",
        128,
        "--batch-size",
        4,
        "--eval-every",
        20,
        "--warmup-steps",
        5,
        "--threads",
        1,
    )
    assert trained.exit_code == 0, trained.output
    card = (out / "best" / "MODEL_CARD.md").read_text()
    assert "mma" in card
    tracks = tmp_path / "tracks"
    made = run(
        "generate",
        "--model",
        out / "best",
        "--key",
        "Eb major",
        "--bpm",
        88,
        "--minutes",
        0.25,
        "--seed",
        5,
        "--out",
        tracks,
    )
    assert made.exit_code == 0, made.output
    (folder,) = tracks.iterdir()
    meta = json.loads((folder / "metadata.json").read_text())
    assert meta["key"] == "Eb major" and meta["seed"] == 5 and meta["bpm"] == 88
    score = Score(str(folder / "track.mid"))
    assert round(score.tempos[0].qpm) == 88
    # the sound and the pictures come with it: mastered audio, stems, piano roll, measured loudness
    for name in ("track.wav", "track.mp3", "pianoroll.png", "spectrogram.png", "waveform.png"):
        assert (folder / name).is_file(), name
    assert list((folder / "stems").glob("*.flac"))
    audio = meta["audio"]
    assert audio["preset"] == "dusty" and abs(audio["lufs"] - -14.0) <= 0.5 and audio["true_peak_db"] <= -1.0
    assert {"compose", "analyze", "render", "render.synth", "render.master"} <= set(meta["timings_s"])
    assert 0.0 <= meta["quality"]["quality"] <= 1.0 and "pitch_in_key" in meta["quality"]
    # `lofi train` left the index of its training melodies in the checkpoint: the track is checked against it
    assert (out / "best" / "originality.npz").is_file()
    assert meta["originality"]["verdict"] in ("clear", "review", "flagged"), meta["originality"]
    assert "LUFS" in made.output
    midi_only = run("generate", "--model", out / "best", "--seed", 6, "--minutes", 0.25, "--no-audio", "--out", tracks)
    assert midi_only.exit_code == 0, midi_only.output
    (plain,) = [f for f in tracks.iterdir() if f != folder]
    assert (plain / "track.mid").is_file() and (plain / "pianoroll.png").is_file()
    assert not (plain / "track.wav").exists() and "audio" not in json.loads((plain / "metadata.json").read_text())
