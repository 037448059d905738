"""The catalog's queries on SQLite and PostgreSQL: tracks from folders, lists, jobs and their queue."""

from __future__ import annotations

import json
import threading
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import IntegrityError

from lofi.catalog import Catalog, JobState, Track, open_catalog
from lofi.catalog import queries as q

FINGERPRINT = "f" * 64


def write_track(
    root: Path,
    track_id: str = "rainy-d-minor-72bpm-7",
    *,
    mood: str = "rainy",
    key: str = "D minor",
    bpm: int = 72,
    seed: int = 7,
    created_at: datetime | None = None,
    title: str | None = "Rain on the window",
    audio: bool = True,
) -> Path:
    """A track folder as the pipeline leaves it: metadata.json (the keys compose and render write) and files."""
    folder = root / track_id
    (folder / "stems").mkdir(parents=True)
    metadata = {
        "track_id": track_id,
        "request": {
            "mood": mood, "bpm": bpm, "key": key, "minutes": 2.0, "seed": seed, "strict_key": True,
            "temperature": 0.95, "top_k": 24, "top_p": 0.95, "continue_from": None,
        },
        "seed": seed,
        "model_id": "lofi-small-2026.01",
        "key": key,
        "bpm": bpm,
        "bars": 36,
        "duration_s": 120.0,
        "form": [{"section": "intro", "bars": 4, "drums": False}, {"section": "A", "bars": 8, "drums": True}],
        "chords": [{"bar": 0, "chord": "Dm7"}, {"bar": 1, "chord": "G7"}],
        "instruments": ["bass", "drums", "keys"],
        "programs": [4, 33, 128],
        "generated_tokens": 4096,
        "section_tries": {"A": {"tries": 1, "rejected": []}},
        "fingerprint": FINGERPRINT,
        "timings_s": {"compose": 3.2, "render": 5.1},
        "title": title,
        # the analysis step: an undefined metric is NaN, which PostgreSQL's JSON cannot hold
        "quality": {"quality": 0.82, "pitch_in_key": float("nan")},
        "originality": {"verdict": "clear", "score": 3.5, "reason": "no close match"},
    }  # fmt: skip
    if audio:
        metadata["audio"] = {
            "preset": "dusty", "sample_rate": 44100, "lufs": -14.02, "lufs_target": -14.0, "true_peak_db": -1.2,
            "true_peak_ceiling_db": -1.0, "limiter_max_reduction_db": 2.1, "duration_s": 121.5,
            "instruments": {"keys": "Rhodes"},
        }  # fmt: skip
    if created_at is not None:
        metadata["created_at"] = created_at.isoformat()
    (folder / "metadata.json").write_text(json.dumps(metadata, indent=2), encoding="utf-8")
    (folder / "track.mid").write_bytes(b"MThd" + bytes(10))
    (folder / "stems" / "bass.flac").write_bytes(bytes(100))
    (folder / ".track.wav.abc123.tmp").write_bytes(bytes(5))  # a write in progress (lofi.files.atomic_write)
    return folder


def test_track_round_trip(catalog: Catalog, tmp_path: Path):
    folder = write_track(tmp_path, created_at=datetime(2026, 3, 1, 20, 30, tzinfo=UTC))
    with catalog.session() as s:
        q.add_track(s, folder)
    with catalog.session() as s:
        track = q.get_track(s, "rainy-d-minor-72bpm-7")
        record = track.to_record()
        files = q.track_files(track)
    assert (record.mood, record.key, record.bpm, record.seed) == ("rainy", "D minor", 72, 7)
    assert record.created_at == datetime(2026, 3, 1, 20, 30, tzinfo=UTC)
    assert record.duration_s == 121.5  # the master's length, not the MIDI's
    assert (record.preset, record.lufs, record.minutes) == ("dusty", -14.02, 2.0)
    assert (record.quality, record.originality, record.title) == (0.82, "clear", "Rain on the window")
    assert record.folder == folder.resolve()
    assert record.fingerprint == FINGERPRINT
    assert record.metadata["chords"][1] == {"bar": 1, "chord": "G7"}
    assert record.metadata["quality"]["pitch_in_key"] is None
    assert [f.path for f in files] == ["metadata.json", "stems/bass.flac", "track.mid"]
    assert files[1].size_bytes == 100


