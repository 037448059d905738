"""Build the corpus: make or check every file, label it, split it, and write the manifest."""

from __future__ import annotations

import tempfile
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

from symusic import Score

from lofi.corpus import loops, mma
from lofi.corpus.manifest import Entry, read_manifest, sha256_of, split_for, write_manifest
from lofi.corpus.melodies import load_melodies
from lofi.corpus.moods import mood_for
from lofi.corpus.pool import run_each
from lofi.corpus.quality import Checked, Rejected, check_file
from lofi.corpus.sources import Plan, add_lead, loops_plans, melody_plans, mma_plans, openmsx_plans
from lofi.files import atomic_write
from lofi.instruments import MELODY_PROGRAMS
from lofi.progress import Count
from lofi.theory import Key, detect_key, realize_numeral
from lofi.theory.groove import HAND_PERCUSSION

MIDI_SUFFIXES = (".mid", ".midi")
DEFAULT_SOURCES = ("loops", "mma-lofi", "mma", "melody", "openmsx")


@dataclass
class BuildOptions:
    # the lo-fi family (loops, mma-lofi) is most of the corpus; MMA's jazz combos and the folk tunes stay
    loops_pieces: int = 2000
    mma_lofi_pieces: int = 400
    mma_pieces: int = 700
    melody_pieces: int = 300
    melody_tunes: int | None = None  # parse only this many tunes (None: every tune, cached)
    openmsx_dir: Path | None = Path("/usr/share/games/openttd/baseset/openmsx")
    workers: int = 2
    timeout_s: float = 20.0
    seed: int = 0
    mma_bin: str = "mma"


@dataclass
class BuildReport:
    entries: list[Entry]
    rejected_reasons: Counter = field(default_factory=Counter)

    @property
    def accepted(self) -> list[Entry]:
        return [e for e in self.entries if e.accepted]


def manifest_path(corpus_dir: Path) -> Path:
    return corpus_dir / "manifest.jsonl"


def _write_score(score: Score, path: Path) -> None:
    atomic_write(path, lambda tmp: score.dump_midi(str(tmp)))


def _accepted_entry(
    path: Path,
    corpus_dir: Path,
    checked: Checked,
    key: Key,
    plan_source: str,
    family: str,
    licence: str,
    origin: str,
    mood: str | None = None,
) -> Entry:
    sha = sha256_of(path)
    return Entry(
        path=str(path.relative_to(corpus_dir)),
        source=plan_source,
        status="accepted",
        sha256=sha,
        split=split_for(sha),
        mood=mood or mood_for(family, key.quality, checked.bpm),
        key=key.token,
        bpm=round(checked.bpm, 2),
        seconds=round(checked.seconds, 2),
        bars=checked.bars,
        notes=checked.notes,
        programs=checked.programs,
        has_lead=plan_source == "melody" or any(p in MELODY_PROGRAMS for p in checked.programs),
        family=family,
        licence=licence,
        origin=origin,
    )


def _without_hand_percussion(score: Score) -> Score:
    """The score without its congas, shakers, claves...: no mood asks for hand percussion (lofi.theory.groove)."""
    out = score.copy()
    for track in out.tracks:
        if track.is_drum:
            track.notes = track.notes.filter(lambda n: n.pitch not in HAND_PERCUSSION, inplace=False)
    return out


def _drum_groove(groove: str, seed: int, mma_bin: str, folder: Path) -> Score:
    """Two bars of an MMA drum-machine groove (the chord does not matter: the groove is drums only)."""
    song = mma.Song(80, seed, (mma.Part(groove, ((realize_numeral("Imaj7", Key(0)),),) * 2),))
    with tempfile.TemporaryDirectory(dir=folder) as tmp:
        return Score(str(mma.render(song, Path(tmp) / "drums.mid", mma_bin)))


