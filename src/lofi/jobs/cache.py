"""The generation cache: the same request, seed, model and track options give the stored track.

The key is the request's fingerprint (which names the seed and the model) hashed with the track options,
since a MIDI-only track is no answer to a request for audio. The catalog is the truth: a done job with
the key (``find_done_job``) answers a lookup. A store in front of it maps key to track id: an LRU in
this process by default, or Redis (``cache_url``) shared by every process. A track whose folder is gone
is not an answer: it is made again.

``hits`` counts lookups answered with a stored track, ``misses`` those that must compose; both are for
the metrics endpoint.
"""

from __future__ import annotations

import hashlib
import json
import threading
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path
from typing import Protocol

from cachetools import LRUCache
from sqlalchemy.orm import Session

from lofi.catalog import Track
from lofi.catalog.queries import find_done_job, get_track
from lofi.compose import ComposeRequest
from lofi.jobs.options import TrackOptions
from lofi.model.meta import WEIGHTS, model_id
from lofi.track import TrackFolder

REDIS_PREFIX = "lofi:cache:"
REDIS_TTL_S = 90 * 24 * 3600  # Redis forgets keys nobody asked for in three months; the catalog still knows


def cache_key(request: ComposeRequest, model_id: str, options: TrackOptions) -> str:
    """The cache key of a request with its seed, made by ``model_id`` with ``options``."""
    if request.seed is None:
        raise ValueError("a request without a seed is a new track every time: fix the seed before caching")
    track_options = {k: str(v) if isinstance(v, Path) else v for k, v in asdict(options).items()}
    blob = json.dumps({"request": request.fingerprint(model_id), "options": track_options}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()


def checkpoint_id(path: Path) -> str:
    """The model id of the checkpoint folder at ``path`` without loading it; FileNotFoundError if none."""
    weights = Path(path) / WEIGHTS
    if not weights.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}: {WEIGHTS} not found")
    stat = weights.stat()
    return _checkpoint_id(str(path), stat.st_mtime_ns, stat.st_size)


@lru_cache(maxsize=32)
def _checkpoint_id(path: str, mtime_ns: int, size: int) -> str:
    # Hashing the weights takes a moment, so it happens once per version of the file
    return model_id(Path(path))


class Store(Protocol):
    def get(self, key: str) -> str | None: ...
    def set(self, key: str, track_id: str) -> None: ...
    def delete(self, key: str) -> None: ...


class MemoryStore:
    """Key to track id in this process, the least recently used dropped past ``maxsize``."""

    def __init__(self, maxsize: int = 1024):
        self._entries: LRUCache[str, str] = LRUCache(maxsize)
        self._lock = threading.Lock()  # the API serves requests from several threads

    def get(self, key: str) -> str | None:
        with self._lock:
            return self._entries.get(key)

    def set(self, key: str, track_id: str) -> None:
        with self._lock:
            self._entries[key] = track_id

    def delete(self, key: str) -> None:
        with self._lock:
            self._entries.pop(key, None)

    def __len__(self) -> int:
        return len(self._entries)


class RedisStore:
    """Key to track id in Redis, shared by the API's processes and every machine."""

    def __init__(self, url: str, ttl_s: int = REDIS_TTL_S):
        import redis

        self._redis = redis.Redis.from_url(url, decode_responses=True)
        self._ttl_s = ttl_s

    def get(self, key: str) -> str | None:
        return self._redis.get(REDIS_PREFIX + key)

    def set(self, key: str, track_id: str) -> None:
        self._redis.set(REDIS_PREFIX + key, track_id, ex=self._ttl_s)

    def delete(self, key: str) -> None:
        self._redis.delete(REDIS_PREFIX + key)


@dataclass(frozen=True)
class CacheStats:
    hits: int
    misses: int

    @property
    def hit_ratio(self) -> float:
        asked = self.hits + self.misses
        return self.hits / asked if asked else 0.0


class GenerationCache:
    """Finds the track a key already made; counts hits and misses."""

    def __init__(self, store: Store):
        self.store = store
        self.hits = 0
        self.misses = 0
        self._lock = threading.Lock()

    def lookup(self, session: Session, key: str) -> Track | None:
        """The stored track for ``key``, or None when it must be made (a miss)."""
        track_id = self.store.get(key)
        track = get_track(session, track_id) if track_id else None
        if track is None:
            job = find_done_job(session, key)
            track = get_track(session, job.track_id) if job is not None and job.track_id else None
        if track is not None and not TrackFolder(track.folder).exists():
            track = None  # deleted from disk since: make it again
        with self._lock:
            if track is None:
                self.misses += 1
            else:
                self.hits += 1
        if track is None:
            if track_id:
                self.store.delete(key)
            return None
        self.store.set(key, track.id)
        return track

    def stats(self) -> CacheStats:
        with self._lock:
            return CacheStats(self.hits, self.misses)


def make_cache(url: str = "", size: int = 1024) -> GenerationCache:
    """Redis at ``url`` (redis://...) when one is given, else an LRU of ``size`` entries in this process."""
    store: Store = RedisStore(url) if url else MemoryStore(size)
    return GenerationCache(store)