def test_midi_only_track_and_big_seed(catalog: Catalog, tmp_path: Path):
    folder = write_track(tmp_path, "sad-a-minor-70bpm-4294967295", seed=2**32 - 1, audio=False)
    with catalog.session() as s:
        record = q.add_track(s, folder).to_record()
    assert record.seed == 2**32 - 1
    assert (record.preset, record.lufs, record.duration_s) == (None, None, 120.0)
    assert record.created_at.tzinfo is UTC  # from track.mid's time, as no created_at was written


def test_adding_a_track_twice_keeps_one_row(catalog: Catalog, tmp_path: Path):
    folder = write_track(tmp_path, created_at=datetime(2026, 3, 1, tzinfo=UTC))
    with catalog.session() as s:
        q.add_track(s, folder)
    metadata = json.loads((folder / "metadata.json").read_text())
    metadata["title"] = "Rain, again"
    (folder / "metadata.json").write_text(json.dumps(metadata))
    with catalog.session() as s:
        q.add_track(s, folder)
    with catalog.session() as s:
        assert s.scalar(select(func.count()).select_from(Track)) == 1
        assert q.get_track(s, "rainy-d-minor-72bpm-7").title == "Rain, again"


def test_a_folder_without_track_metadata_is_refused(catalog: Catalog, tmp_path: Path):
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "metadata.json").write_text('{"track_id": "x"}')
    with catalog.session() as s, pytest.raises(ValueError, match="not a lofi track folder"):
        q.add_track(s, tmp_path / "notes")


@pytest.fixture
def twelve_tracks(catalog: Catalog, tmp_path: Path) -> list[str]:
    """Twelve tracks a day apart (newest last), cycling through moods, keys and tempos."""
    moods, keys, start = ("chill", "jazzy", "rainy"), ("C major", "A minor"), datetime(2026, 2, 1, 12, tzinfo=UTC)
    ids = []
    with catalog.session() as s:
        for i in range(12):
            track_id = f"track-{i:02d}"
            folder = write_track(
                tmp_path, track_id, mood=moods[i % 3], key=keys[i % 2], bpm=60 + 2 * i,
                created_at=start + timedelta(days=i), title=f"Song {i} {'in the rain' if i % 4 == 0 else ''}",
            )  # fmt: skip
            q.add_track(s, folder)
            ids.append(track_id)
    return ids


def test_list_tracks_newest_first_in_pages(catalog: Catalog, twelve_tracks: list[str]):
    with catalog.session() as s:
        first = q.list_tracks(s, limit=5)
        last = q.list_tracks(s, limit=5, offset=10)
    assert first.total == last.total == 12
    assert [t.id for t in first.items] == twelve_tracks[::-1][:5]
    assert [t.id for t in last.items] == ["track-01", "track-00"]


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ({"mood": "jazzy"}, [10, 7, 4, 1]),
        ({"key": "A minor", "mood": "chill"}, [9, 3]),
        ({"bpm_min": 70, "bpm_max": 76}, [8, 7, 6, 5]),  # bpm 60 + 2i, both ends inclusive
        ({"since": datetime(2026, 2, 10, tzinfo=UTC)}, [11, 10, 9]),
        ({"since": datetime(2026, 2, 2, tzinfo=UTC), "until": datetime(2026, 2, 4, 12, tzinfo=UTC)}, [2, 1]),
        ({"search": "IN THE RAIN"}, [8, 4, 0]),
        ({"search": "100%"}, []),  # % is text here, not a wildcard
        ({"mood": "sleepy"}, []),
    ],
)
def test_list_tracks_filters(catalog: Catalog, twelve_tracks: list[str], filters: dict, expected: list[int]):
    with catalog.session() as s:
        page = q.list_tracks(s, **filters)
    assert [t.id for t in page.items] == [f"track-{i:02d}" for i in expected]
    assert page.total == len(expected)


