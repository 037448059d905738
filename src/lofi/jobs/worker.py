"""Running one job: what the embedded workers and the Celery workers share.

A worker owns a job while the catalog says it is ``running`` with the worker's id. It runs the pipeline
into the tracks folder, adds the track to the catalog and marks the job done; a job whose input is bad
(a deleted ``--continue`` file, a missing model) ends ``failed`` with the reason, and the worker goes on.

Running a job twice is guarded in three places:

- claiming is a compare-and-set in the catalog: ``claim_next`` (embedded) or ``queued -> running`` by
  id (Celery), so two workers never both take a queued job;
- a job found ``running`` is taken over only when its worker is dead, and the takeover is again a
  compare-and-set on that dead worker's id (``requeue_running(worker_id=dead)`` then ``queued ->
  running`` in one transaction), so of two workers taking over one job only one wins. Whether a worker
  is alive is the backend's question: a held file lock (embedded) or a Redis heartbeat key (Celery);
- the worker checks it still owns the job at every progress report and before it adds the track: a
  job cancelled or taken over under it stops at the next step and adds nothing. A cancelled job's
  track folder is removed as well (``discard_cancelled``): a cancelled job leaves nothing behind.

Each claim counts an attempt; a job claimed more than ``max_attempts`` times (its worker was killed
each time: out of memory, over the hard time limit) fails instead of running again. A re-run composes
the same track (the seed was fixed at submit), overwrites the same track folder file by file (every
write is atomic), removes the temporaries the killed run left, and upserts the same catalog row.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import shutil
import socket
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.orm import Session

from lofi import tracing
from lofi.catalog import Catalog, JobRecord, JobState, open_catalog
from lofi.catalog.queries import (
    add_track,
    get_job,
    get_track,
    list_jobs,
    report_progress,
    requeue_running,
    transition,
)
from lofi.jobs.queue import JobSpec, QueueConfig
from lofi.logs import configure_logging, job_context
from lofi.logs import current as current_log_config
from lofi.model.meta import WEIGHTS
from lofi.progress import Progress
from lofi.track import METADATA, TrackFolder

if TYPE_CHECKING:
    from lofi.model.checkpoint import Checkpoint

log = logging.getLogger(__name__)


class JobStopped(Exception):
    """The job was cancelled, or taken over by another worker, while this one ran it."""


class JobBusy(Exception):
    """The job is running on a live worker; ask again later."""


class CatalogUnavailable(ConnectionError):
    """The catalog could not be reached in the middle of a job: transient, the job is tried again."""


# errors that say the catalog (or the broker) is unreachable for now, not that the job is bad
TRANSIENT: tuple[type[BaseException], ...] = (OSError, OperationalError, InterfaceError)


def new_worker_id(kind: str) -> str:
    """A worker id unique to this process's lifetime: ``kind:host:pid:random``."""
    return f"{kind}:{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


def worker_pid(worker_id: str) -> int | None:
    """The process id inside a worker id from ``new_worker_id`` (None for another form)."""
    parts = worker_id.rsplit(":", 2)
    return int(parts[1]) if len(parts) == 3 and parts[1].isdigit() else None


def configure_observability() -> None:
    """Logs and traces as the settings say, for ``lofi worker`` (``lofi serve`` configures its own)."""
    from lofi.settings import get_settings

    settings = get_settings()
    if current_log_config() is None:
        configure_logging(settings)
    if not tracing.enabled() and settings.otlp_endpoint:
        tracing.configure_tracing(settings.otlp_endpoint, "lofi-worker")


def describe(exc: BaseException) -> str:
    """An error as one readable line for the job's ``error``."""
    name, text = type(exc).__name__, str(exc).strip()
    first = text.splitlines()[0] if text else ""
    if first in ("", f"{name}()"):
        return name
    if isinstance(exc, ValueError | FileNotFoundError):
        return first  # our own messages already say what is wrong and how to fix it
    return f"{name}: {first}"


