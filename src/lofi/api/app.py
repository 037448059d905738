"""The app factory: routes under /api/v1, the dashboard at /, docs at /docs, metrics, CORS, the limits.

The catalog, the queue and the model are opened once in the lifespan and kept on ``app.state``; the work
of making tracks happens in the queue's workers, never on the event loop.

Forwarded headers (X-Forwarded-For, -Proto) are believed here, from ``trusted_proxies`` only: the
server in front (`lofi serve`'s uvicorn) must not apply its own, which trusts loopback by default.
"""

from __future__ import annotations

import logging
import re
import shutil
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.middleware.cors import CORSMiddleware
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response
from fastapi.routing import APIRoute
from fastapi.staticfiles import StaticFiles
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.exceptions import HTTPException as StarletteHTTPException
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

import lofi.api.metrics as api_metrics  # not through lofi.api, whose __init__ imports this module
from lofi import __version__, tracing
from lofi.api.overload import LoadShedding
from lofi.api.ratelimit import RateLimiter
from lofi.api.routes import API_PREFIX, health, jobs, options, radio, schedule, tracks, ws
from lofi.api.schemas import errors
from lofi.jobs.queue import JobQueue
from lofi.logs import request_context
from lofi.settings import Settings, get_settings

log = logging.getLogger(__name__)
WEB = Path(__file__).parent / "web"
FINISHED_JOBS_OVERLAP = timedelta(minutes=10)
REQUEST_ID = "x-request-id"
_REQUEST_ID_OK = re.compile(r"[A-Za-z0-9._:-]{1,128}")
# The dashboard loads its script, style, pictures and sound from this server and talks to nothing else
# (connect-src 'self' covers its WebSockets); no other site may frame it (clickjacking).
DASHBOARD_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}
# Swagger UI, from the fastapi-offline package: the docs work with no internet
DOCS_ASSETS = "/docs/assets"


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
        _follow_finished_jobs(app, session)
    cache = app.state.queue.cache
    data["cache"] = {"hits": cache.hits, "misses": cache.misses}
    data["workers"] = app.state.queue.live_workers()
    home = Path(app.state.settings.home).expanduser().resolve()
    while not home.exists():  # with PostgreSQL nothing may have made LOFI_HOME yet; its volume is the same
        home = home.parent
    usage = shutil.disk_usage(home)
    data["disk"] = {"free": usage.free, "size": usage.total}
    radio = getattr(app.state, "radio", None)
    if radio is not None:
        stats = radio.stats
        data["radio"] = {"listeners": radio.broadcaster.count, "buffer": stats.buffer_s, "gaps": stats.gap_s,
                         "underruns": stats.underruns, "tracks": stats.pieces}  # fmt: skip
    return data


def _follow_finished_jobs(app: FastAPI, session: Any) -> None:
    """Feed the jobs that ended since the last scrape to ``lofi_jobs_finished`` and ``lofi_job_duration``.

    A worker stamps ``finished_at`` before its commit lands, so a window of a few minutes is read again
    each time; ids already counted are skipped.
    """
    from sqlalchemy import select

    from lofi.catalog import JobState
    from lofi.catalog.models import Job

    jobs = app.state.metrics.jobs_finished
    if jobs.since is None:
        return
    now = datetime.now(UTC)
    window = max(jobs.since, (jobs.last_read or now) - FINISHED_JOBS_OVERLAP)
    jobs.last_read = now
    rows = session.execute(
        select(Job.id, Job.state, Job.started_at, Job.finished_at)
        .where(Job.finished_at >= window)
        .where(Job.state.in_([JobState.DONE, JobState.FAILED, JobState.CANCELLED]))
    )
    jobs.add(((i, str(state), started, finished) for i, state, started, finished in rows), window)


