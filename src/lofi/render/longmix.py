"""The audio of a long mix: many tracks joined by equal-power crossfades into one mastered file.

Named a *long* mix because ``lofi.render.mix`` is the other mix, the stems of one track balanced and
summed; this one joins whole tracks. ``lofi.publish.mix`` makes the mix folder around it (cover, video,
words, metadata.json).

``plan_mix`` decides where every track lies (pure arithmetic on lengths, with ``fade_length`` the one
rule for how long a crossfade is, which ``mixed_length`` also uses to say how long a run of tracks
makes); ``mix_tracks`` adds the tracks into a float32 file on disk through a memory map, block by block;
``master_mix`` masters that file as a whole by the rule of ``lofi.render.master.settle`` (gain to the
loudness target, the true-peak look-ahead limiter, passes until the loudness is within tolerance, a last
trim) and ``write_master`` writes mix.flac and mix.mp3 as the master comes out.

Memory: a 60-minute stereo mix is 635 MB as float32. None of the steps holds it: tracks are read in
blocks, the mix lives in the memory-mapped file, and mastering reads it in blocks of ``BLOCK`` frames
with ``MARGIN`` frames of context each side, enough for the limiter's look-ahead and hold and the
true-peak interpolator, so every block comes out exactly as if the whole file had been limited at
once. Loudness is measured as pyloudnorm measures it (its K-weighting filters, its 400 ms blocks with
75 % overlap and their bounds, its absolute and relative gates), with the filters' state carried from
block to block and each gating block's energy taken from running sums at the block bounds.

Timestamps: a track's entry in the tracklist starts at the **middle of its crossfade** with the track
before, where the equal-power curves cross (both at -3 dB): before it the old track is the louder,
after it the new one. The first track starts at 0:00.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import soundfile

from lofi.files import atomic_write
from lofi.progress import Progress, no_progress
from lofi.render import master as mastering
from lofi.render.loudness import LoudnessMeter
from lofi.render.track import MP3_QUALITY

Audio = Path | np.ndarray  # a file soundfile reads, or (channels, samples) float samples
BLOCK = 1 << 20  # frames read and mastered at a time: 24 s at 44.1 kHz, about 8 MB of float32 stereo
MARGIN = 8192  # frames of context around a mastered block: the limiter reaches ~2,800 (3 ms + 60 ms)


@dataclass(frozen=True)
class MixTrack:
    """One track going into a mix: its title for the tracklist and its audio."""

    title: str
    audio: Audio
    track_id: str | None = None
    sample_rate: int | None = None  # needed for an array; a file says its own


@dataclass(frozen=True)
class MixEntry:
    """Where one track lies in the mix, in samples, and its tracklist time."""

    title: str
    track_id: str | None
    offset_samples: int  # the mix sample where the track's first sample lies
    length_samples: int
    crossfade_samples: int  # overlap with the track before (0 for the first)
    start_s: float  # the tracklist time: the middle of that crossfade (0 for the first)

    @property
    def switch_sample(self) -> int:
        """The mix sample at the middle of the incoming crossfade."""
        return self.offset_samples + self.crossfade_samples // 2


@dataclass(frozen=True)
class MixResult:
    entries: list[MixEntry]
    samples: int
    sample_rate: int
    channels: int
    lufs: float = float("nan")
    true_peak_db: float = float("nan")
    gain_db: float = 0.0
    limited_db: float = 0.0
    passes: int = 0
    timings_s: dict[str, float] = field(default_factory=dict)

    @property
    def duration_s(self) -> float:
        return self.samples / self.sample_rate

    def tracklist(self) -> list[tuple[float, str]]:
        """(start in whole seconds, title) pairs, rounded to the nearest second, for ``seo.tracklist``."""
        out: list[tuple[float, str]] = []
        for entry in self.entries:
            start = float(round(entry.start_s)) if out else 0.0
            if out and start <= out[-1][0]:  # crossfades under a second apart: keep the times increasing
                start = out[-1][0] + 1
            out.append((start, entry.title))
        return out


# ---------------------------------------------------------------------------------------------- planning


def crossfade_frames(crossfade_s: float, sample_rate: int) -> int:
    if not 0 <= crossfade_s <= 60:
        raise ValueError(f"crossfade of {crossfade_s} s: give 0 to 60 seconds")
    return round(crossfade_s * sample_rate)


def fade_length(before: float, after: float, crossfade: float) -> float:
    """The crossfade between two tracks (samples or seconds): at most half of either track."""
    return min(crossfade, before / 2, after / 2)


def mixed_length(lengths: Sequence[float], crossfade: float) -> float:
    """How long tracks of these lengths make, crossfaded (in the unit of the lengths)."""
    return sum(lengths) - sum(fade_length(a, b, crossfade) for a, b in itertools.pairwise(lengths))


def plan_mix(
    titles: Sequence[str], lengths: Sequence[int], sample_rate: int, crossfade: int, ids: Sequence[str | None] = ()
) -> list[MixEntry]:
    """Where each track goes: track i starts ``crossfade`` samples before track i-1 ends.

    A crossfade is at most half of either track, so no track is ever in two crossfades at once.
    """
    if not lengths:
        raise ValueError("a mix needs at least one track")
    if any(n <= 0 for n in lengths):
        raise ValueError("every track of a mix needs some audio")
    ids = list(ids) or [None] * len(lengths)
    entries: list[MixEntry] = []
    offset = 0
    for i, (title, length) in enumerate(zip(titles, lengths, strict=True)):
        fade = math.floor(fade_length(lengths[i - 1], length, crossfade)) if i else 0
        offset = entries[-1].offset_samples + entries[-1].length_samples - fade if i else 0
        start_s = (offset + fade // 2) / sample_rate if i else 0.0
        entries.append(MixEntry(title, ids[i], offset, int(length), fade, start_s))
    return entries


def equal_power(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Fade-out and fade-in gains over ``n`` samples: cos and sin of a quarter turn, so power stays constant."""
    t = (np.arange(n, dtype=np.float64) + 0.5) / max(n, 1) * (np.pi / 2)
    return np.cos(t).astype(np.float32), np.sin(t).astype(np.float32)


