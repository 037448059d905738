"""run_track keeps the metadata in memory and writes metadata.json at most once per step."""

import json
import shutil

from lofi.compose import ComposeRequest
from lofi.jobs.pipeline import TrackOptions, run_track
from lofi.model import load_checkpoint
from lofi.track import METADATA, TrackFolder


def test_a_run_writes_metadata_once_per_step(tiny_checkpoint, lofi_home, tmp_path, monkeypatch):
    step = ["compose"]
    starts = {"analyzing": "analyze", "drawing": "render", "publishing": "publish"}  # run_track's step messages
    saves = []  # (the step running, what was written)
    real_save = TrackFolder.save

    def counted_save(self):  # the real save, counted: the file is written as in any run
        real_save(self)
        saves.append((step[0], json.loads(self.metadata_path.read_text())))

    monkeypatch.setattr(TrackFolder, "save", counted_save)
    folder = run_track(
        tiny_checkpoint,
        ComposeRequest(minutes=0.25, seed=3),
        tmp_path / "tracks",
        TrackOptions(audio=False),
        progress=lambda fraction, message: step.__setitem__(0, starts.get(message, step[0])),
    )
    assert [name for name, _ in saves] == ["compose", "analyze", "render", "publish"]
    # each write holds its step's results and timing, and the last one is what the folder keeps
    timed = [set(written.get("timings_s", {})) for _, written in saves]
    assert timed == [
        {"compose"},
        {"compose", "analyze"},
        {"compose", "analyze", "render"},
        {"compose", "analyze", "render", "publish"},
    ]
    assert "quality" in saves[1][1] and "title" not in saves[2][1] and "title" in saves[3][1]
    assert json.loads((folder / METADATA).read_text()) == saves[-1][1]
    assert {"cover.png", "pianoroll.png", "thumbnail.png", "track.mid", METADATA} == set(TrackFolder(folder).files())


def test_a_track_says_where_it_came_from(tiny_checkpoint, lofi_home, tmp_path):
    """metadata.json's provenance and the description: software made it, with which model, learned from
    which sources under which licences, and the originality verdict with its closest reference."""
    from lofi.analysis.originality import MODEL_INDEX, OriginalityIndex
    from lofi.analysis.provenance import STATEMENT

    model = tmp_path / "model"
    shutil.copytree(tiny_checkpoint.path, model)
    meta = json.loads((model / "lofi.json").read_text())
    meta["card"]["data"] = {"by_source": {"loops": 3}, "licences": {"loops": ["written by lofi (GPL-2-or-later)"]}}
    (model / "lofi.json").write_text(json.dumps(meta))
    OriginalityIndex.build([]).save(model / MODEL_INDEX)  # an index with nothing in it: the track is clear
    folder = run_track(load_checkpoint(model, build=False), ComposeRequest(minutes=0.25, seed=4), tmp_path / "t",
                       TrackOptions(audio=False))  # fmt: skip
    written = TrackFolder(folder).metadata
    record = written.provenance
    assert record["statement"] == STATEMENT and record["model_id"] == written.model_id
    licence = "written by lofi (GPL-2-or-later)"
    assert record["training_data"] == [{"source": "loops", "pieces": 3, "licences": [licence]}]
    assert record["originality"]["verdict"] == written.originality["verdict"] == "clear"
    assert STATEMENT in written.description and licence in written.description
