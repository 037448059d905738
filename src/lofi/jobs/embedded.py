"""The embedded backend: worker processes inside the server or the CLI, jobs in the catalog.

Each worker is a process of its own, spawned (a clean interpreter: no locks or threads copied from the
server), that loads the model once and composes with one torch thread. It claims the oldest queued job
from the catalog (``claim_next``), runs it, and looks again every ``poll_s`` when the queue is empty.
Submitting writes the job to the catalog; nothing else has to reach the workers.

A worker holds an exclusive lock on ``run_dir/<worker id>.lock`` for as long as it lives; the kernel
lets go of it when the process dies, however it dies. A running job whose worker's lock is free (or
gone) belongs to a dead worker and goes back in the queue, to be run again: when the queue starts (the
server restarted), when one of its workers dies (the supervisor then starts another), and every half
minute (for workers of another process on this machine, such as a ``lofi batch`` that was killed).
Jobs of live workers, here or in another process, are never touched. The embedded backend is for one
machine; many machines use the distributed one.
"""

from __future__ import annotations

import fcntl
import logging
import multiprocessing
import os
import signal
import threading
import time
from multiprocessing.process import BaseProcess
from multiprocessing.synchronize import Event
from pathlib import Path
from typing import IO

from sqlalchemy.exc import SQLAlchemyError

from lofi import logs, tracing
from lofi.catalog import Catalog, JobState
from lofi.catalog.queries import claim_next, list_jobs, requeue_running
from lofi.jobs.cache import GenerationCache
from lofi.jobs.queue import JobQueue, QueueConfig
from lofi.jobs.worker import Runner, configure_observability, new_worker_id, worker_pid
from lofi.logs import LogConfig

log = logging.getLogger(__name__)

EMBEDDED = "embedded"  # the kind in embedded workers' ids
RECOVER_EVERY_S = 30.0
WORKER_NICENESS = 10  # added to a worker process's niceness (os.nice): jobs yield the CPU to the API


class FileLiveness:
    """A worker is alive while it holds the lock on its file in ``folder``."""

    def __init__(self, folder: Path):
        self.folder = Path(folder)

    def path(self, worker_id: str) -> Path:
        return self.folder / f"{worker_id.replace(':', '_')}.lock"

    def hold(self, worker_id: str) -> IO[bytes]:
        """Lock ``worker_id``'s file for as long as the returned file stays open (or the process lives)."""
        self.folder.mkdir(parents=True, exist_ok=True)
        handle = self.path(worker_id).open("ab")
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return handle

    def alive(self, worker_id: str) -> bool:
        if _held(self.path(worker_id)):
            return True
        # Dead; ids are never reused (they carry a random part), so its file can go.
        self.path(worker_id).unlink(missing_ok=True)
        return False

    def count(self, prefix: str = "") -> int:
        """How many workers whose lock file's name starts with ``prefix`` are alive."""
        if not self.folder.is_dir():
            return 0
        return sum(1 for path in self.folder.glob(f"{prefix}*.lock") if _held(path))


def _held(path: Path) -> bool:
    """Whether a live process holds the lock on ``path``."""
    try:
        handle = path.open("rb")
    except FileNotFoundError:
        return False
    with handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        return False


def work(
    config: QueueConfig, stop: Event, parent_pid: int, log_config: LogConfig | None = None, otlp_endpoint: str = ""
) -> None:
    """One embedded worker process: claim, run, repeat, until ``stop`` is set or the parent is gone.

    An error reaching the catalog ends the process; its supervisor puts its job back and starts another.
    ``log_config`` and ``otlp_endpoint`` are the parent's logging and tracing (a spawned process starts bare).
    """
    import torch

    # below the API's priority: on a small machine the server answers while a job composes and renders
    # (docs/BENCHMARKS.md, API under load); alone on a machine the worker loses nothing by it
    os.nice(WORKER_NICENESS)
    if log_config is not None:
        logs.apply(log_config)
    if otlp_endpoint:
        tracing.configure_tracing(otlp_endpoint, "lofi-worker")

    torch.set_num_threads(config.torch_threads)
    worker_id = new_worker_id(EMBEDDED)
    liveness = FileLiveness(config.run_dir)
    lock = liveness.hold(worker_id)  # before the first claim, so a job's worker is always found alive
    runner = Runner(config, worker_id)
    try:
        while not stop.is_set() and os.getppid() == parent_pid:  # orphans stop: nobody would supervise them
            with runner.catalog.session() as session:
                job = claim_next(session, worker_id)
                claimed = job.to_record() if job is not None else None
            if claimed is None:
                stop.wait(config.poll_s)
                continue
            runner.execute(claimed)
    finally:
        runner.catalog.close()
        liveness.path(worker_id).unlink(missing_ok=True)
        lock.close()
        tracing.shutdown_tracing()


