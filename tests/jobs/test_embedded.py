"""The embedded backend with real worker processes: jobs run, bad ones fail, a killed worker's job re-runs."""

from __future__ import annotations

import os
import shutil
import signal
from collections.abc import Iterator
from dataclasses import replace

import pytest

from helpers import make_score
from jobs.conftest import assert_complete_track, composed_with_seed, make_config, wait_until_rendering
from lofi.catalog import JobState
from lofi.catalog.queries import claim_next, list_tracks, transition
from lofi.compose import ComposeRequest
from lofi.jobs.embedded import WORKER_NICENESS, EmbeddedQueue, FileLiveness
from lofi.jobs.pipeline import TrackOptions

# the module's tests share its worker processes: one xdist worker runs them all (with --dist loadgroup)
pytestmark = pytest.mark.xdist_group("embedded-queue")

REQUEST = ComposeRequest(mood="rainy", bpm=72, key="D minor", minutes=0.25, seed=21)


@pytest.fixture(scope="module")
def queue(tmp_path_factory, tiny_model) -> Iterator[EmbeddedQueue]:
    """An embedded queue on a SQLite file; its worker starts when a test calls ``running``."""
    config = make_config(tmp_path_factory.mktemp("embedded"), tiny_model)
    with EmbeddedQueue(config) as opened:
        yield opened
        opened.stop(timeout_s=1.0)


def running(queue: EmbeddedQueue) -> EmbeddedQueue:
    """The queue with its worker started: one process, so that its every job shows it goes on."""
    if not queue.worker_pids:
        queue.start(workers=1)
    return queue


def tracks_with_seed(queue: EmbeddedQueue, seed: int) -> int:
    with queue.catalog.session() as session:
        return sum(track.seed == seed for track in list_tracks(session, limit=1000).items)


def test_bad_input_fails_with_a_reason_and_other_jobs_go_on(queue, tiny_model, tmp_path):
    # the inputs go missing after submit, before a worker runs the jobs (the workers are not started yet)
    prompt, model = tmp_path / "prompt.mid", tmp_path / "model"
    make_score(bars=4).dump_midi(str(prompt))
    shutil.copytree(tiny_model, model)
    bad_prompt = queue.submit(replace(REQUEST, continue_from=prompt, seed=1), TrackOptions(audio=False))
    bad_model = queue.submit(replace(REQUEST, seed=2), TrackOptions(audio=False), model=model)
    good = queue.submit(replace(REQUEST, seed=3), TrackOptions(audio=False))
    prompt.unlink()
    shutil.rmtree(model)

    running(queue)
    assert queue.wait(bad_prompt, timeout_s=180).error == f"--continue file not found: {prompt}"
    assert queue.wait(bad_model, timeout_s=180).error == f"no checkpoint folder at {model}"
    assert queue.wait(good, timeout_s=180).state is JobState.DONE
    assert queue.status(bad_prompt).state is JobState.FAILED


def test_a_job_runs_in_a_worker_process_and_reports_its_steps(queue):
    job = queue.wait(running(queue).submit(REQUEST, TrackOptions(audio=False)), timeout_s=180)
    assert job.state is JobState.DONE and job.progress == 1.0 and job.attempts == 1
    worker = int(job.worker_id.split(":")[2])
    assert worker in queue.worker_pids  # a worker process, not this one
    # it yields the CPU to the server it runs beside
    assert os.getpriority(os.PRIO_PROCESS, worker) == os.getpriority(os.PRIO_PROCESS, 0) + WORKER_NICENESS
    events = queue.events(job.id)
    assert [events[0].state, events[1].state, events[-1].state] == ["queued", "running", "done"]
    assert {"composing", "analyzing", "drawing"} <= {e.message for e in events}
    assert tracks_with_seed(queue, REQUEST.seed) == 1
    assert_complete_track(queue.config.tracks_dir / job.track_id, audio=False)


def test_a_killed_worker_s_job_runs_again_and_makes_one_track(queue):
    job_id = running(queue).submit(replace(REQUEST, seed=4))  # with audio: a job that takes seconds
    # kill it while it renders: stems and masters are being written
    victim = int(wait_until_rendering(queue, job_id).worker_id.split(":")[2])
    os.kill(victim, signal.SIGKILL)
    assert "audio" not in composed_with_seed(queue.config.tracks_dir, 4)  # killed mid-job

    job = queue.wait(job_id, timeout_s=180)
    assert job.state is JobState.DONE and job.attempts == 2
    assert int(job.worker_id.split(":")[2]) != victim
    messages = [e.message for e in queue.events(job_id)]
    assert sum(m.startswith("claimed by") for m in messages) == 2
    assert "requeued after a restart" in messages
    assert tracks_with_seed(queue, 4) == 1
    assert_complete_track(queue.config.tracks_dir / job.track_id, audio=True)
    assert victim not in queue.worker_pids and len(queue.worker_pids) == 1  # the supervisor replaced it


def test_a_restart_requeues_the_jobs_of_dead_workers_only(tmp_path, tiny_model):
    config = make_config(tmp_path, tiny_model)
    with EmbeddedQueue(config) as queue:
        ids = [queue.submit(replace(REQUEST, seed=seed), TrackOptions(audio=False)) for seed in (5, 6, 7)]
        live, dead = "embedded:host:1:live", "embedded:host:2:dead"
        lock = FileLiveness(config.run_dir).hold(live)  # a worker of another process, still running
        with queue.catalog.session() as session:
            claim_next(session, dead)
            claim_next(session, live)
            transition(session, ids[2], JobState.RUNNING, worker_id="celery:host:3:abc")  # not ours to judge
        assert queue.recover() == [ids[0]]
        assert [queue.status(i).state for i in ids] == [JobState.QUEUED, JobState.RUNNING, JobState.RUNNING]
        lock.close()  # that worker dies too
        assert queue.recover() == [ids[1]]
