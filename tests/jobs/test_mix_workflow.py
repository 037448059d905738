"""The long mix's workflow: the library's tracks from real track folders, the moods taking turns, and new
tracks made on a queue until the mix is long enough."""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace

import pytest

from helpers import add_midi_only, add_track
from lofi.jobs import mix as workflow
from lofi.settings import Settings


def track(track_id: str, mood: str, seconds: float) -> workflow.LibraryTrack:
    return workflow.LibraryTrack(track_id, track_id, Path(f"{track_id}.wav"), seconds, mood, "2026-01-01")


def test_library_tracks_reads_track_folders_with_audio_in_the_asked_moods_newest_first(lofi_home: Path):
    # the seed is also the day of created_at; sad is not asked for
    for track_id, seconds in (("chill-1", 3.0), ("rainy-3", 2.0), ("chill-2", 4.0), ("sad-4", 2.0)):
        mood, seed = track_id.split("-")
        add_track(lofi_home, track_id, mood, seconds, 220.0, int(seed))
    add_midi_only(lofi_home, "chill-midi", "chill")

    library = workflow.library_tracks(["chill", "rainy"])
    assert [t.track_id for t in library.tracks] == ["rainy-3", "chill-2", "chill-1"]
    assert library.warnings == ()
    first = library.tracks[0]
    assert first.path == lofi_home / "tracks" / "rainy-3" / "track.wav" and first.mood == "rainy"
    assert first.duration_s == pytest.approx(2.0) and first.created.startswith("2026-01-03")
    assert first.title and first.title != "rainy-3"  # the track's name, as its cover says it


def test_an_unreadable_catalog_is_a_warning_and_the_folders_still_count(tmp_path: Path):
    home = tmp_path / "home"
    add_track(home, "chill-1", "chill", 2.0, 220.0, 1)
    settings = Settings(home=home, database_url=f"sqlite:///{tmp_path}")  # a folder is no database
    library = workflow.library_tracks(["chill"], settings)
    assert [t.track_id for t in library.tracks] == ["chill-1"]
    (warning,) = library.warnings
    assert warning.startswith("the catalog could not be read (") and warning.endswith(f"using {home / 'tracks'}")


def test_the_moods_take_turns_until_the_crossfaded_length_is_reached():
    tracks = [track("c1", "chill", 12), track("c2", "chill", 12), track("r1", "rainy", 12), track("s1", "sad", 12)]
    chosen = workflow.choose(tracks, ["rainy", "chill"], 30.0, 2.0)
    # rainy, chill, then rainy has none left and chill's next makes 12 * 3 - 2 - 2 = 32 s
    assert [t.track_id for t in chosen] == ["r1", "c1", "c2"]
    # a run of two is 22 s: enough for 22, not for 22.5
    assert [t.track_id for t in workflow.choose(tracks, ["chill"], 22.0, 2.0)] == ["c1", "c2"]
    # a crossfade is at most half of either track: 12 + 4 - 2 = 14 s
    assert len(workflow.choose([track("a", "chill", 12), track("b", "chill", 4)], ["chill"], 14.0, 6.0)) == 2


def test_too_few_tracks_say_what_the_library_has_and_how_to_get_more():
    with pytest.raises(ValueError) as error:
        workflow.choose([track("c1", "chill", 12), track("c2", "chill", 12)], ["chill", "rainy"], 60.0, 2.0)
    message = str(error.value)
    assert "0.4 minutes of chill, rainy tracks with audio (2 tracks), the mix needs 1" in message
    assert "`lofi mix --new`" in message and "`lofi batch`" in message


class FakeQueue:
    """A queue whose every job is done at once, leaving a track folder of ``seconds`` of audio."""

    def __init__(self, home: Path, seconds: list[float]):
        self.home, self.seconds, self.jobs, self.started = home, seconds, {}, []

    def submit(self, request, options) -> str:
        job_id = f"job-{len(self.jobs)}"
        track_id = f"{request.mood}-{len(self.jobs)}"
        add_track(self.home, track_id, request.mood, self.seconds.pop(0), 220.0, len(self.jobs) + 1)
        self.jobs[job_id] = SimpleNamespace(state="done", track_id=track_id, request=request)
        return job_id

    def start(self, workers) -> None:
        self.started.append(workers)

    def status(self, job_id: str):
        return self.jobs[job_id]


def test_new_tracks_are_made_until_long_enough_and_every_poll_is_reported(lofi_home: Path):
    queue = FakeQueue(lofi_home, [10.0, 5.0, 10.0, 10.0])  # shorter than asked: two rounds more
    opened: list[FakeQueue] = []

    @contextmanager
    def open_queue():
        opened.append(queue)
        yield queue

    seen: list[str] = []
    composed = workflow.compose_tracks(
        open_queue, SimpleNamespace(), 22.0, ["chill"], 0.25, 2.0, workers=1, seed=5,
        on_update=lambda job_id, job: seen.append(job_id),
    )  # fmt: skip
    # 15 s tracks are 13 s each after a crossfade: 2 asked, 12.5 s made (the 5 s track's fades are 2.5 s);
    # 1 more, 20.5 s; 1 more, 28.5 s
    assert len(opened) == 3 and queue.started == [1, 1, 1]
    assert [t.track_id for t in composed.tracks] == ["chill-0", "chill-1", "chill-2", "chill-3"]
    assert [t.duration_s for t in composed.tracks] == pytest.approx([10.0, 5.0, 10.0, 10.0])
    assert len(composed.jobs) == 4 and seen == ["job-0", "job-1", "job-2", "job-3"]
    assert composed.warnings == ()


def test_no_track_made_is_an_error_that_says_where_to_look(lofi_home: Path):
    queue = FakeQueue(lofi_home, [10.0])
    queue.submit = lambda request, options: queue.jobs.setdefault("job-0", SimpleNamespace(state="failed")) and "job-0"

    @contextmanager
    def open_queue():
        yield queue

    with pytest.raises(RuntimeError, match="lofi jobs list --state failed"):
        workflow.compose_tracks(open_queue, SimpleNamespace(), 5.0, ["chill"], 0.25, 2.0)
