"""WebSockets: a job's progress events until it ends; or submit and stream in one connection.

Every socket is checked before the handshake as an HTTP request would be: the Origin (a browser on
another site must not drive this server with its user's access), and for /ws/generate the API key and
the rate limit of POST /generate. A refused handshake gets the HTTP status the request would get (403,
401, 429 with Retry-After), or close code 1008 where the server cannot answer a handshake with HTTP.

A handler listens for the client while it waits for the job to change, so it ends as soon as the
client leaves (or the server shuts down) instead of polling a job nobody follows any more.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from urllib.parse import urlsplit

from fastapi import APIRouter, HTTPException, WebSocket, WebSocketDisconnect, status
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from lofi.api.deps import check_key
from lofi.api.routes import API_PREFIX
from lofi.api.routes.jobs import job_public, submit
from lofi.api.schemas import GenerateRequest

router = APIRouter(prefix=API_PREFIX, tags=["jobs"])
POLL_S = 0.25
ENDED = ("done", "failed", "cancelled")
POLICY_VIOLATION = 1008


@router.websocket("/ws/jobs/{job_id}")
async def follow(websocket: WebSocket, job_id: str) -> None:
    if not await admitted(websocket, write=False):
        return
    with serving(websocket):
        await stream(websocket, websocket.app.state.queue, job_id)


@router.websocket("/ws/generate")
async def generate(websocket: WebSocket) -> None:
    """Send one request as JSON; receive the job, then its progress until it ends."""
    if not await admitted(websocket, write=True):
        return
    with serving(websocket):
        try:
            body = GenerateRequest.model_validate(await websocket.receive_json())
        except (ValidationError, ValueError) as exc:
            await websocket.send_json({"error": str(exc)})
            await websocket.close(code=4422)
            return
        queue = websocket.app.state.queue
        record = await run_in_threadpool(submit, queue, body, websocket.app.state.settings)
        await stream(websocket, queue, record.id)


async def admitted(websocket: WebSocket, write: bool) -> bool:
    """Accept the handshake if the Origin is allowed and, for a write, the key and the rate limit are;
    otherwise refuse it and return False."""
    try:
        if not origin_allowed(websocket):
            raise HTTPException(status.HTTP_403_FORBIDDEN, f"origin {websocket.headers['origin']!r} is not allowed")
        if write:  # the limits may live in Redis: off the event loop
            await run_in_threadpool(check_key, websocket, websocket.headers.get("x-api-key"))
            await run_in_threadpool(websocket.app.state.limiter.hit, websocket)  # one connection, one job
    except HTTPException as exc:
        if "websocket.http.response" in websocket.scope.get("extensions", {}):
            await websocket.send_denial_response(
                JSONResponse({"detail": exc.detail}, status_code=exc.status_code, headers=exc.headers)
            )
        else:
            reason = str(exc.detail).encode()[:123].decode(errors="ignore")  # a close reason's limit
            await websocket.close(code=POLICY_VIOLATION, reason=reason)
        return False
    await websocket.accept()
    return True


def origin_allowed(websocket: WebSocket) -> bool:
    """No Origin (not a browser), this server's own (the dashboard), or one of the CORS origins.

    Browsers send Origin with every WebSocket and do not apply CORS to them, so this check is what
    keeps another site's page from using the visitor's access to this server.
    """
    origin = websocket.headers.get("origin")
    if origin is None:
        return True
    allowed = websocket.app.state.settings.cors_origins
    if origin in allowed or "*" in allowed:
        return True
    return urlsplit(origin).netloc.lower() == websocket.headers.get("host", "").lower()


@contextlib.contextmanager
def serving(websocket: WebSocket) -> Iterator[None]:
    """Counted in ``lofi_websockets_open`` while it runs; a client that left is no error."""
    with websocket.app.state.metrics.websockets.track_inprogress(), contextlib.suppress(WebSocketDisconnect):
        yield


async def stream(websocket: WebSocket, queue, job_id: str) -> None:
    """Send the job as it changes (state, progress, message) until it ends, then close; return early
    when the client leaves."""
    left = asyncio.create_task(_until_disconnect(websocket))
    try:
        last = None
        while True:
            try:
                record = await run_in_threadpool(queue.status, job_id)
            except LookupError:
                await websocket.send_json({"error": f"no job {job_id!r}"})
                await websocket.close(code=4404)
                return
            snapshot = (str(record.state), round(record.progress, 3), record.message)
            if snapshot != last:
                await websocket.send_json(job_public(record).model_dump(mode="json"))
                last = snapshot
            if snapshot[0] in ENDED:
                await websocket.close()
                return
            await asyncio.wait([left], timeout=POLL_S)  # the next look at the job, unless the client leaves
            if left.done():
                return
    finally:
        left.cancel()


async def _until_disconnect(websocket: WebSocket) -> None:
    """Returns when the client has gone; what it sends meanwhile is not asked for, and dropped."""
    while (await websocket.receive())["type"] != "websocket.disconnect":
        pass
