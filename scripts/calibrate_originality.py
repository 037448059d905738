"""Calibrate the originality check's thresholds on the real corpus and write docs/ORIGINALITY.md.

    python scripts/calibrate_originality.py [--corpus ~/.lofi/corpus] [--copies 100] [--seed 0]

The index holds the melody of every training piece. Two calibration sets go against it, each of two
kinds of query:

* **folk**: distinct melodies are the lead of every held-out (val) folk-melody piece and every tune of
  the corpus's tune books that the corpus did not use; planted copies come from the training folk tunes;
* **lofi**: distinct melodies are the melody of every held-out (val) lo-fi loop of the corpus, and of
  fresh loops drawn from the same generator with another seed (the val split alone is too small to
  measure 1%); planted copies come from the training loops' melodies.

Some distinct melodies are the same tune as a training tune, so each is labelled *related* (an exact
shared run of 16+ notes, a title that reads the same, or a long mostly agreeing alignment) or
*unrelated* before thresholds are set. A planted copy is an excerpt of a training melody, transposed,
at another tempo, with ornaments and changed notes, laid into an unrelated held-out tune of its set.

The flag threshold is the 99th percentile of unrelated melodies' scores and the review threshold their
95th, in whichever set is higher, each rounded up to 5 bits; the report gives recall by copy length at
both, and precision and recall per copy length over a range of thresholds. Runs in a few minutes in
one process.
"""

from __future__ import annotations

import argparse
import difflib
import json
import math
import re
import sys
import time
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import numpy as np

from lofi.analysis.melody import Line, candidate_lines, lead_line, load_score, melody_line
from lofi.analysis.originality import (
    MAX_INTERVAL,
    N_GRAM,
    N_RATIO,
    OriginalityIndex,
    Scoring,
    Thresholds,
    check_lines,
    corpus_references,
    ngrams,
    symbols,
)
from lofi.corpus import loops
from lofi.corpus.manifest import read_manifest
from lofi.files import atomic_write

ROOT = Path(__file__).resolve().parent.parent
COPY_LENGTHS = (8, 12, 16, 24, 32, 48)
RUN_LENGTHS = (8, 12, 16, 24, 32)  # exact shared runs measured, in notes
RELATED_RUN = 16  # an exact shared run this long (two bars of a reel) makes a held-out tune "related"
VARIANT_NOTES = 48  # ... and so does an aligned stretch this long
VARIANT_IDENTITY = 0.6  # ... whose intervals agree this much (difflib ratio)
LOFI_SEED = 1_000_003  # fresh loops are drawn with this seed; `lofi corpus build` uses its own (0 unless set)
LOFI_FRESH = 800  # loops drawn (about 3 in 4 have a melody)
CURVE_BITS = tuple(range(30, 125, 5))  # thresholds of the precision-recall tables
SWEEP = {
    "one-note edits, repeats earn 0.25 (default)": Scoring(),
    "symbol mismatches only, repeats earn in full (the earlier scoring)": Scoring(edits=False, repeat_share=1.0),
    "one-note edits, repeats earn in full": Scoring(repeat_share=1.0),
    "one-note edits, repeats earn 0.5": Scoring(repeat_share=0.5),
    "one-note edits, repeats earn nothing": Scoring(repeat_share=0.0),
    "one-note edits, repeats earn 0.25, mismatch 6": Scoring(mismatch_bits=6, gap_bits=6),
}


@dataclass
class Query:
    name: str
    lines: list[Line]
    run: int = 0  # longest exact run (notes) shared with a training melody
    similar_title: str = ""  # a training tune whose title reads the same
    variant: bool = False  # its closest match is a long stretch of mostly the same intervals

    @property
    def related(self) -> bool:
        return self.run >= RELATED_RUN or bool(self.similar_title) or self.variant


@dataclass
class Copy:
    source: str  # reference id
    length: int
    edits: int
    line: Line
    first: int  # the planted notes' indices in the query line
    last: int
    excerpt: np.ndarray  # symbols of the unedited excerpt


# ------------------------------------------------------------------------------------------------- data


_NOISE = re.compile(r"\b(the|a|reel|reels|hornpipe|jig|clog|strathspey|fling|highland|fancy|favou?rite|no)\b")


def _title_key(title: str) -> str:
    text = re.sub(r"[^a-z ]", "", title.lower().replace("'s", "").replace("-", " "))
    return " ".join(_NOISE.sub(" ", text).split())


def _title_of(origin: str | None) -> str:
    # "ryansMammoth: Smith's -- Reel (SmithsReel.abc#X1) over BossaNova"
    if not origin or ": " not in origin:
        return ""
    return origin.split(": ", 1)[1].rsplit(" (", 1)[0]


