"""The originality check: does a piece's melody copy a melody we trained on (or one the user added)?

Fingerprints. A line of N notes becomes N-2 *symbols*, one per note from the third on: the pitch
interval into it (semitones, clipped to an octave) and the ratio of its inter-onset interval to the
one before (log2, quantized to half-octave steps). Intervals ignore the key and ratios ignore the
tempo, so a transposed, slower copy has exactly the symbols of its original. ``N_GRAM`` consecutive
symbols make one fingerprint.

Index. An inverted index maps each fingerprint to every (reference, position) holding it; it lives
in one ``.npz`` file with the references' symbols, note times and symbol statistics, written
atomically and loaded in milliseconds. A query votes for (reference, diagonal) pairs with the inverse
document frequency of its fingerprints (a copy puts its hits on one diagonal; chance hits scatter),
and the best-voted references are re-ranked by local alignment (Smith-Waterman, banded around the
voted diagonal) over the symbols.

Score, in bits. A matching symbol earns its information under the index's own statistics given
the two symbols before it (-log2 P(symbol | two before), backed off to shorter contexts), so stock
figures (repeated notes, scale runs in even notes, a cadence) earn little and a surprising turn much;
the same interval on another rhythm earns a share of the interval's information. A symbol whose
fingerprint came earlier in the query earns ``repeat_share`` of its bits, since a motif played four
times is one piece of evidence, not four (lo-fi melodies are short motifs repeated, and two unrelated
ones align over their repeats). A one-note edit (a changed note, an added ornament, a dropped note)
costs one ``mismatch_bits`` or ``gap_bits`` however many symbols it changes; any other difference costs
that per symbol.

Verdict. ``clear`` below ``Thresholds.review_bits``, ``flagged`` from ``Thresholds.flag_bits``,
``review`` between. Both come from ``scripts/calibrate_originality.py``; the numbers behind them
are in docs/ORIGINALITY.md.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
from symusic import Score

from lofi.analysis.melody import Line, candidate_lines, lead_line, load_score, melody_line
from lofi.files import atomic_write

MIDI_SUFFIXES = (".mid", ".midi")
ADDED = "added"  # source of references added with `lofi originality add`; kept when the index is rebuilt
FORMAT = "lofi-originality"
FORMAT_VERSION = 1
INDEX_FILE = "index.npz"
MODEL_INDEX = "originality.npz"  # in a checkpoint folder: the index of the melodies the model was trained on
MELODY, ACCOMPANIMENT = "melody", "accompaniment"  # what an indexed line is (Reference.kind)
KINDS_SEARCHED = 8  # matches looked at per line, so a melody match behind accompaniment ones is found

MAX_INTERVAL = 12  # leaps beyond an octave all read as one symbol per direction
MAX_RATIO_CLASS = 4  # inter-onset ratios beyond 4x (or 1/4) all read alike
RATIO_STEPS_PER_OCTAVE = 2
N_RATIO = 2 * MAX_RATIO_CLASS + 1
N_INTERVALS = 2 * MAX_INTERVAL + 1
N_SYMBOLS = N_INTERVALS * N_RATIO
N_GRAM = 3  # symbols per fingerprint: 5 notes

# retrieval
MAX_DF_SHARE = 0.05  # fingerprints held by more references than this share are no evidence of copying
MIN_DF_CAP = 50
BAND = 8  # symbols either side of a voted diagonal that alignment explores; an ornament shifts it by one
CANDIDATES = 16  # references re-ranked by alignment per query line
PAD = 12  # symbols aligned beyond a candidate's first and last hit
BACKOFF = 8.0  # pseudo-counts of the symbol's own share when its context was rarely seen

_IMPOSSIBLE = -1e9  # score of cells outside a reference
NO_ALIGNMENT = (0.0, -1, -1, -1, -1)  # score and first/last positions when nothing aligns


@dataclass(frozen=True)
class Scoring:
    """How an alignment is scored, in bits."""

    mismatch_bits: float = 8.0
    gap_bits: float = 8.0
    partial_share: float = 0.5  # same interval, other rhythm: this share of the interval's information
    context: int = 2  # symbols before a match that its information is conditioned on (0, 1 or 2)
    # a changed note, or a note added or dropped between two others, costs one edit rather than the two or
    # three mismatched symbols it leaves (see _edit_scores)
    edits: bool = True
    # a symbol whose fingerprint (it and the symbols before it) already came earlier in the query earns this
    # share of its bits: a motif played four times is one motif, not four pieces of evidence
    repeat_share: float = 0.25


@dataclass(frozen=True)
class Thresholds:
    """Alignment scores (bits) from which a match is worth a listen, and from which it is a likely copy."""

    # calibrated on the corpus by scripts/calibrate_originality.py; see docs/ORIGINALITY.md
    review_bits: float = 45.0
    flag_bits: float = 55.0


@dataclass(frozen=True)
class Reference:
    """One indexed melody: where it came from, for the person reading a verdict."""

    id: str  # path relative to the corpus folder, or a user file's absolute path
    source: str  # the corpus source (mma, melody, openmsx, user), or "added" by `lofi originality add`
    part: str = ""  # the track(s) its line was taken from
    # "melody" (the piece has a lead: its line is a tune) or "accompaniment" (no lead: its top line is the top
    # of a chord pattern or groove, which copyright does not protect; a match with it informs, never flags)
    kind: str = MELODY


@dataclass(frozen=True)
class Span:
    """Notes ``first``..``last`` (inclusive, indices into the extracted line) and their time in seconds."""

    first: int
    last: int
    start_s: float
    end_s: float


@dataclass(frozen=True)
class Match:
    reference: Reference
    score: float  # bits
    notes: int  # notes in the query's matched span
    query: Span
    match: Span  # the same passage in the reference


@dataclass(frozen=True)
class Verdict:
    verdict: str  # clear | review | flagged
    score: float  # bits of the best match; 0 when there is none
    reason: str
    match: Match | None = None
    part: str = ""  # which line of the checked piece matched
    lines_checked: int = 0
    # the closest match with an accompaniment reference (a chord pattern, a groove), for information only
    accompaniment: Match | None = None

    @property
    def flagged(self) -> bool:
        return self.verdict == "flagged"

    def to_dict(self) -> dict:
        """Plain JSON-ready data, as stored in a track's metadata.json."""
        return asdict(self)