def test_bad_page_arguments(catalog: Catalog):
    with catalog.session() as s, pytest.raises(ValueError, match="limit"):
        q.list_tracks(s, limit=0)


# ---------------------------------------------------------------------------------------------- jobs


def new_job(catalog: Catalog, fingerprint: str | None = None) -> str:
    with catalog.session() as s:
        return q.create_job(s, "track", {"mood": "rainy", "bpm": 72}, fingerprint=fingerprint).id


def test_job_lifecycle_with_events(catalog: Catalog, tmp_path: Path):
    job_id = new_job(catalog)
    with catalog.session() as s:
        q.add_track(s, write_track(tmp_path))
        assert q.queue_length(s) == 1
        assert q.claim_next(s, "worker-1").id == job_id
    with catalog.session() as s:
        assert q.report_progress(s, job_id, 0.6, "rendering")
        q.transition(s, job_id, JobState.DONE, track_id="rainy-d-minor-72bpm-7")
    with catalog.session() as s:
        job = q.get_job(s, job_id).to_record()
        events = [e.to_record() for e in q.job_history(s, job_id)]
        assert q.queue_length(s) == 0
    assert (job.state, job.progress, job.worker_id, job.attempts) == (JobState.DONE, 1.0, "worker-1", 1)
    assert job.track_id == "rainy-d-minor-72bpm-7"
    assert job.created_at <= job.started_at <= job.finished_at
    assert job.started_at.tzinfo is UTC
    assert [(e.state, e.progress) for e in events] == [
        (JobState.QUEUED, 0.0), (JobState.RUNNING, 0.0), (JobState.RUNNING, 0.6), (JobState.DONE, 1.0)
    ]  # fmt: skip
    assert events[2].message == "rendering"


def test_failed_job_keeps_its_error_and_can_be_retried(catalog: Catalog):
    job_id = new_job(catalog)
    with catalog.session() as s:
        q.claim_next(s, "w")
        q.transition(s, job_id, "failed", error="FluidSynth: no SoundFont")
    with catalog.session() as s:
        failed = q.get_job(s, job_id).to_record()
        q.transition(s, job_id, JobState.QUEUED)
        retried = q.claim_next(s, "w").to_record()
        history = [(e.state, e.message) for e in q.job_history(s, job_id)]
    assert (failed.state, failed.error) == (JobState.FAILED, "FluidSynth: no SoundFont")
    # the retry clears the job's error; its history keeps it
    assert (JobState.FAILED, "FluidSynth: no SoundFont") in history
    assert (retried.state, retried.error, retried.attempts, retried.finished_at) == (JobState.RUNNING, None, 2, None)


@pytest.mark.parametrize(
    ("path", "illegal"),
    [
        ([], JobState.DONE),  # never ran
        ([], JobState.FAILED),
        ([JobState.RUNNING, JobState.DONE], JobState.RUNNING),
        ([JobState.RUNNING, JobState.DONE], JobState.QUEUED),
        ([JobState.CANCELLED], JobState.QUEUED),
        ([JobState.RUNNING, JobState.CANCELLED], JobState.DONE),  # a cancelled worker finishing anyway
    ],
)
def test_illegal_transition_raises(catalog: Catalog, path: list[JobState], illegal: JobState):
    job_id = new_job(catalog)
    with catalog.session() as s:
        for state in path:
            q.transition(s, job_id, state, worker_id="w")
    with catalog.session() as s:
        with pytest.raises(ValueError, match=f"cannot go from .* to {illegal}"):
            q.transition(s, job_id, illegal)
        assert q.get_job(s, job_id).state == (path[-1] if path else JobState.QUEUED)
        assert len(q.job_history(s, job_id)) == 1 + len(path)


