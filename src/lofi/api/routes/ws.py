"""WebSockets: a job's progress events until it ends; every job's (the dashboard's feed); or submit and
stream in one connection.

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
from collections.abc import Callable, Iterator
from urllib.parse import urlsplit

from fastapi import APIRouter, HTTPException, WebSocket, WebSocketDisconnect, status
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from lofi.api.deps import check_key
from lofi.api.routes import API_PREFIX
from lofi.api.routes.jobs import job_public, submit
from lofi.api.schemas import GenerateRequest
from lofi.catalog import JobRecord

router = APIRouter(prefix=API_PREFIX, tags=["jobs"])
POLL_S = 0.25  # a followed job's progress moves smoothly
FEED_POLL_S = 1.0  # a dashboard left open costs the catalog two small queries a second
ENDED = ("done", "failed", "cancelled")
POLICY_VIOLATION = 1008
TRY_AGAIN_LATER = 1013
LATEST_JOBS = 20  # what the dashboard's job list shows


@router.websocket("/ws/jobs")
async def follow_all(websocket: WebSocket) -> None:
    """The latest jobs and every running one at once, then each job again whenever it changes (a new job
    included), until the client leaves: every open dashboard sees every job without polling."""
    if not await admitted(websocket, write=False):
        return
    queue = websocket.app.state.queue

    def look() -> list[JobRecord]:
        latest = queue.list(limit=LATEST_JOBS).items
        shown = {record.id for record in latest}  # a running job can be older than the latest ones
        return [*latest, *(r for r in queue.list(state="running", limit=100).items if r.id not in shown)]

    with serving(websocket):
        await stream(websocket, look, until_ended=False, poll_s=FEED_POLL_S)


@router.websocket("/ws/jobs/{job_id}")
async def follow(websocket: WebSocket, job_id: str) -> None:
    if not await admitted(websocket, write=False):
        return
    queue = websocket.app.state.queue
    with serving(websocket):
        await stream(websocket, lambda: [queue.status(job_id)])


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
        try:
            record = await run_in_threadpool(submit, queue, body, websocket.app.state.settings)
        except HTTPException as exc:  # no model
            await websocket.send_json({"error": exc.detail})
            await websocket.close(code=TRY_AGAIN_LATER)
            return
        await stream(websocket, lambda: [queue.status(record.id)])


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


async def stream(
    websocket: WebSocket, look: Callable[[], list[JobRecord]], until_ended: bool = True, poll_s: float = POLL_S
) -> None:
    """Send each job ``look()`` finds (every ``poll_s``) whenever it is new or changed (state, progress,
    message); with ``until_ended`` close once every job has ended. Return early when the client leaves."""
    left = asyncio.create_task(_until_disconnect(websocket))
    try:
        sent: dict[str, tuple] = {}
        while True:
            try:
                records = await run_in_threadpool(look)
            except LookupError as exc:
                await websocket.send_json({"error": str(exc)})
                await websocket.close(code=4404)
                return
            seen = {}  # only the jobs in view now: the memory of a long-lived feed stays small
            for record in reversed(records):  # oldest first, so a client that prepends keeps the order
                seen[record.id] = (str(record.state), round(record.progress, 3), record.message)
                if sent.get(record.id) != seen[record.id]:
                    await websocket.send_json(job_public(record).model_dump(mode="json"))
            sent = seen
            if until_ended and all(state in ENDED for state, _, _ in seen.values()):
                await websocket.close()
                return
            await asyncio.wait([left], timeout=poll_s)  # the next look at the jobs, unless the client leaves
            if left.done():
                return
    finally:
        left.cancel()


async def _until_disconnect(websocket: WebSocket) -> None:
    """Returns when the client has gone; what it sends meanwhile is not asked for, and dropped."""
    while (await websocket.receive())["type"] != "websocket.disconnect":
        pass