def discard_cancelled(session: Session, tracks_dir: Path, job: JobRecord, spec: JobSpec) -> list[Path]:
    """Remove the track folder(s) the cancelled ``job`` wrote; returns them.

    The folder is the one whose metadata.json holds the job's request, written since the job started
    (the pipeline names folders; this finds them without knowing how). A folder is kept when the
    catalog has a track there (the same track made before) or another running job has the same request
    and writes there too.
    """
    asked = json.loads(json.dumps(spec.request.to_dict()))  # as metadata.json holds it
    since = job.started_at.timestamp() - 1.0 if job.started_at else 0.0  # a second for the clocks' grain
    running = list_jobs(session, state=JobState.RUNNING, limit=10_000).items
    if any(other.id != job.id and (other.request or {}).get("compose") == asked for other in running):
        return []
    removed = []
    for metadata in tracks_dir.glob(f"*/{METADATA}"):
        try:
            if metadata.stat().st_mtime < since:
                continue
            made = TrackFolder(metadata.parent).metadata.request
        except (OSError, ValueError):  # removed meanwhile, or not a track folder
            continue
        if made == asked and get_track(session, metadata.parent.name) is None:
            shutil.rmtree(metadata.parent, ignore_errors=True)
            removed.append(metadata.parent)
    if removed:
        log.info("job %s was cancelled: removed %s", job.id, ", ".join(p.name for p in removed))
    return removed


def remove_stale_temporaries(folder: Path, before: datetime) -> list[Path]:
    """The temporaries (``.name.*.tmp``, see ``atomic_write``) a killed run left, older than ``before``."""
    stale = [p for p in folder.rglob(".*.tmp") if p.is_file() and p.stat().st_mtime < before.timestamp()]
    for path in stale:
        path.unlink(missing_ok=True)
    return stale


