"""The overlapped-area comparison, the report it writes, and `lofi eval` end to end."""

import json
import math
import shutil
from pathlib import Path

import numpy as np
import pytest
import typer
from typer.testing import CliRunner

from helpers import make_score, write_score
from lofi.analysis.evaluate import (
    compare,
    eval_requests,
    evaluate,
    inter_distances,
    intra_distances,
    reference_metrics,
    write_report,
)
from lofi.analysis.figures import DEFINITIONS, TARGETS
from lofi.analysis.metrics import Metrics
from lofi.analysis.originality import MODEL_INDEX, OriginalityIndex, corpus_references
from lofi.cli.evaluate import evaluate as eval_command
from lofi.corpus.manifest import Entry, write_manifest
from lofi.moods import MOODS

# four-bar progressions in C major and D minor (as tests/compose trains its tiny model on)
PROGRESSIONS = (
    ((50, 53, 57, 60), (43, 47, 50, 53), (48, 52, 55, 59), (45, 48, 52, 55)),
    ((50, 53, 57, 60), (46, 50, 53, 57), (43, 46, 50, 53), (45, 49, 52, 55)),
)


def metrics_set(rng, n, **columns):
    """n Metrics with every field drawn from N(0.5, 0.1), and the named fields from the given arrays."""
    base = {name: rng.normal(0.5, 0.1, n) for name in Metrics.names()} | columns
    return [Metrics(**{name: float(values[i]) for name, values in base.items()}) for i in range(n)]


def test_distances_are_leave_one_out_within_and_all_pairs_across():
    a, b = np.array([0.0, 1.0, 3.0]), np.array([10.0, 20.0])
    assert sorted(intra_distances(a)) == [1, 1, 2, 2, 3, 3]  # n * (n - 1)
    assert sorted(inter_distances(a, b)) == [7, 9, 10, 17, 19, 20]


def test_identical_sets_overlap_almost_completely():
    values = np.random.default_rng(0).normal(0, 1, 60)
    c = compare("x", values, values.copy())
    assert c.overlap > 0.9 and c.reference_overlap > 0.9
    assert 0.0 <= c.kl < 0.05
    assert c.generated_mean == c.reference_mean and c.note == ""


def test_sets_drawn_from_one_distribution_overlap_well():
    rng = np.random.default_rng(1)
    c = compare("x", rng.normal(0, 1, 50), rng.normal(0, 1, 200))
    assert c.overlap > 0.8


def test_well_separated_sets_barely_overlap():
    rng = np.random.default_rng(2)
    c = compare("x", rng.normal(0, 1, 40), rng.normal(50, 1, 40))
    assert c.overlap < 0.02 and c.reference_overlap < 0.02
    assert c.kl > 3.0


def test_a_generated_set_that_collapses_overlaps_less_than_one_that_spreads():
    rng = np.random.default_rng(3)
    reference = rng.normal(0, 1, 100)
    spread = compare("x", rng.normal(0, 1, 40), reference)
    collapsed = compare("x", rng.normal(0, 0.05, 40), reference)  # every track alike: mode collapse
    assert collapsed.overlap < spread.overlap - 0.3


@pytest.mark.parametrize("seed", range(5))
def test_kl_is_never_negative_and_overlap_is_a_fraction(seed):
    rng = np.random.default_rng(seed)
    c = compare("x", rng.exponential(1 + seed, 20), rng.normal(seed, 2, 30))
    assert c.kl >= 0.0
    assert 0.0 <= c.overlap <= 1.0 and 0.0 <= c.reference_overlap <= 1.0


def test_constant_values_do_not_break_the_kde():
    same = compare("x", np.ones(10), np.ones(12))  # every distance is 0 in all three samples
    assert same.overlap > 0.95 and same.kl < 0.01
    assert "narrow Gaussian" in same.note
    apart = compare("x", np.ones(10), np.full(12, 3.0))
    assert apart.overlap < 0.05 and math.isfinite(apart.kl)


