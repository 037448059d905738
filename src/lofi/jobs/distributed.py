"""The distributed backend: Celery workers on a Redis broker, jobs in the shared catalog.

A message carries only the job id. The job itself (request, state, progress, events, track) is in the
catalog every worker and the API share (``LOFI_DATABASE_URL``: a SQLite file on one machine, PostgreSQL
for many), and a Celery worker runs it with the same ``Runner`` as an embedded one.

Delivery: ``acks_late`` (a message is acknowledged when its job has ended, so the job of a worker that
dies is delivered again), ``reject_on_worker_lost`` (a pool process killed mid-job puts its message
back at once), ``prefetch_multiplier=1`` (a worker slot holds one job; the rest wait in Redis for a free
slot, not behind a busy one). When a whole worker dies, Redis hands its unacknowledged message to
another worker after ``visibility_timeout``.

A message can therefore arrive twice, or while its job still runs (when the visibility timeout is
shorter than the job). So a worker claims the job in the catalog before running it (see
``lofi.jobs.worker``): a job running on a live worker is left alone and the message retried a little
later, until the job has ended and the message finds nothing to do; a job whose worker is dead is taken
over. A worker process is alive while its Redis key ``lofi:worker:<id>`` exists: the process sets it
with a time-to-live of three heartbeats before its first claim, and a thread refreshes it.

Transient errors (the catalog or Redis unreachable) are retried with exponential back-off; a job over
the soft time limit fails; cancel marks the job cancelled in the catalog and revokes its message.

Shutdown: on SIGTERM a Celery worker stops taking messages and waits for its running jobs (a warm
shutdown). Run with ``REMAP_SIGTERM=SIGQUIT`` (the deploy files do) and the wait is bounded: running
jobs get ``shutdown_grace_s`` (Celery's soft shutdown), then their messages go back to Redis at once and
another worker takes the jobs over once this one's heartbeat key has expired.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

import redis
from redis.exceptions import RedisError

from lofi import logs
from lofi.catalog import Catalog, JobState
from lofi.catalog.queries import list_jobs, transition
from lofi.jobs.cache import GenerationCache
from lofi.jobs.queue import JobQueue, QueueConfig
from lofi.jobs.worker import TRANSIENT, JobBusy, Runner, configure_observability, new_worker_id

if TYPE_CHECKING:
    from celery import Celery

log = logging.getLogger(__name__)

TASK = "lofi.run_job"
QUEUE = "lofi"
CELERY = "celery"  # the kind in Celery workers' ids
LIVENESS_PREFIX = "lofi:worker:"
RETRYABLE = (*TRANSIENT, redis.exceptions.ConnectionError, redis.exceptions.TimeoutError)


class RedisLiveness:
    """A worker process is alive while its key exists; ``hold`` sets it and keeps it fresh."""

    def __init__(self, url: str, heartbeat_s: float):
        self._redis = redis.Redis.from_url(url)
        self.heartbeat_s = heartbeat_s

    def ping(self) -> None:
        self._redis.ping()

    def hold(self, worker_id: str) -> None:
        key, ttl_ms = LIVENESS_PREFIX + worker_id, int(3000 * self.heartbeat_s)
        self._redis.set(key, b"1", px=ttl_ms)

        def beat() -> None:
            while True:
                time.sleep(self.heartbeat_s)
                try:
                    self._redis.set(key, b"1", px=ttl_ms)
                except RedisError:
                    log.warning("could not refresh %s; trying again", key, exc_info=True)

        threading.Thread(target=beat, name="lofi-heartbeat", daemon=True).start()

    def alive(self, worker_id: str) -> bool:
        return bool(self._redis.exists(LIVENESS_PREFIX + worker_id))

    def live_keys(self):
        return self._redis.scan_iter(match=LIVENESS_PREFIX + "*", count=1000)


@dataclass(frozen=True)
class _Process:
    runner: Runner
    liveness: RedisLiveness


_processes: dict[int, _Process] = {}  # by pid: a forked pool process must not use its parent's


def _this_process(config: QueueConfig) -> _Process:
    """This pool process's worker: its id, its heartbeat, its catalog connection, its model."""
    pid = os.getpid()
    if pid not in _processes:
        import torch
        from celery.exceptions import SoftTimeLimitExceeded

        torch.set_num_threads(config.torch_threads)
        worker_id = new_worker_id(CELERY)
        liveness = RedisLiveness(config.queue_url, config.heartbeat_s)
        liveness.hold(worker_id)
        _processes[pid] = _Process(Runner(config, worker_id, time_limit_error=SoftTimeLimitExceeded), liveness)
    return _processes[pid]