def create_app(settings: Settings | None = None, queue: JobQueue | None = None, start_workers: bool = True) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        from lofi.catalog import open_catalog
        from lofi.jobs.backends import open_queue
        from lofi.jobs.queue import QueueConfig
        from lofi.model.meta import read_model_id

        app.state.catalog = open_catalog(settings.catalog_url)
        started = time.perf_counter()
        try:  # the folder and the weights' header checked, the weights hashed: no torch in this process
            app.state.model_id = read_model_id(settings.default_model)
        except (FileNotFoundError, ValueError):
            app.state.model_id = None  # /ready says so; the server still serves the library
        app.state.metrics.model_load.set(time.perf_counter() - started)
        app.state.queue = queue or open_queue(QueueConfig.from_settings(settings))
        if queue is None and start_workers:
            app.state.queue.start()
        app.state.daily = None
        if settings.daily_time:  # the daily set at LOFI_DAILY_TIME; its run is kept in the catalog
            from lofi.jobs.scheduler import daily_schedule

            app.state.daily = daily_schedule(settings, app.state.catalog, app.state.queue)
            app.state.daily.start()
        app.state.radio, app.state.radio_osc = None, None
        if settings.radio:  # the endless stream; its producer is a process of its own (torch stays out)
            from lofi.radio.station import station_from_settings

            app.state.radio = station_from_settings(settings)
            app.state.radio.start()
            if settings.radio_osc_port:
                from lofi.radio.osc import OscControl

                app.state.radio_osc = OscControl(app.state.radio.set_state, "0.0.0.0", settings.radio_osc_port)
                app.state.radio_osc.start()
        app.state.metrics.jobs_finished.since = datetime.now(UTC)
        try:
            yield
        finally:
            if app.state.radio_osc is not None:
                app.state.radio_osc.close()
            if app.state.radio is not None:
                app.state.radio.stop()
            if app.state.daily is not None:
                app.state.daily.stop()
            if queue is None:
                # Graceful shutdown (SIGTERM): uvicorn has stopped taking requests; the embedded workers
                # take no new job, running ones get settings.shutdown_grace_s to finish, and the rest
                # go back to the queue for the next start or another worker.
                log.info("shutting down: waiting up to %g s for running jobs", settings.shutdown_grace_s)
                app.state.queue.close()
            app.state.catalog.close()
            tracing.flush()

    app = FastAPI(
        title="lofi",
        version=__version__,
        summary="Compose, render and publish lo-fi tracks.",
        lifespan=lifespan,
        docs_url=None,  # served below from the installed package, not a CDN
        redoc_url=None,  # ReDoc draws its logo from its makers' CDN: /docs is the one docs page
        openapi_url=f"{API_PREFIX}/openapi.json",
    )
    app.state.settings = settings
    app.state.metrics = api_metrics.Metrics()
    app.state.metrics.watch(lambda: _snapshot(app))
    app.state.limiter = RateLimiter(settings.rate_limit, _limit_storage(settings), settings.api_key_failures)
    # outermost last: proxy headers -> request id -> HEAD -> CORS -> metrics -> load shedding -> routes
    app.add_middleware(LoadShedding, limit=settings.max_requests_in_flight)  # inside metrics: 503s are counted
    app.add_middleware(api_metrics.MetricsMiddleware, metrics=app.state.metrics)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware, allow_origins=settings.cors_origins, allow_methods=["*"], allow_headers=["*"]
        )
    app.add_middleware(HeadMiddleware)
    app.add_middleware(RequestIdMiddleware)  # every log line of a request carries its id
    if settings.trusted_proxies:  # the client's address, for the limits and the logs, is the proxy's word
        app.add_middleware(ProxyHeadersMiddleware, trusted_hosts=settings.trusted_proxies)
    app.include_router(health.router)  # never shed (lofi.api.overload.EXEMPT)
    routers = (options.router, jobs.router, tracks.router, tracks.download, schedule.router, radio.router)
    for router in routers:
        app.include_router(router, responses=errors(503))
    app.include_router(ws.router)
    api_routes = [r for router in (health.router, *routers) for r in router.routes if isinstance(r, APIRoute)]

    @app.exception_handler(ValueError)
    async def value_error(request: Request, exc: ValueError) -> JSONResponse:
        return JSONResponse(status_code=422, content={"detail": str(exc)})

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if exc.status_code == 405:  # Starlette names the methods of the first route that matched the path only
            exc.headers = {**(exc.headers or {}), "Allow": allowed_methods(api_routes, request.url.path)}
        return await http_exception_handler(request, exc)

    @app.get(f"{API_PREFIX}/metrics", include_in_schema=False)
    def prometheus() -> Response:
        return Response(generate_latest(app.state.metrics.registry), media_type=CONTENT_TYPE_LATEST)

    @app.get("/metrics", include_in_schema=False)
    def prometheus_root() -> Response:
        return prometheus()

    app.mount("/static", StaticFiles(directory=WEB), name="static")
    app.mount(DOCS_ASSETS, StaticFiles(packages=[("fastapi_offline", "static")]), name="docs-assets")

    @app.get("/", include_in_schema=False)
    def dashboard() -> FileResponse:
        return FileResponse(WEB / "index.html", headers=DASHBOARD_HEADERS)

    @app.get("/docs", include_in_schema=False)
    def swagger_ui() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=app.openapi_url, title="lofi API", swagger_js_url=f"{DOCS_ASSETS}/swagger-ui-bundle.js",
            swagger_css_url=f"{DOCS_ASSETS}/swagger-ui.css", swagger_favicon_url=f"{DOCS_ASSETS}/favicon.png",
            oauth2_redirect_url=None,
            swagger_ui_parameters={"validatorUrl": None},  # Swagger's own online validator: nothing leaves
        )  # fmt: skip

    return app


