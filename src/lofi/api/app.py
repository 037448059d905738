"""The app factory: routes under /api/v1, the dashboard at /, metrics, CORS, the rate limit.

The catalog, the queue and the model are opened once in the lifespan and kept on ``app.state``; the work
of making tracks happens in the queue's workers, never on the event loop.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from lofi import __version__
from lofi.api import metrics as api_metrics
from lofi.api.ratelimit import RateLimiter
from lofi.api.routes import API_PREFIX, health, jobs, options, tracks, ws
from lofi.settings import Settings, get_settings

WEB = Path(__file__).parent / "web"


def _snapshot(app: FastAPI) -> dict:
    """What /metrics reads from the catalog and the queue at scrape time."""
    from sqlalchemy import func, select

    from lofi.catalog.models import Job, Track

    data: dict[str, Any] = {"jobs": {}, "steps": {}}
    with app.state.catalog.session() as session:
        for state, count in session.execute(select(Job.state, func.count()).group_by(Job.state)):
            data["jobs"][str(state)] = count
        data["queue_length"] = data["jobs"].get("queued", 0)
        # the latest 500 tracks are plenty for per-step means and keep a scrape cheap
        for (meta,) in session.execute(select(Track.meta).order_by(Track.created_at.desc()).limit(500)):
            for step, seconds in (meta or {}).get("timings_s", {}).items():
                if isinstance(seconds, int | float) and "." not in step:
                    count, total = data["steps"].get(step, (0, 0.0))
                    data["steps"][step] = (count + 1, total + seconds)
    cache = app.state.queue.cache
    data["cache"] = {"hits": cache.hits, "misses": cache.misses}
    return data


def create_app(settings: Settings | None = None, queue: Any = None, start_workers: bool = True) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        from lofi.catalog import open_catalog
        from lofi.jobs.queue import QueueConfig, open_queue
        from lofi.model import load_checkpoint

        app.state.catalog = open_catalog(settings.catalog_url)
        started = time.perf_counter()
        try:
            app.state.model_id = load_checkpoint(settings.default_model).model_id
        except (FileNotFoundError, ValueError):
            app.state.model_id = None  # /ready says so; the server still serves the library
        app.state.metrics.model_load.set(time.perf_counter() - started)
        app.state.queue = queue or open_queue(QueueConfig.from_settings(settings))
        if queue is None and start_workers:
            app.state.queue.start()
        try:
            yield
        finally:
            if queue is None:
                app.state.queue.close()  # stops the embedded workers; their jobs are re-run on the next start
            app.state.catalog.close()

    app = FastAPI(
        title="lofi",
        version=__version__,
        summary="Compose, render and publish lo-fi tracks.",
        lifespan=lifespan,
        docs_url="/docs",
        openapi_url=f"{API_PREFIX}/openapi.json",
    )
    app.state.settings = settings
    app.state.metrics = api_metrics.Metrics()
    app.state.metrics.watch(lambda: _snapshot(app))
    app.state.limiter = RateLimiter(settings.rate_limit, _limit_storage(settings))
    app.middleware("http")(api_metrics.middleware(app.state.metrics))
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware, allow_origins=settings.cors_origins, allow_methods=["*"], allow_headers=["*"]
        )
    for router in (health.router, options.router, jobs.router, tracks.router, tracks.download, ws.router):
        app.include_router(router)

    @app.exception_handler(ValueError)
    async def value_error(request: Request, exc: ValueError) -> JSONResponse:
        return JSONResponse(status_code=422, content={"detail": str(exc)})

    @app.get(f"{API_PREFIX}/metrics", include_in_schema=False)
    def prometheus() -> Response:
        return Response(generate_latest(app.state.metrics.registry), media_type=CONTENT_TYPE_LATEST)

    @app.get("/metrics", include_in_schema=False)
    def prometheus_root() -> Response:
        return prometheus()

    app.mount("/static", StaticFiles(directory=WEB), name="static")

    @app.get("/", include_in_schema=False)
    def dashboard() -> FileResponse:
        return FileResponse(WEB / "index.html")

    return app


def _limit_storage(settings: Settings) -> str:
    url = getattr(settings, "queue_url", "")
    return url if url.startswith(("redis://", "rediss://")) else "memory://"
