"""Accompaniment from MMA: its human-written grooves played over our chord progressions."""

from __future__ import annotations

import re
import subprocess
import tempfile
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from lofi.theory import Chord

MMA_ROOT = Path("/usr/share/mma/lib")
MMA_LIB = MMA_ROOT / "stdlib"

# base grooves by family; each base may have Sus (pads), Plus (melodic fills), Walk, Intro and End variants.
# Grooves with a Plectrum track (EasySwing, JazzGuitar, DSoul) are left out: their strings re-strike
# without note-offs, which MIDI readers pair into notes held for the whole piece.
GROOVES: dict[str, tuple[str, ...]] = {
    "jazz": (
        "Swing",
        "SlowJazz",
        "JazzCombo",
        "MellowJazz",
        "NiteJazz",
        "Evansish",
        "ModernJazz",
        "DescendingJazz",
        "FolkyJazzPiano",
        "FolkyJazzGuitar",
    ),
    "ballad": ("Ballad", "PianoBallad", "GuitarBallad", "PopBallad", "Ballad128"),
    "lullaby": ("Lullaby",),
    "bossa": ("BossaNova", "JazzRhumba", "SlowBolero"),
    "soul": ("R&B-Ballad", "R&B", "Strut", "LFusion"),
}


# MMA's hip-hop, R&B and trip-hop material beside stdlib (casio and alexis libraries): whole bands, kept
# only where vet() finds a real kit with a backbeat in every bar
LOFI_GROOVES: dict[str, tuple[str, ...]] = {
    "hiphop": ("Hip-Hop", "HipHop"),
    "rnb": ("MellowRB", "ModernR&B", "Soul"),
    "triphop": ("TripHop", "Slow16Beat"),
}
# the zoom library's drum-machine patterns (drums only): lofi's own pieces play the vetted ones
DRUM_GROOVES: tuple[str, ...] = (
    *(f"HIP{i:02d}" for i in range(1, 24)),
    *(f"RnB{i:02d}" for i in range(1, 11)),
    *(f"TRIP{i:02d}" for i in range(1, 5)),
)


class MMAError(RuntimeError):
    pass


@cache
def defined_grooves() -> frozenset[str]:
    """Every groove name MMA's libraries define (lower case, as MMA matches them)."""
    names: set[str] = set()
    for lib in MMA_ROOT.glob("*/*.mma"):
        names.update(m.lower() for m in re.findall(r"^\s*DefGroove\s+(\S+)", lib.read_text(errors="replace"), re.M))
    return frozenset(names)


def variant(base: str, suffix: str) -> str | None:
    """``base + suffix`` when MMA defines it (e.g. SwingSus), else None."""
    name = base + suffix
    return name if name.lower() in defined_grooves() else None


@dataclass(frozen=True)
class Part:
    groove: str
    bars: tuple[tuple[Chord, ...], ...]  # one or two chords per bar


@dataclass(frozen=True)
class Song:
    bpm: int
    seed: int
    parts: tuple[Part, ...]

    @property
    def bar_count(self) -> int:
        return sum(len(p.bars) for p in self.parts)


def song_text(song: Song) -> str:
    lines = ["// written by lofi's corpus builder", f"RndSeed {song.seed}", f"Tempo {song.bpm}"]
    bar = 1
    for part in song.parts:
        lines.append(f"Groove {part.groove}")
        for chords in part.bars:
            lines.append(f"{bar} " + " ".join(c.mma_symbol for c in chords))
            bar += 1
    return "\n".join(lines) + "\n"


def render(song: Song, out_path: Path, mma_bin: str = "mma", timeout_s: float = 30.0) -> Path:
    """Render a song to a MIDI file with MMA; the file appears complete or not at all."""
    out_path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out_path.parent) as tmp:
        src, mid = Path(tmp) / "song.mma", Path(tmp) / "song.mid"
        src.write_text(song_text(song))
        try:
            # relative names inside the temporary folder: MMA writes its input's name into the file
            done = subprocess.run(
                [mma_bin, "-w", "-xNOCREDIT", "-f", mid.name, src.name],
                cwd=tmp,
                capture_output=True,
                text=True,
                timeout=timeout_s,
            )
        except FileNotFoundError as exc:
            raise MMAError(f"MMA not found ({mma_bin}): run `make setup` to install the Debian package mma") from exc
        except subprocess.TimeoutExpired as exc:
            raise MMAError(f"MMA took longer than {timeout_s:.0f} s") from exc
        if done.returncode != 0 or not mid.exists():
            raise MMAError(f"MMA failed: {(done.stdout + done.stderr).strip()[-300:]}")
        mid.replace(out_path)
    return out_path


VET_BARS = 4


def vet(grooves: tuple[str, ...], mma_bin: str = "mma", band: bool = False) -> dict[str, str | None]:
    """Which grooves make a lo-fi beat: groove -> None when kept, else the reason it was left out.

    Each groove plays VET_BARS bars of a ii7-V7 (one MMA run for all of them). Kept: a kick, and a snare,
    rim or clap within a 16th of beats 2 and 4 in every bar (lofi.theory.groove); hand percussion is not
    a reason, as the corpus leaves those hits out. A ``band`` (a groove with chords and bass) must also
    state the seventh chords it is given in most bars: a band that plays only bass lines or triads does
    not teach lo-fi harmony.
    """
    from symusic import Score

    from lofi.theory import detect_chords
    from lofi.theory.groove import HAND_PERCUSSION, KICKS, backbeat_in_bars, drum_hits

    chords = ((Chord(2, "m7"),), (Chord(7, "7"),)) * (VET_BARS // 2)
    song = Song(bpm=80, seed=1, parts=tuple(Part(g, chords) for g in grooves))
    with tempfile.TemporaryDirectory() as tmp:
        score = Score(str(render(song, Path(tmp) / "vet.mid", mma_bin)))
    bar = 4 * score.tpq
    verdicts: dict[str, str | None] = {}
    for i, groove in enumerate(grooves):
        part = score.clip(i * VET_BARS * bar, (i + 1) * VET_BARS * bar).shift_time(-i * VET_BARS * bar)
        for track in part.tracks:
            if track.is_drum:
                track.notes = track.notes.filter(lambda n: n.pitch not in HAND_PERCUSSION, inplace=False)
        has_drums, backbeat = backbeat_in_bars(part, VET_BARS)
        _, pitches = drum_hits(part)
        sevenths = sum(bool(c and c.has_seventh) for c in detect_chords(part, per="bar")[:VET_BARS])
        if not has_drums.all():
            verdicts[groove] = f"drums in {has_drums.sum()} of {VET_BARS} bars"
        elif not set(pitches.tolist()) & KICKS:
            verdicts[groove] = "no kick"
        elif not backbeat.all():
            verdicts[groove] = f"backbeat on 2 and 4 in {backbeat.sum()} of {VET_BARS} bars"
        elif band and sevenths < VET_BARS // 2 + 1:
            verdicts[groove] = f"seventh chords in {sevenths} of {VET_BARS} bars"
        else:
            verdicts[groove] = None
    return verdicts
