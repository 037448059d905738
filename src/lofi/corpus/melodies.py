"""Lead melodies from music21's bundled public-domain tune books.

Ryan's Mammoth Collection (1883) and O'Neill's Music of Ireland (1903, 1850 tunes) ship with music21
as ABC text. This module turns them into plain-data melodies: onsets and durations in quarter-note
beats from the downbeat of bar 1, MIDI pitches, one note at a time. Everything else (tempo, harmony,
groove) is the corpus builder's business.
"""

from __future__ import annotations

import dataclasses
import importlib.metadata
import importlib.util
import itertools
import json
import math
import multiprocessing
import re
import signal
import threading
from collections.abc import Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lofi.files import atomic_write

if TYPE_CHECKING:
    from music21 import bar as m21bar
    from music21 import stream

COLLECTIONS = ("ryansMammoth", "oneills1850")
# bump when a change here changes what parse_tune returns, so old caches are rebuilt
PARSER_VERSION = 1
MIN_NOTES = 16
MIN_BARS = 8
MAX_FAULTY_BARS = 1

_LICENCE = {
    "ryansMammoth": "public domain (published 1883); no restriction in the transcription header",
    "oneills1850": "public domain (published 1903); no restriction in the transcription header",
}
# quarter-note beats per bar; cut time is counted in quarters so every melody shares one beat unit
_BINARY_METERS = {"2/4": 2, "4/4": 4, "C": 4, "C|": 4, "2/2": 4}
_PITCH_CLASS = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}
# ABC reads only the first three letters of a mode, case-insensitively; a bare "m" is minor
_MODES = {
    "": "major",
    "maj": "major",
    "ion": "major",
    "m": "natural_minor",
    "min": "natural_minor",
    "aeo": "natural_minor",
    "dor": "dorian",
    "phr": "phrygian",
    "lyd": "lydian",
    "mix": "mixolydian",
    "loc": "locrian",
}
_KEY_RE = re.compile(r"([A-G])([#b]?)\s*([A-Za-z]*)")
_FIELD_RE = re.compile(r"^([A-Za-z]):\s*(.*?)\s*$")
_RESTRICTIONS = (
    ("copyright", re.compile(r"copyright|©|\(c\)\s*\d{4}", re.IGNORECASE)),
    ("rights reserved", re.compile(r"all\s+rights\s+reserved", re.IGNORECASE)),
    ("non-commercial", re.compile(r"non[-\s]?commercial", re.IGNORECASE)),
    (
        "no-redistribution",
        re.compile(r"(?:not\s+(?:for|to\s+be)|do\s+not)\s+(?:re)?distribut|redistribution\s+prohibited", re.I),
    ),
    ("licence", re.compile(r"licen[cs]e|creative\s+commons|\bcc[-\s]?by", re.IGNORECASE)),
    ("permission", re.compile(r"(?:by|with)\s+(?:kind\s+)?permission", re.IGNORECASE)),
)
_QUOTED_RE = re.compile(r'"[^"\n]*"')
_BODY_METER_RE = re.compile(r"^M:(.*)$|\[M:([^\]]*)\]", re.MULTILINE)
_EPS = 1e-6


@dataclass(frozen=True)
class Melody:
    title: str
    collection: str
    source: str  # "<file name>#X<number>"
    tonic: int  # pitch class from K:
    mode: str  # "major", "natural_minor", "dorian", ...
    beats_per_bar: int  # quarter-note beats
    pickup_beats: float
    notes: tuple[tuple[float, float, int], ...]  # (onset_beats, duration_beats, midi_pitch), bar 1 at 0
    licence: str


@dataclass(frozen=True)
class Rejected:
    source: str
    reason: str


class _TuneTimeout(BaseException):
    """Raised by the alarm; a BaseException so parse_tune's catch-all cannot swallow it."""


def corpus_dir(collection: str) -> Path:
    """Folder of one music21 tune book, found without importing music21 (which takes half a second)."""
    spec = importlib.util.find_spec("music21")
    if spec is None or spec.origin is None:
        raise ImportError("music21 is needed to read the tune books: pip install 'lofi[corpus]'")
    return Path(spec.origin).parent / "corpus" / collection


