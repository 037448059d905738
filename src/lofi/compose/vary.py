"""Write one part of a finished track again (``lofi vary``): new drums, bass, keys or lead, the rest kept.

Every other part stays note for note. The track is read back as the turns of its loops (LOOP_BARS bars
from where the body starts, as lofi.compose.arrange laid them out). Turns that are the same (every part,
every note) get the same new part, so a loop still loops and a phrase that came back comes back; a turn
where the part is silent (a breakdown without drums, a section without a melody) stays silent; the
track's last turn keeps its closing cadence. Each distinct turn is an infill (lofi.model.infill): the model
hears the kept parts of the turn and the two bars before it and writes the part into them, through the
quality gate (lofi.compose.gate.part_problems), best of a few tries.
"""

from __future__ import annotations

import hashlib
import random
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from symusic import Note, Score, Tempo, TimeSignature, Track

import lofi.compose.arrange as arrange
import lofi.compose.gate as gate
from lofi.compose.arrange import BAR, TPQ, Bar, Part, role
from lofi.compose.composer import MELODY_BOOST, Composer, Composition, Outcome, Pass
from lofi.compose.form import LOOP_BARS
from lofi.compose.request import PARTS, VaryRequest
from lofi.instruments import DRUMS, PALETTE, part_rank
from lofi.model.constraints import Grammar
from lofi.model.infill import InfillPlan, drop_parts
from lofi.model.runtime import torch_threads
from lofi.model.sampling import SamplingConfig
from lofi.theory import Key, detect_chords
from lofi.theory.groove import KIT
from lofi.track import TrackFolder, TrackMetadata

TRIES = 4  # best of this many for each distinct turn
CONTEXT_BARS = 2  # bars before a turn that the model hears first


@dataclass(frozen=True)
class _Turn:
    section: str
    bars: tuple[int, ...]  # the track's bar indices, in order


def turns(form: list[dict], total_bars: int) -> list[_Turn]:
    """The track's bars grouped as the turns of its loops, section by section (metadata.json's form)."""
    start_of_body = form[0]["bars"] if form and form[0]["section"] == "intro" else 0
    out: list[_Turn] = []
    bar = 0
    for section in form:
        current: list[int] = []
        for offset in range(section["bars"]):
            within = (bar + offset - start_of_body) % LOOP_BARS
            if within == 0 and current:
                out.append(_Turn(section["section"], tuple(current)))
                current = []
            current.append(bar + offset)
        if current:
            out.append(_Turn(section["section"], tuple(current)))
        bar += section["bars"]
    return [t for t in out if t.bars[-1] < total_bars]


def _score_of(bars: list[Bar], bpm: int) -> Score:
    """Bars as a Score at TPQ, its parts in lofi's canonical order (what the tokenizer expects)."""
    notes: dict[Part, list[Note]] = {}
    for b, bar in enumerate(bars):
        for part, part_notes in bar.items():
            notes.setdefault(part, []).extend(Note(b * BAR + n.time, n.duration, n.pitch, n.velocity)
                                              for n in part_notes)  # fmt: skip
    score = Score(TPQ)
    score.tempos.append(Tempo(0, bpm))
    score.time_signatures.append(TimeSignature(0, 4, 4))
    for (program, is_drum), part_notes in sorted(notes.items(), key=lambda item: part_rank(*item[0])):
        if part_notes:
            track = Track(name=PALETTE.get(program, "part"), program=0 if is_drum else program, is_drum=is_drum)
            track.notes.extend(sorted(part_notes, key=lambda n: (n.time, n.pitch)))
            score.tracks.append(track)
    return score


# the parts whose notes decide whether two turns get the same new part: a new bass follows the chords and
# the bass it replaces, not the drums or the melody over them; a melody follows the band but not its fills
HEARD_WITH = {"drums": ("drums", "bass", "harmony"), "bass": ("bass", "harmony"), "harmony": ("bass", "harmony"),
              "melody": ("bass", "harmony", "melody")}  # fmt: skip


def _notes(bar: Bar, roles: tuple[str, ...]) -> tuple:
    return tuple(sorted((p, n.time, n.duration, n.pitch, n.velocity) for p, ns in bar.items() if role(p) in roles
                        for n in ns))  # fmt: skip


