"""Accompaniment from MMA: its human-written grooves played over our chord progressions."""

from __future__ import annotations

import re
import subprocess
import tempfile
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from lofi.theory import Chord

MMA_LIB = Path("/usr/share/mma/lib/stdlib")

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


class MMAError(RuntimeError):
    pass


@cache
def defined_grooves() -> frozenset[str]:
    """Every groove name MMA's standard library defines (lower case, as MMA matches them)."""
    names: set[str] = set()
    for lib in MMA_LIB.glob("*.mma"):
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
