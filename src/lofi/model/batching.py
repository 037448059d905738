"""Dynamic batching: one decoding thread per process that concurrent jobs' sections join.

Workers that compose several tracks at once (threads of one process) submit their continuations to a
shared ``BatchingDecoder``; its thread steps one ``DecodeBatch`` in which rows join and leave between
steps, so the engine's matrix products run on many rows at once instead of one job at a time.

Reproducibility: a row draws from its own random stream, so its tokens depend on its neighbours only
through float rounding. With a batch-invariant engine (``LeanEngine(min_rows=4)``, fp32) the
rounding is the same in any batch, and tracks stay byte-identical; with int8 engines (activations are
quantized per batch) a batched track may differ from a solo one.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from concurrent.futures import Future

from lofi.model.engines.base import Engine
from lofi.model.generate import Continuation, DecodeBatch


class BatchingDecoder:
    def __init__(self, engine: Engine, max_rows: int = 16):
        self.batch = DecodeBatch(engine)
        self.max_rows = max_rows
        self._queue: list[tuple[Continuation, Future]] = []
        self._futures: dict[int, Future] = {}
        self._wake = threading.Condition()
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="lofi-decoder", daemon=True)
        self._thread.start()

    def submit(self, jobs: Sequence[Continuation]) -> list[Future]:
        """Futures of the new tokens of each job, in order; cancel one to drop its row."""
        futures = [Future() for _ in jobs]
        with self._wake:
            if self._closed:
                raise RuntimeError("the decoder is closed")
            self._queue += list(zip(jobs, futures, strict=True))
            self._wake.notify()
        return futures

    def decode(self, jobs: Sequence[Continuation]) -> list[list[int]]:
        return [f.result() for f in self.submit(jobs)]

    def close(self) -> None:
        with self._wake:
            self._closed = True
            self._wake.notify()
        self._thread.join()

    def _run(self) -> None:
        while True:
            with self._wake:
                while not self._queue and not self.batch and not self._closed:
                    self._wake.wait()
                if self._closed and not self._queue and not self.batch:
                    return
                # rows join between steps, up to max_rows; the rest wait for rows to leave
                joining = self._queue[: max(0, self.max_rows - len(self.batch))]
                del self._queue[: len(joining)]
            try:
                for job, future in joining:
                    if future.set_running_or_notify_cancel():
                        self._futures[self.batch.add(job)] = future
                for handle, future in list(self._futures.items()):
                    if future.cancelled():
                        self.batch.cancel(handle)
                        del self._futures[handle]
                for handle, tokens in self.batch.step():
                    self._futures.pop(handle).set_result(tokens)
            except Exception as error:  # a failed step fails every row in it, not the thread
                for future in self._futures.values():
                    future.set_exception(error)
                self._futures.clear()
                self.batch = DecodeBatch(self.batch.engine)