class EmbeddedQueue(JobQueue):
    """Jobs in the catalog, run by worker processes this object starts and watches."""

    def __init__(self, config: QueueConfig, catalog: Catalog | None = None, cache: GenerationCache | None = None):
        super().__init__(config, catalog, cache)
        self.liveness = FileLiveness(config.run_dir)
        self._context = multiprocessing.get_context("spawn")
        self._stop = self._context.Event()
        self._workers: list[BaseProcess] = []
        self._supervisor: threading.Thread | None = None

    @property
    def worker_pids(self) -> list[int]:
        return [p.pid for p in self._workers if p.pid is not None]

    def start(self, workers: int | None = None) -> None:
        """Put back the jobs of dead workers, then start ``workers`` worker processes and their supervisor."""
        if self._supervisor is not None:
            raise RuntimeError("the embedded queue is already started")
        self.recover()
        self._stop = self._context.Event()
        self._workers = [self._spawn() for _ in range(workers or self.config.workers)]
        self._supervisor = threading.Thread(target=self._supervise, name="lofi-embedded-supervisor", daemon=True)
        self._supervisor.start()

    def stop(self, timeout_s: float | None = None) -> None:
        """Stop gracefully: the workers take no new job, running jobs get ``timeout_s`` to finish (default
        ``config.shutdown_grace_s``); the workers still running then are stopped and their jobs requeued.
        """
        if self._supervisor is None:
            return
        timeout_s = self.config.shutdown_grace_s if timeout_s is None else timeout_s
        self._stop.set()
        self._supervisor.join()
        deadline = time.monotonic() + timeout_s
        for process in self._workers:
            process.join(max(0.0, deadline - time.monotonic()))
        late = [process for process in self._workers if process.is_alive()]
        if late:
            log.warning("%d worker(s) still running a job after %g s: stopping them", len(late), timeout_s)
        for process in late:
            process.terminate()
            process.join()
        self._workers, self._supervisor = [], None
        self.recover(stopped_pids={process.pid for process in late})

    def local_workers(self) -> tuple[int, int] | None:
        """(alive, started) of the worker processes this queue runs; None when it runs none."""
        if self._supervisor is None:
            return None
        return sum(1 for p in self._workers if p.is_alive()), len(self._workers)

    def live_workers(self) -> int:
        """Embedded workers alive on this machine: this queue's and any other process's (``lofi worker``)."""
        return self.liveness.count(prefix=f"{EMBEDDED}_")

    def recover(self, stopped_pids: frozenset[int] | set[int] = frozenset()) -> list[str]:
        """Put the running jobs of dead embedded workers back in the queue; returns their ids.

        Workers whose process ids are in ``stopped_pids`` were stopped by this queue's shutdown: their
        jobs go back without using up an attempt.
        """
        with self.catalog.session() as session:
            page = list_jobs(session, state=JobState.RUNNING, limit=100_000)
            owners = {job.worker_id for job in page.items if job.worker_id}
        dead = sorted(w for w in owners if w.startswith(f"{EMBEDDED}:") and not self.liveness.alive(w))
        requeued: list[str] = []
        for worker_id in dead:
            with self.catalog.session() as session:
                refund = worker_pid(worker_id) in stopped_pids
                requeued += requeue_running(session, worker_id=worker_id, refund=refund)
        if requeued:
            log.warning("requeued %d job(s) of stopped workers: %s", len(requeued), ", ".join(requeued))
        return requeued

    def _spawn(self) -> BaseProcess:
        args = (self.config, self._stop, os.getpid(), logs.current(), tracing.current())
        process = self._context.Process(target=work, args=args, name="lofi-embedded-worker", daemon=True)
        process.start()
        return process

    def _supervise(self) -> None:
        last_recovery = time.monotonic()
        while not self._stop.wait(self.config.poll_s):
            dead = [i for i, process in enumerate(self._workers) if not process.is_alive()]
            if dead or time.monotonic() - last_recovery > RECOVER_EVERY_S:
                try:
                    self.recover()
                except SQLAlchemyError:
                    log.warning("could not reach the catalog to requeue jobs; trying again", exc_info=True)
                    continue
                last_recovery = time.monotonic()
            for i in dead:
                old = self._workers[i]
                log.warning("embedded worker %s stopped (exit code %s); starting another", old.pid, old.exitcode)
                self._workers[i] = self._spawn()

    def _dispatch(self, job_id: str) -> None:
        pass  # the workers find queued jobs in the catalog

    def _revoke(self, job_id: str) -> None:
        pass  # a running worker sees the cancel at its next progress report


def serve(config: QueueConfig, workers: int) -> None:
    """Run ``workers`` embedded workers in the foreground until SIGINT or SIGTERM."""
    configure_observability()
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    with EmbeddedQueue(config) as queue:
        queue.start(workers)
        try:
            while not done.wait(1.0):
                pass
        except KeyboardInterrupt:
            pass
