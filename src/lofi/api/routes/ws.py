"""WebSockets: a job's progress events until it ends; or submit and stream in one connection."""

from __future__ import annotations

import asyncio
import contextlib

from fastapi import APIRouter, WebSocket, WebSocketDisconnect
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from lofi.api.routes import API_PREFIX
from lofi.api.routes.jobs import job_public, submit
from lofi.api.schemas import GenerateRequest

router = APIRouter(prefix=API_PREFIX, tags=["jobs"])
POLL_S = 0.25
ENDED = ("done", "failed", "cancelled")


async def stream(websocket: WebSocket, queue, job_id: str) -> None:
    """Send the job as it changes (state, progress, message) until it ends, then close."""
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
        await asyncio.sleep(POLL_S)


@router.websocket("/ws/jobs/{job_id}")
async def follow(websocket: WebSocket, job_id: str) -> None:
    await websocket.accept()
    with contextlib.suppress(WebSocketDisconnect):  # the client left: nothing to send to
        await stream(websocket, websocket.app.state.queue, job_id)


@router.websocket("/ws/generate")
async def generate(websocket: WebSocket) -> None:
    """Send one request as JSON; receive the job, then its progress until it ends."""
    settings = websocket.app.state.settings
    if settings.api_key and websocket.headers.get("x-api-key") != settings.api_key:
        await websocket.close(code=4401, reason="a valid X-API-Key header is required")
        return
    await websocket.accept()
    try:
        try:
            body = GenerateRequest.model_validate(await websocket.receive_json())
        except (ValidationError, ValueError) as exc:
            await websocket.send_json({"error": str(exc)})
            await websocket.close(code=4422)
            return
        queue = websocket.app.state.queue
        record = await run_in_threadpool(submit, queue, body, settings)
        await stream(websocket, queue, record.id)
    except WebSocketDisconnect:
        pass