def _make(plan: Plan, path: Path, mma_bin: str) -> None:
    """Write the plan's MIDI file: one of lofi's own pieces, or an MMA song (with a lead laid over it)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        if plan.piece is not None:
            drums = _drum_groove(plan.piece.drum_groove, plan.piece.seed, mma_bin, path.parent) if (
                plan.piece.drum_groove) else None  # fmt: skip
            _write_score(loops.render(plan.piece, drums), path)
            return
        with tempfile.TemporaryDirectory(dir=path.parent) as tmp:
            score = Score(str(mma.render(plan.song, Path(tmp) / "song.mid", mma_bin)))
    except mma.MMAError as exc:
        raise Rejected(str(exc)) from exc
    if plan.lead:
        score = add_lead(score, plan.lead, plan.lead_program, seed=plan.song.seed)
    _write_score(_without_hand_percussion(score), path)


def make_plan(plan: Plan, corpus_dir: Path, mma_bin: str = "mma") -> Entry:
    """Make (or reuse) the plan's file and check it; raise Rejected with the reason when it fails."""
    path = corpus_dir / "midi" / plan.source / f"{plan.name}.mid"
    if plan.file is not None:  # an existing file: check first, copy only what passes
        checked = check_file(plan.file)
        if not path.exists():  # normalized: programs folded, fast tempos halved, no hand percussion
            _write_score(_without_hand_percussion(checked.score), path)
            checked = check_file(path)
        key = detect_key(checked.score).key
    else:
        if not path.exists():
            _make(plan, path, mma_bin)
        checked = check_file(path)
        key = plan.key
    return _accepted_entry(
        path, corpus_dir, checked, key, plan.source, plan.family, plan.licence, plan.origin, plan.mood
    )


def _rejected(plan_path: str, source: str, reason: str, licence: str | None = None) -> Entry:
    return Entry(path=plan_path, source=source, status="rejected", reason=reason, licence=licence)


def _run_plans(plans: list[Plan], corpus_dir: Path, options: BuildOptions, progress: Count | None) -> list[Entry]:
    entries = []
    work = partial(make_plan, corpus_dir=corpus_dir, mma_bin=options.mma_bin)
    for done, (plan, result) in enumerate(run_each(work, plans, options.workers, options.timeout_s), 1):
        if isinstance(result, Entry):
            entries.append(result)
        else:
            reason = str(result) if isinstance(result, Rejected | TimeoutError) else f"error: {result!r}"
            entries.append(_rejected(plan.origin, plan.source, reason, plan.licence))
        if progress:
            progress(done, len(plans))
    return sorted(entries, key=lambda e: (e.source, e.path))


def lofi_grooves(mma_bin: str = "mma") -> dict[str, tuple[str, ...]]:
    """MMA's hip-hop, R&B and trip-hop bands that pass mma.vet (their hand percussion is left out)."""
    verdicts = mma.vet(tuple(g for family in mma.LOFI_GROOVES.values() for g in family), mma_bin, band=True)
    return {f: tuple(g for g in grooves if verdicts[g] is None) for f, grooves in mma.LOFI_GROOVES.items()}


def default_plans(
    corpus_dir: Path, options: BuildOptions, sources: Iterable[str] = DEFAULT_SOURCES
) -> tuple[list[Plan], list[Entry]]:
    """Every plan of the chosen default sources, and the melodies rejected before any plan was made."""
    plans: list[Plan] = []
    early: list[Entry] = []
    if "loops" in sources:
        kept = mma.vet(mma.DRUM_GROOVES, options.mma_bin)
        plans += loops_plans(options.loops_pieces, options.seed, tuple(g for g, why in kept.items() if why is None))
    if "mma-lofi" in sources:
        plans += mma_plans(options.mma_lofi_pieces, options.seed, lofi_grooves(options.mma_bin), source="mma-lofi")
    if "mma" in sources:
        plans += mma_plans(options.mma_pieces, options.seed)
    if "melody" in sources and options.melody_pieces > 0:
        # a partial parse must not be cached as if it were the whole collection
        cache = corpus_dir / "melodies.jsonl" if options.melody_tunes is None else None
        melodies, rejected = load_melodies(
            cache, limit=options.melody_tunes, workers=options.workers, timeout_s=options.timeout_s
        )
        early += [_rejected(r.source, "melody", r.reason) for r in rejected]
        plans += melody_plans(melodies, options.melody_pieces, options.seed)
    if "openmsx" in sources and options.openmsx_dir is not None:
        if not options.openmsx_dir.is_dir():
            raise FileNotFoundError(
                f"{options.openmsx_dir} is missing: run `make setup` to install the Debian package openttd-openmsx"
            )
        plans += openmsx_plans(options.openmsx_dir)
    return plans, early


