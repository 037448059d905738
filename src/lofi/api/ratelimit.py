"""Per-client limits, with the `limits` library (the engine under slowapi).

Two limits: the jobs a client submits (POST /generate and /ws/generate count alike), and its wrong API
keys (so a key cannot be guessed). Counted in memory for one server, in Redis when a queue URL is
configured, so every API replica shares one count. Past a limit the client gets 429 and a Retry-After
header with the seconds to wait.

The client is the peer of the connection; behind a reverse proxy it is the address the proxy forwards,
and only when the proxy is one of ``trusted_proxies`` (the app's ProxyHeadersMiddleware sets it).
"""

from __future__ import annotations

import math
import time

from fastapi import HTTPException, status
from limits import RateLimitItem, parse
from limits.storage import storage_from_string
from limits.strategies import MovingWindowRateLimiter
from starlette.requests import HTTPConnection

GENERATE = "generate"
BAD_KEY = "bad-key"


class RateLimiter:
    def __init__(self, rate: str, storage_url: str = "memory://", key_failures: str = "10/minute") -> None:
        # "30/minute": a ValueError names a malformed setting at start-up
        self.items: dict[str, RateLimitItem] = {GENERATE: parse(rate), BAD_KEY: parse(key_failures)}
        self.limiter = MovingWindowRateLimiter(storage_from_string(storage_url))

    def hit(self, connection: HTTPConnection, name: str = GENERATE) -> None:
        """Count one against the client's ``name`` limit; 429 when that is one too many."""
        if not self.limiter.hit(self.items[name], name, client_of(connection)):
            self._refuse(connection, name)

    def check(self, connection: HTTPConnection, name: str) -> None:
        """429 when the client has used up its ``name`` limit; counts nothing."""
        if not self.limiter.test(self.items[name], name, client_of(connection)):
            self._refuse(connection, name)

    def _refuse(self, connection: HTTPConnection, name: str) -> None:
        item = self.items[name]
        reset, _ = self.limiter.get_window_stats(item, name, client_of(connection))
        wait = max(1, math.ceil(reset - time.time()))
        what = "rate limit" if name == GENERATE else "limit of wrong API keys"
        raise HTTPException(
            status.HTTP_429_TOO_MANY_REQUESTS,
            f"{what} of {item} exceeded: try again in {wait} s",
            headers={"Retry-After": str(wait)},
        )


def client_of(connection: HTTPConnection) -> str:
    return connection.client.host if connection.client else "unknown"
