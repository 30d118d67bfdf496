"""Threads for sync tools: bounded, and a hung tool can neither exhaust them nor hold the process open.

`asyncio.to_thread` runs on the loop's default `ThreadPoolExecutor`, which counts a thread stuck in
a timed-out call against its size for as long as the call hangs, and joins every thread at exit: a
few hung calls starve every later one, and a single one keeps the process from ending. Here a call
whose awaiter gives up (its timeout, a cancellation) is *abandoned*: its thread runs on to the end
but its slot is freed at once, and every thread is a daemon, so interpreter exit never waits for it.

Neither anyio's worker threads (not daemons) nor the standard executors abandon a call that way.
The runner is not bound to an event loop: sessions on any loop may share one.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import itertools
import queue
import threading
from collections import deque
from collections.abc import Callable
from typing import Any

#: Sync tool calls running at once in one toolbox when its owner does not say.
DEFAULT_MAX_THREADS = 32
#: Seconds an idle thread waits for work before it ends.
IDLE_SECONDS = 10.0

_PENDING, _ASSIGNED, _DONE, _DROPPED = range(4)


class _Job:
    __slots__ = ("abandoned", "fn", "future", "loop", "state")

    def __init__(
        self,
        fn: Callable[[], Any],
        loop: asyncio.AbstractEventLoop,
        future: asyncio.Future[tuple[Any, BaseException | None]],
    ) -> None:
        self.fn = fn
        self.loop = loop
        self.future = future  # of (result, error)
        self.state = _PENDING
        self.abandoned = False


class _Worker:
    __slots__ = ("inbox",)

    def __init__(self) -> None:
        self.inbox: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()


class ToolThreads:
    """Runs sync callables on daemon threads, at most `max_threads` counted at once.

    Calls beyond the bound wait their turn. A call abandoned by its awaiter stops counting at once;
    the thread running it is left to finish (Python cannot stop a thread) and then serves again.
    """

    def __init__(self, max_threads: int = DEFAULT_MAX_THREADS, *, name: str = "engine-tool") -> None:
        if max_threads < 1:
            raise ValueError(f"max_threads must be at least 1, not {max_threads}")
        self.max_threads = max_threads
        self._name = name
        self._numbers = itertools.count(1)
        self._lock = threading.Lock()
        self._busy = 0  # slots held by calls assigned to a thread and not abandoned
        self._pending: deque[_Job] = deque()
        self._idle: list[_Worker] = []
        self._closed = False

    @property
    def busy(self) -> int:
        """Calls counted against the bound now (running or about to run, abandoned ones excluded)."""
        return self._busy

    @property
    def waiting(self) -> int:
        """Calls waiting for a free slot."""
        return len(self._pending)

    async def run(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
        """`fn(*args, **kwargs)` on a thread, in a copy of the caller's context; its result or exception.

        Whatever `fn` raises, `BaseException`s included, is raised here and never ends its thread.
        Raises `RuntimeError` once the runner is shut down.
        """
        loop = asyncio.get_running_loop()
        future: asyncio.Future[tuple[Any, BaseException | None]] = loop.create_future()
        context = contextvars.copy_context()
        job = _Job(lambda: context.run(fn, *args, **kwargs), loop, future)
        self._submit(job)
        try:
            result, error = await future
        except BaseException:
            self._abandon(job)
            raise
        if error is not None:
            # Raised here, not set on the future: the task would throw it into the awaiting coroutines,
            # and a GeneratorExit thrown in closes them all instead of reaching whoever handles it.
            raise error
        return result

    def shutdown(self) -> None:
        """Stop taking calls and let idle threads end; waiting calls fail. Never waits for a running call."""
        with self._lock:
            self._closed = True
            dropped = list(self._pending)
            self._pending.clear()
            for job in dropped:
                job.state = _DROPPED
            idle, self._idle = self._idle, []
        for worker in idle:
            worker.inbox.put(None)
        for job in dropped:
            _deliver(job, None, RuntimeError("the tool threads are shut down"))

    # --- internals --------------------------------------------------------------------------------------

    def _submit(self, job: _Job) -> None:
        with self._lock:
            if self._closed:
                raise RuntimeError("the tool threads are shut down")
            self._pending.append(job)
            starts = self._dispatch()
        self._start(starts)

    def _abandon(self, job: _Job) -> None:
        with self._lock:
            if job.state == _PENDING:
                self._pending.remove(job)
                job.state = _DROPPED
                return
            if job.state != _ASSIGNED or job.abandoned:
                return
            job.abandoned = True
            self._busy -= 1
            starts = self._dispatch()
        self._start(starts)

    def _dispatch(self) -> list[_Job]:
        """Assign waiting jobs to free slots (lock held): idle threads get theirs; the rest need new threads."""
        starts = []
        while self._pending and self._busy < self.max_threads:
            job = self._pending.popleft()
            job.state = _ASSIGNED
            self._busy += 1
            if self._idle:
                self._idle.pop().inbox.put(job)
            else:
                starts.append(job)
        return starts

    def _start(self, jobs: list[_Job]) -> None:
        for job in jobs:
            name = f"{self._name}-{next(self._numbers)}"
            try:
                threading.Thread(target=self._serve, args=(job,), name=name, daemon=True).start()
            except RuntimeError as exc:  # "can't start new thread": the system's limit, not ours
                with self._lock:
                    if not job.abandoned:
                        self._busy -= 1
                    job.state = _DONE
                _deliver(job, None, exc)

    def _serve(self, job: _Job | None) -> None:
        worker = _Worker()
        while job is not None:
            if not job.abandoned:  # abandoned before it started: its awaiter is gone, skip it
                result, error = _call(job.fn)
                _deliver(job, result, error)
                del result, error
            with self._lock:
                if not job.abandoned:
                    self._busy -= 1
                job.state = _DONE
                job = self._pending.popleft() if self._pending and self._busy < self.max_threads else None
                if job is not None:
                    job.state = _ASSIGNED
                    self._busy += 1
                    continue
                if self._closed or len(self._idle) >= self.max_threads:
                    return
                self._idle.append(worker)
            job = self._wait(worker)

    def _wait(self, worker: _Worker) -> _Job | None:
        try:
            return worker.inbox.get(timeout=IDLE_SECONDS)
        except queue.Empty:
            with self._lock:
                if worker in self._idle:
                    self._idle.remove(worker)
                    return None
            return worker.inbox.get()  # a job was handed over just as the wait ended: it is on its way


def _call(fn: Callable[[], Any]) -> tuple[Any, BaseException | None]:
    try:
        return fn(), None
    except StopIteration as exc:  # out of a coroutine it would turn into a return
        return None, RuntimeError(f"the tool raised StopIteration({exc})")
    except BaseException as exc:  # SystemExit, KeyboardInterrupt, ...: the awaiter decides, the thread lives on
        return None, exc


def _deliver(job: _Job, result: Any, error: BaseException | None) -> None:
    def settle() -> None:
        if not job.future.done():  # else the awaiter gave up
            job.future.set_result((result, error))

    with contextlib.suppress(RuntimeError):  # the loop is closed: no one is waiting any more
        job.loop.call_soon_threadsafe(settle)