def test_unknown_job(catalog: Catalog):
    with catalog.session() as s:
        assert q.get_job(s, "nope") is None
        with pytest.raises(LookupError):
            q.transition(s, "nope", JobState.CANCELLED)
        assert not q.report_progress(s, "nope", 0.5, "?")


def test_cancelled_job_refuses_progress(catalog: Catalog):
    job_id = new_job(catalog)
    with catalog.session() as s:
        q.claim_next(s, "w")
        q.transition(s, job_id, JobState.CANCELLED)
        assert not q.report_progress(s, job_id, 0.5, "still going")


def test_claim_takes_the_oldest_and_none_when_empty(catalog: Catalog):
    ids = [new_job(catalog) for _ in range(3)]
    with catalog.session() as s:
        q.transition(s, ids[0], JobState.CANCELLED)
    with catalog.session() as s:
        assert q.claim_next(s, "w").id == ids[1]
        assert q.claim_next(s, "w").id == ids[2]
        assert q.claim_next(s, "w") is None


def test_concurrent_claims_never_share_a_job(catalog: Catalog):
    ids = [new_job(catalog) for _ in range(9)]
    claimed: list[str] = []
    start = threading.Barrier(3)
    errors: list[BaseException] = []

    def worker(name: str) -> None:
        try:
            start.wait()
            while True:
                with catalog.session() as s:
                    job = q.claim_next(s, name)
                    if job is None:
                        return
                    claimed.append(job.id)  # list.append is atomic under the GIL
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=worker, args=(f"w{i}",)) for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors
    assert Counter(claimed) == Counter(ids)  # each exactly once
    with catalog.session() as s:
        assert q.queue_length(s) == 0
        assert q.list_jobs(s, state=JobState.RUNNING).total == 9


def test_requeue_running(catalog: Catalog):
    ids = [new_job(catalog) for _ in range(4)]
    with catalog.session() as s:
        q.claim_next(s, "w1")
        q.claim_next(s, "w1")
        q.claim_next(s, "w2")
    with catalog.session() as s:
        assert q.requeue_running(s, worker_id="w1") == sorted(ids[:2])
        assert q.requeue_running(s) == [ids[2]]
        assert q.requeue_running(s) == []
    with catalog.session() as s:
        assert q.queue_length(s) == 4
        job = q.claim_next(s, "w3").to_record()
        last = q.job_history(s, ids[0])[-2].to_record()
    assert (job.id, job.attempts, job.worker_id) == (ids[0], 2, "w3")  # the oldest again, its second try
    assert (last.state, last.message) == (JobState.QUEUED, "requeued after a restart")


def test_list_jobs_by_state(catalog: Catalog):
    ids = [new_job(catalog) for _ in range(3)]
    with catalog.session() as s:
        q.transition(s, ids[1], JobState.CANCELLED)
        queued = q.list_jobs(s, state="queued")
        everything = q.list_jobs(s, limit=2)
    assert [j.id for j in queued.items] == [ids[2], ids[0]]
    assert (everything.total, len(everything.items)) == (3, 2)


def test_fingerprint_lookup(catalog: Catalog, tmp_path: Path):
    waiting, done = new_job(catalog, FINGERPRINT), new_job(catalog, FINGERPRINT)
    with catalog.session() as s:
        assert q.find_done_job(s, FINGERPRINT) is None
        q.add_track(s, write_track(tmp_path))
        q.transition(s, done, JobState.RUNNING, worker_id="w")
        q.transition(s, done, JobState.DONE, track_id="rainy-d-minor-72bpm-7")
    with catalog.session() as s:
        assert q.find_done_job(s, FINGERPRINT).id == done != waiting
        assert q.find_done_job(s, "0" * 64) is None