def iter_tune_texts(collections: Iterable[str] = COLLECTIONS) -> Iterator[tuple[str, str, str]]:
    """Yield (collection, source, abc_text) for every tune, one tune per text."""
    for collection in collections:
        folder = corpus_dir(collection)
        if not folder.is_dir():
            raise FileNotFoundError(f"no tune book {collection!r} in music21's corpus ({folder})")
        for path in sorted(folder.glob("*.abc")):
            yield from _split_tunes(collection, path.name, path.read_text(encoding="utf-8", errors="replace"))


def _split_tunes(collection: str, file_name: str, text: str) -> Iterator[tuple[str, str, str]]:
    # the file header (text before the first X:) applies to every tune in the file
    chunks = re.split(r"^(?=X:)", text, flags=re.MULTILINE)
    header = chunks[0].strip()
    for chunk in chunks[1:]:
        number = chunk[2 : chunk.index("\n")].strip() if "\n" in chunk else chunk[2:].strip()
        tune = chunk.strip() + "\n"
        yield collection, f"{file_name}#X{number}", f"{header}\n\n{tune}" if header else tune


def check_licence(abc_text: str) -> str | None:
    """Return why a tune's header or comments restrict its use, or None when they do not."""
    for line in abc_text.splitlines():
        stripped = line.strip()
        # only information fields and comments carry notices; note lines cannot spell them
        if not (stripped.startswith("%") or _FIELD_RE.match(stripped)):
            continue
        for kind, pattern in _RESTRICTIONS:
            if pattern.search(stripped):
                return f"{kind} notice in header: {stripped[:80]}"
    return None


def _header_fields(abc_text: str) -> dict[str, str]:
    """First value of each field in the tune header (X: to K:), over the file header's defaults."""
    file_fields: dict[str, str] = {}
    tune_fields: dict[str, str] | None = None
    for line in abc_text.splitlines():
        match = _FIELD_RE.match(line.split("%", 1)[0])
        if match is None:
            continue
        if match[1] == "X":
            tune_fields = {}
        (file_fields if tune_fields is None else tune_fields).setdefault(match[1], match[2])
        if match[1] == "K" and tune_fields is not None:
            break
    return file_fields | (tune_fields or {})


def parse_key(field: str) -> tuple[int, str] | None:
    """(tonic pitch class, mode) from a K: field such as "Gm", "Ador", "D mix", or None."""
    match = _KEY_RE.match(field.strip())
    if match is None:
        return None
    letter, accidental, word = match.groups()
    mode = _MODES.get(word.lower()[:3])
    if mode is None:
        return None
    tonic = (_PITCH_CLASS[letter] + {"#": 1, "b": -1, "": 0}[accidental]) % 12
    return tonic, mode


def parse_tune(collection: str, source: str, abc_text: str) -> Melody | Rejected:
    """One tune's ABC text to a Melody, or the reason it cannot be one. Never raises."""
    try:
        return _parse_tune(collection, source, abc_text)
    except Exception as exc:
        return Rejected(source, f"parse error: {type(exc).__name__}: {exc}"[:200])