def build(
    corpus_dir: Path,
    options: BuildOptions | None = None,
    sources: Iterable[str] = DEFAULT_SOURCES,
    progress: Count | None = None,
) -> BuildReport:
    """(Re)build the default sources; users' files already in the manifest are kept."""
    options = options or BuildOptions()
    sources = tuple(sources)
    plans, early = default_plans(corpus_dir, options, sources)
    entries = early + _run_plans(plans, corpus_dir, options, progress)
    kept = [e for e in read_manifest(manifest_path(corpus_dir)) if e.source not in sources]
    write_manifest(manifest_path(corpus_dir), kept + entries)
    return BuildReport(kept + entries, Counter(e.reason for e in entries if not e.accepted))


def check_user_file(path: Path, corpus_dir: Path) -> Entry:
    if path.suffix.lower() not in MIDI_SUFFIXES:
        raise Rejected(f"not a MIDI file (extension {path.suffix or 'none'})")
    checked = check_file(path)
    sha = sha256_of(path)
    target = corpus_dir / "midi" / "user" / f"{sha[:12]}_{path.stem}.mid"
    _write_score(checked.score, target)
    return _accepted_entry(
        target, corpus_dir, checked, detect_key(checked.score).key, "user", "other", "the user's own file", str(path)
    )


def add_user_dir(
    corpus_dir: Path,
    directory: Path,
    workers: int = 2,
    timeout_s: float = 20.0,
    progress: Count | None = None,
) -> BuildReport:
    """Add every file under ``directory`` (recursively); rejected files are listed with their reason."""
    if not directory.is_dir():
        raise NotADirectoryError(f"{directory} is not a folder")
    files = sorted(p for p in directory.rglob("*") if p.is_file())
    existing = read_manifest(manifest_path(corpus_dir))
    known = {e.sha256 for e in existing if e.accepted}
    new: list[Entry] = []
    work = partial(check_user_file, corpus_dir=corpus_dir)
    for done, (path, result) in enumerate(run_each(work, files, workers, timeout_s), 1):
        if isinstance(result, Entry) and result.sha256 in known:
            # same content, same sha-named file: nothing new was written
            new.append(_rejected(str(path), "user", "already in the corpus"))
        elif isinstance(result, Entry):
            known.add(result.sha256)
            new.append(result)
        else:
            reason = str(result) if isinstance(result, Rejected | TimeoutError) else f"error: {result!r}"
            new.append(_rejected(str(path), "user", reason))
        if progress:
            progress(done, len(files))
    new.sort(key=lambda e: e.path)
    write_manifest(manifest_path(corpus_dir), existing + new)
    return BuildReport(new, Counter(e.reason for e in new if not e.accepted))


@dataclass
class Stats:
    accepted: int
    rejected: int
    by_source: dict[str, int]
    by_mood: dict[str, int]
    by_split: dict[str, int]
    by_quality: dict[str, int]
    with_lead: int
    hours: float
    reasons: dict[str, int]
    licences: dict[str, list[str]]  # by source: the licences its accepted pieces carry


def stats(corpus_dir: Path) -> Stats:
    entries = read_manifest(manifest_path(corpus_dir))
    ok = [e for e in entries if e.accepted]
    bad = [e for e in entries if not e.accepted]
    return Stats(
        accepted=len(ok),
        rejected=len(bad),
        by_source=dict(Counter(e.source for e in ok)),
        by_mood=dict(Counter(e.mood for e in ok)),
        by_split=dict(Counter(e.split for e in ok)),
        by_quality=dict(Counter((e.key or "_").rsplit("_", 1)[-1] for e in ok)),
        with_lead=sum(e.has_lead for e in ok),
        hours=sum(e.seconds or 0 for e in ok) / 3600,
        reasons=dict(Counter(e.reason for e in bad).most_common()),
        licences={
            s: sorted({e.licence for e in ok if e.source == s and e.licence}) for s in sorted({e.source for e in ok})
        },
    )
