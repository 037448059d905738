"""The radio: its MP3 stream, what is on air, and its state (which a game or a listener may change).

The station runs in the server's process when it starts with ``--radio`` (LOFI_RADIO); its producer is a
process of its own, so torch stays out of the server. Without it these routes answer 404 (on this server
there is no radio) saying how to turn it on. ``/ws/radio`` sends "now playing" and state changes as they
happen and takes state changes.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Body, HTTPException, Request, WebSocket, status
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.concurrency import run_in_threadpool

from lofi.api.deps import WriteAccess, check_key
from lofi.api.routes import API_PREFIX
from lofi.api.routes.ws import admitted, serving
from lofi.api.schemas import errors
from lofi.limits import TEMPO_RANGE
from lofi.moods import MOODS

router = APIRouter(prefix=API_PREFIX, tags=["radio"])
OFF = "the radio is off: start the server with `lofi serve --radio` (or LOFI_RADIO=true)"


class RadioStateBody(BaseModel):
    """The fields to change; those left out stay as they are. An empty string for mood or key lets the
    drift choose it again."""

    model_config = ConfigDict(extra="forbid")
    mood: str | None = Field(default=None, description=f'One of {", ".join(MOODS)}; "" for any.')
    intensity: float | None = Field(default=None, ge=0, le=1, description="0 (calm: no drums) to 1 (everything).")
    tempo: tuple[int, int] | None = Field(
        default=None, description=f"BPM range low-high within {TEMPO_RANGE[0]}-{TEMPO_RANGE[1]}."
    )
    key: str | None = Field(default=None, description='"A minor", "Eb major"...; "" for any.')
    feel: str | None = Field(default=None, description='"calm", "tense", or "" for either.')


class StateChange(BaseModel):
    state: dict
    takes_effect: list[str] = Field(
        description='"levels" (intensity: at the next phrase boundary), "music" (a new track in the new state, '
        "on the first phrase boundary after it is ready)."
    )
    levels_in_s: float | None = Field(default=None, description="Seconds until the new levels are heard.")


def station(request_or_socket: Request | WebSocket):
    radio = getattr(request_or_socket.app.state, "radio", None)
    if radio is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, OFF)
    return radio


def changes(body: RadioStateBody) -> dict:
    given = body.model_dump(exclude_unset=True)
    if "intensity" in given and given["intensity"] is None:
        raise ValueError("intensity must be a number between 0 and 1")
    return given


@router.get("/radio/now", responses=errors(404))
def now_playing(request: Request) -> dict:
    """The track on air (title, mood, key, bpm; null before the first), the state, listeners, the music
    buffered ahead and the stream's gaps."""
    return station(request).now_playing()


@router.get("/radio/state", responses=errors(404))
def get_state(request: Request) -> dict:
    return station(request).state.to_dict()


@router.post("/radio/state", response_model=StateChange, dependencies=[WriteAccess], responses=errors(401, 404))
def set_state(request: Request, body: Annotated[RadioStateBody, Body()]) -> StateChange:
    """Change the radio's state. Intensity changes the layers at the next phrase boundary; mood, key,
    tempo and feel bring a new track in the new state on the first phrase boundary after it is ready."""
    return StateChange(**station(request).set_state(**changes(body)))


@router.get(
    "/radio/stream.mp3",
    response_class=StreamingResponse,
    responses={200: {"content": {"audio/mpeg": {}}, "description": "An endless MP3 stream."}, **errors(404)},
)
async def stream(request: Request) -> StreamingResponse:
    """The radio as one endless MP3 (192 kbps CBR): plays in an ``<audio>`` element; every listener gets
    the same encoder's frames, the last few seconds first."""
    radio = station(request)
    headers = {"Cache-Control": "no-cache, no-store", "X-Content-Type-Options": "nosniff"}
    if request.scope.get("lofi.head"):  # HEAD: the headers of an endless body
        return StreamingResponse(iter(()), media_type="audio/mpeg", headers=headers)
    listener = radio.broadcaster.subscribe(asyncio.get_running_loop())

    async def chunks() -> AsyncIterator[bytes]:
        try:
            while (chunk := await listener.next()) is not None:
                yield chunk
        finally:
            radio.broadcaster.unsubscribe(listener)

    return StreamingResponse(chunks(), media_type="audio/mpeg", headers=headers)


@router.websocket("/ws/radio")
async def radio_socket(websocket: WebSocket) -> None:
    """Sends {"type": "now", ...} (on connect and at each new track), {"type": "state", ...} and
    {"type": "levels", ...}; takes {"type": "state", "intensity": 0.8, ...} (the API key, when one is
    configured, in the handshake's X-API-Key header) and answers with the change or {"error": ...}."""
    if not await admitted(websocket, write=False):
        return
    try:
        radio = station(websocket)
    except HTTPException as exc:
        await websocket.send_json({"error": exc.detail})
        await websocket.close(code=4404)
        return
    loop = asyncio.get_running_loop()
    outbox: asyncio.Queue = asyncio.Queue(100)

    def forward(message: dict) -> None:
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(lambda: None if outbox.full() else outbox.put_nowait(message))

    unwatch = radio.watch(forward)
    with serving(websocket):
        await websocket.send_json({"type": "now", **radio.now_playing()})
        sender = asyncio.create_task(_send_all(websocket, outbox))
        try:
            while True:
                text = await websocket.receive_text()
                try:
                    message = json.loads(text)
                except ValueError:
                    message = None
                await websocket.send_json(await _change(websocket, radio, message))
        finally:
            unwatch()
            sender.cancel()


async def _send_all(websocket: WebSocket, outbox: asyncio.Queue) -> None:
    while True:
        await websocket.send_json(await outbox.get())


async def _change(websocket: WebSocket, radio, message: object) -> dict:
    if not isinstance(message, dict) or message.get("type") != "state":
        return {"error": 'send {"type": "state", ...fields to change}'}
    try:
        await run_in_threadpool(check_key, websocket, websocket.headers.get("x-api-key"))
        body = RadioStateBody.model_validate({k: v for k, v in message.items() if k != "type"})
        return {"type": "changed", **await run_in_threadpool(lambda: radio.set_state(**changes(body)))}
    except HTTPException as exc:
        return {"error": exc.detail}
    except (ValidationError, ValueError) as exc:
        return {"error": str(exc)}