# ---------------------------------------------------------------------------------------------- reading


class _Reader:
    """A track's audio in blocks of (channels, n) float32, from a file or an array."""

    def __init__(self, track: MixTrack):
        self.track = track
        if isinstance(track.audio, np.ndarray):
            array = np.atleast_2d(np.asarray(track.audio, dtype=np.float32))
            if track.sample_rate is None:
                raise ValueError(f"{track.title!r}: an array of samples needs its sample_rate")
            self.array, self.file = array, None
            self.channels, self.frames, self.sample_rate = array.shape[0], array.shape[1], int(track.sample_rate)
        else:
            path = Path(track.audio)
            if not path.is_file():
                raise FileNotFoundError(f"{path} is missing: the mix needs {track.title!r}'s audio")
            info = soundfile.info(str(path))
            self.array, self.file = None, path
            self.channels, self.frames, self.sample_rate = info.channels, info.frames, info.samplerate

    def blocks(self, size: int = BLOCK):
        if self.array is not None:
            for start in range(0, self.frames, size):
                yield self.array[:, start : start + size]
            return
        with soundfile.SoundFile(str(self.file)) as f:
            while len(block := f.read(size, dtype="float32", always_2d=True)):
                yield block.T


def _to_channels(block: np.ndarray, channels: int) -> np.ndarray:
    if block.shape[0] == channels:
        return block
    if block.shape[0] == 1:
        return np.repeat(block, channels, axis=0)
    raise ValueError(f"cannot mix {block.shape[0]}-channel audio into {channels} channels")


# ---------------------------------------------------------------------------------------------- mixing


def mix_tracks(
    tracks: Sequence[MixTrack], out: Path, crossfade_s: float = 6.0, progress: Progress = no_progress
) -> tuple[MixResult, np.memmap]:
    """Add ``tracks`` with equal-power crossfades into ``out``, a raw float32 file of (samples, channels).

    Returns the plan (entries and size) and the file as a memory map. Sample rates must agree; mono
    tracks are spread to both channels of a stereo mix.
    """
    readers = [_Reader(t) for t in tracks]
    if not readers:
        raise ValueError("a mix needs at least one track")
    rate = readers[0].sample_rate
    if odd := [r.track.title for r in readers if r.sample_rate != rate]:
        raise ValueError(f"tracks at another sample rate than {rate} Hz: {', '.join(odd)}")
    channels = max(r.channels for r in readers)
    entries = plan_mix(
        [t.title for t in tracks], [r.frames for r in readers], rate, crossfade_frames(crossfade_s, rate),
        [t.track_id for t in tracks],
    )  # fmt: skip
    total = entries[-1].offset_samples + entries[-1].length_samples
    # a new memory-mapped file is all zeros, so each track is simply added where it lies
    mixed = np.memmap(out, dtype=np.float32, mode="w+", shape=(total, channels))
    for i, (reader, entry) in enumerate(zip(readers, entries, strict=True)):
        fade_in = entry.crossfade_samples
        fade_out = entries[i + 1].crossfade_samples if i + 1 < len(entries) else 0
        _, rise = equal_power(fade_in)
        fall, _ = equal_power(fade_out)
        fade_from = entry.length_samples - fade_out  # where the fade-out starts, in the track's samples
        position = 0
        for block in reader.blocks():
            block = _to_channels(block, channels)[:, : entry.length_samples - position].copy()
            n = block.shape[1]
            where = np.arange(position, position + n)
            if position < fade_in:
                head = where < fade_in
                block[:, head] *= rise[where[head]]
            if position + n > fade_from:
                tail = where >= fade_from
                block[:, tail] *= fall[where[tail] - fade_from]
            at = entry.offset_samples + position
            mixed[at : at + n] += block.T
            position += n
            progress((i + position / entry.length_samples) / len(readers), f"mixing {entry.title}")
    mixed.flush()
    return MixResult(entries, total, rate, channels), mixed


# ---------------------------------------------------------------------------------------------- mastering


@dataclass(frozen=True)
class _Pass:
    lufs: float
    true_peak_db: float
    limited_db: float


