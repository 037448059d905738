"""The generation cache: keys, stores, and the counts of hits and misses, with no model to run.

A made track is stood in for by a folder with a metadata.json, added to the catalog the way a worker
adds one; the checkpoint is a folder with a weights file, which is all a model id needs.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import replace

import pytest

from jobs.conftest import make_config
from lofi.catalog import JobState
from lofi.catalog.queries import add_track, transition
from lofi.compose import ComposeRequest
from lofi.jobs.cache import GenerationCache, MemoryStore, RedisStore, cache_key, checkpoint_id
from lofi.jobs.embedded import EmbeddedQueue
from lofi.jobs.options import TrackOptions

REQUEST = ComposeRequest(mood="jazzy", bpm=80, key="A minor", minutes=0.5, seed=5)
MIDI_ONLY = TrackOptions(audio=False)


@pytest.fixture
def model(tmp_path):
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "model.safetensors").write_bytes(b"weights")
    return folder


@pytest.fixture(params=["memory", "redis"])
def queue(request, tmp_path, model):
    """A queue (no workers) whose cache keeps its entries in this process, or in Redis."""
    cache_url = request.getfixturevalue("redis_url") if request.param == "redis" else ""
    with EmbeddedQueue(make_config(tmp_path, model, cache_url=cache_url)) as opened:
        yield opened


def make_the_track(queue, job_id: str) -> str:
    """What a worker does with a job: claim it, write the track folder, add the track, mark it done."""
    spec = queue.status(job_id).request["compose"]
    track_id = f"{spec['mood']}-{spec['seed']}"
    folder = queue.config.tracks_dir / track_id
    folder.mkdir(parents=True)
    metadata = {
        "track_id": track_id, "request": spec, "seed": spec["seed"], "key": spec["key"], "bpm": spec["bpm"],
        "duration_s": 30.0, "model_id": "model-test",
    }  # fmt: skip
    (folder / "metadata.json").write_text(json.dumps(metadata))
    with queue.catalog.session() as session:
        transition(session, job_id, JobState.RUNNING, worker_id="test:worker")
        transition(session, job_id, JobState.DONE, track_id=add_track(session, folder).id)
    return track_id


def test_the_key_names_the_seed_the_model_and_the_options():
    key = cache_key(REQUEST, "m-1", MIDI_ONLY)
    assert key == cache_key(ComposeRequest(**{**REQUEST.to_dict()}), "m-1", TrackOptions(audio=False))
    assert len({
        key,
        cache_key(replace(REQUEST, seed=6), "m-1", MIDI_ONLY),
        cache_key(REQUEST, "m-2", MIDI_ONLY),
        cache_key(REQUEST, "m-1", TrackOptions()),
        cache_key(REQUEST, "m-1", TrackOptions(preset="tape")),
    }) == 5  # fmt: skip
    with pytest.raises(ValueError, match="without a seed"):
        cache_key(replace(REQUEST, seed=None), "m-1", MIDI_ONLY)


def test_the_model_id_follows_the_weights(model):
    first = checkpoint_id(model)
    assert first.startswith("model-")
    (model / "model.safetensors").write_bytes(b"other weights")
    assert checkpoint_id(model) != first
    with pytest.raises(FileNotFoundError):
        checkpoint_id(model.parent / "missing")


def test_the_memory_store_forgets_the_least_recently_used():
    store = MemoryStore(maxsize=2)
    store.set("a", "track-a")
    store.set("b", "track-b")
    assert store.get("a") == "track-a"  # a is now the most recent
    store.set("c", "track-c")
    assert (store.get("a"), store.get("b"), store.get("c"), len(store)) == ("track-a", None, "track-c", 2)


def test_a_request_made_before_is_answered_from_the_cache(queue, model):
    first = queue.submit(REQUEST, MIDI_ONLY)
    assert queue.status(first).state is JobState.QUEUED
    assert (queue.cache.hits, queue.cache.misses) == (0, 1)
    track_id = make_the_track(queue, first)

    again = queue.status(queue.submit(REQUEST, MIDI_ONLY))
    assert again.state is JobState.DONE and again.track_id == track_id and again.id != first
    assert again.worker_id == "cache" and again.progress == 1.0
    assert [e.state for e in queue.events(again.id)] == [JobState.QUEUED, JobState.RUNNING, JobState.DONE]
    assert (queue.cache.hits, queue.cache.misses) == (1, 1)

    # the store answers now, and the catalog still does after a restart (a new, empty store)
    assert queue.status(queue.submit(REQUEST, MIDI_ONLY)).track_id == track_id
    queue.cache = GenerationCache(MemoryStore())
    assert queue.status(queue.submit(REQUEST, MIDI_ONLY)).track_id == track_id
    assert (queue.cache.hits, queue.cache.misses) == (1, 0)


def test_anything_else_is_a_miss(queue, model):
    make_the_track(queue, queue.submit(REQUEST, MIDI_ONLY))
    misses = [
        queue.submit(replace(REQUEST, seed=None), MIDI_ONLY),  # no seed: a new track every time
        queue.submit(replace(REQUEST, seed=6), MIDI_ONLY),
        queue.submit(REQUEST, TrackOptions()),  # audio was not made for the MIDI-only track
    ]
    assert {queue.status(job_id).state for job_id in misses} == {JobState.QUEUED}
    assert queue.cache.stats().hits == 0 and queue.cache.stats().misses == 4
    assert queue.cache.stats().hit_ratio == 0.0


def test_a_track_deleted_from_disk_is_made_again(queue, model):
    track_id = make_the_track(queue, queue.submit(REQUEST, MIDI_ONLY))
    assert queue.status(queue.submit(REQUEST, MIDI_ONLY)).state is JobState.DONE
    shutil.rmtree(queue.config.tracks_dir / track_id)
    assert queue.status(queue.submit(REQUEST, MIDI_ONLY)).state is JobState.QUEUED
    stats = queue.cache.stats()
    assert (stats.hits, stats.misses, stats.hit_ratio) == (1, 2, 1 / 3)


def test_redis_shares_the_cache_between_processes(tmp_path, model, redis_url):
    with EmbeddedQueue(make_config(tmp_path, model, cache_url=redis_url)) as queue:
        key = queue.status(queue.submit(REQUEST, MIDI_ONLY)).fingerprint
        track_id = make_the_track(queue, queue.submit(replace(REQUEST, seed=6), MIDI_ONLY))
        # another process (another store object on the same Redis) said this key made that track
        RedisStore(redis_url).set(key, track_id)
        assert queue.status(queue.submit(REQUEST, MIDI_ONLY)).track_id == track_id
        assert (queue.cache.hits, queue.cache.misses) == (1, 2)