def _tune_line(notes: list, bpm: float, name: str) -> Line:
    n = np.asarray(notes, dtype=np.float64)
    spb = 60.0 / bpm
    return Line.from_notes(n[:, 0] * spb, n[:, 1] * spb, n[:, 2].astype(int), part=name)


def load_queries(corpus: Path, entries: list, rng: np.random.Generator) -> tuple[list[Query], list[Query]]:
    """(folk melodies held out of the index, held-out accompaniment pieces)."""
    folk, accompaniment = [], []
    for e in entries:
        if e.split != "val" or e.source == "loops":
            continue
        score = load_score(corpus / e.path)
        if e.has_lead:
            folk.append(Query(f"val: {_title_of(e.origin)}", [lead_line(score)]))
        else:
            accompaniment.append(Query(f"val: {e.path}", candidate_lines(score)))
    used = {e.origin.rsplit(" (", 1)[1].split(")")[0] for e in entries if e.source == "melody" and e.origin}
    tunes = corpus / "melodies.jsonl"
    if tunes.exists():
        with tunes.open(encoding="utf-8") as fh:
            for raw in fh:
                melody = json.loads(raw).get("melody")
                if melody and melody["source"] not in used and len(melody["notes"]) >= N_GRAM + 2:
                    bpm = float(rng.uniform(60, 90))
                    folk.append(Query(melody["title"], [_tune_line(melody["notes"], bpm, "tune")]))
    return folk, accompaniment


