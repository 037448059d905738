"""Liveness and readiness."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response, status
from sqlalchemy import text

from lofi.api.routes import API_PREFIX
from lofi.api.schemas import Health, Readiness

router = APIRouter(prefix=API_PREFIX, tags=["health"])


@router.get("/health", response_model=Health)
async def health() -> Health:
    """The process answers (on the event loop itself: a liveness probe must not queue for a thread)."""
    return Health(status="ok")


@router.get("/ready", response_model=Readiness, responses={503: {"model": Readiness}})
def ready(request: Request, response: Response) -> Readiness:
    """The model is loaded, the catalog and the queue answer, and this server's workers (if any) live."""
    state = request.app.state
    checks = {"model": "ok" if state.model_id else "not loaded"}
    try:
        with state.catalog.session() as session:
            session.execute(text("SELECT 1"))
        checks["catalog"] = "ok"
    except Exception as exc:  # any failure means not ready; the reason is reported, not raised
        checks["catalog"] = f"unreachable: {type(exc).__name__}"
    try:
        state.queue.list(limit=1)  # the jobs live in the catalog the workers share
        state.queue.ping()  # the broker, for the distributed queue
        checks["queue"] = "ok"
    except Exception as exc:
        checks["queue"] = f"unreachable: {type(exc).__name__}"
    counts = state.queue.local_workers()
    if counts is not None:  # the embedded workers of this process; Celery's live elsewhere (lofi_workers)
        alive, started = counts
        checks["workers"] = "ok" if alive > 0 else f"{alive} of {started} alive"
    ok = all(value == "ok" for value in checks.values())
    if not ok:
        response.status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    return Readiness(ready=ok, checks=checks)