def test_a_generated_set_of_equal_values_overlaps_by_the_share_of_the_reference_at_that_value():
    # every generated track has no empty beat; 90% of the reference has none either: the generated
    # intra distances are a point mass at 0, and 90% of the inter-set distances sit on it
    rng = np.random.default_rng(0)
    reference = np.concatenate([np.zeros(90), rng.uniform(0.01, 0.05, 10)])
    c = compare("empty_beat_rate", np.zeros(32), reference)
    assert c.overlap == pytest.approx(0.9)
    assert "point mass" in c.note
    apart = compare("x", np.zeros(32), rng.uniform(0.01, 0.05, 100))  # the reference never sits there
    assert apart.overlap == 0.0


def test_undefined_values_are_left_out_and_too_few_give_nan():
    rng = np.random.default_rng(4)
    with_nan = np.concatenate([rng.normal(0, 1, 30), [np.nan] * 5])
    c = compare("x", with_nan, rng.normal(0, 1, 30))
    assert math.isfinite(c.overlap) and math.isfinite(c.generated_mean)
    none = compare("x", np.full(5, np.nan), rng.normal(0, 1, 30))
    assert math.isnan(none.overlap) and math.isnan(none.kl)
    assert "fewer than two" in none.note


def test_evaluate_compares_every_metric():
    rng = np.random.default_rng(5)
    generated = metrics_set(rng, 12, polyphony=rng.normal(9.0, 0.1, 12))  # polyphony far from the reference
    reference = metrics_set(rng, 30)
    report = evaluate(generated, reference)
    assert [c.metric for c in report.comparisons] == list(Metrics.names())
    assert report.n_generated == 12 and report.n_reference == 30
    assert report["polyphony"].overlap < 0.05
    assert report["pitch_range"].overlap > 0.5
    assert report["polyphony"].overlap < report.mean_overlap
    with pytest.raises(ValueError, match="both sets"):
        evaluate([], reference)


