"""The radio's state over OSC (Open Sound Control, UDP): the protocol game engines and audio tools speak.

Addresses (each changes one field, as ``POST /api/v1/radio/state`` would):

    /lofi/intensity  <float 0-1>
    /lofi/mood       <string>            ("" lets the drift choose)
    /lofi/key        <string>            ("A minor"; "" lets the drift choose)
    /lofi/feel       <string>            ("calm", "tense", "" for either)
    /lofi/tempo      <int low> <int high>
    /lofi/state      <name> <value> [<name> <value> ...]   (several at once: "intensity" 0.9 "feel" "tense")

UDP has no answer, so the sender gets one at its own address and port: ``/lofi/ok`` with what the change
takes (``levels``, ``music``), or ``/lofi/error`` with the reason a bad message changed nothing.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable

from pythonosc.dispatcher import Dispatcher
from pythonosc.osc_server import ThreadingOSCUDPServer
from pythonosc.udp_client import SimpleUDPClient

log = logging.getLogger(__name__)
FIELDS = ("intensity", "mood", "key", "feel", "tempo")


def _changes(address: str, args: tuple) -> dict:
    name = address.rsplit("/", 1)[-1]
    if name == "state":
        if len(args) % 2:
            raise ValueError("/lofi/state takes name value pairs")
        pairs = dict(zip(args[::2], args[1::2], strict=True))
        if "tempo" in pairs:
            raise ValueError("set the tempo with /lofi/tempo <low> <high>")
        unknown = set(pairs) - set(FIELDS)
        if unknown:
            raise ValueError(f"unknown field(s) {', '.join(map(str, sorted(unknown)))}: use {', '.join(FIELDS)}")
        return pairs
    if name == "tempo":
        if len(args) != 2:
            raise ValueError("/lofi/tempo takes two numbers: low high (BPM)")
        return {"tempo": (int(args[0]), int(args[1]))}
    if len(args) != 1:
        raise ValueError(f"{address} takes one value")
    return {name: args[0]}


class OscControl:
    """A UDP OSC server on its own thread that passes state changes to ``set_state``."""

    def __init__(self, set_state: Callable[..., dict], host: str = "127.0.0.1", port: int = 9000):
        self.set_state = set_state
        dispatcher = Dispatcher()
        for name in (*FIELDS, "state"):
            dispatcher.map(f"/lofi/{name}", self._handle, needs_reply_address=True)
        dispatcher.set_default_handler(self._unknown, needs_reply_address=True)
        self.server = ThreadingOSCUDPServer((host, port), dispatcher)
        self.thread = threading.Thread(target=self.server.serve_forever, name="lofi-radio-osc", daemon=True)

    @property
    def port(self) -> int:
        return self.server.server_address[1]

    def start(self) -> None:
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)

    def _handle(self, sender: tuple[str, int], address: str, *args: object) -> None:
        try:
            answer = self.set_state(**_changes(address, args))
        except (ValueError, TypeError) as exc:
            log.info("radio: OSC %s %s refused: %s", address, args, exc)
            self._reply(sender, "/lofi/error", str(exc))
        else:
            self._reply(sender, "/lofi/ok", *answer["takes_effect"])

    def _unknown(self, sender: tuple[str, int], address: str, *args: object) -> None:
        self._reply(sender, "/lofi/error", f"unknown address {address}: use /lofi/<{'|'.join((*FIELDS, 'state'))}>")

    @staticmethod
    def _reply(sender: tuple[str, int], address: str, *values: object) -> None:
        with contextlib.suppress(OSError):  # the sender is gone: UDP owes it nothing
            SimpleUDPClient(*sender).send_message(address, list(values))