def _turn_key(bars: list[Bar], roles: tuple[str, ...]) -> tuple:
    return tuple(_notes(bar, roles) for bar in bars)


def _fill_of(turn: list[Bar], plain: list[Bar]) -> bool:
    """Whether ``turn`` is ``plain`` with another drum bar last (a fill closing a phrase)."""
    if len(turn) != len(plain) or len(turn) < 2:
        return False
    band = ("bass", "harmony")
    return (_turn_key(turn, band) == _turn_key(plain, band)
            and _turn_key(turn[:-1], ("drums",)) == _turn_key(plain[:-1], ("drums",))
            and _notes(turn[-1], ("drums",)) != _notes(plain[-1], ("drums",)))  # fmt: skip


def _target(bars: list[Bar], written: str) -> Part:
    """The part to write again: the one of that role that plays the most notes (a track may have two chord parts)."""
    counts: dict[Part, int] = {}
    for bar in bars:
        for part, notes in bar.items():
            if role(part) == written and notes:
                counts[part] = counts.get(part, 0) + len(notes)
    if not counts:
        raise ValueError(f"the track has no {written} part to write again")
    return max(counts, key=lambda p: (counts[p], -p[0]))


class Varier:
    """Writes parts of finished tracks again with one model (an engine per call, like the Composer)."""

    def __init__(self, composer: Composer):
        self.composer = composer
        self.tok = composer.tok

    def _ids(self, bars: list[Bar], bpm: int) -> list[int]:
        """REMI ids of ``bars``, exactly one Bar token each (empty bars too)."""
        ids = self.tok.encode_body(_score_of(bars, bpm)) if any(any(b.values()) for b in bars) else []
        ids = drop_parts(self.tok, ids, set()) if ids else []  # whole bars, no tempo tokens
        return ids + [self.tok.bar_id] * (len(bars) - ids.count(self.tok.bar_id))

    def vary(self, folder: Path, score: Score, request: VaryRequest) -> Composition:
        """The track in ``folder`` (its metadata; ``score`` is its track.mid) with ``request.part`` written
        again; the new track's Score and metadata."""
        with torch_threads(self.composer.threads):
            return self._vary(Path(folder), score, request)

    def _vary(self, folder: Path, score: Score, request: VaryRequest) -> Composition:
        started = time.perf_counter()
        source = TrackFolder(folder).metadata
        if not source.form or source.key is None or source.bpm is None:
            raise ValueError(f"{folder} is not a track lofi composed (its metadata.json has no form)")
        written = PARTS[request.part]
        key, bpm, swing = Key.parse(source.key), int(source.bpm), source.swing or 0.5
        mood = (source.request or {}).get("mood", "chill")
        total = source.bars or len(source.chords or [])
        bars = arrange.bars_of(arrange.swing(score, swing, undo=True), count=total)
        target = _target(bars, written)
        all_turns = turns(source.form, total)
        names = sorted({t.section for t in all_turns})
        if request.section is not None and request.section not in names:
            raise ValueError(f"the track has no section {request.section!r}: it has {', '.join(names)}")
        chosen = [
            t for t in all_turns[:-1]  # the last turn closes the track on its cadence: kept
            if (request.section is None or t.section == request.section) and any(bars[b].get(target) for b in t.bars)
        ]  # fmt: skip
        if not chosen:
            raise ValueError(f"the {request.part} plays in no turn of {request.section or 'the track'} that can change")

        seed = request.seed if request.seed is not None else random.randrange(2**32)
        generator = torch.Generator().manual_seed(seed)
        prefix = self.tok.condition_ids(mood, key, bpm)
        programs = {p[0] for bar in bars for p in bar}  # a Part's program is DRUMS for the kit
        grammar = Grammar(self.tok, key, bpm, programs=programs, drums=KIT)
        sampling = SamplingConfig(request.temperature, top_k=0, top_p=1.0)  # the whole distribution, as infills do
        groups: dict[tuple, list[_Turn]] = {}
        for t in chosen:
            groups.setdefault(_turn_key([bars[b] for b in t.bars], HEARD_WITH[written]), []).append(t)
        # a turn that closes its phrase with a fill keeps the new groove in its other bars and gets a new fill
        # (the plain turn is the one heard first: a phrase opens on the groove and closes on the fill)
        fills: dict[tuple, tuple] = {}
        for i, k in enumerate(groups if written == "drums" else ()):
            turn = [bars[b] for b in groups[k][0].bars]
            earlier = (o for o in list(groups)[:i] if o not in fills)
            if plain_key := next((o for o in earlier if _fill_of(turn, [bars[b] for b in groups[o][0].bars])), None):
                fills[k] = plain_key
        plain = [k for k in groups if k not in fills]
        passes = [self._pass(self._name(groups[k][0]), groups[k][0], bars, written, target[0], prefix, grammar,
                             sampling, key, bpm) for k in plain]  # fmt: skip
        outcomes = self.composer.write(passes, sampling, generator)
        new_parts = {k: arrange.bars_of(self.tok.decode(prefix + o.tokens), count=len(groups[k][0].bars))
                     for k, o in zip(plain, outcomes, strict=True)}  # fmt: skip
        if fills:
            fill_passes = [self._fill_pass(self._name(groups[k][0]) + " fill", groups[k][0], new_parts[fills[k]], bars,
                                           prefix, grammar, sampling, bpm) for k in fills]  # fmt: skip
            fill_outcomes = self.composer.write(fill_passes, sampling, generator)
            for k, o in zip(fills, fill_outcomes, strict=True):
                fill = arrange.bars_of(self.tok.decode(prefix + o.tokens), count=1)
                new_parts[k] = new_parts[fills[k]][:-1] + (fill if not o.problems else new_parts[fills[k]][-1:])
            passes, outcomes = passes + fill_passes, outcomes + fill_outcomes

        new_bars: dict[int, Bar] = {}
        for k, ts in groups.items():
            for t in ts:
                turn_end = (t.bars[-1] + 1) * BAR
                for b, bar in zip(t.bars, new_parts[k], strict=True):
                    new_bars[b] = {p: [Note(n.time, min(n.duration, turn_end - b * BAR - n.time), n.pitch, n.velocity)
                                       for n in ns] for p, ns in bar.items() if p == target}  # fmt: skip
        varied = self._assemble(score, target, new_bars, swing)
        problems = {p.name: o.problems for p, o in zip(passes, outcomes, strict=True) if o.problems}
        return self._describe(source, request, seed, varied, key, target, chosen, passes, outcomes, problems, started)

    @staticmethod
    def _name(turn: _Turn) -> str:
        return f"{turn.section} bars {turn.bars[0] + 1}-{turn.bars[-1] + 1}"

    def _fill_pass(self, name: str, turn: _Turn, new_drums: list[Bar], bars: list[Bar], prefix: list[int],
                   grammar: Grammar, sampling: SamplingConfig, bpm: int) -> Pass:  # fmt: skip
        """The drums of a phrase's last bar written again over the new groove's other bars (as the composer's fills)."""
        grooved = [{p: n for p, n in bars[b].items() if role(p) != "drums"} | new
                   for b, new in zip(turn.bars, new_drums, strict=True)]  # fmt: skip
        context = prefix + self._ids(grooved[:-1], bpm)
        given = drop_parts(self.tok, self._ids([bars[turn.bars[-1]]], bpm), {DRUMS})
        plain = grooved[-1]

        def check(tokens: list[int]) -> tuple[list[str], float]:
            score = self.tok.decode(prefix + tokens)
            return gate.fill_problems(score, arrange.bars_of(score, count=1)[0], plain)

        return Pass(name, context, 1, grammar, check, TRIES, InfillPlan(self.tok, given, {DRUMS}, grammar),
                    sampling=sampling)  # fmt: skip

    def _pass(self, name: str, turn: _Turn, bars: list[Bar], written: str, target_program: int, prefix: list[int],
              grammar: Grammar, sampling: SamplingConfig, key: Key, bpm: int) -> Pass:  # fmt: skip
        before = [bars[b] for b in turn.bars]
        kept = [{p: n for p, n in bar.items() if role(p) != written} for bar in before]
        given = drop_parts(self.tok, self._ids(before, bpm), {target_program})
        heard = bars[max(0, turn.bars[0] - CONTEXT_BARS) : turn.bars[0]]
        context = prefix + (self._ids(heard, bpm) if heard else [])
        loop_chords = detect_chords(_score_of(kept, bpm), per="bar")
        count = len(before)

        def check(tokens: list[int]) -> tuple[list[str], float]:
            score = self.tok.decode(prefix + tokens)
            return gate.part_problems(score, arrange.bars_of(score, count=count), written, key, before, loop_chords)

        plan = InfillPlan(
            self.tok, given, {target_program}, grammar, boost=MELODY_BOOST if written == "melody" else 0.0
        )
        return Pass(name, context, count, grammar, check, TRIES, plan, sampling=sampling)

    @staticmethod
    def _assemble(score: Score, target: Part, new_bars: dict[int, Bar], swing: float) -> Score:
        """``score`` with the target part's notes in ``new_bars``' bars replaced by theirs (swung like the rest);
        every other part's notes are the source's own."""
        scale = score.tpq / TPQ
        straight = Score(TPQ)
        fresh = Track(is_drum=target[1], program=0 if target[1] else target[0])
        for b, bar in sorted(new_bars.items()):
            fresh.notes.extend(
                Note(b * BAR + n.time, n.duration, n.pitch, n.velocity) for ns in bar.values() for n in ns
            )
        straight.tracks.append(fresh)
        swung = arrange.swing(straight, swing).tracks[0].notes
        out = score.copy()
        for track in out.tracks:
            if (DRUMS if track.is_drum else track.program, track.is_drum) != target:
                continue
            kept = [n for n in track.notes if int(n.time / scale) // BAR not in new_bars]
            notes = kept + [Note(round(n.time * scale), max(1, round(n.duration * scale)), n.pitch, n.velocity)
                            for n in swung]  # fmt: skip
            track.notes.clear()
            track.notes.extend(sorted(notes, key=lambda n: (n.time, n.pitch)))
        return out

    def _describe(self, source: TrackMetadata, request: VaryRequest, seed: int, score: Score, key: Key,
                  target: Part, chosen: list[_Turn], passes: list[Pass], outcomes: list[Outcome],
                  problems: dict[str, list[str]], started: float) -> Composition:  # fmt: skip
        base = source.track_id or "track"
        track_id = f"{base}-{request.part}{'-' + request.section if request.section else ''}-{seed}"
        track_id = track_id.replace("'", "p")  # a section like A' names a folder too
        blob = f"{source.fingerprint}|{request.part}|{request.section}|{seed}|{self.composer.checkpoint.model_id}"
        metadata = {
            k: v for k, v in source.to_dict().items()
            if k in ("request", "key", "bpm", "bars", "form", "swing", "mood", "created_at")
        }  # fmt: skip
        metadata |= {
            "track_id": track_id,
            "seed": seed,
            "model_id": self.composer.checkpoint.model_id,
            "duration_s": round(float(score.to("second").end()), 3),
            "chords": [c.spelled(key.prefers_flats) if c else None for c in detect_chords(score, per="bar")],
            "instruments": sorted({("drums" if t.is_drum else t.name) for t in score.tracks}),
            "programs": sorted({DRUMS if t.is_drum else t.program for t in score.tracks}),
            "varied_from": {
                "track_id": source.track_id,
                "part": request.part,
                "section": request.section,
                "program": target[0],
                "bars": [b + 1 for t in chosen for b in t.bars],
            },
            "generated_tokens": sum(len(o.tokens) for o in outcomes),
            "tries": {p.name: o.tries for p, o in zip(passes, outcomes, strict=True)},
            "quality_gate": {p.name: o.rejected for p, o in zip(passes, outcomes, strict=True)},
            "review": [f"{name}: {'; '.join(found)}" for name, found in problems.items()],
            "left_out": [],
            "fingerprint": hashlib.sha256(blob.encode()).hexdigest(),
            "engine": self.composer.engine_name,
            "timings_s": {"compose": round(time.perf_counter() - started, 3)},
        }
        metadata.pop("created_at", None)
        return Composition(score, track_id, seed, metadata)
