"""The Celery backend for real: two worker processes on one Redis broker and a PostgreSQL catalog.

Redis hands a dead worker's job to another one after the visibility timeout; here it is a few seconds,
shorter than a job, so jobs still running are redelivered too, and the claim must keep them to one run.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, replace

import psycopg
import pytest

from jobs.conftest import (
    WorkerProcess,
    assert_complete_track,
    composed_with_seed,
    empty_redis_db,
    make_config,
    wait_until_rendering,
)
from lofi.catalog import JobState
from lofi.catalog.queries import list_tracks
from lofi.compose import ComposeRequest
from lofi.jobs.distributed import DistributedQueue
from lofi.jobs.pipeline import TrackOptions

# the module's tests share its worker processes: one xdist worker runs them all (with --dist loadgroup)
pytestmark = pytest.mark.xdist_group("celery-cluster")

REQUEST = ComposeRequest(mood="chill", bpm=80, key="C major", minutes=0.25, seed=31)


@dataclass
class Cluster:
    queue: DistributedQueue
    workers: list[WorkerProcess]

    def worker_running(self, job_id: str) -> WorkerProcess:
        """The worker whose pool process runs the job (its id names the process)."""
        pid = int(self.queue.status(job_id).worker_id.split(":")[2])
        return next(w for w in self.workers if w.pid == os.getpgid(pid))


@pytest.fixture(scope="module")
def cluster(request, tmp_path_factory, redis_server, postgres_server) -> Iterator[Cluster]:
    """Two Celery workers, each one pool process, sharing a Redis broker and a PostgreSQL catalog."""
    folder = tmp_path_factory.mktemp("distributed")
    database = f"lofi_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres_server.replace("postgresql+psycopg://", "postgresql://"), autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{database}"')
    catalog_url = postgres_server.rsplit("/", 1)[0] + f"/{database}"
    # the workers take the model from each job, so they start while the tiny model trains
    config = make_config(
        folder, folder / "model", catalog_url=catalog_url, queue_url=empty_redis_db(redis_server),
        visibility_timeout_s=4.0,
        # a live worker's key lasts 6 s: on a loaded 2-core machine a 1 s heartbeat (3 s) could lapse while
        # its job ran, and the job's redelivery every 4 s would then take it over from a worker still alive
        heartbeat_s=2.0,
    )  # fmt: skip
    workers = [WorkerProcess(config, folder / f"worker-{i}.log") for i in range(2)]
    try:
        config = replace(config, default_model=request.getfixturevalue("tiny_model"))
        with DistributedQueue(config) as queue:
            for worker in workers:
                worker.wait_ready()
            yield Cluster(queue, workers)
    finally:
        for worker in workers:
            worker.kill()


def test_two_workers_share_a_batch_and_run_each_job_once(cluster):
    queue = cluster.queue
    ids = [queue.submit(replace(REQUEST, seed=100 + i), TrackOptions(audio=False)) for i in range(6)]
    jobs = [queue.wait(job_id, timeout_s=240) for job_id in ids]
    assert [job.state for job in jobs] == [JobState.DONE] * 6
    assert [job.attempts for job in jobs] == [1] * 6
    for job in jobs:  # one claim each, though Redis redelivered the messages of jobs still running
        claims = [e for e in queue.events(job.id) if e.state is JobState.RUNNING and e.message.startswith("claimed")]
        assert len(claims) == 1, queue.events(job.id)
    assert len({job.worker_id for job in jobs}) == 2  # both workers did some
    assert len({job.track_id for job in jobs}) == 6


def test_a_killed_worker_s_job_runs_again_on_another_and_makes_one_track(cluster):
    queue = cluster.queue
    job_id = queue.submit(replace(REQUEST, seed=32))  # with audio: a job that takes seconds
    victim_id = wait_until_rendering(queue, job_id).worker_id
    victim = cluster.worker_running(job_id)
    victim.kill()  # SIGKILL to the worker and its pool process: nothing acknowledges the message
    assert "audio" not in composed_with_seed(queue.config.tracks_dir, 32)  # killed mid-job

    job = queue.wait(job_id, timeout_s=240)
    assert job.state is JobState.DONE and job.attempts == 2
    assert job.worker_id != victim_id
    messages = [e.message for e in queue.events(job_id)]
    assert f"taken over by {job.worker_id} from {victim_id}, which stopped" in messages
    with queue.catalog.session() as session:
        assert sum(t.seed == 32 for t in list_tracks(session, limit=1000).items) == 1
    assert_complete_track(queue.config.tracks_dir / job.track_id, audio=True)


def test_ready_says_when_the_broker_does_not_answer(redis_server, tmp_path, tiny_checkpoint):
    """/ready pings Redis through the queue: a live broker is ok, a dead one makes the server unready."""
    from fastapi.testclient import TestClient

    from jobs.conftest import free_port
    from lofi.api import create_app
    from lofi.settings import Settings

    def ready(queue_url: str) -> tuple[int, dict]:
        settings = Settings(home=tmp_path / "home", default_model=tiny_checkpoint.path, queue_url=queue_url)
        with TestClient(create_app(settings, start_workers=False)) as client:
            answer = client.get("/api/v1/ready")
        return answer.status_code, answer.json()["checks"]

    status, checks = ready(empty_redis_db(redis_server))
    assert checks["queue"] == "ok" and "workers" not in checks  # Celery's workers live elsewhere
    status, checks = ready(f"redis://127.0.0.1:{free_port()}/0")  # nothing listens there
    assert status == 503 and checks["queue"] == "unreachable: ConnectionError"