def test_uploads(catalog: Catalog, tmp_path: Path):
    with catalog.session() as s:
        q.add_track(s, write_track(tmp_path))
        later = q.add_upload(s, "rainy-d-minor-72bpm-7", "youtube", datetime(2026, 3, 2, 17, tzinfo=UTC))
        sooner = q.add_upload(s, "rainy-d-minor-72bpm-7", "youtube", datetime(2026, 3, 2, 9, tzinfo=UTC))
        q.record_upload(s, sooner.id, video_id="abc", url="https://youtu.be/abc")
        q.record_upload(s, later.id, error="quota exceeded")
    with catalog.session() as s:
        uploads = [u.to_record() for u in q.list_uploads(s, track_id="rainy-d-minor-72bpm-7")]
        assert [u.id for u in q.list_uploads(s, status="failed")] == [later.id]
    assert [(u.status, u.video_id) for u in uploads] == [("uploaded", "abc"), ("failed", None)]
    assert uploads[0].uploaded_at is not None


def test_foreign_keys_are_enforced(catalog: Catalog):
    with pytest.raises(IntegrityError), catalog.session() as s:
        q.add_upload(s, "no-such-track", "youtube")


def test_sqlite_shares_its_file(tmp_path: Path):
    with open_catalog(f"sqlite:///{tmp_path / 'lofi.db'}") as catalog, catalog.engine.connect() as connection:
        assert connection.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert connection.execute(text("PRAGMA busy_timeout")).scalar() >= 10_000
        assert connection.execute(text("PRAGMA foreign_keys")).scalar() == 1


def test_quota_is_summed_per_pacific_day(catalog: Catalog, tmp_path: Path):
    # 2026-03-08 is the day the US springs forward: the Pacific day runs 08:00 UTC to 07:00 UTC next day
    with catalog.session() as s:
        q.add_track(s, write_track(tmp_path))
        first, second, other = (q.add_upload(s, "rainy-d-minor-72bpm-7", "youtube").id for _ in range(3))
        q.add_quota(s, first, 1600, datetime(2026, 3, 8, 7, 59, tzinfo=UTC))  # 23:59 on the 7th in Los Angeles
        q.add_quota(s, second, 1600, datetime(2026, 3, 8, 8, 0, tzinfo=UTC))  # midnight: a new quota day
        q.add_quota(s, second, 50, datetime(2026, 3, 8, 8, 1, tzinfo=UTC))  # the same upload's thumbnail
        q.add_quota(s, other, 1650, datetime(2026, 3, 9, 6, 59, tzinfo=UTC))  # 23:59 PDT, still the 8th
        assert q.add_quota(s, first, 50, datetime(2026, 3, 8, 7, 59, 30, tzinfo=UTC)).quota_units == 1650
    assert q.quota_day(datetime(2026, 3, 8, 12, tzinfo=UTC)) == (
        datetime(2026, 3, 8, 8, tzinfo=UTC), datetime(2026, 3, 9, 7, tzinfo=UTC)
    )  # fmt: skip
    with catalog.session() as s:
        assert q.quota_used_today(s, now=datetime(2026, 3, 8, 7, 59, 59, tzinfo=UTC)) == 1650
        assert q.quota_used_today(s, now=datetime(2026, 3, 8, 20, tzinfo=UTC)) == 1600 + 50 + 1650
        assert q.quota_used_today(s, now=datetime(2026, 3, 9, 7, tzinfo=UTC)) == 0  # the 9th, Pacific
        assert q.quota_used_today(s, "vimeo", now=datetime(2026, 3, 8, 20, tzinfo=UTC)) == 0
        records = {u.id: u.to_record() for u in q.list_uploads(s)}
    assert records[second].quota_units == 1650 and records[second].quota_at == datetime(2026, 3, 8, 8, 1, tzinfo=UTC)
    with pytest.raises(LookupError), catalog.session() as s:
        q.add_quota(s, 999, 50)
