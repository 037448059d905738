"""The queue's interface and the job runner both backends share, in this process on a SQLite catalog."""

from __future__ import annotations

import os
import shutil
import signal
import time
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from helpers import make_score
from jobs.conftest import make_config
from lofi.catalog import JobState
from lofi.catalog.queries import claim_next, get_job, get_track, job_history, list_tracks
from lofi.compose import ComposeRequest
from lofi.jobs.backends import open_queue
from lofi.jobs.cache import cache_key, checkpoint_id
from lofi.jobs.distributed import DistributedQueue
from lofi.jobs.embedded import EmbeddedQueue
from lofi.jobs.options import TrackOptions
from lofi.jobs.queue import JobSpec, QueueConfig
from lofi.jobs.worker import JobBusy, Runner, describe, remove_stale_temporaries
from lofi.settings import Settings

MIDI_ONLY = TrackOptions(audio=False)
SHORT = ComposeRequest(mood="rainy", bpm=72, key="D minor", minutes=0.25, seed=11)


@pytest.fixture
def queue(tmp_path, tiny_model):
    """An embedded queue with no workers started: the tests run its jobs with a Runner here."""
    with EmbeddedQueue(make_config(tmp_path, tiny_model)) as opened:
        yield opened


def runner(queue, name: str = "a") -> Runner:
    return Runner(queue.config, f"test:{name}", queue.catalog)


def claim(queue, worker: Runner):
    with queue.catalog.session() as session:
        return claim_next(session, worker.worker_id).to_record()


def test_config_from_settings_and_back(tmp_path):
    settings = Settings(home=tmp_path / "home", database_url="")
    config = QueueConfig.from_settings(settings, workers=3)
    assert config.catalog_url == settings.catalog_url
    assert config.tracks_dir == settings.tracks_dir
    assert config.default_model == settings.default_model
    assert (config.queue_url, config.workers, config.torch_threads) == ("", 3, 1)
    assert QueueConfig.from_dict(config.to_dict()) == config
    # Redis hands a job to another worker only after the hard time limit has passed
    assert config.redelivery_s > config.hard_time_limit_s > config.time_limit_s


def test_open_queue_chooses_the_backend_by_url(tmp_path, tiny_model, redis_url):
    config = make_config(tmp_path, tiny_model)
    with open_queue(config) as queue:
        assert isinstance(queue, EmbeddedQueue)
    with open_queue(replace(config, queue_url=redis_url)) as queue:
        assert isinstance(queue, DistributedQueue)
    with pytest.raises(ValueError, match="redis://"):
        open_queue(replace(config, queue_url="amqp://localhost"))


def test_submit_fixes_the_seed_and_stores_what_the_job_runs(queue, tiny_model):
    job_id = queue.submit(replace(SHORT, seed=None), MIDI_ONLY)
    job = queue.status(job_id)
    spec = JobSpec.from_dict(job.request)
    assert job.state is JobState.QUEUED and job.kind == "track"
    assert isinstance(spec.request.seed, int)  # a re-run makes the same track
    assert spec == JobSpec(replace(SHORT, seed=spec.request.seed), MIDI_ONLY, tiny_model.resolve())
    assert job.fingerprint == cache_key(spec.request, checkpoint_id(tiny_model), MIDI_ONLY)
    with pytest.raises(FileNotFoundError, match="no checkpoint"):
        queue.submit(SHORT, MIDI_ONLY, model=tiny_model.parent / "missing")


def test_status_list_events_and_cancel(queue):
    first, second = queue.submit(SHORT, MIDI_ONLY), queue.submit(replace(SHORT, seed=12), MIDI_ONLY)
    assert queue.list(state="queued").total == 2
    assert queue.cancel(second).state is JobState.CANCELLED
    assert queue.cancel(second).state is JobState.CANCELLED  # again: nothing to do, no error
    assert [j.id for j in queue.list(state=JobState.QUEUED).items] == [first]
    assert [e.state for e in queue.events(second)] == [JobState.QUEUED, JobState.CANCELLED]
    assert [e.state for e in queue.events(second, after=1)] == [JobState.CANCELLED]
    with pytest.raises(LookupError):
        queue.status("no-such-job")
    with pytest.raises(TimeoutError, match="still queued"):
        queue.wait(first, timeout_s=0.3)


def test_a_runner_runs_a_claimed_job_into_the_catalog(queue):
    job_id = queue.submit(SHORT, MIDI_ONLY)
    worker = runner(queue)
    done = worker.execute(claim(queue, worker))
    assert done.state is JobState.DONE and done.progress == 1.0 and done.track_id
    with queue.catalog.session() as session:
        track = get_track(session, done.track_id)
        assert track.seed == 11 and Path(track.folder).parent == queue.config.tracks_dir.resolve()
    messages = [e.message for e in queue.events(job_id)]
    assert messages[0] == "queued" and messages[-1] == f"done: {done.track_id}"
    assert {"composing", "drawing"} <= set(messages)


