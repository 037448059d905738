"""How close a set of generated tracks is to a reference set: Yang & Lerch's overlapped-area method.

Yang & Lerch, "On the evaluation of generative models in music", Neural Computing and Applications
32, 2020, and their ``mgeval`` code. For each metric:

1. intra-set distances: within one set, every track's absolute difference to every other track
   (leave-one-out, so n * (n - 1) of them), for the generated and for the reference set;
2. inter-set distances: every generated track's absolute difference to every reference track;
3. each distance sample is smoothed into a PDF with a Gaussian KDE (scipy.stats.gaussian_kde);
4. the overlap area (OA) of the intra-generated and the inter-set PDFs, the integral of their
   pointwise minimum, and the Kullback-Leibler divergence KL(intra-generated || inter-set).

If the generated tracks are spread like the reference tracks and around them, comparing a generated
track with a reference one is like comparing two generated ones: the PDFs coincide and OA is near 1.
OA near 0 means generated tracks sit far from the reference and close to each other.

Unlike ``mgeval``, which integrates only between the smallest and largest distance and evaluates the
two PDFs of its KL on different grids, both are taken here on one shared grid reaching three
bandwidths past the data, so identical sets give an OA of 1 and KL is a true divergence (>= 0).
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from scipy import stats
from scipy.integrate import trapezoid
from symusic import Score

from lofi.analysis.figures import DEFINITIONS, TARGETS
from lofi.analysis.metrics import Metrics, compute_metrics
from lofi.files import atomic_write
from lofi.moods import MOODS
from lofi.progress import Count
from lofi.theory import Key

if TYPE_CHECKING:  # composing needs torch: imported only where a set is generated
    from lofi.compose import ComposeRequest, Composition
    from lofi.model import Checkpoint

GRID_POINTS = 1024
MAX_DISTANCES = 20_000  # a KDE of more points costs more and shows nothing new: larger samples are thinned
# a spread of keys (with sharps and with flats) and tempos (60-95 BPM) for the generated set; lengths
# coprime with the 8 moods, so every mood meets every key and tempo across a set
EVAL_KEYS = (
    "C major", "A minor", "F# minor", "Bb major", "D minor", "E major", "Eb major", "G# minor", "Db major",
    "B minor", "F major",
)  # fmt: skip
EVAL_BPMS = (60, 66, 72, 78, 84, 90, 95)
REPORT = "report.md"
PLOT = "distances.png"
DATA = "report.json"


@dataclass
class Comparison:
    """One metric of the generated and the reference set, with the distance samples behind it."""

    metric: str
    generated_mean: float
    generated_sd: float
    reference_mean: float
    reference_sd: float
    overlap: float  # OA of the intra-generated and inter-set distance PDFs, 0..1
    kl: float  # KL(intra-generated || inter-set), nats
    reference_overlap: float  # OA of the intra-reference and inter-set distance PDFs, 0..1
    intra_generated: np.ndarray = field(repr=False)
    intra_reference: np.ndarray = field(repr=False)
    inter: np.ndarray = field(repr=False)
    note: str = ""

    def to_dict(self) -> dict:
        keys = ("metric", "generated_mean", "generated_sd", "reference_mean", "reference_sd")
        data = {k: getattr(self, k) for k in keys}
        data |= {"overlap": self.overlap, "kl": self.kl, "reference_overlap": self.reference_overlap}
        return {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in data.items()} | {
            "note": self.note
        }


@dataclass
class Report:
    comparisons: list[Comparison]
    n_generated: int
    n_reference: int
    title: str = "lofi evaluation"
    # the lo-fi figures (lofi.analysis.figures) of each generated track: {"track": ..., figure: value}
    tracks: list[dict] = field(default_factory=list)

    def __getitem__(self, metric: str) -> Comparison:
        for comparison in self.comparisons:
            if comparison.metric == metric:
                return comparison
        raise KeyError(metric)

    @property
    def mean_overlap(self) -> float:
        """Mean OA over the metrics where it is defined: one number to compare models by."""
        values = [c.overlap for c in self.comparisons if math.isfinite(c.overlap)]
        return float(np.mean(values)) if values else math.nan

    def to_dict(self) -> dict:
        mean = self.mean_overlap
        return {
            "title": self.title,
            "n_generated": self.n_generated,
            "n_reference": self.n_reference,
            "mean_overlap": mean if math.isfinite(mean) else None,
            "metrics": [c.to_dict() for c in self.comparisons],
            "lofi_figures": {
                "definitions": DEFINITIONS,
                "targets": {k: list(v) for k, v in TARGETS.items()},
                "means": {k: (v if math.isfinite(v) else None) for k, v in self.figure_means().items()},
                "tracks": self.tracks,
            },
        }

    def figure_means(self) -> dict[str, float]:
        """Each lo-fi figure's mean over the generated tracks where it is defined."""
        out = {}
        for name in TARGETS:
            values = [t[name] for t in self.tracks if t.get(name) is not None]
            out[name] = float(np.mean(values)) if values else math.nan
        return out


