"""FluidSynth: every part of a Score rendered to its own stereo stem in one pass.

One synthesizer plays all parts, each on its own MIDI channel, and FluidSynth's audio groups give each
channel its own output buffer: the SoundFont is loaded once (lazily, only the samples a part uses) and the
stems come out sample-aligned. FluidSynth's own reverb and chorus stay off; the effects chain colours the
sound. Output is float32, so nothing is quantized before mastering.
"""

from __future__ import annotations

import ctypes
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from symusic import Score

from lofi.render.palette import Preset, choose, role_of

DRUM_CHANNEL = 9
PITCHED_CHANNELS = tuple(c for c in range(16) if c != DRUM_CHANNEL)
SYNTH_THREADS = min(2, os.cpu_count() or 1)  # synthesizers playing side by side, each with some of the parts
BLOCK = 8192  # samples per FluidSynth call at most
TAIL_S = 2.0  # release and decay after the last note-off
INSTALL_HINT = "install it with `make setup` (Debian: apt-get install libfluidsynth3 fluid-soundfont-gm)"


class SynthUnavailable(RuntimeError):
    """The FluidSynth library or the SoundFont is missing."""


@dataclass
class Part:
    """One stem: a role (keys, bass, drums...) and the tracks and preset that play it."""

    name: str
    role: str
    channel: int
    preset: Preset
    tracks: list[int] = field(default_factory=list)


def load_fluidsynth():
    try:
        import fluidsynth
    except (ImportError, OSError) as exc:
        raise SynthUnavailable(f"the FluidSynth library was not found ({exc}): {INSTALL_HINT}") from None
    return fluidsynth


def check_soundfont(path: Path) -> Path:
    path = Path(path)
    if not path.is_file():
        raise SynthUnavailable(f"SoundFont not found at {path} (setting LOFI_SOUNDFONT): {INSTALL_HINT}")
    return path


def _soundfont_presets(synth, sfid: int) -> dict[str, Preset]:
    presets: dict[str, Preset] = {}
    for bank in (0, 8, 16, 128):
        for number in range(128):
            name = synth.sfpreset_name(sfid, bank, number)
            if name and name not in presets:
                presets[name] = Preset(bank, number, name)
    return presets


def plan_parts(score: Score, presets: dict[str, Preset], mood: str | None) -> list[Part]:
    """Tracks grouped into stems: one stem per role, or per (role, program) when a role has several."""
    by_role: dict[str, dict[int, list[int]]] = {}
    for index, track in enumerate(score.tracks):
        if len(track.notes) == 0:
            continue
        role = role_of(track.program, track.is_drum)
        by_role.setdefault(role, {}).setdefault(-1 if track.is_drum else track.program, []).append(index)
    parts: list[Part] = []
    channels = iter(PITCHED_CHANNELS)
    for role in sorted(by_role):
        programs = by_role[role]
        for n, (program, tracks) in enumerate(sorted(programs.items())):
            name = role if n == 0 else f"{role}{n + 1}"
            channel = DRUM_CHANNEL if role == "drums" else next(channels, None)
            if channel is None:  # more than 15 pitched programs: the rest share the last stem's channel
                parts[-1].tracks.extend(tracks)
                continue
            parts.append(Part(name, role, channel, choose(presets, mood, role, max(program, 0)), list(tracks)))
    return parts


def _events(score: Score, parts: list[Part], sample_rate: int) -> np.ndarray:
    """Note on/off events as rows (sample, kind, channel, pitch, velocity), offs before ons at a sample."""
    seconds = score.to("second")
    rows = []
    for part in parts:
        for index in part.tracks:
            notes = seconds.tracks[index].notes.numpy()
            if len(notes["time"]) == 0:
                continue
            start = np.rint(notes["time"] * sample_rate).astype(np.int64)
            end = np.maximum(np.rint((notes["time"] + notes["duration"]) * sample_rate).astype(np.int64), start + 1)
            n = len(start)
            channel = np.full(n, part.channel)
            pitch, velocity = notes["pitch"].astype(np.int64), notes["velocity"].astype(np.int64)
            rows.append(np.stack([start, np.ones(n, np.int64), channel, pitch, velocity], axis=1))
            rows.append(np.stack([end, np.zeros(n, np.int64), channel, pitch, np.zeros(n, np.int64)], axis=1))
    if not rows:
        return np.zeros((0, 5), np.int64)
    events = np.concatenate(rows)
    return events[np.lexsort((events[:, 1], events[:, 0]))]


