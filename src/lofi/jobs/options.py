"""One builder of a job's audio and video options, for every adapter: the CLI's commands and the API.

What was asked for wins; the server's or the user's settings (LOFI_PRESET, LOFI_LUFS, LOFI_TRUE_PEAK_DB,
LOFI_SOUNDFONT) fill the rest, and everything is checked before a job is queued or composing starts, so
the same request means the same thing from either door.
"""

from __future__ import annotations

from lofi.jobs.pipeline import TrackOptions
from lofi.settings import Settings

LUFS_RANGE = (-40.0, -5.0)
TRUE_PEAK_RANGE = (-12.0, 0.0)


def track_options(
    settings: Settings,
    *,
    audio: bool = True,
    preset: str | None = None,
    lufs: float | None = None,
    true_peak: float | None = None,
    video: bool = False,
    resolution: str = "1080p",
    template: str = "bars",
    engine: str | None = None,
) -> TrackOptions:
    """The pipeline's options; ValueError (or FileNotFoundError for a missing tool) says what is wrong."""
    from lofi.render.presets import get_preset

    options = TrackOptions(
        audio=audio,
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
        PublishOptions(video=True, resolution=resolution, template=template).check()
        find_ffmpeg()
    return options