def _parse_tune(collection: str, source: str, abc_text: str) -> Melody | Rejected:
    restriction = check_licence(abc_text)
    if restriction is not None:
        return Rejected(source, restriction)
    fields = _header_fields(abc_text)
    meter = fields.get("M", "").replace(" ", "")
    if meter not in _BINARY_METERS:
        return Rejected(source, f"meter {meter or 'missing'} is not binary")
    beats_per_bar = _BINARY_METERS[meter]
    for change in _body_meters(abc_text):
        if _BINARY_METERS.get(change.replace(" ", "")) != beats_per_bar:
            return Rejected(source, f"meter changes to {change}")
    key = parse_key(fields.get("K", ""))
    if key is None:
        return Rejected(source, f"unrecognised key K:{fields.get('K', '')}")

    from music21 import converter

    # music21 reads undeclared ABC as version 1.3, where an accidental holds for one note only;
    # the printed books (and abc 2.1) let it hold to the end of the bar
    part = converter.parse("%abc-2.1\n" + _clean_body(abc_text), format="abc").parts[0]
    bars = _bars(part, beats_per_bar)
    if not bars:
        return Rejected(source, "no bar lines")
    overlong = next((i for i, bar in enumerate(bars) if bar.length > beats_per_bar + _EPS), None)
    if overlong is not None:
        return Rejected(source, f"bar {overlong + 1} lasts {bars[overlong].length:g} beats in {meter}")
    events, faulty = _place(bars, _play_order(part), beats_per_bar)
    # one mistyped bar is cut at its bar line; more means the transcription's rhythm is unreliable
    if len(faulty) > MAX_FAULTY_BARS:
        return Rejected(source, f"bar lengths do not add up (bars {', '.join(str(i + 1) for i in sorted(faulty))})")
    notes = _merge_ties(events)
    if len(notes) < MIN_NOTES:
        return Rejected(source, f"too short ({len(notes)} notes)")
    bar_count = math.ceil((notes[-1][0] + notes[-1][1]) / beats_per_bar - _EPS)
    if bar_count < MIN_BARS:
        return Rejected(source, f"under {MIN_BARS} bars ({bar_count})")
    return Melody(
        title=fields.get("T", "") or "untitled",
        collection=collection,
        source=source,
        tonic=key[0],
        mode=key[1],
        beats_per_bar=beats_per_bar,
        pickup_beats=max(0.0, -notes[0][0]),
        notes=tuple(notes),
        licence=_LICENCE.get(collection, "no restriction in the transcription header; publication date unknown"),
    )


def _clean_body(abc_text: str) -> str:
    """Drop what music21 mistakes for music in the note lines.

    Quoted chord symbols and annotations carry nothing a melody keeps, and music21 silently drops
    a note annotated ">" (an accent); the "H" (fermata) decoration makes it lose the next note.
    """
    lines = abc_text.split("\n")
    body_start = next((i + 1 for i, line in enumerate(lines) if line.startswith("K:")), len(lines))
    for i in range(body_start, len(lines)):
        if not (lines[i].startswith("%") or _FIELD_RE.match(lines[i])):
            lines[i] = _QUOTED_RE.sub("", lines[i]).replace("H", "")
    return "\n".join(lines)


def _body_meters(abc_text: str) -> list[str]:
    """Meters set after the header, as M: lines or inline [M:...] fields."""
    body = abc_text.split("\nK:", 1)[-1].split("\n", 1)[-1]
    return [(line or inline).strip() for line, inline in _BODY_METER_RE.findall(body)]


@dataclass
class _Bar:
    """One written measure as plain data."""

    length: float  # beats of written content; short for pickups and section ends
    notes: list[tuple[float, float, int, bool]]  # (offset in bar, duration, top pitch, tied to the next)
    overflow: bool  # the tail music21 split off an overfull bar
    opens_section: bool  # starts with a double or repeat bar line
    closes_section: bool  # ends with a double, final or repeat bar line


def _bars(part: stream.Part, beats_per_bar: int) -> list[_Bar]:
    from music21 import harmony, stream

    bars = []
    for measure in part.getElementsByClass(stream.Measure):
        notes = []
        for element in measure.notes:
            if isinstance(element, harmony.Harmony) or element.duration.isGrace:
                continue
            tied = element.tie is not None and element.tie.type in ("start", "continue")
            notes.append(
                (
                    float(element.offset),
                    float(element.duration.quarterLength),
                    max(p.midi for p in element.pitches),
                    tied,
                )
            )
        ts = measure.timeSignature
        bars.append(
            _Bar(
                length=float(measure.duration.quarterLength),
                notes=notes,
                # music21 splits an overfull bar and gives the tail a made-up meter such as 1/32
                overflow=ts is not None and abs(ts.barDuration.quarterLength - beats_per_bar) > _EPS,
                opens_section=_is_section_line(measure.leftBarline),
                closes_section=_is_section_line(measure.rightBarline),
            )
        )
    return bars


