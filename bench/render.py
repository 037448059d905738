"""The audio stage on a 3-minute track: synthesis, effects, mastering and file writing, as real-time factors.

Baselines, measured in the same run on the same score:
- synthesis: the plain way, one FluidSynth per part, each loading the whole SoundFont and writing 16-bit
  samples through pyfluidsynth's ``get_samples``;
- mastering: gain to the loudness target from pyloudnorm, then pedalboard's Limiter (sample peaks, not
  true peaks: the simple way, which our mastering replaces);
- loudness: pyloudnorm's ``integrated_loudness`` (per-block Python loop), which lofi's measurement replaces.
"""

from __future__ import annotations

import time

import numpy as np
import pyloudnorm
from symusic import Note, Score, Tempo, TimeSignature, Track

from common import machine, timed, write_section
from lofi.render import mix
from lofi.render.humanize import Humanize
from lofi.render.master import loudness, master, true_peak_db
from lofi.render.presets import get_preset
from lofi.render.synth import plan_parts, render_stems
from lofi.render.track import RenderOptions, render, write_outputs
from lofi.settings import get_settings

MINUTES = 3.0
BPM = 80
RATE = 44100
TPQ = 480


def three_minutes() -> Score:
    """Keys, pad, bass and drums for MINUTES at BPM: the density of a typical lo-fi track."""
    bars = int(MINUTES * BPM / 4)
    score = Score(TPQ)
    score.tempos.append(Tempo(0, BPM))
    score.time_signatures.append(TimeSignature(0, 4, 4))
    keys, pad = Track(name="keys", program=4), Track(name="pad", program=89)
    bass, kit = Track(name="bass", program=33), Track(name="drums", is_drum=True)
    chords = ((50, 53, 57, 60), (43, 47, 50, 53), (48, 52, 55, 59), (45, 48, 52, 55))
    bar = 4 * TPQ
    for b in range(bars):
        chord = chords[b % 4]
        for beat in range(4):
            for pitch in chord:
                keys.notes.append(Note(b * bar + beat * TPQ, TPQ - 40, pitch + 12, 64 + 8 * (beat == 0)))
        for pitch in chord[1:]:
            pad.notes.append(Note(b * bar, bar - 20, pitch, 50))
        for beat in range(4):
            bass.notes.append(Note(b * bar + beat * TPQ, TPQ - 60, chord[0] - 12 + 7 * (beat == 2), 90))
            kit.notes.append(Note(b * bar + beat * TPQ, TPQ // 4, 36 if beat % 2 == 0 else 38, 100))
            kit.notes.append(Note(b * bar + beat * TPQ + TPQ // 2, TPQ // 4, 42, 70))
    score.tracks.extend([keys, pad, bass, kit])
    return score


def naive_stems(score: Score, soundfont) -> dict[str, np.ndarray]:
    """One synthesizer per part, the SoundFont loaded fully each time, 16-bit output in note-sized steps."""
    import fluidsynth

    parts = plan_parts(score, {}, None)
    seconds = score.to("second")
    stems = {}
    for part in parts:
        synth = fluidsynth.Synth(samplerate=float(RATE))
        sfid = synth.sfload(str(soundfont))
        synth.program_select(0, sfid, part.preset.bank, part.preset.number)
        events = sorted(
            (t, on, n.pitch, n.velocity)
            for i in part.tracks
            for n in seconds.tracks[i].notes
            for t, on in ((n.time, 1), (n.time + n.duration, 0))
        )
        chunks, now = [], 0
        for t, on, pitch, velocity in events:
            frames = int(t * RATE) - now
            if frames > 0:
                chunks.append(synth.get_samples(frames))
                now += frames
            synth.noteon(0, pitch, velocity) if on else synth.noteoff(0, pitch)
        chunks.append(synth.get_samples(2 * RATE))
        stems[part.name] = np.concatenate(chunks).reshape(-1, 2).T.astype(np.float32) / 32768
        synth.delete()
    return stems


def naive_master(audio: np.ndarray) -> np.ndarray:
    import pedalboard

    gained = audio * np.float32(10 ** ((-14.0 - loudness(audio, RATE)) / 20))
    return pedalboard.Limiter(threshold_db=-1.0, release_ms=100)(gained, RATE)


def main() -> None:
    soundfont = get_settings().soundfont
    score = three_minutes()
    seconds = MINUTES * 60
    options = RenderOptions(preset="dusty", mood="chill", seed=1, soundfont=soundfont)

    humanized = Humanize(seed=1)(score)
    t_synth, (stems, parts) = timed(lambda: render_stems(humanized, soundfont, RATE, "chill"))
    t_naive, _ = timed(lambda: naive_stems(humanized, soundfont), repeat=1)
    roles = {p.name: p.role for p in parts}

    def effects():
        ducked = mix.balance(stems, roles, mix.kick_times(humanized), RATE)
        return get_preset("dusty").chain(1)(mix.premix(ducked), RATE)

    t_effects, coloured = timed(effects)
    t_master, mastered = timed(lambda: master(coloured, RATE))
    t_naive_master, naive = timed(lambda: naive_master(coloured))
    t_loudness, ours = timed(lambda: loudness(coloured, RATE))
    t_pyloudnorm, theirs = timed(lambda: pyloudnorm.Meter(RATE).integrated_loudness(coloured.T.astype(np.float64)))
    t_whole, rendered = timed(lambda: render(score, options))

    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as folder:
        t_write, _ = timed(lambda: write_outputs(rendered, Path(folder)), repeat=1)

    def row(name, t, note=""):
        return f"| {name} | {t:.2f} | {seconds / t:.0f}x | {note} |"

    table = "\n".join(
        [
            "| step | seconds | real time | note |",
            "|---|---|---|---|",
            row("synthesis: two FluidSynths side by side, a stem per audio group", t_synth, f"{len(stems)} stems"),
            row("baseline: one FluidSynth per part, 16-bit `get_samples`", t_naive, "SoundFont loaded per part"),
            row("effects: levels, kick ducking, `dusty` bus chain", t_effects, ""),
            row(
                "mastering: loudness + true-peak look-ahead limiter",
                t_master,
                f"{mastered.lufs:.2f} LUFS, {mastered.true_peak_db:.2f} dBTP",
            ),
            row(
                "baseline: loudness gain + pedalboard Limiter",
                t_naive_master,
                f"{loudness(naive, RATE):.2f} LUFS, {true_peak_db(naive):.2f} dBTP (sample-peak limiter)",
            ),
            row("loudness measurement (BS.1770, one call; mastering makes 2-3)", t_loudness, f"{ours:.3f} LUFS"),
            row("baseline: pyloudnorm `integrated_loudness`", t_pyloudnorm, f"{theirs:.3f} LUFS"),
            row("**whole audio stage** (`render`: humanize, synth, effects, master)", t_whole, "target: 20x"),
            row("writing: wav, mp3 V0, FLAC stems, spectrogram and waveform PNG", t_write, "two threads"),
        ]
    )
    body = f"""Method: a {MINUTES:.0f}-minute, 4-part score (keys, pad, bass, drums at {BPM} BPM) built by
`bench/render.py`; 44.1 kHz stereo; medians of 3 runs for the steps and the whole stage (a worker renders
track after track, so the SoundFont is loaded once), one run for the baselines and writing. Real time =
track length / wall time. Machine: {machine()}.

{table}
"""
    write_section("Audio stage (bench/render.py)", body)
    print(body)


if __name__ == "__main__":
    started = time.perf_counter()
    main()
    print(f"bench/render.py took {time.perf_counter() - started:.0f} s")
