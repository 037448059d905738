"""Many tracks at once: the requests of a batch, and running them on a queue until every job has ended.

`lofi batch`, `lofi daily`, `lofi mix --new` and the server's daily set all come here, so a batch means
the same thing wherever it is asked for; the callers only draw progress (``on_update``).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from lofi.compose.request import ComposeRequest

if TYPE_CHECKING:
    from lofi.catalog import JobRecord
    from lofi.jobs.options import TrackOptions
    from lofi.jobs.queue import JobQueue

ENDED = ("done", "failed", "cancelled")
# the keys a batch picks from when none is asked: the common lo-fi keys, major and minor, with flats
LOFI_KEYS = (
    "C major", "D minor", "Eb major", "E minor", "F major", "G major", "A minor", "Bb major", "B minor", "F minor",
)  # fmt: skip
BPM_RANGE = (64, 92)  # a batch's tempos when none is asked: 64-91 BPM, the genre's usual span


def batch_requests(
    count: int,
    moods: Sequence[str],
    key: str | None = None,
    bpm: int | None = None,
    minutes: float = 2.0,
    seed: int | None = None,
) -> list[ComposeRequest]:
    """``count`` requests cycling through ``moods``; a key and tempo per track unless given; track i gets
    seed ``seed + i`` (None: each track random). The same arguments give the same requests."""
    if count < 1:
        raise ValueError(f"a batch needs at least one track (got {count})")
    if not moods:
        raise ValueError("a batch needs at least one mood")
    chooser = random.Random(seed)
    return [
        ComposeRequest(
            mood=moods[i % len(moods)],
            key=key or chooser.choice(LOFI_KEYS),
            bpm=bpm or chooser.randrange(*BPM_RANGE),
            minutes=minutes,
            seed=None if seed is None else seed + i,
        )
        for i in range(count)
    ]


def wait_for(
    queue: JobQueue,
    job_ids: Sequence[str],
    on_update: Callable[[str, JobRecord], None] | None = None,
    poll_s: float = 0.3,
) -> list[JobRecord]:
    """Follow the jobs until each has ended; ``on_update(job_id, job)`` sees every poll. The jobs, in order."""
    finished: dict[str, JobRecord] = {}
    while len(finished) < len(job_ids):
        for job_id in job_ids:
            if job_id in finished:
                continue
            job = queue.status(job_id)
            if on_update is not None:
                on_update(job_id, job)
            if str(job.state) in ENDED:
                finished[job_id] = job
        if len(finished) < len(job_ids):
            time.sleep(poll_s)
    return [finished[job_id] for job_id in job_ids]


def run_batch(
    queue: JobQueue,
    requests: Sequence[ComposeRequest],
    options: TrackOptions,
    workers: int | None = None,
    on_submit: Callable[[list[str]], None] | None = None,
    on_update: Callable[[str, JobRecord], None] | None = None,
) -> list[JobRecord]:
    """Submit every request, start ``workers`` (None: the queue's own), wait until all have ended."""
    ids = [queue.submit(request, options) for request in requests]
    if on_submit is not None:
        on_submit(ids)
    queue.start(workers)
    return wait_for(queue, ids, on_update)
