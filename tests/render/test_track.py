"""A whole track through the real FluidSynth, effects and mastering, and the files it leaves."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile
from typer.testing import CliRunner

from helpers import make_score, write_score
from lofi.cli.main import app
from lofi.render.master import loudness, true_peak_db
from lofi.render.track import RenderOptions, read_midi, render, write_outputs
from lofi.settings import get_settings

RATE = 44100
BPM = 80
BARS = 40  # two minutes at 80 BPM


@pytest.fixture(scope="module")
def two_minutes():
    score = make_score(bars=BARS, bpm=BPM)
    # bars 12-15 are a break: only the keys play
    for track in score.tracks[1:]:
        kept = [n for n in track.notes if not 12 * 1920 <= n.time < 16 * 1920]
        track.notes.clear()
        track.notes.extend(kept)
    options = RenderOptions(mood="chill", seed=3, soundfont=get_settings().soundfont)
    return score, render(score, options)


def test_a_two_minute_track_is_mastered_to_the_loudness_target(two_minutes):
    _, rendered = two_minutes
    audio = rendered.mastered.audio
    assert audio.shape[0] == 2 and audio.dtype == np.float32
    assert audio.shape[1] / RATE == pytest.approx(120 + 2, abs=1.0)  # plus the release tail
    assert abs(loudness(audio, RATE) - -14.0) <= 0.5
    assert true_peak_db(audio) <= -1.0 + 1e-6
    assert np.isfinite(audio).all() and np.abs(audio).max() < 1.0


def test_no_bar_with_notes_is_silent(two_minutes):
    _, rendered = two_minutes
    audio = rendered.mastered.audio.mean(axis=0)
    bar = int(4 * 60 / BPM * RATE)
    for index in range(BARS):
        chunk = audio[index * bar : (index + 1) * bar]
        rms_db = 10 * np.log10(np.mean(chunk.astype(np.float64) ** 2))
        assert rms_db > -40, f"bar {index} is silent ({rms_db:.1f} dBFS)"


def test_the_break_is_quieter_than_the_full_band(two_minutes):
    _, rendered = two_minutes
    bar = int(4 * 60 / BPM * RATE)

    def level(first, last):
        return np.sqrt(np.mean(rendered.premix[:, first * bar : last * bar].astype(np.float64) ** 2))

    assert level(12, 16) < 0.7 * level(4, 8)


def test_stems_sum_to_the_premaster_mix(two_minutes, tmp_path):
    _, rendered = two_minutes
    write_outputs(rendered, tmp_path)
    stems = [soundfile.read(p, dtype="float32")[0].T for p in sorted((tmp_path / "stems").glob("*.flac"))]
    assert {p.stem for p in (tmp_path / "stems").glob("*.flac")} == {"keys", "bass", "drums"}
    # tolerance: three stems, each quantized to 24 bits (half a step is 6e-8)
    assert np.abs(np.sum(stems, axis=0) - rendered.premix).max() < 1e-6
    wav, rate = soundfile.read(tmp_path / "track.wav", dtype="float32")
    assert rate == RATE and soundfile.info(tmp_path / "track.wav").subtype == "PCM_24"
    assert np.abs(wav.T - rendered.mastered.audio).max() < 1e-6
    from pedalboard.io import AudioFile

    with AudioFile(str(tmp_path / "track.mp3")) as mp3:
        assert mp3.samplerate == RATE and mp3.num_channels == 2
        assert mp3.frames / RATE == pytest.approx(wav.shape[0] / RATE, abs=0.1)
    for picture in ("spectrogram.png", "waveform.png"):
        assert (tmp_path / picture).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not list(tmp_path.rglob("*.tmp")), "no temporary file is left behind"


def test_only_the_asked_formats_are_written(two_minutes, tmp_path):
    _, rendered = two_minutes
    written = write_outputs(rendered, tmp_path / "mp3", formats=("mp3",))
    assert written == ["spectrogram.png", "track.mp3", "waveform.png"]
    assert sorted(p.name for p in (tmp_path / "mp3").rglob("*")) == written  # no stems/ folder either
    written = write_outputs(rendered, tmp_path / "stems", formats=("stems", "wav"))
    assert "track.mp3" not in written and "track.wav" in written
    assert {p.name for p in (tmp_path / "stems" / "stems").glob("*.flac")} == {"keys.flac", "bass.flac", "drums.flac"}


def test_the_kick_ducks_the_band(two_minutes):
    _, rendered = two_minutes
    # just after a kick the keys stem is quieter than just before the next one
    keys = rendered.stems["keys"].mean(axis=0)
    beat = int(60 / BPM * RATE)
    bar = 4 * beat
    after = np.abs(keys[20 * bar + 200 : 20 * bar + 2000]).mean()
    later = np.abs(keys[20 * bar + beat - 3000 : 20 * bar + beat - 1200]).mean()
    assert after < later


def test_presets_change_the_sound_and_keep_the_loudness():
    score = make_score(bars=6, bpm=100)
    clean = render(score, RenderOptions(preset="clean", soundfont=get_settings().soundfont))
    telephone = render(score, RenderOptions(preset="telephone", soundfont=get_settings().soundfont))
    for rendered in (clean, telephone):
        assert abs(rendered.mastered.lufs - -14.0) <= 0.5

    def share_above(audio, hz):
        power = np.abs(np.fft.rfft(audio.mean(axis=0))) ** 2
        return power[np.fft.rfftfreq(audio.shape[1], 1 / RATE) > hz].sum() / power.sum()

    assert share_above(telephone.mastered.audio, 4000) < share_above(clean.mastered.audio, 4000) / 10


def test_an_unknown_preset_fails_before_any_work():
    with pytest.raises(ValueError, match="dusty"):
        render(make_score(bars=1), RenderOptions(preset="warm-ish"))


def test_a_non_midi_file_gets_a_clear_error(tmp_path):
    bad = tmp_path / "notes.mid"
    bad.write_text("these are not notes")
    with pytest.raises(ValueError, match="not a readable MIDI file"):
        read_midi(bad)


runner = CliRunner()


def test_lofi_render_renders_any_midi_file(tmp_path):
    midi = write_score(make_score(bars=4, bpm=90), tmp_path / "song.mid")
    result = runner.invoke(app, ["render", str(midi), "--preset", "vinyl", "--lufs", "-16"])
    assert result.exit_code == 0, result.output
    folder = tmp_path / "song"
    for name in ("track.wav", "track.mp3", "spectrogram.png", "waveform.png", "stems/keys.flac"):
        assert (folder / name).is_file(), name
    audio, _ = soundfile.read(folder / "track.wav", dtype="float32")
    assert abs(loudness(audio.T, RATE) - -16.0) <= 0.5
    assert "-16.0 LUFS" in result.output and "vinyl" in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--preset", "shiny"], "clean, tape, vinyl, cassette, telephone, dusty"),
        (["--lufs", "3"], "lufs must be between -40 and -5"),
        (["--mood", "angry"], "chill"),
    ],
)
def test_lofi_render_rejects_bad_options_in_one_line(tmp_path, args, message):
    midi = write_score(make_score(bars=1), tmp_path / "song.mid")
    result = runner.invoke(app, ["render", str(midi), *args])
    assert result.exit_code == 2
    assert message in result.output
    assert "Traceback" not in result.output


def test_lofi_render_without_the_soundfont_says_how_to_install_it(tmp_path, monkeypatch):
    midi = write_score(make_score(bars=1), tmp_path / "song.mid")
    monkeypatch.setenv("LOFI_SOUNDFONT", str(tmp_path / "missing.sf2"))
    get_settings.cache_clear()
    try:
        result = runner.invoke(app, ["render", str(midi)])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 2
    assert "make setup" in result.output and "fluid-soundfont-gm" in result.output


def test_lofi_presets_lists_every_preset():
    result = runner.invoke(app, ["presets"])
    assert result.exit_code == 0
    for name in ("clean", "tape", "vinyl", "cassette", "telephone", "dusty (default)"):
        assert name in result.output