def intra_distances(values: np.ndarray) -> np.ndarray:
    """|x_i - x_j| for every ordered pair i != j: mgeval's leave-one-out intra-set distances."""
    diffs = np.abs(values[:, None] - values[None, :])
    return diffs[~np.eye(len(values), dtype=bool)]


def inter_distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """|a_i - b_j| for every pair across the two sets."""
    return np.abs(a[:, None] - b[None, :]).ravel()


def _thin(sample: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    return rng.choice(sample, MAX_DISTANCES, replace=False) if len(sample) > MAX_DISTANCES else sample


class _Density:
    """A Gaussian KDE of a sample; a narrow Gaussian at its value when the sample has no spread.

    gaussian_kde needs a non-singular covariance: a sample whose values are all equal (every track
    has the same scale consistency of 1.0, say) has none, so a Gaussian of ``fallback_bw`` stands in.
    """

    def __init__(self, sample: np.ndarray, fallback_bw: float):
        self.sample = sample
        self.kde: stats.gaussian_kde | None = None
        self.degenerate = True
        if len(sample) >= 2 and np.ptp(sample) > 0:
            try:
                self.kde = stats.gaussian_kde(sample)
                self.degenerate = False
            except np.linalg.LinAlgError:
                pass
        self.bw = float(np.sqrt(self.kde.covariance[0, 0])) if self.kde is not None else fallback_bw

    def __call__(self, grid: np.ndarray) -> np.ndarray:
        if self.kde is not None:
            return self.kde(grid)
        return stats.norm.pdf(grid, loc=float(np.mean(self.sample)), scale=self.bw)


def _grid(densities: Sequence[_Density]) -> np.ndarray:
    low = min(float(d.sample.min()) - 3 * d.bw for d in densities)
    high = max(float(d.sample.max()) + 3 * d.bw for d in densities)
    return np.linspace(low, high, GRID_POINTS)


def overlap_area(p: np.ndarray, q: np.ndarray, grid: np.ndarray) -> float:
    """Integral of min(p, q) over ``grid`` (trapezoids), clipped to [0, 1]."""
    return float(np.clip(trapezoid(np.minimum(p, q), grid), 0.0, 1.0))


def kl_divergence(p: np.ndarray, q: np.ndarray) -> float:
    """KL(p || q) in nats of two densities sampled on one even grid, each normalised to sum to 1.

    A floor far below the peaks keeps q > 0 where p has mass and q none, so the result is finite.
    """
    floor = 1e-12 * max(float(p.max()), float(q.max()), 1e-300)
    return float(stats.entropy(p + floor, q + floor))


def _fallback_bw(*samples: np.ndarray) -> float:
    """Width of the stand-in Gaussian: a tenth of the spread of all distances, or a token one with none."""
    spread = float(np.ptp(np.concatenate(samples)))
    return 0.1 * spread if spread > 0 else 1e-3


def _mean_sd(values: np.ndarray) -> tuple[float, float]:
    if not len(values):
        return math.nan, math.nan
    return float(values.mean()), float(values.std(ddof=1)) if len(values) > 1 else 0.0


def compare(metric: str, generated: np.ndarray, reference: np.ndarray, seed: int = 0) -> Comparison:
    """The overlapped-area comparison of one metric's values; NaN values (undefined metrics) are left out."""
    generated = generated[np.isfinite(generated)]
    reference = reference[np.isfinite(reference)]
    g_mean, g_sd = _mean_sd(generated)
    r_mean, r_sd = _mean_sd(reference)
    empty = np.zeros(0)
    if len(generated) < 2 or len(reference) < 2:
        note = "fewer than two tracks with this metric defined in a set: no distances to compare"
        return Comparison(metric, g_mean, g_sd, r_mean, r_sd, math.nan, math.nan, math.nan, empty, empty, empty, note)
    rng = np.random.default_rng(seed)
    intra_g = _thin(intra_distances(generated), rng)
    intra_r = _thin(intra_distances(reference), rng)
    inter = _thin(inter_distances(generated, reference), rng)
    fallback = _fallback_bw(intra_g, intra_r, inter)
    densities = [_Density(sample, fallback) for sample in (intra_g, intra_r, inter)]
    grid = _grid(densities)
    p_g, p_r, p_inter = (d(grid) for d in densities)
    notes = [
        f"{name} distances all equal: a point mass, its overlap the share of inter-set distances at that point; "
        "a narrow Gaussian stands in for its density in the KL"
        for name, d in zip(("intra-generated", "intra-reference"), densities, strict=False)
        if d.degenerate
    ] + (["inter-set distances all equal: a narrow Gaussian stands in for the KDE"] if densities[2].degenerate else [])

    def overlap(intra: np.ndarray, density: _Density, p: np.ndarray) -> float:
        # a set whose values are all equal has all its intra distances at one point: a point mass, whose
        # overlap with the inter-set distances is the share of those at the same point (a stand-in density's
        # width would decide the overlap, not the data)
        if density.degenerate and not densities[2].degenerate:
            return float(np.mean(np.abs(inter - intra[0]) <= 1e-9 * max(1.0, abs(float(intra[0])))))
        return overlap_area(p, p_inter, grid)

    return Comparison(
        metric,
        g_mean,
        g_sd,
        r_mean,
        r_sd,
        overlap(intra_g, densities[0], p_g),
        kl_divergence(p_g, p_inter),
        overlap(intra_r, densities[1], p_r),
        intra_g,
        intra_r,
        inter,
        "; ".join(notes),
    )


def evaluate(generated: Sequence[Metrics], reference: Sequence[Metrics], title: str = "lofi evaluation") -> Report:
    """Compare every metric of ``generated`` against ``reference`` (see the module docstring)."""
    if not generated or not reference:
        raise ValueError(
            f"evaluation needs tracks in both sets (got {len(generated)} generated, {len(reference)} reference)"
        )
    comparisons = [
        compare(
            name,
            np.array([getattr(m, name) for m in generated], dtype=float),
            np.array([getattr(m, name) for m in reference], dtype=float),
        )
        for name in Metrics.names()
    ]
    return Report(comparisons, len(generated), len(reference), title)


def _fmt(value: float, digits: int = 3) -> str:
    return f"{value:.{digits}g}" if math.isfinite(value) else "n/a"


def render_markdown(report: Report, plot_name: str | None = PLOT) -> str:
    lines = [
        f"# {report.title}",
        "",
        f"{report.n_generated} generated tracks against {report.n_reference} reference tracks, compared "
        "metric by metric with Yang & Lerch's overlapped-area method (2020): the overlap area (OA) of the "
        "intra-generated and the inter-set distance densities, and KL(intra-generated || inter-set) in nats. "
        "OA near 1 and KL near 0: the generated tracks are spread like the reference and around it.",
        "",
        f"Mean overlap area: **{_fmt(report.mean_overlap)}**",
        "",
        "| metric | generated mean ± sd | reference mean ± sd | overlap area | KL | overlap (reference intra) |",
        "|---|---|---|---|---|---|",
    ]
    for c in report.comparisons:
        lines.append(
            f"| {c.metric} | {_fmt(c.generated_mean)} ± {_fmt(c.generated_sd)} "
            f"| {_fmt(c.reference_mean)} ± {_fmt(c.reference_sd)} "
            f"| {_fmt(c.overlap)} | {_fmt(c.kl)} | {_fmt(c.reference_overlap)} |"
        )
    notes = [f"- {c.metric}: {c.note}" for c in report.comparisons if c.note]
    if notes:
        lines += ["", "Notes:", "", *notes]
    if report.tracks:
        lines += _figures_markdown(report)
    if plot_name:
        lines += ["", "Distance densities per metric:", "", f"![distance densities]({plot_name})"]
    return "\n".join(lines) + "\n"


def _figures_markdown(report: Report) -> list[str]:
    means = report.figure_means()
    lines = [
        "",
        "## The lo-fi figures",
        "",
        f"Means over the {len(report.tracks)} generated tracks, against the lo-fi issue's targets "
        "(a figure undefined for a track, such as swing without off-beat sixteenths, is left out of its mean).",
        "",
        "| figure | mean | target | met | definition |",
        "|---|---|---|---|---|",
    ]
    for name, (low, high) in TARGETS.items():
        mean = means[name]
        met = math.isfinite(mean) and low - 1e-9 <= mean <= high + 1e-9
        target = f"{low:g}" if low == high else f"{low:g}-{high:g}"
        lines.append(f"| {name} | {_fmt(mean)} | {target} | {'yes' if met else '**no**'} | {DEFINITIONS[name]} |")
    names = list(TARGETS)
    lines += ["", "Per track:", "", "| track | " + " | ".join(names) + " |", "|---" * (len(names) + 1) + "|"]
    for track in report.tracks:
        cells = [_fmt(track[n], 2) if track.get(n) is not None else "n/a" for n in names]
        lines.append(f"| {track['track']} | " + " | ".join(cells) + " |")
    return lines


def plot_distances(report: Report, path: Path) -> None:
    """One figure, a subplot per metric: the KDEs of intra-generated, intra-reference and inter-set distances."""
    # the object API with no pyplot: no global backend to switch, safe inside a server
    from matplotlib.figure import Figure

    columns = 4
    rows = math.ceil(len(report.comparisons) / columns)
    fig = Figure(figsize=(4 * columns, 3 * rows), layout="constrained")
    axes = fig.subplots(rows, columns, squeeze=False).ravel()
    for ax, c in zip(axes, report.comparisons, strict=False):
        ax.set_title(f"{c.metric}\nOA {_fmt(c.overlap)}, KL {_fmt(c.kl)}", fontsize=9)
        samples = {"intra generated": c.intra_generated, "intra reference": c.intra_reference, "inter": c.inter}
        if not all(len(s) for s in samples.values()):
            ax.text(0.5, 0.5, "not enough data", ha="center", va="center", transform=ax.transAxes)
            continue
        fallback = _fallback_bw(*samples.values())
        densities = {label: _Density(s, fallback) for label, s in samples.items()}
        grid = _grid(list(densities.values()))
        for label, density in densities.items():
            ax.plot(grid, density(grid), label=label, linestyle="--" if label == "intra reference" else "-")
        ax.set_xlabel("distance", fontsize=8)
        ax.tick_params(labelsize=7)
    for ax in axes[len(report.comparisons) :]:
        ax.set_visible(False)
    axes[0].legend(fontsize=7)
    fig.savefig(path, format="png", dpi=100)


def write_report(report: Report, out_dir: Path) -> Path:
    """Write report.md, report.json and distances.png into ``out_dir``; return report.md's path."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    atomic_write(out_dir / PLOT, lambda tmp: plot_distances(report, tmp))
    data = json.dumps(report.to_dict(), indent=2) + "\n"
    atomic_write(out_dir / DATA, lambda tmp: tmp.write_text(data, encoding="utf-8"))
    text = render_markdown(report)
    path = out_dir / REPORT
    atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))
    return path


def reference_metrics(
    corpus_dir: Path,
    split: str = "val",
    limit: int | None = None,
    progress: Count | None = None,
    sources: Sequence[str] | None = None,
) -> list[Metrics]:
    """Metrics of the accepted ``split`` entries of a corpus manifest (the first ``limit`` of them), of the
    given ``sources`` only when some are named (e.g. loops and mma-lofi: the lo-fi family).

    Each file's key is the one the manifest records for it.
    """
    from lofi.corpus.manifest import read_manifest

    corpus_dir = Path(corpus_dir)
    manifest = corpus_dir / "manifest.jsonl"
    if not manifest.is_file():
        raise FileNotFoundError(
            f"no corpus manifest at {manifest}: build one with `lofi corpus build` or pass --corpus"
        )
    entries = [e for e in read_manifest(manifest) if e.accepted and e.split == split]
    if sources:
        entries = [e for e in entries if e.source in sources]
    if limit is not None:
        entries = entries[: max(limit, 0)]
    if not entries:
        raise ValueError(f"{manifest} has no accepted {split!r} entries to compare against")
    metrics = []
    for i, entry in enumerate(entries):
        path = corpus_dir / entry.path
        if not path.is_file():
            raise FileNotFoundError(f"corpus file {path} is missing: rebuild the corpus with `lofi corpus build`")
        key = Key.from_token(entry.key) if entry.key else None
        metrics.append(compute_metrics(Score(str(path)), key))
        if progress:
            progress(i + 1, len(entries))
    return metrics


def eval_requests(n: int, seed: int, minutes: float) -> list[ComposeRequest]:
    """N compose requests spread over every mood, EVAL_KEYS and EVAL_BPMS, with seeds seed, seed + 1, ..."""
    from lofi.compose import ComposeRequest

    return [
        ComposeRequest(
            mood=MOODS[i % len(MOODS)],
            key=EVAL_KEYS[i % len(EVAL_KEYS)],
            bpm=EVAL_BPMS[i % len(EVAL_BPMS)],
            minutes=minutes,
            seed=seed + i,
        )
        for i in range(n)
    ]


def generate_set(
    checkpoint: Checkpoint,
    n: int,
    seed: int = 0,
    minutes: float = 1.5,
    progress: Count | None = None,
    threads: int = 0,
) -> list[tuple[ComposeRequest, Composition]]:
    """Compose ``n`` tracks with ``checkpoint`` (see eval_requests); a list of (request, Composition).

    ``threads`` are the torch threads to compose with; 0 means the composer's default.
    """
    from lofi.compose import Composer

    if n < 1:
        raise ValueError(f"the generated set needs at least one track (got n={n})")
    composer = Composer(checkpoint, threads) if threads else Composer(checkpoint)
    tracks = []
    requests = eval_requests(n, seed, minutes)
    for i, request in enumerate(requests):
        tracks.append((request, composer.compose(request)))
        if progress:
            progress(i + 1, n)
    return tracks
