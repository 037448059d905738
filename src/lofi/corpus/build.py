"""Build the corpus: make or check every file, label it, split it, and write the manifest."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

from symusic import Score

from lofi.corpus import mma
from lofi.corpus.manifest import Entry, read_manifest, sha256_of, split_for, write_manifest
from lofi.corpus.melodies import load_melodies
from lofi.corpus.moods import mood_for
from lofi.corpus.pool import run_each
from lofi.corpus.quality import Checked, Rejected, check_file
from lofi.corpus.sources import Plan, add_lead, melody_plans, mma_plans, openmsx_plans
from lofi.files import atomic_write
from lofi.theory import Key, detect_key

MIDI_SUFFIXES = (".mid", ".midi")
DEFAULT_SOURCES = ("mma", "melody", "openmsx")
Progress = Callable[[int, int], None]


@dataclass
class BuildOptions:
    mma_pieces: int = 2600
    melody_pieces: int = 800
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
) -> Entry:
    sha = sha256_of(path)
    return Entry(
        path=str(path.relative_to(corpus_dir)),
        source=plan_source,
        status="accepted",
        sha256=sha,
        split=split_for(sha),
        mood=mood_for(family, key.quality, checked.bpm),
        key=key.token,
        bpm=round(checked.bpm, 2),
        seconds=round(checked.seconds, 2),
        bars=checked.bars,
        notes=checked.notes,
        programs=checked.programs,
        has_lead=plan_source == "melody",
        family=family,
        licence=licence,
        origin=origin,
    )


def make_plan(plan: Plan, corpus_dir: Path, mma_bin: str = "mma") -> Entry:
    """Make (or reuse) the plan's file and check it; raise Rejected with the reason when it fails."""
    path = corpus_dir / "midi" / plan.source / f"{plan.name}.mid"
    if plan.file is not None:  # an existing file: check first, copy only what passes
        checked = check_file(plan.file)
        if not path.exists():
            _write_score(checked.score, path)  # normalized: programs folded, fast tempos halved
        key = detect_key(checked.score).key
    else:
        if not path.exists():
            try:
                mma.render(plan.song, path if not plan.lead else path.with_suffix(".acc.mid"), mma_bin)
            except mma.MMAError as exc:
                raise Rejected(str(exc)) from exc
            if plan.lead:
                accompaniment = path.with_suffix(".acc.mid")
                score = add_lead(Score(str(accompaniment)), plan.lead, plan.lead_program, seed=plan.song.seed)
                _write_score(score, path)
                accompaniment.unlink()
        checked = check_file(path)
        key = plan.key
    return _accepted_entry(path, corpus_dir, checked, key, plan.source, plan.family, plan.licence, plan.origin)


def _rejected(plan_path: str, source: str, reason: str, licence: str | None = None) -> Entry:
    return Entry(path=plan_path, source=source, status="rejected", reason=reason, licence=licence)


def _run_plans(plans: list[Plan], corpus_dir: Path, options: BuildOptions, progress: Progress | None) -> list[Entry]:
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


def default_plans(
    corpus_dir: Path, options: BuildOptions, sources: Iterable[str] = DEFAULT_SOURCES
) -> tuple[list[Plan], list[Entry]]:
    """Every plan of the chosen default sources, and the melodies rejected before any plan was made."""
    plans: list[Plan] = []
    early: list[Entry] = []
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
    progress: Progress | None = None,
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
    progress: Progress | None = None,
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
    )
