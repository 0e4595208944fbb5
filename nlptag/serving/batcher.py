"""An asyncio micro-batcher: concurrent requests to one model share one forward pass.

Each request is a :class:`Job` (its inputs and a key for its parameters). The batcher takes the
first waiting job, then keeps gathering for up to ``max_wait_ms`` or until ``max_batch_size``
inputs are waiting; jobs with the same key are run by one call of ``run`` on a worker thread (so
the event loop keeps answering, e.g. ``/health``), and each job gets back its own slice of the
outputs, in order. Requests that arrive while a batch runs wait for the next one, so under load
batches fill without waiting at all. The wait is skipped while requests come one at a time (the
last batch held a single request and no other is waiting): a lone client is not slowed down by
batching it cannot use, and the first batch with two requests turns the wait back on.

Inputs are checked before they reach the batcher, but should one call still fail, each of its
jobs is run again on its own: the failure goes to the job that caused it, never to the others.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable, Hashable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger("nlptag.serving")

RunBatch = Callable[[list[Any], Any], list[Any]]
"""``run(inputs, parameters) -> outputs``, one output per input, in order."""


@dataclass
class Job:
    """One request's share of a batch.

    Attributes:
        inputs: the request's inputs, already checked.
        parameters: what ``run`` receives beside the inputs.
        key: jobs with equal keys may share a call of ``run``; ``None`` never shares.
        future: resolved with the request's outputs (or its exception).
    """

    inputs: list[Any]
    parameters: Any
    key: Hashable | None
    future: asyncio.Future = field(repr=False)


class MicroBatcher:
    """Gathers jobs for one model and runs them in batches on one worker thread.

    Args:
        run: computes the outputs of a list of inputs with given parameters (blocking).
        max_batch_size: the most inputs in one call of ``run``; a single request with more
            inputs runs alone. 1 turns batching off.
        max_wait_ms: how long the first job of a batch waits for others to join.
        on_batch: called with the number of inputs of each call of ``run`` (for metrics).
        name: the worker thread's name.
    """

    def __init__(
        self,
        run: RunBatch,
        max_batch_size: int = 32,
        max_wait_ms: float = 5.0,
        on_batch: Callable[[int], None] | None = None,
        name: str = "model",
    ) -> None:
        if max_batch_size < 1:
            raise ValueError("max_batch_size must be at least 1")
        if max_wait_ms < 0:
            raise ValueError("max_wait_ms must not be negative")
        self.run = run
        self.max_batch_size = max_batch_size
        self.max_wait = max_wait_ms / 1000
        self.on_batch = on_batch
        self.calls = 0
        """Calls of ``run`` so far (forward passes, when ``run`` is one predictor call)."""
        self._queue: asyncio.Queue[Job] | None = None
        self._held: deque[Job] = deque()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"nlptag-{name}")
        self._task: asyncio.Task | None = None
        self._busy = False
        self._last_batch_jobs = 1

    def start(self) -> None:
        """Start gathering on the running event loop."""
        self._queue = asyncio.Queue()
        self._task = asyncio.get_running_loop().create_task(self._loop())

    async def stop(self) -> None:
        """Finish the jobs already submitted, then stop."""
        if self._task is not None:
            while self._busy or self._held or not self._queue.empty():
                await asyncio.sleep(0.01)
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None
        self._executor.shutdown(wait=True)

    async def submit(self, inputs: list[Any], parameters: Any, key: Hashable | None) -> list[Any]:
        """The outputs of ``inputs``, computed in a batch with other requests of the same key."""
        if self._queue is None:
            raise RuntimeError("the batcher is not started")
        future = asyncio.get_running_loop().create_future()
        await self._queue.put(Job(list(inputs), parameters, key, future))
        return await future

    async def _next(self, timeout: float | None) -> Job | None:
        if self._held:
            return self._held.popleft()
        if timeout is None:
            return await self._queue.get()
        if timeout <= 0:
            return self._queue.get_nowait() if not self._queue.empty() else None
        try:
            return await asyncio.wait_for(self._queue.get(), timeout)
        except asyncio.TimeoutError:
            return None

    async def _gather(self) -> list[Job]:
        """The next batch: the first job and those that join it within ``max_wait``."""
        first = await self._next(None)
        batch, size = [first], len(first.inputs)
        loop = asyncio.get_running_loop()
        alone = self._last_batch_jobs == 1 and not self._held and self._queue.empty()
        deadline = loop.time() + (0.0 if alone else self.max_wait)
        while size < self.max_batch_size:
            job = await self._next(deadline - loop.time())
            if job is None:
                break
            if size + len(job.inputs) > self.max_batch_size:
                self._held.appendleft(job)  # starts the next batch
                break
            batch.append(job)
            size += len(job.inputs)
        self._last_batch_jobs = len(batch)
        return batch

    async def _loop(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            batch = await self._gather()
            self._busy = True
            try:
                groups: dict[Any, list[Job]] = {}
                for n, job in enumerate(batch):
                    if job.future.done():  # the client went away before its turn
                        continue
                    key = ("shared", job.key) if job.key is not None else ("alone", n)
                    groups.setdefault(key, []).append(job)
                for jobs in groups.values():
                    await loop.run_in_executor(self._executor, self._run_group, jobs, loop)
            finally:
                self._busy = False

    def _call(self, inputs: list[Any], parameters: Any) -> list[Any]:
        self.calls += 1
        if self.on_batch is not None:
            self.on_batch(len(inputs))
        outputs = self.run(inputs, parameters)
        if len(outputs) != len(inputs):
            raise RuntimeError(f"{len(outputs)} outputs for {len(inputs)} inputs")
        return outputs

    def _run_group(self, jobs: Sequence[Job], loop: asyncio.AbstractEventLoop) -> None:
        """Runs on the worker thread; resolves each job's future on the event loop."""
        inputs = [x for job in jobs for x in job.inputs]
        try:
            outputs = self._call(inputs, jobs[0].parameters)
        except Exception as error:  # noqa: BLE001 - handed to the callers below
            if len(jobs) == 1:
                loop.call_soon_threadsafe(_resolve, jobs[0].future, None, error)
                return
            log.warning("a batch of %d requests failed (%s); running each alone", len(jobs), error)
            for job in jobs:
                self._run_group([job], loop)
            return
        start = 0
        for job in jobs:
            end = start + len(job.inputs)
            loop.call_soon_threadsafe(_resolve, job.future, outputs[start:end], None)
            start = end


def _resolve(future: asyncio.Future, result: Any, error: BaseException | None) -> None:
    if future.done():  # cancelled: the client disconnected
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)
