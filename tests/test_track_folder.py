"""The track folder: metadata.json read once, changed in memory, saved atomically in its usual bytes."""

import json

import pytest

from lofi.track import METADATA, TrackFolder, TrackMetadata

COMPOSED = {
    "track_id": "rainy-d-minor-72bpm-7",
    "request": {"mood": "rainy", "key": "D minor", "bpm": 72, "minutes": 0.25, "seed": 7},
    "seed": 7,
    "model_id": "tiny",
    "key": "D minor",
    "bpm": 72,
    "duration_s": 13.333,
    "chords": ["Dm7", None, "Gm7", "A7"],
    "form": [{"section": "A", "bars": 4}],
    "swing": 0.0,
    "timings_s": {"compose": 1.5},
}


def written(folder, data):
    """A folder as today's writers leave it: json.dumps, sorted keys, indent 2, a final newline."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / METADATA).write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return folder


def test_a_folder_saved_unchanged_keeps_its_bytes(tmp_path):
    folder = written(tmp_path / "t", COMPOSED | {"quality": {"quality": 0.71, "ioi": None}})
    before = (folder / METADATA).read_bytes()
    track = TrackFolder(folder)
    assert track.metadata.to_dict() == json.loads(before)
    track.save()
    assert (folder / METADATA).read_bytes() == before


def test_keys_it_does_not_know_survive_an_update_and_a_save(tmp_path):
    folder = written(tmp_path / "t", COMPOSED | {"from_the_future": {"x": [1, 2]}, "nothing": None})
    track = TrackFolder(folder)
    assert track.metadata.extra == {"from_the_future": {"x": [1, 2]}, "nothing": None}
    track.update(title="Rain on the window", also_new=3)
    track.save()
    saved = json.loads((folder / METADATA).read_text())
    assert saved == COMPOSED | {
        "from_the_future": {"x": [1, 2]},
        "nothing": None,
        "title": "Rain on the window",
        "also_new": 3,
    }


def test_fields_are_typed_attributes(tmp_path):
    track = TrackFolder(written(tmp_path / "t", COMPOSED))
    meta = track.metadata
    assert (meta.track_id, meta.key, meta.bpm, meta.seed) == ("rainy-d-minor-72bpm-7", "D minor", 72, 7)
    assert meta.chords == ["Dm7", None, "Gm7", "A7"] and meta.requested_mood == "rainy"
    assert meta.audio is None and "audio" not in meta.to_dict()  # absent stays absent
    # an older folder kept the mood at the top level
    assert TrackMetadata.from_dict({"mood": "sleepy"}).requested_mood == "sleepy"


def test_metadata_is_read_once(tmp_path):
    folder = written(tmp_path / "t", COMPOSED)
    track = TrackFolder(folder)
    assert track.metadata.seed == 7
    (folder / METADATA).write_text(json.dumps(COMPOSED | {"seed": 8}))  # someone else writes meanwhile
    assert track.metadata.seed == 7  # this owner keeps what it loaded
    assert TrackFolder(folder).metadata.seed == 8


def test_a_save_that_fails_midway_leaves_the_old_file_and_no_temporary(tmp_path):
    folder = written(tmp_path / "t", COMPOSED)
    before = (folder / METADATA).read_bytes()
    track = TrackFolder(folder)
    # sorted last, so most of the file is written before json meets the value it cannot encode
    track.update(zzz_unwritable=object())
    with pytest.raises(TypeError, match="not JSON serializable"):
        track.save()
    assert (folder / METADATA).read_bytes() == before
    assert sorted(p.name for p in folder.iterdir()) == [METADATA]


def test_timed_records_the_step_and_keeps_the_other_timings(tmp_path):
    track = TrackFolder(written(tmp_path / "t", COMPOSED))
    with track.timed("analyze"):
        sum(range(10_000))
    timings = track.metadata.timings_s
    assert set(timings) == {"compose", "analyze"} and timings["compose"] == 1.5
    assert timings["analyze"] >= 0.0 and round(timings["analyze"], 3) == timings["analyze"]


def test_a_failed_step_records_no_timing(tmp_path):
    track = TrackFolder(written(tmp_path / "t", COMPOSED))
    with pytest.raises(RuntimeError), track.timed("render"):
        raise RuntimeError("fluidsynth died")
    assert set(track.metadata.timings_s) == {"compose"}


def test_timed_starts_the_timings_of_a_folder_that_has_none(tmp_path):
    track = TrackFolder.new(tmp_path / "t", {"track_id": "x"})
    with track.timed("publish"):
        pass
    assert set(track.metadata.timings_s) == {"publish"}


def test_files_lists_what_is_there_without_temporaries(tmp_path):
    folder = written(tmp_path / "t", COMPOSED)
    (folder / "track.mid").write_bytes(b"MThd")
    (folder / "stems").mkdir()
    (folder / "stems" / "drums.flac").write_bytes(b"fLaC")
    (folder / ".preview.jpg").write_bytes(b"jpg")  # the dashboard's picture is a real file
    (folder / ".track.wav.abc123.tmp").write_bytes(b"half")  # an interrupted write's leftover
    assert TrackFolder(folder).files() == [".preview.jpg", METADATA, "stems/drums.flac", "track.mid"]


def test_a_new_folder_is_written_by_save_only(tmp_path):
    track = TrackFolder.new(tmp_path / "t", COMPOSED)
    assert not track.exists()
    track.save()
    assert track.exists() and json.loads((tmp_path / "t" / METADATA).read_text()) == COMPOSED


def test_metadata_that_is_not_an_object_is_refused(tmp_path):
    folder = tmp_path / "t"
    folder.mkdir()
    (folder / METADATA).write_text("[1, 2]")
    with pytest.raises(ValueError, match="not an object"):
        TrackFolder(folder).update(title="never saved")