def _master_pass(
    mixed: np.ndarray,
    rate: int,
    gain_db: float | None,
    ceiling_db: float,
    trim_db: float = 0.0,
    write: Callable[[np.ndarray], None] | None = None,
    progress: Progress = no_progress,
) -> _Pass:
    """One read of the mix: gain, limit (unless ``gain_db`` is None: measure as it is), trim; measure, write."""
    total, channels = mixed.shape
    meter = LoudnessMeter(rate, channels, total)
    peak, limited = 0.0, 0.0
    gain = None if gain_db is None else np.float32(10 ** (gain_db / 20))
    trim = np.float32(10 ** (trim_db / 20))
    for start in range(0, total, BLOCK):
        stop = min(start + BLOCK, total)
        lo, hi = max(0, start - MARGIN), min(total, stop + MARGIN)
        audio = np.ascontiguousarray(mixed[lo:hi].T)
        if gain is not None:
            audio, reduced = mastering.limit(audio * gain, ceiling_db, rate)
            limited = max(limited, reduced)
            if trim_db:
                audio = (audio * trim).astype(np.float32)
        # the true peak of this block's samples, with a few neighbours for the interpolator's context
        context = slice(max(start - 16, lo) - lo, min(stop + 16, hi) - lo)
        peak = max(peak, 10 ** (mastering.true_peak_db(audio[:, context]) / 20))
        block = audio[:, start - lo : stop - lo]
        meter.add(block)
        if write is not None:
            write(block)
        progress(stop / total, "")
    return _Pass(meter.lufs(), 20 * math.log10(max(peak, 1e-12)), limited)


def master_mix(
    mixed: np.ndarray,
    sample_rate: int,
    lufs: float = -14.0,
    ceiling_db: float = -1.0,
    write: Callable[[np.ndarray], None] | None = None,
    progress: Progress = no_progress,
) -> dict:
    """Master the (samples, channels) ``mixed`` as ``lofi.render.master.master`` masters a track, in blocks.

    Each pass of ``lofi.render.master.settle`` (gain to ``lufs``, the look-ahead true-peak limiter at
    ``ceiling_db``, the trim) is one read of the whole mix. Then one more read hands each mastered
    (channels, n) block to ``write``. Returns what metadata records.
    """
    passes = 0

    def measured(gain_db: float | None, trim_db: float = 0.0, sink: Callable | None = None) -> _Pass:
        nonlocal passes
        passes += 1
        share = 1 / (mastering.MAX_PASSES + 3)
        done = min(passes - 1, mastering.MAX_PASSES + 2) * share
        what = "writing the master" if sink else "measuring loudness"
        return _master_pass(
            mixed, sample_rate, gain_db, ceiling_db, trim_db, sink,
            lambda f, _: progress(1.0 if sink and f >= 1 else done + share * f, what),
        )  # fmt: skip

    raw = last = measured(None)

    def measure(gain_db: float, trim_db: float) -> tuple[float, float]:
        nonlocal last
        last = measured(gain_db, trim_db)
        return last.lufs, last.limited_db

    settled = mastering.settle(measure, lambda: last.true_peak_db, raw.lufs, lufs, ceiling_db)
    gain_db, trim_db = settled.gain_db, settled.trim_db
    result: _Pass | mastering.Settled = settled
    if write is not None:
        result = measured(gain_db, trim_db, write)
    return {
        "lufs": round(result.lufs, 2), "lufs_target": lufs, "true_peak_db": round(result.true_peak_db, 2),
        "true_peak_ceiling_db": ceiling_db, "gain_db": round(gain_db + trim_db, 2),
        "limiter_max_reduction_db": round(result.limited_db, 2), "input_lufs": round(raw.lufs, 2), "passes": passes,
    }  # fmt: skip


def write_master(
    folder: Path, mixed: np.ndarray, rate: int, lufs: float, ceiling_db: float, progress: Progress = no_progress
) -> dict:
    """mix.flac (24-bit) and mix.mp3 in ``folder``, both written block by block as the master comes out;
    returns ``master_mix``'s record."""
    from pedalboard.io import AudioFile

    channels = mixed.shape[1]
    record: dict = {}

    def both(flac_tmp: Path) -> None:
        def with_mp3(mp3_tmp: Path) -> None:
            with (
                soundfile.SoundFile(str(flac_tmp), "w", rate, channels, "PCM_24", format="FLAC") as flac,
                mp3_tmp.open("wb") as fh,
                AudioFile(fh, "w", rate, channels, format="mp3", quality=MP3_QUALITY) as mp3,
            ):

                def write(block: np.ndarray) -> None:
                    flac.write(block.T)
                    mp3.write(np.ascontiguousarray(block))

                record.update(master_mix(mixed, rate, lufs, ceiling_db, write, progress))

        atomic_write(folder / "mix.mp3", with_mp3)

    atomic_write(folder / "mix.flac", both)
    return record


__all__ = [
    "MixEntry",
    "MixResult",
    "MixTrack",
    "crossfade_frames",
    "equal_power",
    "fade_length",
    "master_mix",
    "mix_tracks",
    "mixed_length",
    "plan_mix",
    "write_master",
]
