"""The limit on POST /generate, per client, with the `limits` library (the engine under slowapi).

Counted in memory for one server, in Redis when a queue URL is configured, so every API replica shares
one count. Past the limit the request gets 429 and a Retry-After header with the seconds to wait.
"""

from __future__ import annotations

import math
import time

from fastapi import HTTPException, Request, status
from limits import parse
from limits.storage import storage_from_string
from limits.strategies import MovingWindowRateLimiter


class RateLimiter:
    def __init__(self, rate: str, storage_url: str = "memory://") -> None:
        self.item = parse(rate)  # "30/minute": a ValueError names a malformed setting at start-up
        self.limiter = MovingWindowRateLimiter(storage_from_string(storage_url))

    def hit(self, request: Request) -> None:
        client = request.client.host if request.client else "unknown"
        if self.limiter.hit(self.item, "generate", client):
            return
        reset, _ = self.limiter.get_window_stats(self.item, "generate", client)
        wait = max(1, math.ceil(reset - time.time()))
        raise HTTPException(
            status.HTTP_429_TOO_MANY_REQUESTS,
            f"rate limit of {self.item} exceeded: try again in {wait} s",
            headers={"Retry-After": str(wait)},
        )