class Runner:
    """Claims and runs jobs as one worker; keeps the last model it loaded."""

    def __init__(
        self,
        config: QueueConfig,
        worker_id: str,
        catalog: Catalog | None = None,
        time_limit_error: type[BaseException] | None = None,
    ):
        self.config = config
        self.worker_id = worker_id
        self.catalog = catalog or open_catalog(config.catalog_url)
        self.time_limit_error = time_limit_error  # what the backend raises in a job over its soft limit
        self._checkpoint: tuple[tuple[Path, int], Checkpoint] | None = None

    def claim(self, job_id: str, alive: Callable[[str], bool]) -> JobRecord | None:
        """Take the job ``job_id`` for this worker, the Celery way (the message names the job).

        Returns the job, now running here; None when there is nothing to do (finished, cancelled, gone);
        raises JobBusy when a live worker runs it, and LookupError for an unknown job.
        """
        with self.catalog.session() as session:
            job = get_job(session, job_id)
            if job is None:
                raise LookupError(f"no job {job_id!r}")
            state, owner = JobState(job.state), job.worker_id
        if state is JobState.QUEUED:
            with self.catalog.session() as session:
                try:
                    return self._take(session, job_id, f"claimed by {self.worker_id}")
                except ValueError:
                    raise JobBusy(f"job {job_id} was just claimed by another worker") from None
        if state is not JobState.RUNNING:
            return None
        # Our own id means this process gave up on the job (an error reaching the catalog) and is
        # asked again; it runs one job at a time, so the job is not running here any more.
        if owner != self.worker_id and owner is not None and alive(owner):
            raise JobBusy(f"job {job_id} is running on {owner}")
        with self.catalog.session() as session:
            # only while it is still the dead worker's: of two workers taking it over at once, one wins
            if owner is None or not requeue_running(session, worker_id=owner):
                raise JobBusy(f"job {job_id} was just taken over by another worker")
            return self._take(session, job_id, f"taken over by {self.worker_id} from {owner}, which stopped")

    def _take(self, session: Session, job_id: str, message: str) -> JobRecord:
        job = transition(session, job_id, JobState.RUNNING, worker_id=self.worker_id, message=message)
        return job.to_record()

    def execute(self, job: JobRecord) -> JobRecord:
        """Run a job this worker has claimed; returns the job as it ended (done, failed, cancelled).

        Every log line meanwhile carries the job's id, and with tracing on the job is one span.
        """
        with job_context(job.id), tracing.span("job", job_id=job.id, attempt=job.attempts, worker_id=self.worker_id):
            log.info("job %s started on %s (attempt %d)", job.id, self.worker_id, job.attempts)
            ended = self._execute(job)
            log.info("job %s ended %s%s", job.id, ended.state, f": {ended.error}" if ended.error else "")
            return ended

    def _execute(self, job: JobRecord) -> JobRecord:
        if job.attempts > self.config.max_attempts:
            reason = (
                f"gave up after {job.attempts - 1} attempts: its worker stopped each time "
                "(killed, out of memory or over the time limit)"
            )
            return self._fail(job.id, reason)
        # the pipeline (composer, model, torch) loads in the worker, not in the server that imports this module
        from lofi.jobs.pipeline import run_track, vary_track

        try:
            spec = JobSpec.from_dict(job.request)
            checkpoint = self._load(spec.model)
            progress = self._progress(job.id)
            tracks, threads = self.config.tracks_dir, self.config.torch_threads
            if spec.vary is not None:
                source = tracks / str(spec.source)
                folder = vary_track(checkpoint, source, spec.vary, tracks, spec.options, progress, threads)
            else:
                folder = run_track(checkpoint, spec.request, tracks, spec.options, progress, threads)
            if job.started_at is not None:
                remove_stale_temporaries(folder, job.started_at)
        except JobStopped:
            return self._discard_if_cancelled(self._status(job.id), spec)
        except CatalogUnavailable:
            raise
        except Exception as exc:
            log.warning("job %s failed", job.id, exc_info=True)
            if self.time_limit_error is not None and isinstance(exc, self.time_limit_error):
                return self._fail(job.id, f"over the time limit of {self.config.time_limit_s:g} s")
            return self._fail(job.id, describe(exc))
        return self._discard_if_cancelled(self._finish(job.id, folder), spec)

    def _discard_if_cancelled(self, job: JobRecord, spec: JobSpec) -> JobRecord:
        """A job cancelled while this worker ran it leaves no track folder behind."""
        if job.state is JobState.CANCELLED:
            with self.catalog.session() as session:
                discard_cancelled(session, self.config.tracks_dir, job, spec)
        return job

    def _load(self, path: Path) -> Checkpoint:
        from lofi.model.checkpoint import load_checkpoint

        weights = path / WEIGHTS
        version = (path, weights.stat().st_mtime_ns if weights.is_file() else 0)
        if self._checkpoint is None or self._checkpoint[0] != version:
            self._checkpoint = None  # one model in memory at a time
            self._checkpoint = (version, load_checkpoint(path, build=False))  # built if its engine needs it
        return self._checkpoint[1]

    def _owns(self, session: Session, job_id: str) -> bool:
        job = get_job(session, job_id)
        return job is not None and job.state == JobState.RUNNING and job.worker_id == self.worker_id

    def _progress(self, job_id: str) -> Progress:
        def report(fraction: float, message: str) -> None:
            try:
                with self.catalog.session() as session:
                    owned = self._owns(session, job_id) and report_progress(session, job_id, fraction, message)
            except (OperationalError, InterfaceError) as e:
                raise CatalogUnavailable(f"the catalog is unreachable: {e}") from e
            if not owned:
                raise JobStopped(job_id)

        return report

    def _finish(self, job_id: str, folder: Path) -> JobRecord:
        try:
            with self.catalog.session() as session:
                if not self._owns(session, job_id):
                    raise JobStopped(job_id)
                track = add_track(session, folder)
                job = transition(session, job_id, JobState.DONE, track_id=track.id, message=f"done: {track.id}")
                return job.to_record()
        except JobStopped:
            return self._status(job_id)
        except ValueError as e:  # a cancel won the race (the transaction is rolled back), or bad metadata
            if self._status(job_id).state is not JobState.RUNNING:
                return self._status(job_id)
            return self._fail(job_id, describe(e))

    def _fail(self, job_id: str, reason: str) -> JobRecord:
        with self.catalog.session() as session:
            if not self._owns(session, job_id):
                return get_job(session, job_id).to_record()
            return transition(session, job_id, JobState.FAILED, error=reason).to_record()

    def _status(self, job_id: str) -> JobRecord:
        with self.catalog.session() as session:
            return get_job(session, job_id).to_record()