def test_bad_input_fails_with_a_readable_reason_and_the_runner_goes_on(queue, tiny_model, tmp_path):
    prompt = tmp_path / "prompt.mid"
    make_score(bars=4).dump_midi(str(prompt))
    model = tmp_path / "model-copy"
    shutil.copytree(tiny_model, model)
    bad_prompt = queue.submit(replace(SHORT, continue_from=prompt), MIDI_ONLY)
    bad_model = queue.submit(SHORT, MIDI_ONLY, model=model)
    good = queue.submit(replace(SHORT, seed=13), MIDI_ONLY)
    prompt.unlink()
    shutil.rmtree(model)

    worker = runner(queue)
    ended = {job.id: job for job in (worker.execute(claim(queue, worker)) for _ in range(3))}
    assert ended[bad_prompt].state is JobState.FAILED
    assert ended[bad_prompt].error == f"--continue file not found: {prompt}"
    assert ended[bad_model].state is JobState.FAILED
    assert ended[bad_model].error == f"no checkpoint folder at {model}"
    assert ended[good].state is JobState.DONE


def test_claiming_by_id_runs_each_job_once(queue):
    """The Celery way: a message names the job; only a queued job or a dead worker's job is taken."""
    job_id = queue.submit(SHORT, MIDI_ONLY)
    a, b = runner(queue, "a"), runner(queue, "b")
    alive = {a.worker_id}

    claimed = a.claim(job_id, alive.__contains__)
    assert claimed.state is JobState.RUNNING and claimed.worker_id == a.worker_id and claimed.attempts == 1
    with pytest.raises(JobBusy):  # the same message again, while a runs it
        b.claim(job_id, alive.__contains__)

    alive.clear()  # a died
    taken = b.claim(job_id, alive.__contains__)
    assert taken.worker_id == b.worker_id and taken.attempts == 2
    assert [e.message for e in queue.events(job_id)][-2:] == [
        "requeued after a restart",
        f"taken over by {b.worker_id} from {a.worker_id}, which stopped",
    ]
    # b asked again (it gave up on the job when the catalog was unreachable): its own stale claim
    assert b.claim(job_id, alive.__contains__).attempts == 3

    queue.cancel(job_id)
    assert b.claim(job_id, alive.__contains__) is None  # finished: the message has nothing to do
    with pytest.raises(LookupError):
        b.claim("no-such-job", alive.__contains__)


def test_a_job_that_keeps_losing_its_worker_fails(queue):
    job_id = queue.submit(SHORT, MIDI_ONLY)
    worker = runner(queue)
    for attempt in range(queue.config.max_attempts + 1):
        job = worker.claim(job_id, lambda owner: False)
        assert job.attempts == attempt + 1
    ended = worker.execute(job)
    assert ended.state is JobState.FAILED
    assert ended.error.startswith(f"gave up after {queue.config.max_attempts} attempts")


def test_a_job_cancelled_while_running_stops_and_adds_no_track(queue):
    job_id = queue.submit(SHORT, MIDI_ONLY)
    worker = runner(queue)
    job = claim(queue, worker)
    queue.cancel(job_id)
    ended = worker.execute(job)
    assert ended.state is JobState.CANCELLED
    with queue.catalog.session() as session:
        assert list_tracks(session).total == 0
        assert get_job(session, job_id).track_id is None


def test_a_job_taken_over_under_its_worker_stops_there(queue):
    job_id = queue.submit(SHORT, MIDI_ONLY)
    a, b = runner(queue, "a"), runner(queue, "b")
    job = a.claim(job_id, lambda owner: True)
    b.claim(job_id, lambda owner: False)  # b thought a was dead
    ended = a.execute(job)
    assert ended.state is JobState.RUNNING and ended.worker_id == b.worker_id
    with queue.catalog.session() as session:
        assert "composing" not in [e.message for e in job_history(session, job_id)]


def test_stale_temporaries_of_a_killed_run_are_removed(tmp_path):
    (tmp_path / "stems").mkdir()
    stale = [tmp_path / ".track.wav.ab12.tmp", tmp_path / "stems" / ".bass.flac.cd34.tmp"]
    for path in stale:
        path.write_bytes(b"half")
        os.utime(path, (time.time() - 60, time.time() - 60))
    fresh = tmp_path / ".track.mp3.ef56.tmp"  # another writer's, started after this run
    fresh.write_bytes(b"being written")
    keep = tmp_path / "track.wav"
    keep.write_bytes(b"whole")
    removed = remove_stale_temporaries(tmp_path, datetime.fromtimestamp(time.time() - 10, UTC))
    assert sorted(removed) == sorted(stale)
    assert fresh.exists() and keep.exists()


def test_a_job_over_its_soft_time_limit_fails_and_says_so(queue):
    """Celery raises SoftTimeLimitExceeded in the job's thread; an alarm does the same here."""
    from celery.exceptions import SoftTimeLimitExceeded

    def over_the_limit(signum, frame):
        raise SoftTimeLimitExceeded()

    job_id = queue.submit(SHORT, MIDI_ONLY)
    worker = Runner(queue.config, "test:a", queue.catalog, time_limit_error=SoftTimeLimitExceeded)
    job = worker.claim(job_id, lambda owner: False)
    previous = signal.signal(signal.SIGALRM, over_the_limit)
    try:
        signal.setitimer(signal.ITIMER_REAL, 0.3)
        ended = worker.execute(job)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    assert ended.state is JobState.FAILED
    assert ended.error == f"over the time limit of {queue.config.time_limit_s:g} s"


def test_errors_read_as_one_line():
    assert describe(ValueError("bpm must be between 50 and 130 (got 200)\nmore")) == (
        "bpm must be between 50 and 130 (got 200)"
    )
    assert describe(RuntimeError("synth crashed")) == "RuntimeError: synth crashed"
    assert describe(MemoryError()) == "MemoryError"
