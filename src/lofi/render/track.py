"""From MIDI to a finished track: humanize, synthesize stems, mix, colour, master, write the files.

``render`` works in memory and returns everything a caller might want to look at; ``write_outputs`` puts
the files in the track folder (each atomically, several at once since encoders wait on no one);
``render_midi`` does both for a MIDI file and returns what metadata.json records.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import soundfile
from symusic import Score

from lofi.files import atomic_write
from lofi.limits import AUDIO_FORMATS
from lofi.render import mix
from lofi.render.humanize import Humanize
from lofi.render.master import Mastered, master
from lofi.render.midi import read_midi
from lofi.render.presets import get_preset
from lofi.render.synth import Part, render_stems
from lofi.settings import DEFAULT_SOUNDFONT

MP3_QUALITY = "V0"  # LAME's best variable bit rate: transparent, smaller than 320 kbps


@dataclass(frozen=True)
class RenderOptions:
    preset: str = "dusty"
    lufs: float = -14.0
    true_peak_db: float = -1.0
    sample_rate: int = 44100
    mood: str | None = None  # picks the instrument palette; None keeps each part's own GM program
    seed: int = 0  # humanization and the random parts of the effects
    humanize: bool = True
    # where humanizing moves the off-beat eighths; 0.5 keeps them: lofi's own MIDI has its swing written in
    swing: float = 0.56
    soundfont: Path = DEFAULT_SOUNDFONT
    formats: tuple[str, ...] = AUDIO_FORMATS  # which of track.wav, track.mp3 and stems/ to write


@dataclass
class Rendered:
    mastered: Mastered
    premix: np.ndarray  # the sum of the stems, before the preset's bus chain
    stems: dict[str, np.ndarray]
    parts: list[Part]
    sample_rate: int
    timings_s: dict[str, float] = field(default_factory=dict)

    def describe(self, options: RenderOptions) -> dict:
        """What metadata.json records about the sound."""
        return {
            "preset": options.preset,
            "sample_rate": self.sample_rate,
            "lufs": round(self.mastered.lufs, 2),
            "lufs_target": options.lufs,
            "true_peak_db": round(self.mastered.true_peak_db, 2),
            "true_peak_ceiling_db": options.true_peak_db,
            "limiter_max_reduction_db": round(self.mastered.limited_db, 2),
            "duration_s": round(self.mastered.audio.shape[1] / self.sample_rate, 3),
            "instruments": {part.name: part.preset.name for part in self.parts},
        }


def render(score: Score, options: RenderOptions) -> Rendered:
    get_preset(options.preset)  # an unknown preset fails before any work is done
    timings: dict[str, float] = {}
    clock = time.perf_counter()
    if options.humanize:
        score = Humanize(swing=options.swing, seed=options.seed)(score)
    stems, parts = render_stems(score, options.soundfont, options.sample_rate, options.mood)
    if not parts:
        raise ValueError("the MIDI file has no notes to render")
    timings["synth"] = time.perf_counter() - clock

    clock = time.perf_counter()
    roles = {part.name: part.role for part in parts}
    stems = mix.balance(stems, roles, mix.kick_times(score), options.sample_rate)
    premix = mix.premix(stems)
    coloured = get_preset(options.preset).chain(options.seed)(premix, options.sample_rate)
    timings["effects"] = time.perf_counter() - clock

    clock = time.perf_counter()
    mastered = master(coloured, options.sample_rate, options.lufs, options.true_peak_db)
    timings["master"] = time.perf_counter() - clock
    return Rendered(mastered, premix, stems, parts, options.sample_rate, {k: round(v, 3) for k, v in timings.items()})


def _write_sound(path: Path, audio: np.ndarray, sample_rate: int, fmt: str) -> None:
    atomic_write(path, lambda tmp: soundfile.write(tmp, audio.T, sample_rate, subtype="PCM_24", format=fmt))


def _write_mp3(path: Path, audio: np.ndarray, sample_rate: int) -> None:
    from pedalboard.io import AudioFile

    def write(tmp: Path) -> None:
        with (
            tmp.open("wb") as fh,
            AudioFile(fh, "w", sample_rate, audio.shape[0], format="mp3", quality=MP3_QUALITY) as f,
        ):
            f.write(audio)

    atomic_write(path, write)


def write_outputs(
    rendered: Rendered, folder: Path, title: str | None = None, formats: Sequence[str] = AUDIO_FORMATS
) -> list[str]:
    """Of track.wav (24-bit), track.mp3 and stems/<part>.flac those ``formats`` name, and spectrogram.png
    and waveform.png; their names."""
    from lofi.render import images  # matplotlib, only when pictures are drawn

    audio, rate = rendered.mastered.audio, rendered.sample_rate
    jobs: dict[str, Callable[[], object]] = {
        "spectrogram.png": lambda: images.spectrogram(audio, rate, folder / "spectrogram.png", title),
        "waveform.png": lambda: images.waveform(audio, rate, folder / "waveform.png", title),
    }
    if "wav" in formats:
        jobs["track.wav"] = lambda: _write_sound(folder / "track.wav", audio, rate, "WAV")
    if "mp3" in formats:
        jobs["track.mp3"] = lambda: _write_mp3(folder / "track.mp3", audio, rate)
    if "stems" in formats:
        for name, stem in rendered.stems.items():
            jobs[f"stems/{name}.flac"] = lambda s=stem, n=name: _write_sound(
                folder / "stems" / f"{n}.flac", s, rate, "FLAC"
            )
    # matplotlib is not thread-safe: the pictures are drawn here, the encoders run beside them
    pictures = [name for name in jobs if name.endswith(".png")]
    with ThreadPoolExecutor(max_workers=2) as pool:
        futures = [pool.submit(job) for name, job in jobs.items() if name not in pictures]
        for name in pictures:
            jobs[name]()
        for future in futures:
            future.result()
    return sorted(jobs)


def render_midi(midi: Path, folder: Path, options: RenderOptions) -> dict:
    """Render ``midi`` into ``folder``; returns the "audio" part of metadata.json and the step timings."""
    return render_score(read_midi(midi), folder, options)


def render_score(score: Score, folder: Path, options: RenderOptions) -> dict:
    """Render ``score`` into ``folder``, as ``render_midi`` does a file."""
    rendered = render(score, options)
    clock = time.perf_counter()
    files = write_outputs(rendered, folder, title=folder.name, formats=options.formats)
    rendered.timings_s["write"] = round(time.perf_counter() - clock, 3)
    return {**rendered.describe(options), "files": files, "timings_s": rendered.timings_s}