METHOD_ORDER = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")


def allowed_methods(routes: list[APIRoute], path: str) -> str:
    """The Allow header of a path: every method its routes answer, HEAD with GET (HeadMiddleware); a path
    no API route has is a static file's, GET and HEAD."""
    methods = {m for route in routes if route.path_regex.match(path) for m in route.methods} or {"GET"}
    if "GET" in methods:
        methods.add("HEAD")
    return ", ".join(m for m in METHOD_ORDER if m in methods)


def _limit_storage(settings: Settings) -> str:
    url = settings.queue_url
    return url if url.startswith(("redis://", "rediss://")) else "memory://"


class HeadMiddleware:
    """HEAD on every GET route: the GET's status and headers, without its body (RFC 9110).

    FastAPI routes answer only the methods they declare; answering HEAD here keeps the routes and the
    OpenAPI document as they are. The body is dropped here rather than left to the server, so it is
    right under any ASGI server (a file is read to be dropped: HEAD is rare, and that keeps one path).
    """

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["method"] != "HEAD":
            await self.app(scope, receive, send)
            return
        ended = False

        async def headers_only(message: dict) -> None:
            nonlocal ended
            if message["type"] == "http.response.body":
                if ended or message.get("more_body", False):
                    return
                ended, message = True, {"type": "http.response.body", "body": b"", "more_body": False}
            await send(message)

        # a copy: the server keeps its own scope's "HEAD", and with it the right framing of the reply;
        # "lofi.head" tells an endless body (the radio's stream) not to start
        await self.app({**scope, "method": "GET", "lofi.head": True}, receive, headers_only)


class RequestIdMiddleware:
    """Gives each HTTP request an id (its X-Request-ID header when sane, else a new one) for the logs.

    The id is in ``lofi.logs.request_id`` for everything the request does, uvicorn's access line
    included, and goes back in the response's X-Request-ID header. Plain ASGI, so the id is still set
    while the response is sent.
    """

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        given = next((v.decode("latin-1") for k, v in scope.get("headers", []) if k == REQUEST_ID.encode()), "")
        request_id = given if _REQUEST_ID_OK.fullmatch(given) else uuid.uuid4().hex

        async def send_with_id(message: dict) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), (REQUEST_ID.encode(), request_id.encode())]
            await send(message)

        with request_context(request_id):
            await self.app(scope, receive, send_with_id)
