"""`lofi radio`: the endless radio, to an RTMP server (YouTube Live), a file or a pipe."""

from __future__ import annotations

import sys
import threading
import time
from pathlib import Path
from typing import Annotated

import typer

from lofi.cli.common import ModelOption, console, err_console, user_errors
from lofi.settings import get_settings


def _tempo(text: str | None) -> tuple[int, int] | None:
    if text is None:
        return None
    low, _, high = text.partition("-")
    try:
        return int(low), int(high or low)
    except ValueError:
        raise ValueError(f"--tempo {text!r}: give a range of BPM, e.g. 70-85") from None


def radio(
    rtmp: Annotated[
        str | None, typer.Option(help="Push the stream with a video to this RTMP URL (YouTube Live: its stream URL).")
    ] = None,
    out: Annotated[Path | None, typer.Option(help="Write the MP3 stream to this file ('-': standard output).")] = None,
    mood: Annotated[str | None, typer.Option(help="Keep to this mood (default: the drift chooses).")] = None,
    intensity: Annotated[float, typer.Option(min=0, max=1, help="0: no drums, filtered; 1: every layer.")] = 0.6,
    tempo: Annotated[str | None, typer.Option(help="BPM range, e.g. 70-85 (default 70-88).")] = None,
    key: Annotated[str | None, typer.Option(help='Keep to this key, e.g. "A minor" (default: the drift).')] = None,
    feel: Annotated[str | None, typer.Option(help="calm or tense (default: either).")] = None,
    osc_port: Annotated[int, typer.Option(help="Take state changes over OSC on this UDP port (0: none).")] = 0,
    minutes: Annotated[
        float | None, typer.Option(help="Stop after this many minutes on the air (default: until Ctrl+C).")
    ] = None,
    seed: Annotated[int | None, typer.Option(help="Seed of the drift (default: continue the last run's).")] = None,
    model: ModelOption = None,
) -> None:
    """Play an endless lo-fi stream: tracks composed and rendered ahead, joined by crossfades, drifting in
    mood, key and tempo. The state can change while it plays (over OSC here; `lofi serve --radio` adds
    HTTP and WebSocket). To listen in a browser, use `lofi serve --radio` instead."""
    with user_errors():
        from lofi.radio.state import RadioState
        from lofi.radio.station import station_from_settings

        if rtmp is None and out is None:
            raise ValueError(
                "nowhere to play: give --rtmp URL or --out FILE (--out - | ffplay -), or run `lofi serve --radio`"
            )
        tempo_range = _tempo(tempo) or RadioState().tempo
        state = RadioState(mood=mood, intensity=intensity, tempo=tempo_range, key=key, feel=feel)
        settings = get_settings()
        if model is not None:
            settings = settings.model_copy(update={"default_model": model})
        station = station_from_settings(settings, state, seed)
        if rtmp is not None:
            from lofi.radio.rtmp import RtmpPush

            station.outputs.append(RtmpPush(rtmp))
        writer = _writer(station, out) if out is not None else None
        osc = None
        if osc_port:
            from lofi.radio.osc import OscControl

            osc = OscControl(station.set_state, "0.0.0.0", osc_port)
        loud = out != Path("-")
        station.watch(lambda m: _show(m) if loud else None)
        station.start()
        if osc is not None:
            osc.start()
        if loud:
            console.print("composing the first track; Ctrl+C stops the radio")
        ends = None
        try:
            while ends is None or time.monotonic() < ends:
                time.sleep(0.2)
                failed = [o.error for o in station.outputs if o.error]
                if failed:
                    raise RuntimeError(failed[0])
                if ends is None and minutes is not None and station.on_air.is_set():
                    ends = time.monotonic() + minutes * 60  # minutes on the air, the first track's making aside
        except KeyboardInterrupt:
            pass
        finally:
            if osc is not None:
                osc.close()
            station.stop()
            if writer is not None:
                writer.join(timeout=10)
        stats = station.stats
        played = station.now_playing()["on_air_s"]
        summary = f"played {played:.0f} s, gaps {stats.gap_s} s ({stats.underruns} underruns)"
        (console if loud else err_console).print(summary, highlight=False)


def _show(message: dict) -> None:
    """A line for each track on air and each state change (from OSC)."""
    if message["type"] == "now" and message.get("track"):
        track = message["track"]
        console.print(f"now playing [bold]{track['title']}[/] · {track['mood']} · {track['key']} · {track['bpm']} BPM",
                      highlight=False)  # fmt: skip
    elif message["type"] == "state" and message["takes_effect"]:
        state = ", ".join(f"{k} {v}" for k, v in message["state"].items() if v is not None)
        when = f", heard in {message['levels_in_s']} s" if message.get("levels_in_s") is not None else ""
        console.print(f"state: {state} ({' and '.join(message['takes_effect'])}{when})", highlight=False)


def _writer(station, out: Path) -> threading.Thread:
    """A thread that writes the station's MP3 to ``out`` (or standard output) as it is encoded."""
    listener = station.broadcaster.subscribe()

    def run() -> None:
        sink = sys.stdout.buffer if out == Path("-") else out.open("wb")
        try:
            while (chunk := listener.get()) is not None:
                sink.write(chunk)
                sink.flush()
        except BrokenPipeError:  # the player at the other end of the pipe quit
            pass
        finally:
            if sink is not sys.stdout.buffer:
                sink.close()

    thread = threading.Thread(target=run, name="lofi-radio-out", daemon=True)
    thread.start()
    return thread
