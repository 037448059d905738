"""Pictures of a track for the dashboard and for anyone who would rather look than read.

Piano roll (parts in their own colours, section boundaries marked), spectrogram and waveform; PNGs written
atomically with matplotlib's Agg backend, so they work on a server with no display.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.collections import PolyCollection
from matplotlib.colors import to_rgba
from matplotlib.patches import Patch
from symusic import Score

from lofi.files import atomic_write

BACKGROUND = "#16161d"
INK = "#d8d4cf"
COLOURS = ("#f2a65a", "#7ec4cf", "#b39ddb", "#9ccc65", "#ef7a85", "#ffd166", "#8fa9ff", "#c0a080")


# the figures below have fixed sizes, so their margins are fixed too: matplotlib's tight_layout measured
# them anew for every picture, a third of the time a spectrogram and a waveform took to draw


def _save(fig, path: Path) -> Path:
    atomic_write(path, lambda tmp: fig.savefig(tmp, format="png", facecolor=fig.get_facecolor()))
    plt.close(fig)
    return path


def _axes(width: float, height: float):
    fig, ax = plt.subplots(figsize=(width, height), dpi=100, facecolor=BACKGROUND)
    ax.set_facecolor(BACKGROUND)
    ax.tick_params(colors=INK, labelsize=8)
    for spine in ax.spines.values():
        spine.set_color("#44444f")
    return fig, ax


def _note_boxes(notes: dict[str, np.ndarray]) -> np.ndarray:
    """One rectangle per note as (notes, 4 corners, xy): one collection draws them all at once."""
    x0, x1 = notes["time"], notes["time"] + notes["duration"]
    y0, y1 = notes["pitch"] - 0.4, notes["pitch"] + 0.4
    return np.stack([np.stack(corner, axis=1) for corner in ((x0, y0), (x1, y0), (x1, y1), (x0, y1))], axis=1)


def pianoroll(score: Score, path: Path, sections: list[dict] | None = None, title: str | None = None) -> Path:
    """Notes as bars over time (seconds), one colour per part, drums as ticks along the bottom.

    ``sections`` is the form as metadata.json holds it ([{"section", "bars"}...]); its boundaries are drawn
    as dashed lines with the section names.
    """
    seconds = score.to("second")
    fig, ax = _axes(14, 5)
    handles = []
    pitched = [t for t in seconds.tracks if not t.is_drum and len(t.notes)]
    for n, track in enumerate(pitched):
        notes = track.notes.numpy()
        rgba = np.tile(to_rgba(COLOURS[n % len(COLOURS)]), (len(notes["time"]), 1))
        rgba[:, 3] = 0.35 + 0.65 * notes["velocity"] / 127  # louder notes are brighter
        ax.add_collection(PolyCollection(_note_boxes(notes), facecolors=rgba, linewidths=0))
        handles.append(Patch(color=COLOURS[n % len(COLOURS)], label=track.name or f"program {track.program}"))
    low = min((int(t.notes.numpy()["pitch"].min()) for t in pitched), default=48)
    high = max((int(t.notes.numpy()["pitch"].max()) for t in pitched), default=72)
    drums = [t for t in seconds.tracks if t.is_drum and len(t.notes)]
    if drums:
        times = np.concatenate([t.notes.numpy()["time"] for t in drums])
        ax.vlines(times, low - 5, low - 2, color="#888890", linewidth=0.6)
        handles.append(Patch(color="#888890", label="drums"))
    end = float(seconds.end()) or 1.0
    if sections:
        qpm = score.tempos[0].qpm if len(score.tempos) else 120.0
        bar_seconds = 4 * 60.0 / qpm  # the form is in 4/4 bars at the track's one tempo
        at = 0.0
        for section in sections:
            ax.axvline(at, color="#55556a", linestyle="--", linewidth=0.8)
            ax.text(at + 0.3, high + 2, section["section"], color=INK, fontsize=9, va="bottom")
            at += section["bars"] * bar_seconds
    ax.set_xlim(0, end)
    ax.set_ylim(low - 6, high + 5)
    ax.set_xlabel("seconds", color=INK)
    ax.set_ylabel("MIDI pitch", color=INK)
    if title:
        ax.set_title(title, color=INK)
    if handles:
        ax.legend(
            handles=handles,
            loc="upper left",
            bbox_to_anchor=(1.005, 1.0),
            fontsize=8,
            facecolor=BACKGROUND,
            labelcolor=INK,
        )
    fig.subplots_adjust(left=0.05, right=0.9, bottom=0.1, top=0.93)  # the legend sits right of the axes
    return _save(fig, path)


def spectrogram(audio: np.ndarray, sample_rate: int, path: Path, title: str | None = None) -> Path:
    """Power spectrogram of the mono sum, dB, log-frequency axis from 20 Hz to Nyquist."""
    mono = np.asarray(audio, dtype=np.float32).mean(axis=0)
    from scipy.signal import spectrogram as stft_power  # 0.5 s of imports a piano roll does not need

    freqs, times, power = stft_power(mono, fs=sample_rate, nperseg=2048, noverlap=1024, scaling="spectrum")
    rows, power = _log_rows(freqs, power, sample_rate / 2)
    times, power = _fewer_columns(times, power)
    db = 10 * np.log10(np.maximum(power, 1e-12))
    fig, ax = _axes(14, 4)
    top = db.max() if db.size else 0.0
    mesh = ax.pcolormesh(times, rows, db, shading="auto", cmap="magma", vmin=top - 90, vmax=top)
    ax.set_yscale("log")
    ax.set_ylim(20, sample_rate / 2)
    ax.set_xlabel("seconds", color=INK)
    ax.set_ylabel("Hz", color=INK)
    colourbar = fig.colorbar(mesh, ax=ax, pad=0.01, fraction=0.04)
    colourbar.ax.tick_params(colors=INK, labelsize=8)
    colourbar.set_label("dB", color=INK)
    if title:
        ax.set_title(title, color=INK)
    fig.subplots_adjust(left=0.05, right=0.965, bottom=0.13, top=0.91)
    return _save(fig, path)


SPECTROGRAM_ROWS, SPECTROGRAM_COLUMNS = 400, 1400  # the figure's own pixels: more would not show


def _log_rows(freqs: np.ndarray, power: np.ndarray, nyquist: float) -> tuple[np.ndarray, np.ndarray]:
    """The power in SPECTROGRAM_ROWS log-spaced bands from 20 Hz to Nyquist (their centres, their mean power):
    millions of linear bins drawn as quads on a log axis took seconds and showed no more."""
    edges = np.geomspace(20.0, nyquist, SPECTROGRAM_ROWS + 1)
    step = freqs[1] - freqs[0] if len(freqs) > 1 else nyquist
    lo = np.clip(np.floor(edges[:-1] / step).astype(int), 0, len(freqs) - 1)
    hi = np.clip(np.ceil(edges[1:] / step).astype(int), lo + 1, len(freqs))  # a band narrower than a bin: its bin
    summed = np.concatenate((np.zeros((1, power.shape[1])), np.cumsum(power, axis=0)))
    return np.sqrt(edges[:-1] * edges[1:]), (summed[hi] - summed[lo]) / (hi - lo)[:, None]


def _fewer_columns(times: np.ndarray, power: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Frames averaged in groups so at most SPECTROGRAM_COLUMNS remain (their mean times, their mean power)."""
    group = max(1, -(-power.shape[1] // SPECTROGRAM_COLUMNS))
    usable = power.shape[1] // group * group
    if usable == 0:
        return times, power
    columns = power[:, :usable].reshape(power.shape[0], -1, group).mean(axis=2)
    return times[:usable].reshape(-1, group).mean(axis=1), columns


def waveform(audio: np.ndarray, sample_rate: int, path: Path, title: str | None = None) -> Path:
    """Peak and RMS envelope of each channel over time (drawn from ~2,000 windows, not every sample)."""
    audio = np.asarray(audio, dtype=np.float32)
    windows = max(1, audio.shape[1] // 2000)
    usable = audio.shape[1] // windows * windows
    blocks = audio[:, :usable].reshape(audio.shape[0], -1, windows)
    peak = np.abs(blocks).max(axis=2)
    rms = np.sqrt((blocks**2).mean(axis=2))
    t = (np.arange(blocks.shape[1]) + 0.5) * windows / sample_rate
    fig, ax = _axes(14, 3)
    for channel, (sign, colour) in enumerate(((1, COLOURS[0]), (-1, COLOURS[1]))[: audio.shape[0]]):
        ax.fill_between(t, 0, sign * peak[channel], color=colour, alpha=0.45, linewidth=0)
        ax.fill_between(t, 0, sign * rms[channel], color=colour, alpha=0.9, linewidth=0)
    ax.axhline(0, color="#44444f", linewidth=0.6)
    ax.set_xlim(0, max(t[-1] if len(t) else 1.0, 1e-3))
    ax.set_ylim(-1, 1)
    ax.set_xlabel("seconds", color=INK)
    if title:
        ax.set_title(title, color=INK)
    fig.subplots_adjust(left=0.04, right=0.99, bottom=0.16, top=0.88)
    return _save(fig, path)


Notes = tuple[np.ndarray, np.ndarray, np.ndarray]  # onsets (s), durations (s), MIDI pitches


def match_roll(ours: Notes, theirs: Notes, path: Path, labels: tuple[str, str], title: str | None = None) -> Path:
    """Two melodic passages one above the other, each from its own first note, so a person can compare a
    generated phrase with the reference it came closest to (the originality check's best match)."""
    fig, axes = plt.subplots(2, 1, figsize=(12, 5), dpi=100, facecolor=BACKGROUND, sharex=True)
    longest = max((float((n[0] + n[1]).max() - n[0][0]) for n in (ours, theirs) if len(n[0])), default=1.0)
    for ax, (onsets, durations, pitches), label, colour in zip(axes, (ours, theirs), labels, COLOURS, strict=False):
        ax.set_facecolor(BACKGROUND)
        ax.tick_params(colors=INK, labelsize=8)
        start = float(onsets[0]) if len(onsets) else 0.0
        for onset, duration, pitch in zip(onsets, durations, pitches, strict=True):
            ax.add_patch(plt.Rectangle((onset - start, pitch - 0.4), duration, 0.8, color=colour, linewidth=0))
        low, high = (int(pitches.min()), int(pitches.max())) if len(pitches) else (60, 72)
        ax.set_ylim(low - 2, high + 2)
        ax.set_xlim(0, max(longest, 1.0))  # both passages whole, on one time axis
        ax.set_ylabel("pitch", color=INK)
        ax.set_title(label, color=INK, fontsize=10, loc="left")
    axes[-1].set_xlabel("seconds from the passage's first note", color=INK)
    if title:
        fig.suptitle(title, color=INK)
    fig.tight_layout()
    return _save(fig, path)
