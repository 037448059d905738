"""The job queue: submit a track, follow it, cancel it; the backend is chosen by ``queue_url``.

Both backends keep every job in the catalog (state, progress, events, the track it made), so the API
and the CLI read jobs the same way whichever runs them:

- embedded (``queue_url`` empty): worker processes started by the server or the CLI claim queued jobs
  from the catalog (see ``lofi.jobs.embedded``);
- distributed (``queue_url=redis://...``): Celery workers on any machine get the job id from Redis and
  run it against the shared catalog (see ``lofi.jobs.distributed``).

A job's ``request`` column holds a ``JobSpec``: the compose request with its seed fixed at submit time
(so a re-run after a crash makes the same track), the track options and the model folder.
"""

from __future__ import annotations

import random
import time
from abc import ABC, abstractmethod
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lofi.catalog import Catalog, EventRecord, JobRecord, JobState, open_catalog
from lofi.catalog.models import FINISHED
from lofi.catalog.queries import Page, create_job, get_job, job_history, list_jobs, transition
from lofi.compose import ComposeRequest
from lofi.compose.request import VaryRequest
from lofi.jobs.cache import GenerationCache, cache_key, checkpoint_id, make_cache
from lofi.jobs.options import TrackOptions

if TYPE_CHECKING:
    from lofi.settings import Settings

KIND_TRACK = "track"
CACHE_WORKER = "cache"  # the worker_id of a job answered from the generation cache


