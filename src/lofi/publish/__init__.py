"""Publishing a track: cover, thumbnail, video, and the words that go with them.

``publish_into`` is the pipeline's "publish" step: it writes cover.png, thumbnail.png and (when asked)
video.mp4 into a track folder and records title, description and tags in its metadata (in memory; the
pipeline saves it). ``publish_step`` does the same to a folder on disk and saves it.
The parts are usable on their own: ``art`` (pictures), ``video`` (the MP4), ``seo`` (the words).
"""

from __future__ import annotations

import time
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path

from lofi.progress import Progress, no_progress
from lofi.publish import art, seo
from lofi.publish.video import RESOLUTIONS, TEMPLATES, FFmpegNotFound, find_ffmpeg, parse_resolution, render_video
from lofi.track import METADATA, TrackFolder

__all__ = [
    "RESOLUTIONS",
    "TEMPLATES",
    "FFmpegNotFound",
    "PublishOptions",
    "publish_into",
    "publish_step",
    "publish_track",
]


@dataclass(frozen=True)
class PublishOptions:
    video: bool = False
    resolution: str = "1080p"  # 1080p, 720p or WIDTHxHEIGHT
    template: str = "bars"  # one of video.TEMPLATES
    fps: int = 30
    palette: str | None = None  # None: chosen from the seed and the mood

    def check(self) -> None:
        """Fail on a bad option before any work is done."""
        parse_resolution(self.resolution)
        if self.template not in TEMPLATES:
            raise ValueError(f"unknown video template {self.template!r}: choose one of {', '.join(TEMPLATES)}")
        if self.palette is not None and self.palette not in art.PALETTES:
            raise ValueError(f"unknown palette {self.palette!r}: choose one of {', '.join(art.PALETTES)}")


def publish_track(
    folder: Path,
    metadata: dict,
    options: PublishOptions = PublishOptions(),
    progress: Progress = no_progress,
    taken: Collection[str] = (),
) -> dict:
    """Write cover.png, thumbnail.png and (with ``options.video``) video.mp4 into ``folder``.

    Returns what metadata.json gains: ``title``, ``description``, ``tags`` and a ``publish`` record
    (palette, motif, files, timings, and the video's settings). ``progress`` gets 0..1 for this step.
    ``taken``: the names of the library's other tracks, which this one's avoids (``seo.track_name``).
    """
    options.check()
    folder = Path(folder)
    if options.video:
        find_ffmpeg()  # before the pictures, so a missing ffmpeg costs nothing
        if not (folder / "track.wav").is_file():
            raise FileNotFoundError(f"{folder / 'track.wav'} is missing: the video needs the rendered audio")
    words = seo.seo_for(metadata, taken)
    name, line = seo.track_name(metadata, taken), seo.subtitle(metadata)
    mood = (metadata.get("request") or {}).get("mood")
    plan = art.plan_art(int(metadata.get("seed", 0)), mood, palette=options.palette)
    timings: dict[str, float] = {}
    picture_share = 0.1 if options.video else 1.0  # of this step's progress

    progress(0.0, "drawing the cover")
    clock = time.perf_counter()
    art.write_cover(folder / "cover.png", plan, name, line)
    timings["cover"] = round(time.perf_counter() - clock, 3)
    progress(picture_share * 0.7, "drawing the thumbnail")
    clock = time.perf_counter()
    art.write_thumbnail(folder / "thumbnail.png", plan, name, line)
    timings["thumbnail"] = round(time.perf_counter() - clock, 3)
    files = ["cover.png", "thumbnail.png"]
    record: dict = {"palette": plan.palette.name, "motif": plan.motif, "rain": plan.rain, "name": name}

    if options.video:

        def video_progress(fraction: float, message: str) -> None:
            progress(picture_share + (1 - picture_share) * fraction, message)

        clock = time.perf_counter()
        record["video"] = render_video(
            folder / "track.wav", folder / "video.mp4", plan, name, line,
            template=options.template, resolution=options.resolution, fps=options.fps, progress=video_progress,
        )  # fmt: skip
        timings["video"] = round(time.perf_counter() - clock, 3)
        files.append("video.mp4")
    progress(1.0, "published")
    record.update(files=files, timings_s=timings)
    return {"title": words.title, "description": words.description, "tags": words.tags, "publish": record}


def names_in_use(folder: Path) -> set[str]:
    """The names of the other tracks beside ``folder`` (the library's folder of tracks): a new track's
    name avoids them, so no two tracks of a small library share a title."""
    names = set()
    for other in folder.parent.glob(f"*/{METADATA}"):
        if other.parent == folder:
            continue
        try:
            name = (TrackFolder(other.parent).metadata.publish or {})["name"]
        except (OSError, ValueError, KeyError, TypeError):  # not published yet, or not a track folder
            continue
        if isinstance(name, str):
            names.add(name)
    return names


def publish_into(
    track: TrackFolder,
    video: bool = False,
    resolution: str = "1080p",
    template: str = "bars",
    progress: Progress = no_progress,
    palette: str | None = None,
) -> None:
    """``publish_track`` on a track folder, merged into its metadata in memory (``track.save`` writes it)."""
    options = PublishOptions(video=video, resolution=resolution, template=template, palette=palette)
    metadata = track.metadata.to_dict()
    track.update(**publish_track(track.path, metadata, options, progress, names_in_use(track.path)))


def publish_step(
    folder: Path,
    video: bool = False,
    resolution: str = "1080p",
    template: str = "bars",
    progress: Progress = no_progress,
    palette: str | None = None,
) -> dict:
    """``publish_into`` on the track folder ``folder``, then its metadata.json saved; returns the metadata."""
    track = TrackFolder(folder)
    publish_into(track, video, resolution, template, progress, palette)
    track.save()
    return track.metadata.to_dict()
