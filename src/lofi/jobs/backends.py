"""The queue backends by configuration: embedded (in-process workers, SQLite or PostgreSQL) or Celery on Redis.

Kept apart from lofi.jobs.queue, which the backends build on, so that the imports point one way.
"""

from __future__ import annotations

from lofi.jobs.queue import JobQueue, QueueConfig


def open_queue(config: QueueConfig) -> JobQueue:
    """The backend ``config.queue_url`` names: embedded when empty, Celery for redis:// URLs."""
    if not config.queue_url:
        from lofi.jobs.embedded import EmbeddedQueue

        return EmbeddedQueue(config)
    if config.queue_url.startswith(("redis://", "rediss://")):
        from lofi.jobs.distributed import DistributedQueue

        return DistributedQueue(config)
    raise ValueError(f"queue_url must be empty (embedded) or redis://... (Celery), not {config.queue_url!r}")


def run_worker(config: QueueConfig, concurrency: int | None = None) -> None:
    """Run workers in the foreground until interrupted (``lofi worker``): Celery's, or embedded ones."""
    concurrency = concurrency or config.workers
    if config.queue_url:
        from lofi.jobs.distributed import run_worker as run_celery_worker

        run_celery_worker(config, concurrency)
    else:
        from lofi.jobs.embedded import serve

        serve(config, concurrency)
