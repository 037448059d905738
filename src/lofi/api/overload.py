"""Load shedding: past ``max_requests_in_flight`` requests in flight, answer 503 with Retry-After at once.

Without it an overloaded server queues every request for a thread-pool thread: the queue, and with it
every answer's wait, grows without bound, and the probes wait in the same queue, so a liveness probe
fails and the pod is killed for being busy. With it, a request past the limit costs the event loop a
few microseconds, the work in hand stays bounded (and well under the thread pool's 40 threads), and the
probes and the scrape, which are never turned away, find a thread and the GIL at once.

A request is in flight from its arrival until its answer starts: the body of a big file going to a slow
client holds no place, since it waits on the network, not on the server.
"""

from __future__ import annotations

from typing import Any

from starlette.responses import JSONResponse

from lofi.api.routes import API_PREFIX

# liveness, readiness and Prometheus: what tells the operator how the server is doing must always answer
EXEMPT = frozenset({f"{API_PREFIX}/health", f"{API_PREFIX}/ready", f"{API_PREFIX}/metrics", "/metrics"})
RETRY_AFTER_S = 1  # a request takes milliseconds: a second later the crowd has moved on


class LoadShedding:
    """Plain ASGI, so a refused request is answered before anything else runs for it."""

    def __init__(self, app: Any, limit: int) -> None:
        self.app = app
        self.limit = limit  # 0: no limit
        self.in_flight = 0  # changed on the event loop only: no lock needed

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or not self.limit or scope["path"] in EXEMPT:
            await self.app(scope, receive, send)
            return
        if self.in_flight >= self.limit:
            busy = JSONResponse(
                {"detail": f"the server is busy: try again in {RETRY_AFTER_S} s"},
                status_code=503,
                headers={"Retry-After": str(RETRY_AFTER_S)},
            )
            await busy(scope, receive, send)
            return
        self.in_flight += 1
        held = True

        async def send_and_release(message: dict) -> None:
            nonlocal held
            if held and message["type"] == "http.response.start":
                held = False
                self.in_flight -= 1
            await send(message)

        try:
            await self.app(scope, receive, send_and_release)
        finally:
            if held:  # ended without an answer (the client left, or an error the server answers)
                self.in_flight -= 1