def _is_section_line(barline: m21bar.Barline | None) -> bool:
    return barline is not None and barline.type != "regular"


def _play_order(part: stream.Part) -> list[int]:
    """Indices of the written measures in playing order, repeats and endings expanded.

    music21 expands a skeleton (one rest per measure, same bar lines and endings) instead of the
    tune itself: expanding the real stream deep-copies every note and doubles the parse time.
    """
    import copy

    from music21 import note, spanner, stream

    measures = list(part.getElementsByClass(stream.Measure))
    skeleton = stream.Part()
    by_id = {}
    for index, measure in enumerate(measures):
        bar = stream.Measure(number=index)
        bar.leftBarline = copy.deepcopy(measure.leftBarline)
        bar.rightBarline = copy.deepcopy(measure.rightBarline)
        bar.append(note.Rest(quarterLength=1))
        skeleton.append(bar)
        by_id[id(measure)] = bar
    for bracket in part.getElementsByClass(spanner.RepeatBracket):
        spanned = [by_id[id(m)] for m in bracket.getSpannedElements() if id(m) in by_id]
        skeleton.insert(0, spanner.RepeatBracket(spanned, number=bracket.number))
    try:
        return [bar.number for bar in skeleton.expandRepeats().getElementsByClass(stream.Measure)]
    except Exception:
        return list(range(len(measures)))  # malformed repeat marks: play as written


def _place(
    bars: list[_Bar], order: list[int], beats_per_bar: int
) -> tuple[list[tuple[float, float, int, bool]], set[int]]:
    """Lay the played bars on a grid of bar lines; return the notes and the written bars that lost notes.

    Written bar lines are the truth: a full bar starts on a bar line, a short bar before a full
    one is a pickup that ends on the next bar line, any other short bar follows straight on. A
    later bar wins where two overlap. A pickup after a section's full closing bar (a repeated
    anacrusis, or one printed after a complete last bar) replaces that bar's end, as players do;
    anywhere else an overlap means the bar lengths are wrong, and the bar that drops notes is faulty.
    """
    events: list[tuple[float, float, int, bool]] = []
    faulty: set[int] = set()
    cursor = 0.0  # where the last bar ended, in beats from the downbeat of bar 1
    after_section = False

    def next_line(t: float) -> float:
        return math.ceil(t / beats_per_bar - _EPS) * beats_per_bar

    for position, index in enumerate(order):
        bar = bars[index]
        if bar.overflow:
            # the tail of an overfull bar is dropped; only a tied-over end of its last note is harmless
            carried = bool(
                events and bar.notes and events[-1][3] and bar.notes[0][0] < _EPS and bar.notes[0][2] == events[-1][2]
            )
            if carried:
                events[-1] = (*events[-1][:3], False)
            if len(bar.notes) > carried:
                faulty.add(index)
            continue
        following = bars[order[position + 1]] if position + 1 < len(order) else None
        is_pickup = False
        if bar.length >= beats_per_bar - _EPS:
            start = next_line(cursor)
        elif following is not None and following.length >= beats_per_bar - _EPS and not bar.closes_section:
            start = next_line(cursor) - bar.length
            is_pickup = True
        else:
            start = cursor
        while events and events[-1][0] > start - _EPS:
            events.pop()
            if not (is_pickup and (after_section or bar.opens_section)):
                faulty.add(index)
        if events and events[-1][0] + events[-1][1] > start + _EPS:
            onset, _, pitch, _ = events[-1]
            events[-1] = (onset, start - onset, pitch, False)
        events.extend((start + offset, duration, pitch, tied) for offset, duration, pitch, tied in bar.notes)
        cursor = start + bar.length
        after_section = bar.closes_section
    return events, faulty