def test_write_report_writes_the_table_the_data_and_the_plot(tmp_path):
    rng = np.random.default_rng(6)
    generated = metrics_set(rng, 8, scale_consistency=np.ones(8), chord_irregularity=np.full(8, np.nan))
    report = evaluate(generated, metrics_set(rng, 20))
    path = write_report(report, tmp_path / "out")
    assert path == tmp_path / "out" / "report.md"
    text = path.read_text()
    rows = [line for line in text.splitlines() if line.startswith("| ") and not line.startswith("| metric")]
    assert [row.split("|")[1].strip() for row in rows] == list(Metrics.names())
    assert "overlap area" in text and "KL" in text
    assert "chord_irregularity: fewer than two" in text  # a metric with no data says why
    data = json.loads((tmp_path / "out" / "report.json").read_text())
    assert [m["metric"] for m in data["metrics"]] == list(Metrics.names())
    assert data["metrics"][Metrics.names().index("chord_irregularity")]["overlap"] is None
    assert (tmp_path / "out" / "distances.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["distances.png", "report.json", "report.md"]


def _corpus(folder, entries):
    """A corpus folder: MIDI files written by code and a manifest listing them."""
    manifest = []
    for i, (split, status, key) in enumerate(entries):
        path = f"midi/user/{i:03d}.mid"
        chords = PROGRESSIONS[i % 2]
        write_score(make_score(bars=8, bpm=70 + 3 * i, chords=chords, program=(4, 0, 26)[i % 3]), folder / path)
        manifest.append(Entry(path=path, source="user", status=status, split=split, key=key, mood="chill"))
    write_manifest(folder / "manifest.jsonl", manifest)
    return folder


def test_reference_metrics_reads_the_accepted_entries_of_a_split(tmp_path):
    corpus = _corpus(
        tmp_path / "corpus",
        [
            ("val", "accepted", "C_major"),
            ("val", "accepted", "D_minor"),
            ("train", "accepted", "C_major"),
            ("val", "rejected", None),
            ("val", "accepted", "Db_major"),  # a wrong key: pitch-in-key against it is low
        ],
    )
    val = reference_metrics(corpus, "val")
    assert len(val) == 3
    assert val[0].pitch_in_key == 1.0 and val[2].pitch_in_key < 0.7
    assert len(reference_metrics(corpus, "train")) == 1
    assert len(reference_metrics(corpus, "val", limit=2)) == 2
    assert len(reference_metrics(corpus, "val", sources=["user"])) == 3
    with pytest.raises(ValueError, match="no accepted 'val' entries"):
        reference_metrics(corpus, "val", sources=["loops", "mma-lofi"])
    with pytest.raises(FileNotFoundError, match="lofi corpus build"):
        reference_metrics(tmp_path / "nowhere")
    with pytest.raises(ValueError, match="no accepted 'val' entries"):
        reference_metrics(_corpus(tmp_path / "only-train", [("train", "accepted", "C_major")]))


def test_eval_requests_spread_over_moods_keys_and_tempos():
    requests = eval_requests(40, seed=100, minutes=0.5)
    assert [r.seed for r in requests] == list(range(100, 140))
    assert {r.mood for r in requests} == set(MOODS)
    assert len({(r.mood, r.key) for r in requests}) == 40  # no mood stuck to one key
    assert len({(r.mood, r.bpm) for r in requests}) == 40  # nor to one tempo
    assert min(r.bpm for r in requests) == 60 and max(r.bpm for r in requests) == 95
    assert any("#" in r.key for r in requests) and any(r.key[1:2] == "b" for r in requests)  # sharps and flats
    assert all(r.minutes == 0.5 for r in requests)
    assert eval_requests(3, 0, 1.0) == eval_requests(3, 0, 1.0)


@pytest.fixture(scope="module")
def tiny_model(tiny_checkpoint):
    """The session's tiny model (tests/models.py): quick to compose with, not musical."""
    return Path(tiny_checkpoint.path)


def _app():
    # the command on its own app, so this test does not depend on how cli/main.py registers it
    app = typer.Typer()
    app.callback()(lambda: None)
    app.command("eval")(eval_command)
    return app


@pytest.mark.slow
def test_lofi_eval_end_to_end(tiny_model, tmp_path, lofi_home):
    corpus = _corpus(tmp_path / "corpus", [("val", "accepted", k) for k in ("C_major", "D_minor", "C_major")])
    out = tmp_path / "eval"
    model = tmp_path / "model"  # the tiny model with an index of the corpus's pieces: memorization is measured
    shutil.copytree(tiny_model, model)
    OriginalityIndex.build(corpus_references(corpus, "val")).save(model / MODEL_INDEX)
    args = ["eval", "--n", "2", "--minutes", "0.25", "--seed", "3", "--model", str(model)]
    result = CliRunner().invoke(_app(), [*args, "--corpus", str(corpus), "--out", str(out)])
    assert result.exit_code == 0, result.output
    text = (out / "report.md").read_text()
    for name in Metrics.names():
        assert f"| {name} |" in text
    assert "2 generated tracks against 3 reference tracks" in text
    # the lo-fi figures: every one with its definition and target, and a row per track
    for name, definition in DEFINITIONS.items():
        assert f"| {name} |" in text and definition in text
    data = json.loads((out / "report.json").read_text())["lofi_figures"]
    assert len(data["tracks"]) == 2 and set(data["means"]) == set(TARGETS)
    assert all(t["key_agreement"] in (0.0, 1.0) and t["music21_key"] for t in data["tracks"])
    assert "lo-fi figures" in result.output
    assert (out / "distances.png").is_file()
    assert "report:" in result.output and "overlap" in result.output
    memorized = json.loads((out / "memorization.json").read_text())
    assert memorized["tracks"] == 2 and "memorization: " in result.output
    assert (out / "worst_match.png").is_file() == (memorized["worst"] is not None)
    # the default folder is LOFI_HOME/eval/<model_id>
    again = CliRunner().invoke(_app(), [*args, "--corpus", str(corpus)])
    assert again.exit_code == 0, again.output
    [folder] = (lofi_home / "eval").iterdir()
    assert folder.name.startswith(model.name) and (folder / "report.md").is_file()


def test_lofi_eval_without_a_corpus_is_one_red_line(tiny_model, tmp_path, lofi_home):
    args = ["eval", "--n", "2", "--model", str(tiny_model), "--corpus", str(tmp_path / "none")]
    result = CliRunner().invoke(_app(), args)
    assert result.exit_code == 2
    assert "no corpus manifest" in result.output and "Traceback" not in result.output
    assert CliRunner().invoke(_app(), ["eval", "--n", "1"]).exit_code == 2
