"""Drive lofi's radio from a game loop: an enemy that comes near raises the intensity and turns the
music tense; when it goes away the music calms down again.

Start the radio first, with OSC on:

    lofi serve --radio                     # then listen at http://127.0.0.1:8000/ (the Live panel)
    LOFI_RADIO_OSC_PORT=9000 lofi serve --radio

and run this script beside it:

    python examples/game_intensity.py                  # over OSC, to 127.0.0.1:9000
    python examples/game_intensity.py --http http://127.0.0.1:8000

A real game sends the same messages from its engine: OSC is a UDP packet (every engine has a library for
it), HTTP is one POST. Only changes are sent, never a message per frame: the radio applies intensity at
the next phrase boundary (2 bars) and needs a few seconds to compose new music for a new feel.
"""

from __future__ import annotations

import argparse
import json
import random
import time
import urllib.request

from pythonosc.osc_message_builder import OscMessageBuilder

NEAR, FAR = 12.0, 20.0  # metres: closer than NEAR is "enemy near"; it must pass FAR to count as gone


class Radio:
    """Sends state changes over OSC (and reads the radio's answer) or over HTTP."""

    def __init__(self, osc: tuple[str, int] | None, http: str | None):
        self.osc, self.http = osc, http
        if osc is not None:
            import socket

            self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            self.sock.settimeout(2)

    def set(self, **state: object) -> str:
        if self.http is not None:
            request = urllib.request.Request(
                f"{self.http}/api/v1/radio/state", data=json.dumps(state).encode(), method="POST",
                headers={"Content-Type": "application/json"},
            )  # fmt: skip
            with urllib.request.urlopen(request, timeout=10) as answer:
                return json.load(answer)["takes_effect"]
        builder = OscMessageBuilder("/lofi/state")
        for name, value in state.items():
            builder.add_arg(name)
            builder.add_arg(value)
        self.sock.sendto(builder.build().dgram, self.osc)
        try:
            from pythonosc.osc_message import OscMessage

            reply = OscMessage(self.sock.recv(65536))
            return f"{reply.address} {list(reply.params)}"
        except TimeoutError:
            return "(no answer: is the radio running with LOFI_RADIO_OSC_PORT?)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--osc", default="127.0.0.1:9000", help="host:port of the radio's OSC port")
    parser.add_argument("--http", help="the server's URL, to use HTTP instead of OSC")
    parser.add_argument("--seconds", type=float, default=300, help="how long the game runs")
    args = parser.parse_args()
    host, _, port = args.osc.partition(":")
    radio = Radio(None if args.http else (host, int(port)), args.http)

    rng = random.Random(1)
    distance, near = 40.0, False
    print("the game starts: exploring, the music calm")
    print(" ->", radio.set(intensity=0.3, feel="calm"))
    ends = time.monotonic() + args.seconds
    while time.monotonic() < ends:
        distance = max(0.0, min(60.0, distance + rng.uniform(-3.0, 2.5)))  # the enemy wanders, drawn to us
        if not near and distance < NEAR:
            near = True
            print(f"enemy near ({distance:.0f} m): drums in, tense")
            print(" ->", radio.set(intensity=0.9, feel="tense"))
        elif near and distance > FAR:
            near = False
            print(f"enemy gone ({distance:.0f} m): calm again")
            print(" ->", radio.set(intensity=0.3, feel="calm"))
        time.sleep(0.5)  # the game's tick (a real one runs at 60 Hz; it sends only changes)


if __name__ == "__main__":
    main()
