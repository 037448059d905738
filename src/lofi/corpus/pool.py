"""Run corpus work in a process pool, one item at a time, each under a time limit."""

from __future__ import annotations

import signal
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")


class ItemTimeout(Exception):
    pass


def _on_alarm(signum, frame):
    raise ItemTimeout


def _limited(fn: Callable[[T], R], item: T, timeout_s: float) -> R | BaseException:
    # the alarm interrupts Python-level work in the worker (parsers); subprocesses carry their own timeouts
    signal.signal(signal.SIGALRM, _on_alarm)
    signal.setitimer(signal.ITIMER_REAL, timeout_s)
    try:
        return fn(item)
    except ItemTimeout:
        return TimeoutError(f"timed out after {timeout_s:.0f} s")
    except Exception as exc:  # a bad item must never stop the build: the caller records the reason
        return exc
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)


def run_each(
    fn: Callable[[T], R], items: Iterable[T], workers: int, timeout_s: float
) -> Iterator[tuple[T, R | BaseException]]:
    """Yield ``(item, result or the exception it raised)`` as items finish (order not kept)."""
    items = list(items)
    if workers <= 1:
        for item in items:
            yield item, _limited(fn, item, timeout_s)
        return
    with ProcessPoolExecutor(max_workers=workers) as pool:
        futures = {pool.submit(_limited, fn, item, timeout_s): item for item in items}
        for future in as_completed(futures):
            yield futures[future], future.result()
