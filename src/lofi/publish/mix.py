"""A long mix's folder: the mixed and mastered audio (``lofi.render.longmix``), its cover, thumbnail, video,
title, description with the timed tracklist (each time at the middle of a crossfade, as the long mix plans
it), tags, and metadata.json.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

from lofi.files import atomic_write
from lofi.progress import Progress, no_progress
from lofi.publish import art, seo
from lofi.render.longmix import MixTrack, mix_tracks, write_master


@dataclass(frozen=True)
class MixOptions:
    crossfade_s: float = 6.0
    lufs: float = -14.0
    true_peak_db: float = -1.0
    video: bool = True
    resolution: str = "1080p"
    template: str = "bars"
    fps: int = 30
    seed: int = 0
    moods: tuple[str, ...] = ()
    title: str | None = None  # None: made from the moods and the length


def mix_words(moods: Sequence[str], duration_s: float, tracklist: Sequence[tuple[float, str]], seed: int) -> seo.Seo:
    """Title, description (with the tracklist) and tags of a mix; within YouTube's limits."""
    return seo.mix_seo(moods, duration_s, tracklist, seed)


def make_mix(
    tracks: Sequence[MixTrack],
    folder: Path,
    options: MixOptions = MixOptions(),
    progress: Progress = no_progress,
    extra: dict | None = None,
) -> dict:
    """A mix folder: mix.flac, mix.mp3, cover.png, thumbnail.png, video.mp4 (with ``options.video``) and
    metadata.json (tracklist with sample offsets and times, mastering, title, description, tags); returns
    the metadata. ``extra`` is merged into it (the CLI records its request there)."""
    from lofi.publish import video as video_module

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    if options.video:
        video_module.find_ffmpeg()
        video_module.parse_resolution(options.resolution)
    timings: dict[str, float] = {}
    raw = folder / ".mix.f32.tmp"
    # progress shares: mixing 15 %, mastering and writing 35 % (or 85 % with no video), pictures, video
    audio_share = 0.5 if options.video else 0.95
    try:
        clock = time.perf_counter()
        result, mixed = mix_tracks(tracks, raw, options.crossfade_s, lambda f, m: progress(0.15 * f, m))
        timings["mix"] = round(time.perf_counter() - clock, 3)
        clock = time.perf_counter()
        master = write_master(
            folder, mixed, result.sample_rate, options.lufs, options.true_peak_db,
            lambda f, m: progress(0.15 + (audio_share - 0.15) * f, m or "mastering"),
        )  # fmt: skip
        timings["master"] = round(time.perf_counter() - clock, 3)
        del mixed
    finally:
        raw.unlink(missing_ok=True)

    tracklist = result.tracklist()
    words = mix_words(options.moods, result.duration_s, tracklist, options.seed)
    if options.title:
        words = seo.Seo(seo.clean(options.title, seo.TITLE_MAX), words.description, words.tags)
    seo.validate(*words)
    name, line = seo.mix_name(options.moods, options.seed), seo.mix_subtitle(result.duration_s, len(result.entries))
    plan = art.plan_art(options.seed, options.moods[0] if options.moods else None)
    progress(audio_share, "drawing the cover")
    clock = time.perf_counter()
    art.write_cover(folder / "cover.png", plan, name, line)
    art.write_thumbnail(folder / "thumbnail.png", plan, name, line)
    timings["pictures"] = round(time.perf_counter() - clock, 3)
    files = ["cover.png", "metadata.json", "mix.flac", "mix.mp3", "thumbnail.png"]
    video_record = None
    if options.video:
        clock = time.perf_counter()
        video_record = video_module.render_video(
            folder / "mix.flac", folder / "video.mp4", plan, name, line, template=options.template,
            resolution=options.resolution, fps=options.fps,
            progress=lambda f, m: progress(audio_share + 0.05 + (0.95 - audio_share) * f, m),
        )  # fmt: skip
        timings["video"] = round(time.perf_counter() - clock, 3)
        files.append("video.mp4")

    hours = tracklist[-1][0] >= 3600  # as seo.tracklist decides: one form for every line
    metadata = {
        "kind": "mix",
        "mix_id": folder.name,
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "moods": list(options.moods),
        "seed": options.seed,
        "duration_s": round(result.duration_s, 3),
        "sample_rate": result.sample_rate,
        "channels": result.channels,
        "samples": result.samples,
        "crossfade_s": options.crossfade_s,
        "timestamps_at": "middle of each crossfade (the equal-power curves cross there)",
        "tracklist": [
            {**asdict(entry), "start_s": round(entry.start_s, 3), "timestamp": seo.timestamp(at, hours), "at_s": at}
            for entry, (at, _) in zip(result.entries, tracklist, strict=True)
        ],
        "audio": master,
        "title": words.title,
        "description": words.description,
        "tags": words.tags,
        "publish": {"palette": plan.palette.name, "motif": plan.motif, "name": name, "files": files}
        | ({"video": video_record} if video_record else {}),
        "timings_s": timings,
        **(extra or {}),
    }
    text = json.dumps(metadata, indent=2, sort_keys=True) + "\n"
    atomic_write(folder / "metadata.json", lambda p: p.write_text(text, encoding="utf-8"))
    progress(1.0, "done")
    return metadata


__all__ = ["MixOptions", "make_mix", "mix_words"]