# ---------------------------------------------------------------------------------------------- fingerprints


def symbols(line: Line) -> np.ndarray:
    """One symbol per note from the third on: (interval into it, its inter-onset ratio class)."""
    if len(line) < 3:
        return np.zeros(0, dtype=np.uint8)
    interval = np.clip(np.diff(line.pitches.astype(np.int64)), -MAX_INTERVAL, MAX_INTERVAL)[1:]
    ioi = np.maximum(np.diff(line.onsets_s), 1e-4)
    ratio = np.rint(RATIO_STEPS_PER_OCTAVE * np.log2(ioi[1:] / ioi[:-1])).astype(np.int64)
    ratio = np.clip(ratio, -MAX_RATIO_CLASS, MAX_RATIO_CLASS)
    return ((interval + MAX_INTERVAL) * N_RATIO + ratio + MAX_RATIO_CLASS).astype(np.uint8)


def ngrams(sym: np.ndarray, n: int = N_GRAM) -> np.ndarray:
    """The fingerprint (an int64) at each start position of ``n`` consecutive symbols."""
    if len(sym) < n:
        return np.zeros(0, dtype=np.int64)
    keys = np.zeros(len(sym) - n + 1, dtype=np.int64)
    for k in range(n):
        keys = keys * N_SYMBOLS + sym[k : len(sym) - n + 1 + k].astype(np.int64)
    return keys


def fingerprints(line: Line, n: int = N_GRAM) -> set[int]:
    """The set of a line's fingerprints: equal for a line and its transposed, re-tempoed copy."""
    return {int(k) for k in ngrams(symbols(line), n)}


def _span(onsets_s: np.ndarray, durations_s: np.ndarray, first_sym: int, last_sym: int) -> Span:
    first, last = first_sym, last_sym + 2  # a symbol is its note and the two before it
    return Span(first, last, float(onsets_s[first]), float(onsets_s[last] + durations_s[last]))


# ---------------------------------------------------------------------------------------------- the index


@dataclass(frozen=True)
class _Candidate:
    ref: int
    centre: int  # diagonal: reference position minus query position
    q_from: int
    q_to: int  # exclusive