@dataclass(frozen=True)
class QueueConfig:
    """What the queue and its workers need; ``from_settings`` builds it from the one Settings."""

    catalog_url: str
    tracks_dir: Path
    run_dir: Path  # embedded workers' lock files: a held lock means a live worker
    default_model: Path
    queue_url: str = ""  # empty: embedded backend; redis://...: Celery
    cache_url: str = ""  # redis://... shares the generation cache between processes; empty: in-process LRU
    cache_size: int = 1024  # entries of the in-process LRU
    workers: int = 1  # worker processes (embedded) or Celery concurrency
    torch_threads: int = 1  # per worker process: workers scale by processes, not threads
    max_attempts: int = 3  # claims before a job that keeps losing its worker (killed, OOM) is failed
    retries: int = 5  # Celery retries of transient errors (catalog or Redis unreachable), backing off
    time_limit_s: float = 1800.0  # soft limit per job; the hard limit kills the process a minute later
    visibility_timeout_s: float = 0.0  # Redis redelivers an unacked job after this; 0: hard limit + 10 min
    heartbeat_s: float = 10.0  # a Celery worker is dead when it missed three heartbeats
    poll_s: float = 0.5  # how often an idle embedded worker looks for a queued job
    shutdown_grace_s: float = 30.0  # on stop, how long running jobs may finish before they are requeued

    @property
    def hard_time_limit_s(self) -> float:
        return self.time_limit_s + 60.0

    @property
    def redelivery_s(self) -> float:
        return self.visibility_timeout_s or self.hard_time_limit_s + 600.0

    @property
    def liveness_ttl_s(self) -> float:
        return 3 * self.heartbeat_s

    @classmethod
    def from_settings(cls, settings: Settings | None = None, **overrides: Any) -> QueueConfig:
        """The config from Settings (LOFI_QUEUE_URL, LOFI_WORKERS, LOFI_JOB_*...); ``overrides`` win."""
        if settings is None:
            from lofi.settings import get_settings

            settings = get_settings()
        values: dict[str, Any] = {
            "catalog_url": settings.catalog_url,
            "tracks_dir": settings.tracks_dir,
            "run_dir": settings.home / "run",
            "default_model": settings.default_model,
            "torch_threads": max(1, settings.torch_threads),
            "queue_url": settings.queue_url,
            "cache_url": settings.cache_url,
            "cache_size": settings.cache_size,
            "workers": settings.workers,
            "max_attempts": settings.job_max_attempts,
            "retries": settings.job_retries,
            "time_limit_s": settings.job_time_limit_s,
            "visibility_timeout_s": settings.queue_visibility_timeout_s,
            "heartbeat_s": settings.worker_heartbeat_s,
            "shutdown_grace_s": settings.shutdown_grace_s,
        }
        return cls(**(values | overrides))

    def to_dict(self) -> dict[str, Any]:
        return {k: str(v) if isinstance(v, Path) else v for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> QueueConfig:
        paths = {f.name for f in fields(cls) if f.type == "Path"}
        return cls(**{k: Path(v) if k in paths else v for k, v in data.items()})


@dataclass(frozen=True)
class JobSpec:
    """What a track job runs, as stored in the job's ``request`` column: a track to compose, or (with
    ``vary``) a part of the library's track ``source`` to write again (``request`` is then the source's)."""

    request: ComposeRequest
    options: TrackOptions
    model: Path
    vary: VaryRequest | None = None
    source: str | None = None  # the track id a variation is made from

    def to_dict(self) -> dict[str, Any]:
        options = {k: str(v) if isinstance(v, Path) else v for k, v in asdict(self.options).items()}
        data = {"compose": self.request.to_dict(), "options": options, "model": str(self.model)}
        if self.vary is not None:
            data["vary"] = {"track_id": self.source, **asdict(self.vary)}
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> JobSpec:
        """The spec back; ValueError says what is wrong with it (a missing --continue file, say)."""
        try:
            compose, options = dict(data["compose"]), dict(data["options"])
            model = Path(data["model"])
            vary = dict(data["vary"]) if data.get("vary") is not None else None
        except (KeyError, TypeError) as e:
            raise ValueError(f"not a track job request: {e!r} in {data!r}") from None
        if compose.get("continue_from"):
            compose["continue_from"] = Path(compose["continue_from"])
        for option in fields(TrackOptions):  # JSON keeps paths as text
            if "Path" in str(option.type) and options.get(option.name) is not None:
                options[option.name] = Path(options[option.name])
        try:
            source = vary.pop("track_id") if vary is not None else None
            return cls(ComposeRequest(**compose), TrackOptions(**options), model,
                       VaryRequest(**vary) if vary is not None else None, source)  # fmt: skip
        except (TypeError, KeyError) as e:
            raise ValueError(f"bad job request: {e}") from None


class JobQueue(ABC):
    """Submit, follow and cancel track jobs; the backends add how a submitted job reaches a worker.

    ``submit`` answers from the generation cache when it can: a request with a seed that was already
    made with the same model and track options gets a new job that is done at once (queued, running
    by ``cache``, done, in one transaction) pointing at the stored track; nothing is recomputed. A
    request without a seed gets one here, so it is a new track and never a cache hit.
    """

    def __init__(self, config: QueueConfig, catalog: Catalog | None = None, cache: GenerationCache | None = None):
        self.config = config
        self._owns_catalog = catalog is None
        self.catalog = catalog or open_catalog(config.catalog_url)
        self.cache = cache or make_cache(config.cache_url, config.cache_size)

    def submit(self, request: ComposeRequest, options: TrackOptions | None = None, model: Path | None = None) -> str:
        """Queue one track; returns the job id. FileNotFoundError when ``model`` is not a checkpoint.

        ``options`` default to ``TrackOptions()``, ``model`` to the configured default model.
        """
        options = options or TrackOptions()
        model = Path(model or self.config.default_model).expanduser().resolve()
        if request.seed is None:
            request = replace(request, seed=random.randrange(2**32))
        key = cache_key(request, checkpoint_id(model), options)
        with self.catalog.session() as session:
            track = self.cache.lookup(session, key)
            job = create_job(session, KIND_TRACK, JobSpec(request, options, model).to_dict(), fingerprint=key)
            if track is not None:
                transition(session, job.id, JobState.RUNNING, worker_id=CACHE_WORKER, message="in the generation cache")
                transition(session, job.id, JobState.DONE, track_id=track.id, message=f"done: same as {track.id}")
                return job.id
        self._dispatch(job.id)
        return job.id

    def submit_vary(
        self, source: str, request: ComposeRequest, vary: VaryRequest, options: TrackOptions | None = None,
        model: Path | None = None,
    ) -> str:  # fmt: skip
        """Queue a variation of the library's track ``source`` (composed from ``request``): ``vary.part``
        written again (lofi.compose.vary); returns the job id. A variation without a seed gets one here.
        Never answered from the generation cache: each variation is asked for to be new."""
        options = options or TrackOptions()
        model = Path(model or self.config.default_model).expanduser().resolve()
        checkpoint_id(model)  # FileNotFoundError when it is not a checkpoint, as submit says
        if vary.seed is None:
            vary = replace(vary, seed=random.randrange(2**32))
        with self.catalog.session() as session:
            job = create_job(session, KIND_TRACK, JobSpec(request, options, model, vary, source).to_dict())
        self._dispatch(job.id)
        return job.id

    def status(self, job_id: str) -> JobRecord:
        """The job as the catalog has it now; LookupError when there is no such job."""
        with self.catalog.session() as session:
            job = get_job(session, job_id)
            if job is None:
                raise LookupError(f"no job {job_id!r}")
            return job.to_record()

    def cancel(self, job_id: str) -> JobRecord:
        """Cancel a queued or running job; a finished one is left as it is. Returns the job.

        A running job stops at its next progress report (between pipeline steps) and adds no track.
        """
        with self.catalog.session() as session:
            try:
                job = transition(session, job_id, JobState.CANCELLED, message="cancelled").to_record()
            except ValueError:
                job = None
        if job is None:
            return self.status(job_id)
        self._revoke(job_id)
        return job

    def list(self, state: JobState | str | None = None, limit: int = 50, offset: int = 0) -> Page[JobRecord]:
        """Jobs newest first, in one state when asked."""
        with self.catalog.session() as session:
            page = list_jobs(session, state=state, limit=limit, offset=offset)
            return Page([job.to_record() for job in page.items], page.total, page.limit, page.offset)

    def events(self, job_id: str, after: int = 0) -> list[EventRecord]:
        """The job's events (states and progress) oldest first, leaving out the first ``after``.

        Events are only ever appended, so a follower passes the count it has seen to get the new ones.
        """
        with self.catalog.session() as session:
            return [event.to_record() for event in job_history(session, job_id)[after:]]

    def wait(self, job_id: str, timeout_s: float = 600.0, poll_s: float = 0.2) -> JobRecord:
        """The job once it is done, failed or cancelled; TimeoutError if it is not by ``timeout_s``."""
        deadline = time.monotonic() + timeout_s
        while (job := self.status(job_id)).state not in FINISHED:
            if time.monotonic() > deadline:
                raise TimeoutError(f"job {job_id} still {job.state} ({job.message}) after {timeout_s:g} s")
            time.sleep(poll_s)
        return job

    def start(self, workers: int | None = None) -> None:  # noqa: B027 (a hook: most backends need nothing)
        """Start what this backend runs inside this process (the embedded workers)."""

    def stop(self) -> None:  # noqa: B027
        """Stop what ``start`` started."""

    def ping(self) -> None:  # noqa: B027 (the catalog is checked by any read; a broker is checked here)
        """Raise when the backend's own service (Celery's broker) does not answer."""

    def local_workers(self) -> tuple[int, int] | None:
        """(alive, started) of the worker processes this queue runs in this process; None when it runs none."""
        return None

    @abstractmethod
    def live_workers(self) -> int:
        """Worker processes alive anywhere, as this backend can tell."""

    def close(self) -> None:
        self.stop()
        if self._owns_catalog:
            self.catalog.close()

    def __enter__(self) -> JobQueue:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @abstractmethod
    def _dispatch(self, job_id: str) -> None:
        """Hand a newly queued job to the workers."""

    @abstractmethod
    def _revoke(self, job_id: str) -> None:
        """Tell the workers a job was cancelled (the catalog already says so)."""