def _merge_ties(events: list[tuple[float, float, int, bool]]) -> list[tuple[float, float, int]]:
    """Join tied notes of one pitch (ABC transcribers also write "-" as a slur between different pitches)."""
    notes: list[tuple[float, float, int]] = []
    tie_open = False
    for onset, duration, pitch, tied in events:
        if notes and tie_open:
            last_onset, last_duration, last_pitch = notes[-1]
            if pitch == last_pitch and abs(last_onset + last_duration - onset) < _EPS:
                notes[-1] = (last_onset, last_duration + duration, pitch)
                tie_open = tied
                continue
        notes.append((onset, duration, pitch))
        tie_open = tied
    return notes


def _import_music21() -> None:
    # before the first timed parse: a slow import must not time a tune out, and an import cut
    # short by the alarm would leave a half-initialised music21 behind for every later tune
    import music21  # noqa: F401


def _parse_with_timeout(task: tuple[str, str, str, float]) -> Melody | Rejected:
    collection, source, abc_text, timeout_s = task
    # SIGALRM interrupts a runaway parse; it exists only on Unix and only in a main thread
    if not hasattr(signal, "setitimer") or threading.current_thread() is not threading.main_thread():
        return parse_tune(collection, source, abc_text)

    def on_alarm(signum: int, frame: Any) -> None:
        raise _TuneTimeout

    previous = signal.signal(signal.SIGALRM, on_alarm)
    try:
        signal.setitimer(signal.ITIMER_REAL, timeout_s)
        return parse_tune(collection, source, abc_text)
    except _TuneTimeout:
        return Rejected(source, "timed out")
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _cache_header(collections: tuple[str, ...], limit: int | None) -> dict[str, Any]:
    return {
        "format": "lofi-melodies",
        "parser_version": PARSER_VERSION,
        "music21": importlib.metadata.version("music21"),
        "collections": list(collections),
        "limit": limit,
    }


def _read_cache(path: Path, header: dict[str, Any]) -> tuple[list[Melody], list[Rejected]] | None:
    """The cached result, or None when it is missing, corrupt or from another parser or music21."""
    melodies: list[Melody] = []
    rejected: list[Rejected] = []
    try:
        with path.open(encoding="utf-8") as lines:
            if json.loads(next(lines)) != header:
                return None
            for line in lines:
                record = json.loads(line)
                if "melody" in record:
                    fields = record["melody"]
                    notes = tuple((float(o), float(d), int(p)) for o, d, p in fields.pop("notes"))
                    melodies.append(Melody(**fields, notes=notes))
                else:
                    rejected.append(Rejected(**record["rejected"]))
    except (OSError, StopIteration, ValueError, TypeError, KeyError, AttributeError):
        return None
    return melodies, rejected


def _write_cache(path: Path, header: dict[str, Any], results: list[Melody | Rejected]) -> None:
    lines = [json.dumps(header)]
    for result in results:
        kind = "melody" if isinstance(result, Melody) else "rejected"
        lines.append(json.dumps({kind: dataclasses.asdict(result)}))
    text = "\n".join(lines) + "\n"
    atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def load_melodies(
    cache_path: Path | None = None,
    collections: Iterable[str] = COLLECTIONS,
    limit: int | None = None,
    workers: int = 1,
    timeout_s: float = 20.0,
) -> tuple[list[Melody], list[Rejected]]:
    """Every usable melody and every rejection, in corpus order; read from cache_path when it is current."""
    collections = tuple(collections)
    header = _cache_header(collections, limit)
    if cache_path is not None:
        cached = _read_cache(cache_path, header)
        if cached is not None:
            return cached
    tasks = [(*tune, timeout_s) for tune in itertools.islice(iter_tune_texts(collections), limit)]
    if workers > 1:
        # spawn, not fork: the caller may hold threads (torch) that a forked child would inherit locked;
        # an executor, not a Pool: a worker that dies raises BrokenProcessPool instead of hanging the build
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(workers, mp_context=context, initializer=_import_music21) as pool:
            results = list(pool.map(_parse_with_timeout, tasks, chunksize=4))
    else:
        _import_music21()
        results = [_parse_with_timeout(task) for task in tasks]
    if cache_path is not None:
        _write_cache(cache_path, header, results)
    return (
        [r for r in results if isinstance(r, Melody)],
        [r for r in results if isinstance(r, Rejected)],
    )