def _close_gaps(
    t: np.ndarray, t_start: np.ndarray, succ: np.ndarray, ramp: np.ndarray, cols: np.ndarray, idx: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """One row's gaps along the reference in a single pass, for both alignment loops.

    ``h[j] = max over j' <= j of t[j'] - gap * (j - j')``: adding the gap ramp turns that into a running
    maximum; ``start`` follows the cell each maximum came from (``succ`` where the score falls to 0).
    """
    lifted = t + ramp
    running = np.maximum.accumulate(lifted, axis=1)
    origin = np.maximum.accumulate(np.where(lifted >= running, cols, 0), axis=1)
    h = running - ramp
    return h, np.where(h <= 0.0, succ, t_start[idx, origin])


def _edit_scores(
    q_prev: np.ndarray, q_cur: np.ndarray, r_prev: np.ndarray, r_cur: np.ndarray, scoring: Scoring
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Scores of the three one-note edits ending at a cell (query symbol ``q_cur`` against reference symbol
    ``r_cur``; -1 where there is no symbol), ``_IMPOSSIBLE`` where the symbols do not show that edit.

    * changed note: two symbols each side (from two rows back, same diagonal) on the same rhythm whose
      intervals differ but add up alike, since a moved note changes the interval into it and out of it;
    * added note (an ornament in the query): two query symbols against one reference symbol (from two rows
      back, one diagonal up), their intervals adding up to its interval and the first on its rhythm;
    * dropped note (the reference's ornament): one query symbol against two reference symbols (from the
      row before, one diagonal down), the other way round.
    Each costs ``mismatch_bits`` (a changed note) or ``gap_bits``.
    """

    def interval(sym: np.ndarray) -> np.ndarray:
        return sym // N_RATIO

    def ratio(sym: np.ndarray) -> np.ndarray:
        return sym % N_RATIO

    qp_ok, q_ok, rp_ok, r_ok = q_prev >= 0, q_cur >= 0, r_prev >= 0, r_cur >= 0
    step = interval(q_prev) + interval(q_cur) - MAX_INTERVAL  # the query's two intervals as one, offset like one
    changed = (
        qp_ok & q_ok & rp_ok & r_ok
        & (ratio(q_prev) == ratio(r_prev)) & (ratio(q_cur) == ratio(r_cur))
        & (interval(q_cur) != interval(r_cur))
        & (interval(q_prev) + interval(q_cur) == interval(r_prev) + interval(r_cur))
    )  # fmt: skip
    added = qp_ok & q_ok & r_ok & (step == interval(r_cur)) & (ratio(q_prev) == ratio(r_cur))
    dropped = (
        rp_ok & r_ok & q_ok
        & (interval(r_prev) + interval(r_cur) - MAX_INTERVAL == interval(q_cur)) & (ratio(r_prev) == ratio(q_cur))
    )  # fmt: skip
    return (
        np.where(changed, -scoring.mismatch_bits, _IMPOSSIBLE),
        np.where(added, -scoring.gap_bits, _IMPOSSIBLE),
        np.where(dropped, -scoring.gap_bits, _IMPOSSIBLE),
    )


def _best_step(
    steps: Sequence[np.ndarray], starts: Sequence[np.ndarray], succ: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """A cell's score (the best of ``steps``, 0 at worst) and its alignment's start (that step's, or the
    cell after it, ``succ``, when the alignment begins afresh). Ties go to the earlier step."""
    stacked = np.stack(steps)
    choice = np.argmax(stacked, axis=0)
    t = np.maximum(np.take_along_axis(stacked, choice[None], axis=0)[0], 0.0)
    t_start = np.take_along_axis(np.stack(starts), choice[None], axis=0)[0]
    return t, np.where(t <= 0.0, succ, t_start)


@dataclass
class OriginalityIndex:
    """Reference melodies as symbols, note times and an inverted index of their fingerprints."""

    refs: list[Reference]
    sym: np.ndarray  # uint8, every reference's symbols back to back
    sym_offsets: np.ndarray  # int64, len(refs) + 1
    onsets_s: np.ndarray  # float32, every reference's notes back to back
    durations_s: np.ndarray  # float32
    note_offsets: np.ndarray  # int64, len(refs) + 1
    keys: np.ndarray  # int64, sorted distinct fingerprints
    key_offsets: np.ndarray  # int64, len(keys) + 1, into the postings
    post_ref: np.ndarray  # int32
    post_pos: np.ndarray  # int32, symbol position in its reference
    df: np.ndarray  # int32, references holding each fingerprint
    unigrams: np.ndarray  # int64 (N_SYMBOLS,), symbol counts
    bigrams: np.ndarray  # int64 (N_SYMBOLS, N_SYMBOLS), counts of a symbol following another
    trigram_keys: np.ndarray  # int64, sorted (a * N_SYMBOLS + b) * N_SYMBOLS + c of every symbol triple seen
    trigram_counts: np.ndarray  # int64
    n_gram: int = N_GRAM
    _model: dict | None = field(default=None, repr=False, compare=False)

    def __len__(self) -> int:
        return len(self.refs)

    # -------------------------------------------------------------------------------------- building

    @classmethod
    def build(cls, items: Iterable[tuple[Reference, Line]], n_gram: int = N_GRAM) -> OriginalityIndex:
        """An index of these lines (a line too short for a fingerprint is listed, but never matches)."""
        refs, syms, onsets, durations = [], [], [], []
        for ref, line in items:
            refs.append(ref)
            syms.append(symbols(line))
            onsets.append(line.onsets_s.astype(np.float32))
            durations.append(line.durations_s.astype(np.float32))
        return cls._assemble(refs, syms, onsets, durations, n_gram)

    @classmethod
    def _assemble(cls, refs: list, syms: list, onsets: list, durations: list, n_gram: int) -> OriginalityIndex:
        sym_offsets = np.concatenate(([0], np.cumsum([len(s) for s in syms], dtype=np.int64))).astype(np.int64)
        note_offsets = np.concatenate(([0], np.cumsum([len(o) for o in onsets], dtype=np.int64))).astype(np.int64)
        sym = np.concatenate([np.zeros(0, np.uint8), *syms]).astype(np.uint8)
        grams = [ngrams(s, n_gram) for s in syms]
        flat = np.concatenate([np.zeros(0, np.int64), *grams])
        post_ref = np.repeat(np.arange(len(syms), dtype=np.int32), [len(g) for g in grams])
        post_pos = np.concatenate([np.zeros(0, np.int32), *(np.arange(len(g), dtype=np.int32) for g in grams)])
        order = np.argsort(flat, kind="stable")  # stable: postings of a key stay sorted by reference
        flat, post_ref, post_pos = flat[order], post_ref[order], post_pos[order]
        keys, first = np.unique(flat, return_index=True)
        key_offsets = np.concatenate((first, [len(flat)])).astype(np.int64)
        new_ref = np.ones(len(flat), dtype=np.int32)
        new_ref[1:] = (flat[1:] != flat[:-1]) | (post_ref[1:] != post_ref[:-1])
        df = np.add.reduceat(new_ref, first).astype(np.int32) if len(first) else np.zeros(0, np.int32)
        # symbol statistics; pairs never straddle two references
        inside = np.ones(len(sym), dtype=bool)
        inside[sym_offsets[:-1][sym_offsets[:-1] < len(sym)]] = False
        pairs = sym[:-1].astype(np.int64) * N_SYMBOLS + sym[1:]
        bigrams = np.bincount(pairs[inside[1:]], minlength=N_SYMBOLS * N_SYMBOLS).reshape(N_SYMBOLS, N_SYMBOLS)
        triples = pairs[:-1] * N_SYMBOLS + sym[2:]
        trigram_keys, trigram_counts = np.unique(triples[inside[1:-1] & inside[2:]], return_counts=True)
        return cls(
            refs=list(refs),
            sym=sym,
            sym_offsets=sym_offsets,
            onsets_s=np.concatenate([np.zeros(0, np.float32), *onsets]).astype(np.float32),
            durations_s=np.concatenate([np.zeros(0, np.float32), *durations]).astype(np.float32),
            note_offsets=note_offsets,
            keys=keys.astype(np.int64),
            key_offsets=key_offsets,
            post_ref=post_ref,
            post_pos=post_pos,
            df=df,
            unigrams=np.bincount(sym, minlength=N_SYMBOLS).astype(np.int64),
            bigrams=bigrams.astype(np.int64),
            trigram_keys=trigram_keys.astype(np.int64),
            trigram_counts=trigram_counts.astype(np.int64),
            n_gram=n_gram,
        )

    def _parts(self) -> tuple[list, list, list]:
        s, n = self.sym_offsets, self.note_offsets
        return (
            [self.sym[s[i] : s[i + 1]] for i in range(len(self.refs))],
            [self.onsets_s[n[i] : n[i + 1]] for i in range(len(self.refs))],
            [self.durations_s[n[i] : n[i + 1]] for i in range(len(self.refs))],
        )

    def merged(self, other: OriginalityIndex | Iterable[tuple[Reference, Line]]) -> OriginalityIndex:
        """A new index with ``other``'s references added; one whose id is already indexed replaces it."""
        if not isinstance(other, OriginalityIndex):
            other = OriginalityIndex.build(other, self.n_gram)
        ids = {ref.id for ref in other.refs}
        keep = [i for i, ref in enumerate(self.refs) if ref.id not in ids]
        mine, theirs = self._parts(), other._parts()
        return self._assemble(
            [self.refs[i] for i in keep] + other.refs,
            *([part[i] for i in keep] + extra for part, extra in zip(mine, theirs, strict=True)),
            self.n_gram,
        )

    def subset(self, keep: Iterable[int]) -> OriginalityIndex:
        """A new index of the references at these positions."""
        chosen = list(keep)
        syms, onsets, durations = self._parts()
        return self._assemble(
            [self.refs[i] for i in chosen],
            [syms[i] for i in chosen],
            [onsets[i] for i in chosen],
            [durations[i] for i in chosen],
            self.n_gram,
        )

    # -------------------------------------------------------------------------------------- persistence

    def save(self, path: Path, compressed: bool = False) -> Path:
        """Write the index to ``path`` (an .npz) atomically; returns the path. Uncompressed by default:
        loading is then one read; ``compressed`` (a quarter of the size) for one kept in git with a model."""
        meta = {
            "format": FORMAT,
            "version": FORMAT_VERSION,
            "n_gram": self.n_gram,
            "symbols": N_SYMBOLS,
            "refs": [asdict(r) for r in self.refs],
        }
        arrays = {
            "meta": np.frombuffer(json.dumps(meta).encode("utf-8"), dtype=np.uint8),
            **{name: getattr(self, name) for name in _ARRAYS},
        }

        def write(tmp: Path) -> None:
            with tmp.open("wb") as fh:
                (np.savez_compressed if compressed else np.savez)(fh, **arrays)

        atomic_write(Path(path), write)
        return Path(path)

    @classmethod
    def load(cls, path: Path) -> OriginalityIndex:
        """Read an index written by ``save`` (a file, or the folder holding index.npz)."""
        path = Path(path)
        if path.is_dir():
            path = path / INDEX_FILE
        if not path.exists():
            raise FileNotFoundError(f"no originality index at {path}: run `lofi originality build`")
        try:
            with np.load(path, allow_pickle=False) as data:
                arrays = {name: data[name] for name in data.files}
            meta = json.loads(arrays.pop("meta").tobytes().decode("utf-8"))
        except (OSError, ValueError, KeyError, EOFError) as exc:
            raise ValueError(f"{path} is not an originality index ({exc}): run `lofi originality build`") from None
        if meta.get("format") != FORMAT or meta.get("version") != FORMAT_VERSION or meta.get("symbols") != N_SYMBOLS:
            raise ValueError(f"{path} was written by another version of lofi: run `lofi originality build`")
        if set(arrays) != set(_ARRAYS):
            raise ValueError(f"{path} is incomplete: run `lofi originality build`")
        return cls(refs=[Reference(**r) for r in meta["refs"]], n_gram=int(meta["n_gram"]), **arrays)

    # -------------------------------------------------------------------------------------- searching

    def _information(self) -> dict:
        """Symbol shares behind the match weights, computed once per index."""
        if self._model is None:
            uni = (self.unigrams + 1.0) / (self.unigrams.sum() + N_SYMBOLS)
            interval = np.bincount(np.arange(N_SYMBOLS) // N_RATIO, weights=uni, minlength=N_INTERVALS)
            self._model = {
                "uni": uni,
                "after": self.bigrams.sum(axis=1).astype(np.float64),
                "interval_bits": -np.log2(interval),
            }
        return self._model

    def weights(self, q: np.ndarray, scoring: Scoring = Scoring()) -> tuple[np.ndarray, np.ndarray]:
        """Bits a query symbol earns when matched exactly (given ``scoring.context`` symbols before it),
        and when only its interval matches.

        Counts are taken one less (leave-one-out): the reference a copy matches holds each of the copy's
        patterns once itself, and a pattern seen nowhere else is surprising, not stock. Without it, a
        small index (a user's own catalogue) would find its own tunes perfectly predictable.
        """
        model = self._information()
        share = model["uni"][q]
        if scoring.context >= 1 and len(q) > 1:
            # each order backs off to the one below with BACKOFF pseudo-counts where its context is rare
            prev, cur = q[:-1], q[1:]
            share = share.copy()
            pairs = np.maximum(self.bigrams[prev, cur] - 1, 0)
            share[1:] = (pairs + BACKOFF * share[1:]) / (np.maximum(model["after"][prev] - 1, 0) + BACKOFF)
            if scoring.context >= 2 and len(q) > 2:
                key = (q[:-2] * N_SYMBOLS + q[1:-1]) * N_SYMBOLS + q[2:]
                seen = np.zeros(len(key))
                if len(self.trigram_keys):
                    slot = np.minimum(np.searchsorted(self.trigram_keys, key), len(self.trigram_keys) - 1)
                    seen = np.where(self.trigram_keys[slot] == key, self.trigram_counts[slot], 0)
                context = np.maximum(self.bigrams[q[:-2], q[1:-1]] - 1, 0)
                share[2:] = (np.maximum(seen - 1, 0) + BACKOFF * share[2:]) / (context + BACKOFF)
        bits = -np.log2(share)
        partial = scoring.partial_share * model["interval_bits"][q // N_RATIO]
        if scoring.repeat_share != 1.0 and len(q) >= self.n_gram:
            grams = ngrams(q, self.n_gram)
            _, first = np.unique(grams, return_index=True)
            again = np.ones(len(grams), dtype=bool)
            again[first] = False
            weight = np.ones(len(q))
            weight[self.n_gram - 1 :][again] = scoring.repeat_share  # a fingerprint ends at its last symbol
            bits, partial = bits * weight, partial * weight
        return bits, partial

    def _candidates(self, q: np.ndarray, limit: int) -> list[_Candidate]:
        """References worth aligning, best voted first, each with its diagonal and query range."""
        grams = ngrams(q, self.n_gram)
        if len(grams) == 0 or len(self.keys) == 0:
            return []
        slot = np.minimum(np.searchsorted(self.keys, grams), len(self.keys) - 1)
        cap = max(MIN_DF_CAP, MAX_DF_SHARE * len(self.refs))
        found = (self.keys[slot] == grams) & (self.df[slot] <= cap)
        qpos, slot = np.flatnonzero(found), slot[found]
        if len(slot) == 0:
            return []
        lo, sizes = self.key_offsets[slot], self.key_offsets[slot + 1] - self.key_offsets[slot]
        # every posting of every found key, laid end to end
        post = np.repeat(lo - np.concatenate(([0], np.cumsum(sizes)[:-1])), sizes) + np.arange(int(sizes.sum()))
        hit_q = np.repeat(qpos, sizes)
        hit_ref = self.post_ref[post].astype(np.int64)
        diag = self.post_pos[post].astype(np.int64) - hit_q
        weight = np.repeat(np.log((len(self.refs) + 1) / self.df[slot]), sizes)
        offset = len(q) + BAND
        best: dict[int, tuple[float, int]] = {}
        # two grids of diagonal bands half a band apart, so a copy on a band edge is not split in two
        for shift in (0, BAND // 2):
            cell = (hit_ref << 24) + (diag + offset + shift) // BAND
            cells, inverse = np.unique(cell, return_inverse=True)
            votes = np.bincount(inverse, weights=weight)
            for c in np.argsort(-votes)[: 2 * limit]:
                ref = int(cells[c] >> 24)
                centre = int(cells[c] & 0xFFFFFF) * BAND - offset - shift + BAND // 2
                if ref not in best or votes[c] > best[ref][0]:
                    best[ref] = (float(votes[c]), centre)
        out = []
        for ref, (_, centre) in sorted(best.items(), key=lambda kv: -kv[1][0])[:limit]:
            near = hit_q[(hit_ref == ref) & (np.abs(diag - centre) <= BAND)]
            q_from = max(0, int(near.min()) - PAD)
            q_to = min(len(q), int(near.max()) + self.n_gram + PAD)
            out.append(_Candidate(ref, centre, q_from, q_to))
        return out

    def _align_banded(
        self, q: np.ndarray, match_bits: np.ndarray, partial_bits: np.ndarray, cands: list[_Candidate], scoring: Scoring
    ) -> list[tuple[float, int, int, int, int]]:
        """Local alignment of the query against each candidate within its diagonal band, all at once.

        Cell (a, d) of candidate k pairs query symbol a with reference symbol a + centre - BAND + d.
        Returns per candidate (score, first and last query symbol, first and last reference symbol).
        """
        k, width = len(cands), 2 * BAND + 1
        ref = np.array([c.ref for c in cands])
        centre = np.array([c.centre for c in cands])
        q_from = np.array([c.q_from for c in cands])
        q_to = np.array([c.q_to for c in cands])
        ref_start = self.sym_offsets[ref]
        ref_len = self.sym_offsets[ref + 1] - ref_start
        rows = int((q_to - q_from).max())
        a = q_from[:, None] + np.arange(rows)  # (k, rows) query positions
        a_ok = a < q_to[:, None]
        a = np.minimum(a, len(q) - 1)
        j = a[:, :, None] + (centre - BAND)[:, None, None] + np.arange(width)  # (k, rows, width)
        j_ok = (j >= 0) & (j < ref_len[:, None, None]) & a_ok[:, :, None]
        r = self.sym[ref_start[:, None, None] + np.clip(j, 0, (ref_len - 1)[:, None, None])]
        qs = q[a][:, :, None]
        score = np.where(
            r == qs,
            match_bits[a][:, :, None],
            np.where(r // N_RATIO == qs // N_RATIO, partial_bits[a][:, :, None], -scoring.mismatch_bits),
        )
        score = np.where(j_ok, score, _IMPOSSIBLE)
        if scoring.edits:
            q_prev = np.where(a > q_from[:, None], q[np.maximum(a - 1, 0)], -1)[:, :, None]
            r_prev = np.where(
                j_ok & (j >= 1),
                self.sym[ref_start[:, None, None] + np.clip(j - 1, 0, (ref_len - 1)[:, None, None])],
                -1,
            )
            edits = _edit_scores(q_prev, np.where(j_ok, qs, -1), r_prev, np.where(j_ok, r, -1), scoring)
        # a cell's alignment start, coded as query position * stride + reference position + width
        stride = int(ref_len.max()) + 4 * width
        code = (a + 1)[:, :, None] * stride + j + 1 + width  # where an alignment after an empty cell begins
        cols = np.arange(width)
        ramp = scoring.gap_bits * cols
        idx = np.arange(k)[:, None]
        h = np.zeros((k, width))
        start = code[:, 0, :] - stride - 1  # the cell itself, for the row before the first
        h2, start2 = h, start  # two rows back, for the edits
        best = np.zeros(k)
        best_end = np.zeros((k, 2), dtype=np.int64)
        best_start = np.zeros(k, dtype=np.int64)
        lane = np.arange(k)
        minus_inf = np.full((k, 1), _IMPOSSIBLE)

        def left(x: np.ndarray, fill: np.ndarray) -> np.ndarray:  # cell d takes d + 1's value: a diagonal up
            return np.concatenate((x[:, 1:], fill), axis=1)

        def right(x: np.ndarray, fill: np.ndarray) -> np.ndarray:  # cell d takes d - 1's value: a diagonal down
            return np.concatenate((fill, x[:, :-1]), axis=1)

        for row in range(rows):
            succ = code[:, row]
            steps = [h + score[:, row], left(h, minus_inf) - scoring.gap_bits]
            starts = [start, left(start, start[:, -1:])]
            if scoring.edits:
                changed, added, dropped = (e[:, row] for e in edits)
                steps += [h2 + changed, left(h2, minus_inf) + added, right(h, minus_inf) + dropped]
                starts += [start2, left(start2, start2[:, -1:]), right(start, start[:, :1])]
            t, t_start = _best_step(steps, starts, succ)
            h2, start2 = h, start
            h, start = _close_gaps(t, t_start, succ, ramp, cols, idx)
            top = np.argmax(h, axis=1)
            value = h[lane, top]
            better = value > best
            if better.any():
                best[better] = value[better]
                best_end[better, 0] = a[better, row]
                best_end[better, 1] = j[lane, row, top][better]
                best_start[better] = start[lane, top][better]
        return _alignments(best, best_start, best_end, stride, shift=(0, 0, -width, 0))

    def _match(self, line: Line, ref: int, aligned: tuple[float, int, int, int, int]) -> Match:
        score, qa, qb, ra, rb = aligned
        n0, n1 = self.note_offsets[ref], self.note_offsets[ref + 1]
        query = _span(line.onsets_s, line.durations_s, qa, qb)
        return Match(
            reference=self.refs[ref],
            score=round(score, 2),
            notes=query.last - query.first + 1,
            query=query,
            match=_span(self.onsets_s[n0:n1], self.durations_s[n0:n1], ra, rb),
        )

    def search(self, line: Line, top: int = 1, scoring: Scoring = Scoring(), limit: int = CANDIDATES) -> list[Match]:
        """The ``top`` best matches of ``line`` among the references, best first."""
        q = symbols(line).astype(np.int64)
        cands = self._candidates(q, limit)
        if not cands:
            return []
        match_bits, partial_bits = self.weights(q, scoring)
        aligned = self._align_banded(q, match_bits, partial_bits, cands, scoring)
        found = [self._match(line, c.ref, a) for c, a in zip(cands, aligned, strict=True) if a[0] > 0]
        return sorted(found, key=lambda m: -m.score)[:top]

    def brute_force(self, line: Line, scoring: Scoring = Scoring(), batch: int = 64) -> Match | None:
        """The best match by full local alignment against every reference: the index's baseline."""
        q = symbols(line).astype(np.int64)
        if len(q) == 0 or not self.refs:
            return None
        match_bits, partial_bits = self.weights(q, scoring)
        best: tuple[float, int, tuple] | None = None
        for first in range(0, len(self.refs), batch):
            refs = range(first, min(first + batch, len(self.refs)))
            aligned = local_align(
                q,
                match_bits,
                partial_bits,
                [self.sym[self.sym_offsets[r] : self.sym_offsets[r + 1]] for r in refs],
                scoring,
            )
            for r, result in zip(refs, aligned, strict=True):
                if result[0] > 0 and (best is None or result[0] > best[0]):
                    best = (result[0], r, result)
        return None if best is None else self._match(line, best[1], best[2])


_ARRAYS = (
    "sym",
    "sym_offsets",
    "onsets_s",
    "durations_s",
    "note_offsets",
    "keys",
    "key_offsets",
    "post_ref",
    "post_pos",
    "df",
    "unigrams",
    "bigrams",
    "trigram_keys",
    "trigram_counts",
)


def local_align(
    q: np.ndarray,
    match_bits: np.ndarray,
    partial_bits: np.ndarray,
    refs: list[np.ndarray],
    scoring: Scoring = Scoring(),
) -> list[tuple[float, int, int, int, int]]:
    """Full Smith-Waterman of one query against each reference, the references side by side.

    Returns per reference (score, first and last query symbol, first and last reference symbol), or
    positions of -1 when nothing aligns. Horizontal gaps are a running maximum along the row, so each
    query symbol costs a handful of numpy operations over the whole batch.
    """
    k = len(refs)
    if k == 0 or len(q) == 0:
        return [NO_ALIGNMENT] * k
    length = max(len(r) for r in refs)
    pad = np.full((k, length), -1, dtype=np.int64)  # -1 matches no symbol
    for i, r in enumerate(refs):
        pad[i, : len(r)] = r
    cols = np.arange(length + 1)
    ramp = scoring.gap_bits * cols
    stride = length + 2
    h = np.zeros((k, length + 1))
    start = np.broadcast_to(stride + cols + 1, (k, length + 1)).copy()
    best = np.zeros(k)
    best_end = np.zeros((k, 2), dtype=np.int64)
    best_start = np.zeros(k, dtype=np.int64)
    lane = np.arange(k)
    idx = lane[:, None]
    same_interval = np.where(pad >= 0, pad // N_RATIO, -1)
    pad_prev = np.concatenate((np.full((k, 1), -1), pad[:, :-1]), axis=1)
    h2, start2 = h, start  # two rows back, for the edits
    minus_inf = np.full((k, 1), _IMPOSSIBLE)
    for i in range(1, len(q) + 1):
        sym = q[i - 1]
        s = np.where(
            pad == sym,
            match_bits[i - 1],
            np.where(same_interval == sym // N_RATIO, partial_bits[i - 1], -scoring.mismatch_bits),
        )
        succ = (i + 1) * stride + cols + 1
        # column c + 1 pairs query symbol i - 1 with reference symbol c
        steps = [h[:, :-1] + s, h[:, 1:] - scoring.gap_bits]
        starts = [start[:, :-1], start[:, 1:]]
        if scoring.edits:
            q_prev = q[i - 2] if i >= 2 else -1
            changed, added, dropped = _edit_scores(np.int64(q_prev), np.int64(sym), pad_prev, pad, scoring)
            steps += [
                np.concatenate((minus_inf, h2[:, :-2]), axis=1) + changed,
                h2[:, :-1] + added,
                np.concatenate((minus_inf, h[:, :-2]), axis=1) + dropped,
            ]
            starts += [np.concatenate((start2[:, :1], start2[:, :-2]), axis=1), start2[:, :-1],
                       np.concatenate((start[:, :1], start[:, :-2]), axis=1)]  # fmt: skip
        t = np.zeros((k, length + 1))
        body_t, body_start = _best_step(steps, starts, succ[1:])
        t[:, 1:] = body_t
        t_start = np.concatenate((np.full((k, 1), succ[0]), body_start), axis=1)
        h2, start2 = h, start
        h, start = _close_gaps(t, t_start, succ, ramp, cols, idx)
        top = np.argmax(h, axis=1)
        value = h[lane, top]
        better = value > best
        best[better] = value[better]
        best_end[better, 0] = i
        best_end[better, 1] = top[better]
        best_start[better] = start[lane, top][better]
    return _alignments(best, best_start, best_end, stride, shift=(-1, -1, -1, -1))  # row and column 0 are padding


def _alignments(
    best: np.ndarray, best_start: np.ndarray, best_end: np.ndarray, stride: int, shift: tuple[int, int, int, int]
) -> list[tuple[float, int, int, int, int]]:
    """Per lane (score, first and last query symbol, first and last reference symbol) from its best cell
    and that alignment's coded start (query * stride + reference), positions moved by ``shift`` into the
    sequences' own; NO_ALIGNMENT where nothing scored."""
    out = []
    for n in range(len(best)):
        if best[n] <= 0:
            out.append(NO_ALIGNMENT)
            continue
        first_q, first_r = divmod(int(best_start[n]), stride)
        ends = int(best_end[n, 0]), int(best_end[n, 1])
        out.append((float(best[n]), first_q + shift[0], ends[0] + shift[1], first_r + shift[2], ends[1] + shift[3]))
    return out


# ---------------------------------------------------------------------------------------------- the check


def default_index_path() -> Path:
    """LOFI_HOME/originality/index.npz."""
    from lofi.settings import get_settings

    return get_settings().home / "originality" / INDEX_FILE


def index_paths(model_dir: Path | None = None) -> list[Path]:
    """The indexes a track is checked against, those that exist: the model's own (``MODEL_INDEX`` in its
    checkpoint folder: the melodies it was trained on) and LOFI_HOME's (`lofi originality build`, `add`)."""
    paths = [Path(model_dir) / MODEL_INDEX] if model_dir is not None else []
    return [p for p in (*paths, default_index_path()) if p.is_file()]


def load_indexes(paths: Sequence[Path]) -> OriginalityIndex:
    """One index of every reference in ``paths`` (a reference in several is kept once)."""
    if not paths:
        raise FileNotFoundError("no originality index: the model has none and `lofi originality build` was not run")
    return _loaded(tuple((str(p), p.stat().st_mtime_ns, p.stat().st_size) for p in map(Path, paths)))


@functools.lru_cache(maxsize=4)
def _loaded(files: tuple[tuple[str, int, int], ...]) -> OriginalityIndex:
    # a worker checks every job's track: the indexes are read once (0.17 s for the bundled one), and again
    # only when a file changes (its time and size are part of the key: `lofi originality build`, `add`)
    index = OriginalityIndex.load(Path(files[0][0]))
    for path, _, _ in files[1:]:
        index = index.merged(OriginalityIndex.load(Path(path)))
    return index


def build_model_index(corpus_dir: Path, model_dir: Path) -> Path:
    """The index of the lead lines of the corpus's training pieces, saved in the checkpoint folder that was
    trained on them, so every track of that model is checked against what it learned."""
    index = OriginalityIndex.build(corpus_references(corpus_dir, "train"))
    return index.save(Path(model_dir) / MODEL_INDEX, compressed=True)


def load_index(path: Path | None = None) -> OriginalityIndex:
    """The index at ``path`` (default LOFI_HOME/originality/index.npz)."""
    return OriginalityIndex.load(path or default_index_path())


def verdict_for(score: float, thresholds: Thresholds = Thresholds()) -> str:
    """``clear``, ``review`` or ``flagged`` for an alignment score in bits."""
    if score >= thresholds.flag_bits:
        return "flagged"
    return "review" if score >= thresholds.review_bits else "clear"


_REASONS = {
    "clear": "no phrase is close enough to a reference to be a copy",
    "review": "a phrase resembles a reference melody: listen to both before publishing",
    "flagged": "a phrase copies a reference melody",
}


def check_lines(
    lines: list[Line],
    index: OriginalityIndex,
    thresholds: Thresholds = Thresholds(),
    scoring: Scoring = Scoring(),
    backing_lines: Sequence[Line] = (),
) -> Verdict:
    """The verdict for already extracted lines: that of the closest match of any of them with a melody
    reference. The closest match with an accompaniment reference, or of any of ``backing_lines`` (the
    piece's accompaniment, when it has a melody), is reported beside it, as information."""
    usable = [line for line in lines if len(line) >= index.n_gram + 2]
    if not usable:
        return Verdict("clear", 0.0, f"no melody: no line has the {index.n_gram + 2} notes a fingerprint needs")
    best: tuple[Match, Line] | None = None
    backing: Match | None = None
    backed = [(line, False) for line in usable] + [(b, True) for b in backing_lines if len(b) >= index.n_gram + 2]
    for line, accompaniment in backed:
        for found in index.search(line, top=KINDS_SEARCHED, scoring=scoring):
            if found.reference.kind == ACCOMPANIMENT or accompaniment:
                backing = found if backing is None or found.score > backing.score else backing
            elif best is None or found.score > best[0].score:
                best = (found, line)
    if best is None:
        return Verdict("clear", 0.0, "no melody shares a phrase", lines_checked=len(usable), accompaniment=backing)
    match, line = best
    level = verdict_for(match.score, thresholds)
    return Verdict(level, match.score, _REASONS[level], match, line.part, len(usable), backing)


def check(
    score_or_path: Score | Path | str,
    index: OriginalityIndex | Path | None = None,
    thresholds: Thresholds = Thresholds(),
    scoring: Scoring = Scoring(),
) -> Verdict:
    """Check a piece's melody lines (``candidate_lines``) against the index.

    A file that is not MIDI raises ``ValueError`` (a missing one ``FileNotFoundError``); a piece with
    no pitched notes (empty, drums only) or too few to compare is ``clear`` with reason "no melody".
    """
    score = score_or_path if isinstance(score_or_path, Score) else load_score(score_or_path)
    if not isinstance(index, OriginalityIndex):
        index = load_index(index)
    try:
        lines = candidate_lines(score)
    except ValueError:
        return Verdict("clear", 0.0, "no melody: the piece has no pitched notes")
    tune = melody_line(score)
    if tune is None:  # no part is a melody: every line may be one
        return check_lines(lines, index, thresholds, scoring)
    # the melody decides; the top line and the other parts are the accompaniment, checked for information
    return check_lines([tune], index, thresholds, scoring, [line for line in lines if line.part != tune.part])


def memorization(
    pieces: Iterable[Score | Path | str],
    index: OriginalityIndex | Path | None = None,
    thresholds: Thresholds = Thresholds(),
) -> dict:
    """How many of ``pieces`` (a model's tracks) the check flags: counts, the rate (0.0 for none), the
    flagged ones' reference sources and every score, as `lofi eval` writes them to memorization.json."""
    from collections import Counter

    if not isinstance(index, OriginalityIndex):
        index = load_index(index)
    verdicts = [check(piece, index, thresholds) for piece in pieces]
    flagged = [v for v in verdicts if v.flagged]
    matched = [i for i, v in enumerate(verdicts) if v.match is not None]
    worst = max(matched, key=lambda i: verdicts[i].score, default=None)  # the closest any track came
    return {
        "worst": None if worst is None else {"track": worst, **verdicts[worst].to_dict()},
        "tracks": len(verdicts),
        "flagged": len(flagged),
        "review": sum(v.verdict == "review" for v in verdicts),
        "rate": len(flagged) / len(verdicts) if verdicts else 0.0,
        "by_source": dict(Counter(v.match.reference.source for v in flagged if v.match)),
        "scores_bits": [round(v.score, 1) for v in verdicts],
    }


# ---------------------------------------------------------------------------------------------- references


def reference_line(score: Score) -> Line:
    """The line a corpus piece is indexed by: its melody parts', else its lead line (ValueError: no notes)."""
    tune = melody_line(score)
    return tune if tune is not None else lead_line(score)


def checked_line(score: Score, part: str) -> Line | None:
    """The line of a checked piece that a verdict's ``part`` names (its melody, or one of its lines)."""
    tune = melody_line(score)
    if tune is not None and tune.part == part:
        return tune
    return next((line for line in candidate_lines(score) if line.part == part), None)


def corpus_references(
    corpus_dir: Path, split: str = "train", progress: Callable[[int, int], None] | None = None
) -> Iterator[tuple[Reference, Line]]:
    """The melody of every accepted piece of the corpus's ``split`` (its melody parts' line, else its lead
    line); a piece with neither a melody part nor a lead is indexed as accompaniment. Unreadable pieces are
    skipped."""
    from lofi.corpus.manifest import read_manifest

    entries = [e for e in read_manifest(corpus_dir / "manifest.jsonl") if e.accepted and e.split == split]
    if not entries:
        raise FileNotFoundError(f"no {split} pieces in the corpus at {corpus_dir}: run `lofi corpus build`")
    for done, entry in enumerate(entries, 1):
        try:
            score = load_score(corpus_dir / entry.path)
            tune = melody_line(score)
            line = reference_line(score)
        except (ValueError, FileNotFoundError):
            line = None  # the manifest promised a readable piece; a stale entry is no reason to stop
        if line is not None:
            kind = MELODY if tune is not None or entry.has_lead else ACCOMPANIMENT
            yield Reference(entry.path, entry.source, line.part, kind), line
        if progress:
            progress(done, len(entries))


def file_references(directory: Path) -> tuple[list[tuple[Reference, Line]], list[tuple[Path, str]]]:
    """The lead line of every MIDI file under ``directory`` (recursively), and the files skipped, with why."""
    directory = Path(directory)
    if not directory.is_dir():
        raise NotADirectoryError(f"{directory} is not a folder")
    found, skipped = [], []
    for path in sorted(p for p in directory.rglob("*") if p.is_file() and p.suffix.lower() in MIDI_SUFFIXES):
        try:
            line = lead_line(load_score(path))
        except ValueError as exc:
            skipped.append((path, str(exc)))
            continue
        if len(line) < N_GRAM + 2:
            skipped.append((path, f"only {len(line)} melody notes; a fingerprint needs {N_GRAM + 2}"))
            continue
        found.append((Reference(str(path.resolve()), ADDED, line.part), line))
    return found, skipped