def make_app(config: QueueConfig) -> Celery:
    """The Celery app for ``config.queue_url``, with the task that runs a job."""
    from celery import Celery

    app = Celery("lofi", broker=config.queue_url, set_as_current=False)
    app.conf.update(
        task_default_queue=QUEUE,
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_ignore_result=True,  # the catalog has the outcome
        task_soft_time_limit=config.time_limit_s,
        task_time_limit=config.hard_time_limit_s,
        broker_connection_retry_on_startup=True,
        # Redis's visibility timeout, and how often a worker looks for messages of dead workers past it
        broker_transport_options={
            "visibility_timeout": config.redelivery_s,
            "unacked_restore_interval": max(1, min(10, int(config.redelivery_s / 4))),
            "unacked_restore_throttle": 1,
        },
        # A job keeps running when the broker connection drops; its redelivered message finds it busy.
        worker_cancel_long_running_tasks_on_connection_loss=False,
        # a cold shutdown (SIGQUIT, or SIGTERM with REMAP_SIGTERM=SIGQUIT) first lets running jobs finish
        # for this long, then puts their messages back in Redis (acks_late) instead of waiting for redelivery
        worker_soft_shutdown_timeout=config.shutdown_grace_s,
        worker_enable_soft_shutdown_on_idle=True,  # also hands back the retries it holds (JobBusy countdowns)
        worker_hijack_root_logger=False,  # lofi.logs formats every line (JSON with the job id, or text)
    )

    @app.task(
        name=TASK, bind=True, autoretry_for=RETRYABLE, retry_backoff=True, retry_backoff_max=300,
        retry_jitter=True, max_retries=config.retries,
    )  # fmt: skip
    def run_job(task, job_id: str) -> str:
        with logs.job_context(job_id):
            return _run_job(task, job_id)

    def _run_job(task, job_id: str) -> str:
        process = _this_process(config)
        try:
            job = process.runner.claim(job_id, process.liveness.alive)
        except JobBusy as busy:
            # not an error: the job runs elsewhere; come back once its worker is done or found dead
            raise task.retry(countdown=config.liveness_ttl_s, max_retries=None, exc=busy) from None
        except LookupError:
            log.warning("no job %s in the catalog; message dropped", job_id)
            return "missing"
        if job is None:
            return "nothing to do"
        return process.runner.execute(job).state.value

    return app


class DistributedQueue(JobQueue):
    """Jobs in the catalog, their ids sent to Celery workers through Redis."""

    def __init__(self, config: QueueConfig, catalog: Catalog | None = None, cache: GenerationCache | None = None):
        super().__init__(config, catalog, cache)
        self.app = make_app(config)
        self.liveness = RedisLiveness(config.queue_url, config.heartbeat_s)

    def start(self, workers: int | None = None) -> None:
        """Re-send the jobs of dead workers whose message is lost (the workers run elsewhere)."""
        self.recover()

    def recover(self) -> list[str]:
        """Send again the running jobs whose Celery worker is dead; returns their ids.

        Their message is normally redelivered by Redis; this covers one that is gone (a job killed by
        the hard time limit is acknowledged, a broker that lost its data). An extra message is harmless:
        the claim lets one worker run the job.
        """
        with self.catalog.session() as session:
            page = list_jobs(session, state=JobState.RUNNING, limit=100_000)
            running = [(job.id, job.worker_id or "") for job in page.items]
        orphans = [i for i, owner in running if owner.startswith(f"{CELERY}:") and not self.liveness.alive(owner)]
        for job_id in orphans:
            self._dispatch(job_id)
        return orphans

    def live_workers(self) -> int:
        """Celery worker processes (pool slots) whose heartbeat key is fresh, on any machine."""
        return sum(1 for _ in self.liveness.live_keys())

    def ping(self) -> None:
        """The broker answers (Redis: PING), or redis's error says why not."""
        self.liveness.ping()

    def _dispatch(self, job_id: str) -> None:
        try:
            self.app.send_task(TASK, args=[job_id], task_id=job_id, queue=QUEUE)
        except Exception as e:
            with self.catalog.session() as session:
                transition(session, job_id, JobState.CANCELLED, error=f"could not reach the broker: {e}")
            raise

    def _revoke(self, job_id: str) -> None:
        try:
            self.app.control.revoke(job_id)
        except Exception:  # the catalog says cancelled; a worker that gets the message does nothing
            log.warning("could not revoke %s", job_id, exc_info=True)

    def close(self) -> None:
        super().close()
        self.app.close()


def run_worker(config: QueueConfig, concurrency: int = 1, pool: str = "prefork") -> None:
    """Run a Celery worker in the foreground (``lofi worker``): ``concurrency`` pool processes, one job each."""
    configure_observability()
    app = make_app(config)
    app.worker_main(
        [
            "worker", f"--concurrency={concurrency}", f"--pool={pool}", f"--queues={QUEUE}", "--loglevel=INFO",
            f"--hostname=lofi-{os.getpid()}@%h",
            "--without-gossip", "--without-mingle",  # the catalog, not the workers, knows the jobs
        ]
    )  # fmt: skip