def _new_synth(fluidsynth, sample_rate: int):
    return fluidsynth.Synth(
        gain=0.5,
        samplerate=float(sample_rate),
        **{
            "synth.audio-groups": 16,
            "synth.audio-channels": 16,
            "synth.reverb.active": 0,
            "synth.chorus.active": 0,
            "synth.dynamic-sample-loading": 1,
            "synth.polyphony": 512,
        },
    )


def _load(synth, soundfont: Path) -> int:
    sfid = synth.sfload(str(soundfont))
    if sfid < 0:
        raise SynthUnavailable(f"FluidSynth could not load the SoundFont {soundfont}: {INSTALL_HINT}")
    return sfid


def _balanced(parts: list[Part], events: np.ndarray, groups: int) -> list[list[Part]]:
    """Parts split into ``groups`` sets with about as many events each (the work of a synthesizer)."""
    counts = {part.channel: int(np.sum(events[:, 2] == part.channel)) for part in parts}
    sets: list[list[Part]] = [[] for _ in range(min(groups, len(parts)))]
    for part in sorted(parts, key=lambda p: -counts[p.channel]):
        min(sets, key=lambda g: sum(counts[p.channel] for p in g)).append(part)
    return [g for g in sets if g]


def render_stems(
    score: Score, soundfont: Path, sample_rate: int = 44100, mood: str | None = None, threads: int = SYNTH_THREADS
) -> tuple[dict[str, np.ndarray], list[Part]]:
    """Each part as a float32 (2, samples) stem, all the same length; and the parts (with presets) used.

    With ``threads`` > 1 the parts are shared among that many synthesizers playing side by side
    (FluidSynth renders with Python's lock released); each part still has its own channel and stem.
    """
    fluidsynth = load_fluidsynth()
    soundfont = check_soundfont(soundfont)
    synths = [_new_synth(fluidsynth, sample_rate)]
    try:
        sfid = _load(synths[0], soundfont)
        parts = plan_parts(score, _soundfont_presets(synths[0], sfid), mood)
        events = _events(score, parts, sample_rate)
        length = int(events[-1, 0] + TAIL_S * sample_rate) if len(events) else int(sample_rate)
        groups = _balanced(parts, events, max(1, threads))
        jobs = []
        for n, group in enumerate(groups):
            if n > 0:
                synths.append(_new_synth(fluidsynth, sample_rate))
                sfid = _load(synths[n], soundfont)
            for part in group:
                synths[n].program_select(part.channel, sfid, part.preset.bank, part.preset.number)
            mine = events[np.isin(events[:, 2], [part.channel for part in group])]
            jobs.append((synths[n], mine, group))
        if len(jobs) == 1:
            stems = _run(fluidsynth, *jobs[0], length)
        else:
            with ThreadPoolExecutor(max_workers=len(jobs)) as pool:
                results = pool.map(lambda job: _run(fluidsynth, *job, length), jobs)
                stems = {name: stem for result in results for name, stem in result.items()}
    finally:
        for synth in synths:
            synth.delete()
    return {part.name: stems[part.name] for part in parts}, parts


def _run(fluidsynth, synth, events: np.ndarray, parts: list[Part], length: int) -> dict[str, np.ndarray]:
    """Play the events; each audio group (one per MIDI channel) lands in its part's stem."""
    process = fluidsynth._fl.fluid_synth_process
    process.argtypes = [
        ctypes.c_void_p, ctypes.c_int, ctypes.c_int, ctypes.POINTER(ctypes.c_void_p),
        ctypes.c_int, ctypes.POINTER(ctypes.c_void_p),
    ]  # fmt: skip
    process.restype = ctypes.c_int
    stems = {part.name: np.zeros((2, length), np.float32) for part in parts}
    # FluidSynth adds into the buffers it is given: a small scratch block, zeroed before each call
    scratch = np.zeros((32, BLOCK), np.float32)
    pointers = (ctypes.c_void_p * 32)(*(scratch[c].ctypes.data for c in range(32)))
    routes = [(stems[part.name], 2 * part.channel) for part in parts]
    cursor = 0
    boundaries = np.append(events[:, 0], length)
    for i, until in enumerate(boundaries):
        until = min(int(until), length)
        while cursor < until:
            n = min(until - cursor, BLOCK)
            scratch[:, :n] = 0.0
            if process(synth.synth, n, 0, None, 32, pointers) != 0:
                raise RuntimeError("FluidSynth failed to render")
            for stem, row in routes:
                stem[:, cursor : cursor + n] = scratch[row : row + 2, :n]
            cursor += n
        if i < len(events):
            _, kind, channel, pitch, velocity = (int(v) for v in events[i])
            if kind:
                synth.noteon(channel, pitch, velocity)
            else:
                synth.noteoff(channel, pitch)
    return stems
