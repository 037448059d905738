"""A job's audio and video options (``TrackOptions``) and their one builder, for every adapter: the CLI's
commands and the API. Light (no composer, no torch): the queue and the API server import it.

What was asked for wins; the server's or the user's settings (LOFI_PRESET, LOFI_LUFS, LOFI_TRUE_PEAK_DB,
LOFI_SOUNDFONT) fill the rest, and everything is checked before a job is queued or composing starts, so
the same request means the same thing from either door.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from lofi.limits import AUDIO_FORMATS
from lofi.settings import DEFAULT_SOUNDFONT, Settings

if TYPE_CHECKING:
    from lofi.render.track import RenderOptions

LUFS_RANGE = (-40.0, -5.0)
TRUE_PEAK_RANGE = (-12.0, 0.0)


@dataclass(frozen=True)
class TrackOptions:
    """What a track job makes beyond the MIDI, and how."""

    audio: bool = True  # render, colour and master; False stops after the MIDI
    formats: tuple[str, ...] = AUDIO_FORMATS  # the audio files written (lofi.limits); () without audio
    preset: str = "dusty"
    lufs: float = -14.0
    true_peak_db: float = -1.0
    soundfont: Path = DEFAULT_SOUNDFONT
    video: bool = False  # also make video.mp4 (needs audio)
    resolution: str = "1080p"
    template: str = "bars"
    engine: str | None = None  # inference engine (lofi.model.engines); None: settings' (LOFI_ENGINE)

    def __post_init__(self) -> None:
        object.__setattr__(self, "formats", tuple(self.formats))  # a job's JSON gives a list back

    def render_options(self, mood: str | None, seed: int, swing_written: bool = False) -> RenderOptions:
        from lofi.render.track import RenderOptions

        return RenderOptions(
            preset=self.preset, lufs=self.lufs, true_peak_db=self.true_peak_db, mood=mood, seed=seed,
            soundfont=self.soundfont, formats=self.formats, **({"swing": 0.5} if swing_written else {}),
        )  # fmt: skip


def track_options(
    settings: Settings,
    *,
    audio: bool = True,
    formats: Sequence[str] | None = None,
    preset: str | None = None,
    lufs: float | None = None,
    true_peak: float | None = None,
    video: bool = False,
    resolution: str = "1080p",
    template: str = "bars",
    engine: str | None = None,
) -> TrackOptions:
    """The pipeline's options; ValueError (or FileNotFoundError for a missing tool) says what is wrong.

    ``formats`` names the audio files to write (None: all of them); without ``audio`` there are none.
    """
    from lofi.render.presets import get_preset

    options = TrackOptions(
        audio=audio,
        formats=_formats(formats) if audio else (),
        preset=get_preset(preset or settings.preset).name,
        lufs=settings.lufs if lufs is None else lufs,
        true_peak_db=settings.true_peak_db if true_peak is None else true_peak,
        soundfont=settings.soundfont,
        video=video,
        resolution=resolution,
        template=template,
        engine=engine,
    )
    if engine is not None:
        from lofi.model.engines import resolve

        resolve(engine)  # an unknown or unavailable engine is the asker's error, said before composing
    if not LUFS_RANGE[0] <= options.lufs <= LUFS_RANGE[1]:
        raise ValueError(f"lufs must be between {LUFS_RANGE[0]:g} and {LUFS_RANGE[1]:g} (got {options.lufs:g})")
    if not TRUE_PEAK_RANGE[0] <= options.true_peak_db <= TRUE_PEAK_RANGE[1]:
        raise ValueError(
            f"true peak must be between {TRUE_PEAK_RANGE[0]:g} and {TRUE_PEAK_RANGE[1]:g} dBTP "
            f"(got {options.true_peak_db:g})"
        )
    if audio:
        from lofi.render.synth import check_soundfont

        check_soundfont(options.soundfont)  # fail before composing, not after
    if video:
        from lofi.publish import PublishOptions
        from lofi.publish.video import find_ffmpeg

        if not audio:
            raise ValueError("a video needs the audio: ask for audio too")
        if "wav" not in options.formats:
            raise ValueError("the video is made from track.wav: ask for the wav format too")
        PublishOptions(video=True, resolution=resolution, template=template).check()
        find_ffmpeg()
    return options


def _formats(asked: Sequence[str] | None) -> tuple[str, ...]:
    """The asked formats in the usual order, each once; all of them for None."""
    if asked is None:
        return AUDIO_FORMATS
    unknown = sorted(set(asked) - set(AUDIO_FORMATS))
    if unknown:
        raise ValueError(f"unknown audio format {', '.join(unknown)}: choose from {', '.join(AUDIO_FORMATS)}")
    if not asked:
        raise ValueError(f"no audio format asked for: name one of {', '.join(AUDIO_FORMATS)}, or ask for no audio")
    return tuple(f for f in AUDIO_FORMATS if f in asked)
