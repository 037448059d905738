"""One track, start to finish, as named steps that report progress through one callback.

The CLI, the embedded worker and the Celery worker all call ``run_track``; none of them re-implements a
step. The metadata stays in memory (``lofi.track.TrackFolder``) and is written once after each step, with
its timing, so metadata.json always says what has been done and is never rewritten within a step.
"""

from __future__ import annotations

import importlib
import threading
from pathlib import Path

from symusic import Score

from lofi.compose import Composer, ComposeRequest, write_track
from lofi.compose.request import VaryRequest
from lofi.jobs.options import TrackOptions
from lofi.model.checkpoint import Checkpoint
from lofi.progress import Progress, no_progress
from lofi.publish import publish_into
from lofi.render.midi import read_midi
from lofi.tracing import span
from lofi.track import TrackFolder


def compose_step(
    checkpoint: Checkpoint,
    request: ComposeRequest,
    out_dir: Path,
    threads: int,
    engine: str | None = None,
    progress: Progress = no_progress,
) -> Path:
    composition = Composer(checkpoint, threads, engine).compose(request, progress)
    return write_track(composition, out_dir)


def render_step(track: TrackFolder, options: TrackOptions, score: Score) -> None:
    """The piano roll, and with ``options.audio`` the sound of ``score`` (the folder's track.mid); changes
    ``track``'s metadata in memory."""
    from lofi.render.images import pianoroll

    folder, metadata = track.path, track.metadata
    pianoroll(score, folder / "pianoroll.png", metadata.form, metadata.track_id)
    if options.audio:
        from lofi.render.track import render_score  # the audio stage's imports (scipy) only when rendering

        mood = (metadata.request or {})["mood"]
        render_options = options.render_options(mood, metadata.seed, swing_written=metadata.swing is not None)
        audio = render_score(score, folder, render_options)
        timings = metadata.timings_s if metadata.timings_s is not None else {}
        timings.update({f"render.{k}": v for k, v in audio.pop("timings_s").items()})
        track.update(timings_s=timings, audio=audio)


def analyze_step(track: TrackFolder, score: Score, model_dir: Path | None = None) -> None:
    """Quality metrics, the lo-fi figures, and the originality verdict against the model's own index (the
    melodies it was trained on, in ``model_dir``) and LOFI_HOME's (`lofi originality build`) when either
    exists; changes ``track``'s metadata in memory.

    The quality score is the mean of how typical the track is of the corpus (lofi.analysis.metrics) and
    the share of the lo-fi figures that meet their targets (lofi.analysis.figures).
    """
    import math

    from lofi.analysis.figures import compute_figures, heard_key
    from lofi.analysis.metrics import compute_metrics
    from lofi.analysis.originality import check, index_paths, load_indexes
    from lofi.analysis.provenance import provenance
    from lofi.model.meta import read_meta
    from lofi.theory import Key

    metadata = track.metadata
    key = Key.parse(metadata.key)
    metrics = compute_metrics(score, key).to_dict()
    figures = compute_figures(score, metadata.form, metadata.chords, key)
    metrics["typical"] = metrics["quality"]
    metrics["quality"] = (metrics["quality"] + figures.score()) / 2
    indexes = index_paths(model_dir)
    if not indexes:
        reason = "no originality index: the model has none; run `lofi originality build`"
        originality = {"verdict": "unchecked", "reason": reason}
    else:
        try:
            originality = check(score, load_indexes(indexes)).to_dict()
        except ValueError as exc:  # a damaged index must not cost the track; the verdict says why
            originality = {"verdict": "unchecked", "reason": str(exc)}
    card = read_meta(model_dir).card if model_dir is not None else {}
    track.update(
        lofi=figures.to_dict() | {"heard_key": heard_key(score).name, "misses": figures.failures()},
        quality={name: None if math.isnan(v) else round(v, 4) for name, v in metrics.items()},
        originality=originality,
        provenance=provenance(card, metadata.model_id or "", originality),
    )


# what the steps after composing import (scipy, pedalboard, matplotlib, music21: about 2 s in a fresh
# process); composing imports none of them, and mostly waits on onnxruntime, which lets the GIL go
LATER_IMPORTS = ("lofi.analysis.figures", "lofi.analysis.metrics", "lofi.analysis.originality",
                 "lofi.analysis.provenance", "lofi.render.images")  # fmt: skip
AUDIO_IMPORTS = ("lofi.render.track",)


def _import_in_background(names: tuple[str, ...]) -> threading.Thread:
    """Import ``names`` on a thread of their own (a no-op in a worker that has them); join it before using them."""

    def load() -> None:
        for name in names:
            try:
                importlib.import_module(name)
            except Exception:
                return

    thread = threading.Thread(target=load, name="lofi-imports", daemon=True)
    thread.start()
    return thread


def run_track(
    checkpoint: Checkpoint,
    request: ComposeRequest,
    out_dir: Path,
    options: TrackOptions = TrackOptions(),  # noqa: B008 (frozen)
    progress: Progress = no_progress,
    threads: int = 1,
) -> Path:
    """Compose and render one track into ``out_dir/<track_id>/``; returns the track folder."""
    progress(0.0, "composing")
    imports = _import_in_background(LATER_IMPORTS + (AUDIO_IMPORTS if options.audio else ()))
    with span("compose", seed=request.seed):  # a no-op unless tracing is configured (lofi.tracing)
        # composing is half of a job: its passes move the first half of the bar
        folder = compose_step(checkpoint, request, out_dir, threads, options.engine,
                              progress=lambda fraction, message: progress(0.5 * fraction, message))  # fmt: skip
    imports.join()  # the imports overlap composing only, never another step's own imports
    return finish_track(folder, checkpoint.path, options, progress)


def vary_track(
    checkpoint: Checkpoint,
    source: Path,
    request: VaryRequest,
    out_dir: Path,
    options: TrackOptions = TrackOptions(),  # noqa: B008 (frozen)
    progress: Progress = no_progress,
    threads: int = 1,
) -> Path:
    """A new track from the track folder ``source`` with one part written again (lofi.compose.vary), made
    like any other into ``out_dir/<track_id>/``; returns its folder."""
    from lofi.compose.vary import Varier

    progress(0.0, f"writing new {request.part}")
    imports = _import_in_background(LATER_IMPORTS + (AUDIO_IMPORTS if options.audio else ()))
    with span("vary", part=request.part):
        score = read_midi(source / "track.mid")
        composition = Varier(Composer(checkpoint, threads, options.engine)).vary(source, score, request)
        folder = write_track(composition, out_dir)
    imports.join()
    return finish_track(folder, checkpoint.path, options, progress)


def finish_track(folder: Path, model_dir: Path | None, options: TrackOptions, progress: Progress = no_progress) -> Path:
    """Analyze, render and publish a track folder that holds its track.mid and metadata (the second half of a job)."""
    track = TrackFolder(folder)
    score = read_midi(folder / "track.mid")  # read once: analysis, the piano roll and the sound share it
    steps = (
        ("analyze", 0.5, "analyzing", lambda: analyze_step(track, score, model_dir)),
        ("render", 0.55, "rendering" if options.audio else "drawing", lambda: render_step(track, options, score)),
        ("publish", 0.7, "publishing", lambda: publish_into(
            track, options.video and options.audio, options.resolution, options.template,
            progress=lambda f, m: progress(0.7 + 0.3 * f, m),
        )),
    )  # fmt: skip
    for name, fraction, message, step in steps:
        progress(fraction, message)
        with span(name, track_id=folder.name), track.timed(name):
            step()
        track.save()  # the step's results and its timing, in one write
    progress(1.0, "done")
    return folder