def load_lofi(corpus: Path, entries: list, fresh: int) -> list[Query]:
    """The melody of every held-out lo-fi loop with one, then of ``fresh`` loops drawn with another seed."""
    out = []
    for e in entries:
        if e.split == "val" and e.source == "loops":
            tune = melody_line(load_score(corpus / e.path))
            if tune is not None and len(tune) >= N_GRAM + 2:
                out.append(Query(f"val: {e.path}", [tune]))
    moods = tuple(loops.RECIPES)
    for i in range(fresh):
        piece = loops.plan_piece(moods[i % len(moods)], i // len(moods), seed=LOFI_SEED)
        tune = melody_line(loops.render(piece)) if piece.lead_program is not None else None
        if tune is not None and len(tune) >= N_GRAM + 2:
            out.append(Query(f"fresh: {piece.mood} {i // len(moods)}", [tune]))
    return out


def label(queries: list[Query], index: OriginalityIndex, train_titles: list[str]) -> None:
    """Longest exact run shared with any reference, and any training title that reads the same."""
    known = {}
    for length in RUN_LENGTHS:
        grams = [
            ngrams(index.sym[a:b].astype(np.int64), length - 2)
            for a, b in zip(index.sym_offsets[:-1], index.sym_offsets[1:], strict=True)
        ]
        known[length] = np.unique(np.concatenate(grams))  # wrapped int64 hashes; collisions are negligible
    keys = {t: _title_key(t) for t in train_titles if t}
    for q in queries:
        for line in q.lines:
            s = symbols(line).astype(np.int64)
            for length in RUN_LENGTHS:
                if length > q.run and _holds(known[length], ngrams(s, length - 2)):
                    q.run = length
        title = _title_key(q.name.removeprefix("val: "))
        if title:
            for original, key in keys.items():
                matcher = difflib.SequenceMatcher(None, title, key)
                if matcher.real_quick_ratio() >= 0.8 and matcher.quick_ratio() >= 0.8 and matcher.ratio() >= 0.8:
                    q.similar_title = original
                    break


def mark_variant(q: Query, verdict, index: OriginalityIndex, by_id: dict[str, int]) -> None:
    """A held-out tune is a variant of a training tune when its best alignment is long and mostly agrees."""
    m = verdict.match
    if m is None or m.notes < VARIANT_NOTES:
        return
    line = next(line for line in q.lines if line.part == verdict.part)
    r = by_id[m.reference.id]
    mine = np.diff(line.pitches[m.query.first : m.query.last + 1].astype(int)).tolist()
    ref_sym = index.sym[index.sym_offsets[r] : index.sym_offsets[r + 1]].astype(int)
    # symbol k holds the interval into note k + 2
    theirs = (ref_sym[max(0, m.match.first - 1) : m.match.last - 1] // N_RATIO - MAX_INTERVAL).tolist()
    q.variant = difflib.SequenceMatcher(None, mine, theirs, autojunk=False).ratio() >= VARIANT_IDENTITY


def _holds(sorted_keys: np.ndarray, keys: np.ndarray) -> bool:
    """Whether any of ``keys`` is in ``sorted_keys`` (np.isin would sort the big array on every call)."""
    if len(keys) == 0 or len(sorted_keys) == 0:
        return False
    slot = np.minimum(np.searchsorted(sorted_keys, keys), len(sorted_keys) - 1)
    return bool((sorted_keys[slot] == keys).any())


def plant(ref_line: Line, source: str, length: int, host: Line, rng: np.random.Generator) -> Copy:
    """An excerpt of ``ref_line``, transposed, re-tempoed and edited, laid into ``host`` at a random bar."""
    start = int(rng.integers(0, len(ref_line) - length + 1))
    cut = slice(start, start + length)
    on = ref_line.onsets_s[cut] - ref_line.onsets_s[start]
    du = ref_line.durations_s[cut].copy()
    pitch = ref_line.pitches[cut].astype(int)
    excerpt = symbols(Line(on, du, pitch))
    tempo = float(rng.choice([0.6, 0.7, 0.8, 1.25, 1.4, 1.6]))
    on, du = list(on * tempo), list(du * tempo)
    pitch = list(pitch + int(rng.choice([-7, -5, -4, -3, -2, 2, 3, 4, 5, 7])))
    edits = 1 + length // 16
    for _ in range(edits):
        k = int(rng.integers(1, len(pitch) - 1))
        if rng.random() < 0.5:  # a changed note
            pitch[k] += int(rng.choice([-2, -1, 1, 2]))
        else:  # an ornament: a short neighbour note before the note
            grace = 0.25 * (on[k + 1] - on[k])
            on.insert(k, on[k])
            du.insert(k, grace)
            pitch.insert(k, pitch[k] + int(rng.choice([-2, -1, 1, 2])))
            on[k + 1] += grace
            du[k + 1] -= grace
    at = int(rng.integers(4, len(host) - 4))
    gap = float(np.median(np.diff(host.onsets_s)))
    begin = host.onsets_s[at - 1] + gap
    end = begin + on[-1] + gap
    line = Line.from_notes(
        np.concatenate([host.onsets_s[:at], np.array(on) + begin, host.onsets_s[at:] - host.onsets_s[at] + end]),
        np.concatenate([host.durations_s[:at], du, host.durations_s[at:]]),
        np.concatenate([host.pitches[:at], pitch, host.pitches[at:]]),
        part="tune",
    )
    return Copy(source, length, edits, line, at, at + len(pitch) - 1, excerpt)


def plant_copies(
    index: OriginalityIndex, train_lines: dict[str, Line], hosts: list[Query], per_length: int, rng, source: str
) -> list[Copy]:
    """``per_length`` copies of each length from training melodies of ``source`` long enough to hold one."""
    copies = []
    for length in COPY_LENGTHS:
        melodies = [
            ref.id
            for ref in index.refs
            if ref.source == source and ref.kind == "melody" and len(train_lines[ref.id]) >= length + 2
        ]
        for _ in range(per_length):
            source_id = melodies[int(rng.integers(len(melodies)))]
            host = hosts[int(rng.integers(len(hosts)))].lines[0]
            copies.append(plant(train_lines[source_id], source_id, length, host, rng))
    return copies


# ------------------------------------------------------------------------------------------------- scoring


def found_at_plant(copy: Copy, verdict, index: OriginalityIndex, by_id: dict[str, int]) -> bool:
    """The best match covers the planted notes and its reference holds the passage (the source or a twin)."""
    m = verdict.match
    if m is None or m.query.last < copy.first or m.query.first > copy.last:
        return False
    if m.reference.id == copy.source:
        return True
    r = by_id[m.reference.id]
    ref_sym = index.sym[index.sym_offsets[r] : index.sym_offsets[r + 1]].astype(np.int64)
    core = ngrams(copy.excerpt.astype(np.int64), min(len(copy.excerpt), 6))[:1]
    return _holds(np.sort(ngrams(ref_sym, min(len(copy.excerpt), 6))), core)


def ceil5(x: float) -> float:
    return 5.0 * math.ceil(x / 5.0)


def run_checks(queries: list[Query], index: OriginalityIndex, scoring: Scoring) -> list:
    return [check_lines(q.lines, index, scoring=scoring) for q in queries]


def calibrated(unrelated_verdicts: list) -> Thresholds:
    """Review at the 95th and flag at the 99th percentile of unrelated melodies, rounded up to 5 bits."""
    base = np.array([v.score for v in unrelated_verdicts])
    return Thresholds(review_bits=ceil5(np.quantile(base, 0.95)), flag_bits=ceil5(np.quantile(base, 0.99)))


def pct(x: float) -> str:
    return f"{100 * x:.1f}%"


def share(verdicts, level: float) -> float:
    return sum(v.score >= level for v in verdicts) / max(1, len(verdicts))


# ------------------------------------------------------------------------------------------------- report


@dataclass
class CalibrationSet:
    """One repertoire's distinct melodies (labelled) and planted copies, with their verdicts."""

    name: str
    description: str
    unrelated: list[Query]
    related: list[Query]
    copies: list[Copy]
    verdicts: dict  # "unrelated", "related", "copies": verdicts under the default scoring
    found: list[bool]  # per copy: the best match is the planted passage's source

    def run_share(self, notes: int) -> float:
        queries = self.unrelated + self.related
        return sum(q.run >= notes for q in queries) / max(1, len(queries))


def build_set(
    name: str,
    description: str,
    queries: list[Query],
    index: OriginalityIndex,
    train_lines: dict[str, Line],
    titles: list[str],
    source: str,
    args,
    rng,
) -> CalibrationSet:
    by_id = {ref.id: i for i, ref in enumerate(index.refs)}
    label(queries, index, titles)
    verdicts = run_checks(queries, index, Scoring())
    for q, v in zip(queries, verdicts, strict=True):
        mark_variant(q, v, index, by_id)
    by_query = {id(q): v for q, v in zip(queries, verdicts, strict=True)}
    unrelated = [q for q in queries if not q.related]
    related = [q for q in queries if q.related]
    copies = plant_copies(index, train_lines, unrelated, args.copies, rng, source)
    copy_verdicts = [check_lines([c.line], index) for c in copies]
    print(f"{name}: {len(unrelated)} unrelated, {len(related)} related, {len(copies)} planted copies", flush=True)
    return CalibrationSet(
        name,
        description,
        unrelated,
        related,
        copies,
        {
            "unrelated": [by_query[id(q)] for q in unrelated],
            "related": [by_query[id(q)] for q in related],
            "copies": copy_verdicts,
        },
        [found_at_plant(c, v, index, by_id) for c, v in zip(copies, copy_verdicts, strict=True)],
    )


def thresholds_for(sets: list[CalibrationSet]) -> Thresholds:
    """The calibrated thresholds of each set, the higher of them: one code default serves both."""
    each = [calibrated(s.verdicts["unrelated"]) for s in sets]
    return Thresholds(max(t.review_bits for t in each), max(t.flag_bits for t in each))


def recall_at(cset: CalibrationSet, length: int, bits: float, copy_verdicts=None, found=None) -> float:
    verdicts = copy_verdicts if copy_verdicts is not None else cset.verdicts["copies"]
    found = found if found is not None else cset.found
    hits = [f and v.score >= bits for c, v, f in zip(cset.copies, verdicts, found, strict=True) if c.length == length]
    return float(np.mean(hits)) if hits else 0.0


def curve(cset: CalibrationSet) -> list[tuple[float, float, dict]]:
    """Per threshold: unrelated melodies flagged, and per copy length (recall, precision); precision counts
    a length's copies found at the threshold against the unrelated melodies flagged at it."""
    rows = []
    un = cset.verdicts["unrelated"]
    for bits in CURVE_BITS:
        false = sum(v.score >= bits for v in un)
        per = {}
        for length in COPY_LENGTHS:
            r = recall_at(cset, length, bits)
            hits = r * sum(c.length == length for c in cset.copies)
            per[length] = (r, hits / (hits + false) if hits + false else 1.0)
        rows.append((bits, false / max(1, len(un)), per))
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", type=Path, default=Path.home() / ".lofi" / "corpus")
    parser.add_argument("--copies", type=int, default=100, help="planted copies per length")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--fresh", type=int, default=LOFI_FRESH, help="fresh lo-fi loops drawn as held-out melodies")
    parser.add_argument("--no-sweep", action="store_true", help="skip the comparison of scoring variants")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "ORIGINALITY.md")
    parser.add_argument("--plot", type=Path, default=ROOT / "docs" / "originality_pr.png")
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    started = time.perf_counter()

    entries = [e for e in read_manifest(args.corpus / "manifest.jsonl") if e.accepted]
    if not entries:
        print(f"no corpus at {args.corpus}: run `lofi corpus build`", file=sys.stderr)
        return 2
    t0 = time.perf_counter()
    train = list(corpus_references(args.corpus, "train"))
    index = OriginalityIndex.build(train)
    build_s = time.perf_counter() - t0
    train_lines = {ref.id: line for ref, line in train}
    train_titles = [_title_of(e.origin) for e in entries if e.split == "train" and e.source == "melody"]
    print(f"index: {len(index)} references in {build_s:.1f} s", flush=True)

    folk_queries, accompaniment = load_queries(args.corpus, entries, rng)
    t0 = time.perf_counter()
    sets = [
        build_set("folk", "folk tunes", folk_queries, index, train_lines, train_titles, "melody", args, rng),
        build_set(
            "lofi",
            "lo-fi loop melodies",
            load_lofi(args.corpus, entries, args.fresh),
            index,
            train_lines,
            [],
            "loops",
            args,
            rng,
        ),
    ]
    acc_verdicts = run_checks(accompaniment, index, Scoring())
    searches = sum(len(q.lines) for s in sets for q in s.unrelated + s.related) + sum(len(s.copies) for s in sets)
    ms = 1000 * (time.perf_counter() - t0) / (searches + sum(len(q.lines) for q in accompaniment))
    th = thresholds_for(sets)
    code = Thresholds()
    print(f"calibrated: review {th.review_bits}, flag {th.flag_bits} (code: {code.review_bits}, {code.flag_bits})")

    sweep_rows = []
    if not args.no_sweep:
        for name, scoring in SWEEP.items():
            per_set = []
            for s in sets:
                if scoring == Scoring():
                    un, cp, found = s.verdicts["unrelated"], s.verdicts["copies"], s.found
                else:
                    un = run_checks(s.unrelated, index, scoring)
                    cp = [check_lines([c.line], index, scoring=scoring) for c in s.copies]
                    by_id = {ref.id: i for i, ref in enumerate(index.refs)}
                    found = [found_at_plant(c, v, index, by_id) for c, v in zip(s.copies, cp, strict=True)]
                per_set.append((un, cp, found))
            each = [calibrated(un) for un, _, _ in per_set]
            t = Thresholds(max(e.review_bits for e in each), max(e.flag_bits for e in each))
            recall = [
                {L: recall_at(s, L, t.flag_bits, cp, found) for L in COPY_LENGTHS}
                for s, (_, cp, found) in zip(sets, per_set, strict=True)
            ]
            false = [share(un, t.flag_bits) for un, _, _ in per_set]
            sweep_rows.append((name, t.flag_bits, false, recall))
            print(f"  sweep {name}: flag {t.flag_bits}, false {false}, recall {recall}", flush=True)

    plot(sets, code, args.plot)
    text = report(args, index, build_s, sets, accompaniment, acc_verdicts, th, code, ms, sweep_rows,
                  time.perf_counter() - started)  # fmt: skip
    atomic_write(args.out, lambda p: p.write_text(text, encoding="utf-8"))
    print(f"wrote {args.out} in {time.perf_counter() - started:.0f} s")
    if (th.review_bits, th.flag_bits) != (code.review_bits, code.flag_bits):
        print("note: the code's Thresholds defaults differ from this calibration", file=sys.stderr)
    return 0


def plot(sets: list[CalibrationSet], code: Thresholds, path: Path) -> None:
    """Precision against recall per copy length, one panel a set, the flag threshold marked."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(sets), figsize=(5.5 * len(sets), 4.5), sharey=True)
    for ax, s in zip(np.atleast_1d(axes), sets, strict=True):
        rows = curve(s)
        for length in COPY_LENGTHS:
            rec = [per[length][0] for _, _, per in rows]
            prec = [per[length][1] for _, _, per in rows]
            (drawn,) = ax.plot(rec, prec, marker=".", label=f"{length} notes")
            at = [i for i, (bits, _, _) in enumerate(rows) if bits == code.flag_bits]
            if at:
                ax.plot([rec[at[0]]], [prec[at[0]]], "o", ms=9, mfc="none", color=drawn.get_color())
        ax.set_title(f"{s.name}: {len(s.unrelated)} unrelated melodies, 100 copies a length")
        ax.set_xlabel("recall (planted copies found and flagged)")
        ax.set_xlim(-0.02, 1.02)
        ax.grid(alpha=0.3)
    np.atleast_1d(axes)[0].set_ylabel("precision (against the unrelated melodies)")
    np.atleast_1d(axes)[0].legend(title=f"circle: flag at {code.flag_bits:g} bits", fontsize=8)
    fig.tight_layout()
    atomic_write(path, lambda p: fig.savefig(p, dpi=90, format="png"))
    plt.close(fig)


def report(args, index, build_s, sets, accompaniment, acc_verdicts, th, code, ms, sweep_rows, elapsed_s) -> str:
    flag, review = code.flag_bits, code.review_bits
    same = (th.review_bits, th.flag_bits) == (review, flag)
    folk, lofi = sets
    out = [
        "# Originality check: calibration",
        "",
        f"_Written by `python scripts/calibrate_originality.py` on {date.today().isoformat()} "
        f"(seed {args.seed}, {elapsed_s:.0f} s, one process). Every number below is from that run._",
        "",
        "## What is checked",
        "",
        "`lofi check FILE.mid` and `lofi.analysis.originality.check(score_or_path, index)` take the piece's",
        "melody line (its melody parts: a track named as a lead, or a melody instrument) and align it against",
        "an index of reference melodies: the melody of every piece the model was trained on (`originality.npz`",
        "in its folder, written by `lofi train`; the bundled model carries its own), of a corpus indexed by",
        "`lofi originality build`, and of any file added with `lofi originality add DIR`. A piece without a",
        "melody part is judged by all its lines; the other lines of a piece with one are checked for",
        "information only (`Verdict.accompaniment`).",
        "The verdict is that of the closest match: `clear`, `review` (listen to both) or `flagged` (a likely",
        "copy), with the reference, the matched span in both pieces (note indices and seconds) and the score",
        "in bits.",
        "",
        "Fingerprints are symbols of (pitch interval, quantized inter-onset ratio) per note, so they ignore",
        f"key and tempo; {N_GRAM} symbols (5 notes) make one n-gram of the inverted index. The score is a",
        "local alignment in which a matched note earns its information given the two before it (-log2 of its",
        "conditional share in the index), so stock figures earn little, and a note whose fingerprint came",
        f"earlier in the query earns {Scoring().repeat_share:g} of its bits (a motif played four times is one",
        "piece of evidence). A changed note, an added note (an ornament) or a dropped one costs one edit,",
        f"{Scoring().mismatch_bits:g} bits, however many symbols it changes; any other difference costs that per",
        "symbol. Details in the docstring of `src/lofi/analysis/originality.py`.",
        "",
        "## Thresholds",
        "",
        "| verdict | score (bits) | rule |",
        "|---|---|---|",
        f"| review | >= {review:g} | 95th percentile of unrelated held-out melodies, rounded up to 5, the higher set |",
        f"| flagged | >= {flag:g} | 99th percentile of unrelated held-out melodies, rounded up to 5, the higher set |",
        "",
        "Per set: "
        + "; ".join(
            f"{s.name} review {calibrated(s.verdicts['unrelated']).review_bits:g}, flag "
            f"{calibrated(s.verdicts['unrelated']).flag_bits:g}"
            for s in sets
        )
        + ". This run gives review "
        f"{th.review_bits:g} and flag {th.flag_bits:g}"
        + (", the code's defaults (`Thresholds`)." if same else f"; the code's defaults are {review:g} and {flag:g}."),
        "",
        "## The calibration sets",
        "",
        f"- **Index**: the melodies of {len(index)} training pieces ("
        + ", ".join(f"{n} {s}" for s, n in sorted(_count(r.source for r in index.refs).items()))
        + f"), built in {build_s:.1f} s.",
        f"- **Folk** ({len(folk.unrelated) + len(folk.related)} held-out melodies): folk tunes that are not in the",
        "  index: the lead of every val-split folk-melody piece, and every tune of the corpus's tune books",
        "  (Ryan's Mammoth Collection, O'Neill's) that the corpus did not use. The books hold many tunes twice,",
        "  under other titles or in other settings.",
        f"- **Lo-fi** ({len(lofi.unrelated) + len(lofi.related)} held-out melodies): the melody of every val-split",
        "  lo-fi loop of the corpus that has one"
        f" ({sum(q.name.startswith('val') for q in lofi.unrelated + lofi.related)}),"
        f" and of fresh loops drawn from the corpus's loop generator (`lofi.corpus.loops`) with seed {LOFI_SEED},",
        "  which the corpus does not use (the rest): the val split alone is too small to measure a 1% rate.",
        "  Lo-fi melodies are short (30-70 notes): two-bar motifs of chord tones over a bank of rhythms,",
        "  repeated, so they share a good deal by construction.",
        f"- **Labels.** A held-out melody is **related** when it shares an exact run of {RELATED_RUN}+ notes",
        "  (same intervals and rhythm) with a training melody, or its title reads like a training tune's",
        '  (folk only; difflib ratio >= 0.8 after dropping words like "reel"), or its closest match is a stretch',
        f"  of {VARIANT_NOTES}+ notes whose intervals agree >= {VARIANT_IDENTITY:.0%} (difflib ratio); **unrelated**"
        " otherwise:",
        "",
        "| set | held-out | shared 16+ run | similar title | variant | related | unrelated |",
        "|---|---|---|---|---|---|---|",
    ]
    for s in sets:
        qs = s.unrelated + s.related
        out.append(
            f"| {s.name} | {len(qs)} | {sum(q.run >= RELATED_RUN for q in qs)}"
            f" | {sum(bool(q.similar_title) for q in qs)}"
            f" | {sum(q.variant for q in qs)} | {len(s.related)} | {len(s.unrelated)} |"
        )
    out += [
        "",
        f"- **Planted copies** ({args.copies} per length and set): an excerpt of a training melody of the set's",
        "  kind, transposed by 2-7 semitones, at 0.6-1.6 times the tempo, with 1 + length // 16 edits (each",
        "  either an ornament, a short neighbour note before a note, or a note moved by 1-2 semitones), laid",
        "  into an unrelated held-out melody of the set at a random point. *Found* means the best match covers",
        "  planted notes and its reference is the source (or a training tune holding the same passage).",
        f"- **Accompaniment** ({len(accompaniment)}): held-out pieces without a lead (MMA grooves, openMSX),",
        "  every line checked.",
        "",
        "### How much these melodies share",
        "",
        "Share of held-out melodies whose longest exact run (intervals and rhythm) in common with some",
        "training melody is at least:",
        "",
        "| set | " + " | ".join(f"{L} notes" for L in RUN_LENGTHS) + " |",
        "|---|" + "---|" * len(RUN_LENGTHS),
    ]
    for s in sets:
        out.append(f"| {s.name} | " + " | ".join(pct(s.run_share(L)) for L in RUN_LENGTHS) + " |")
    out += [
        "",
        "An exact 8-note phrase in common with the training melodies is the rule in both repertoires.",
        "",
        "## Results at the code's thresholds",
        "",
        "### Distinct melodies",
        "",
        "| queries | n | median score | review or flagged | flagged |",
        "|---|---|---|---|---|",
    ]
    for s in sets:
        un, rel = s.verdicts["unrelated"], s.verdicts["related"]
        for name, vs in (("unrelated", un), ("related (same tune, a variant, a shared passage)", rel)):
            med = float(np.median([v.score for v in vs])) if vs else 0.0
            out.append(
                f"| {s.name}: {name} | {len(vs)} | {med:.0f} | {pct(share(vs, review))} | {pct(share(vs, flag))} |"
            )
    med = float(np.median([v.score for v in acc_verdicts])) if acc_verdicts else 0.0
    out.append(
        f"| held-out accompaniment pieces (every line) | {len(acc_verdicts)} | {med:.0f}"
        f" | {pct(share(acc_verdicts, review))}"
        f" | {pct(share(acc_verdicts, flag))} |"
    )
    out += [
        "",
        "Out of sample (the flag threshold fit on the even-numbered unrelated melodies of a set alone, applied",
        "to the odd-numbered ones, and the other way round):",
        "",
        "| set | fit on even, flagged of odd | fit on odd, flagged of even |",
        "|---|---|---|",
    ]
    for s in sets:
        un = s.verdicts["unrelated"]
        halves = (un[0::2], un[1::2])
        held = [share(halves[1 - n], calibrated(halves[n]).flag_bits) for n in (0, 1)]
        out.append(f"| {s.name} | {pct(held[0])} (threshold {calibrated(halves[0]).flag_bits:g}) | {pct(held[1])}"
                   f" (threshold {calibrated(halves[1]).flag_bits:g}) |")  # fmt: skip
    out += [
        "",
        "### Planted copies, by length",
        "",
        "| notes copied | edits | "
        + " | ".join(
            f"{s.name}: median score | {s.name}: found, review or flagged | {s.name}: found and flagged" for s in sets
        )
        + " |",
        "|---|---|" + "---|---|---|" * len(sets),
    ]
    for L in COPY_LENGTHS:
        cells = []
        for s in sets:
            scores = [v.score for c, v in zip(s.copies, s.verdicts["copies"], strict=True) if c.length == L]
            cells.append(f"{np.median(scores):.0f} | {pct(recall_at(s, L, review))} | {pct(recall_at(s, L, flag))}")
        out.append(f"| {L} | {1 + L // 16} | " + " | ".join(cells) + " |")
    out += ["", "## Precision and recall per copy length", ""]
    out += [
        "Each row is a flag threshold; *false flags* is the share of the set's unrelated melodies at or above",
        "it; per copy length, *R* is recall (copies found and flagged) and *P* precision (those copies against",
        f"the unrelated melodies flagged, {args.copies} copies of a length against all of the set's unrelated",
        f"melodies). The code's flag threshold is the bold row. `docs/{args.plot.name}` draws the same curves.",
        "",
        f"![precision against recall per copy length]({args.plot.name})",
    ]
    for s in sets:
        out += [
            "",
            f"### {s.name} ({len(s.unrelated)} unrelated melodies)",
            "",
            "| flag at (bits) | false flags | " + " | ".join(f"{L} notes R / P" for L in COPY_LENGTHS) + " |",
            "|---|---|" + "---|" * len(COPY_LENGTHS),
        ]
        for bits, false, per in curve(s):
            mark = "**" if bits == flag else ""
            out.append(
                f"| {mark}{bits:g}{mark} | {pct(false)} | "
                + " | ".join(f"{100 * per[L][0]:.0f}% / {100 * per[L][1]:.0f}%" for L in COPY_LENGTHS)
                + " |"
            )
    out += ["", "## Targets", ""]
    out += targets(sets, flag)
    out += [
        "",
        "## Closest unrelated melodies",
        "",
        "The unrelated held-out melodies that come closest to a reference (the top of the 1%); judge them:",
        "",
        "| set | held-out melody | score | notes matched | closest reference |",
        "|---|---|---|---|---|",
    ]
    for s in sets:
        for q, v in sorted(zip(s.unrelated, s.verdicts["unrelated"], strict=True), key=lambda p: -p[1].score)[:6]:
            ref = v.match.reference.id if v.match else "-"
            out.append(f"| {s.name} | {q.name[:60]} | {v.score:.0f} | {v.match.notes if v.match else 0} | {ref} |")
    if sweep_rows:
        out += [
            "",
            "## Scoring variants",
            "",
            "The same unrelated melodies and planted copies under other scorings, each with its own flag threshold",
            "calibrated by the same rule (the higher set's 99th percentile); recall of copies found and flagged at",
            "that threshold:",
            "",
            "| scoring | flag | "
            + " | ".join(
                f"{s.name}: false flags | " + " | ".join(f"{s.name}: {L}" for L in COPY_LENGTHS[2:]) for s in sets
            )
            + " |",
            "|---|---|" + ("---|" * (1 + len(COPY_LENGTHS[2:]))) * len(sets),
        ]
        for name, fl, false, recall in sweep_rows:
            out.append(
                f"| {name} | {fl:g} | "
                + " | ".join(
                    f"{pct(f)} | " + " | ".join(pct(r[L]) for L in COPY_LENGTHS[2:])
                    for f, r in zip(false, recall, strict=True)
                )
                + " |"
            )
    out += [
        "",
        "## Notes",
        "",
        "- Accompaniment: the corpus makes its accompaniments from a finite set of grooves over a bank of",
        "  progressions, so a held-out accompaniment can repeat a training one note for note in another key",
        f"  and tempo; {pct(share(acc_verdicts, flag))} of them score at the flag threshold. A piece with a melody",
        "  is judged by it; its accompaniment's closest match is reported as information.",
        f"- Query time in this run: {ms:.1f} ms per line searched against {len(index)} references, on a shared"
        " machine; docs/BENCHMARKS.md has the benchmark at 10,000 melodies.",
        "- Longer queries have more chances of a chance match, so scores of unrelated pieces grow slowly with",
        "  length; folk tunes here are 100-300 notes, lo-fi melodies 30-70.",
        "- The labels of related tunes come partly from the checker's own alignment (the variant rule); the",
        "  table of closest unrelated melodies shows what the rule left in.",
    ]
    return "\n".join(out) + "\n"


def targets(sets: list[CalibrationSet], flag: float) -> list[str]:
    """The issue's targets, met or not, per set, at the code's flag threshold, and what the curve allows."""
    out = []
    goals = (("copies of 24+ notes flagged", (24, 32, 48), 0.90), ("copies of 16 notes flagged", (16,), 0.60))
    for s in sets:
        un = s.verdicts["unrelated"]
        false = share(un, flag)
        out.append(
            f"- **{s.name}: unrelated melodies flagged <= 1%: {'met' if false <= 0.01 else 'not met'}** "
            f"({round(false * len(un))} of {len(un)}, {100 * false:.2f}%)."
        )
        for text, lengths, goal in goals:
            got = min(recall_at(s, L, flag) for L in lengths)
            line = f"- **{s.name}: {text} >= {goal:.0%}: {'met' if got >= goal else 'not met'}** ({pct(got)}"
            line += ", the lowest of " + ", ".join(f"{L}: {pct(recall_at(s, L, flag))}" for L in lengths) + ")"
            if got < goal:
                reach = [bits for bits in CURVE_BITS if min(recall_at(s, L, bits) for L in lengths) >= goal]
                if reach:
                    at = max(reach)
                    line += (f"; the curve reaches it at a flag threshold of {at:g} bits, where"
                             f" {pct(share(un, at))} of unrelated melodies are flagged")  # fmt: skip
                else:
                    line += f"; no threshold from {CURVE_BITS[0]} bits up reaches it"
            out.append(line + ".")
    return out


def _count(items) -> dict:
    out: dict = {}
    for item in items:
        out[item] = out.get(item, 0) + 1
    return out


if __name__ == "__main__":
    sys.exit(main())
