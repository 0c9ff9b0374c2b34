"""Run a source, stages and a sink concurrently on threads joined by bounded queues.

Decode, model and encode overlap (PyAV and torch release the GIL in their heavy calls) and
the bounded queues give backpressure, so memory does not grow with the video's length. Each
queue is bounded in frames and in bytes of pixels, so it does not grow with the frame's size
either (an 8K frame at x2 is 0.5 GB with its LQ input). The first exception anywhere stops
every thread promptly and is re-raised in the caller.
"""

from __future__ import annotations

import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from vidsr.errors import Interrupted, ProcessingError, VidsrError
from vidsr.frame import Frame
from vidsr.stages.base import Stage

__all__ = ["Graph", "StageTiming", "Cancelled", "FrameQueue", "frame_nbytes", "QUEUE_BYTES_DEFAULT"]

_END = object()
_POLL_S = 0.05
# the byte bound of each link when the caller gives none; PipelineConfig.queue_megabytes has the same default
# (vidsr/config.py says why that size)
QUEUE_BYTES_DEFAULT = 512 * 2**20


class Cancelled(Exception):
    """Raised inside a thread's queue operations once the graph is stopping."""


def frame_nbytes(item: Any) -> int:
    """The pixel bytes a queued item keeps alive: a Frame's ``image`` and its LQ ``source_image``; 0 for anything
    else (the end marker). Metadata is small beside them, so it is not counted."""
    image = getattr(item, "image", None)
    source = getattr(item, "source_image", None)
    return int(getattr(image, "nbytes", 0)) + int(getattr(source, "nbytes", 0))


class FrameQueue:
    """A FIFO of at most ``maxsize`` items (no limit when it is 0 or less) that, once it holds a frame, admits
    another frame only while the pixels held (:func:`frame_nbytes`) stay within ``max_bytes``; an item without
    pixels (the end marker) needs only room in the count.

    A bound in frames alone lets memory grow with the frame's size; the byte bound keeps a link's memory flat
    across resolutions. An empty queue always admits an item, so a frame bigger than the whole budget still
    flows, one at a time. ``put`` and ``get`` time out as :class:`queue.Queue`'s do (``queue.Full``,
    ``queue.Empty``), which the graph's polling, stop-aware loops rely on.
    """

    def __init__(self, maxsize: int, max_bytes: int) -> None:
        self.maxsize = maxsize
        self.max_bytes = max_bytes
        self._items: deque[tuple[Any, int]] = deque()
        self._bytes = 0
        self._cond = threading.Condition()

    @property
    def nbytes(self) -> int:
        """Pixel bytes held now."""
        with self._cond:
            return self._bytes

    def __len__(self) -> int:
        with self._cond:
            return len(self._items)

    def _admits(self, size: int) -> bool:
        if not self._items:
            return True
        if 0 < self.maxsize <= len(self._items):
            return False
        return size == 0 or self._bytes + size <= self.max_bytes

    def put(self, item: Any, timeout: float | None = None) -> None:
        """Append ``item``, waiting up to ``timeout`` seconds (None: forever) for room; ``queue.Full`` if none."""
        size = frame_nbytes(item)
        with self._cond:
            if not self._cond.wait_for(lambda: self._admits(size), timeout):
                raise queue.Full
            self._items.append((item, size))
            self._bytes += size
            self._cond.notify_all()

    def get(self, timeout: float | None = None) -> Any:
        """Take the oldest item, waiting up to ``timeout`` seconds (None: forever); ``queue.Empty`` if none."""
        with self._cond:
            if not self._cond.wait_for(lambda: bool(self._items), timeout):
                raise queue.Empty
            item, size = self._items.popleft()
            self._bytes -= size
            self._cond.notify_all()
            return item


@dataclass
class StageTiming:
    """Busy time of one stage: its wall time less the time it waited on its neighbours."""

    name: str
    frames: int = 0
    wall_s: float = 0.0
    wait_in_s: float = 0.0
    wait_out_s: float = 0.0

    @property
    def busy_s(self) -> float:
        return max(self.wall_s - self.wait_in_s - self.wait_out_s, 0.0)

    def as_dict(self) -> dict[str, Any]:
        busy = self.busy_s
        return {
            "frames": self.frames,
            "busy_s": round(busy, 4),
            "fps": round(self.frames / busy, 3) if busy > 0 else None,
            "wait_in_s": round(self.wait_in_s, 4),
            "wait_out_s": round(self.wait_out_s, 4),
        }


_interrupt = threading.Event()
_waiting = 0  # graphs whose calling thread is waiting in ``run`` (guarded by ``_waiting_lock``)
_waiting_lock = threading.RLock()  # re-entrant: the signal handler runs on the main thread, maybe inside it


def request_interrupt() -> bool:
    """Ask the running graphs to stop, as Ctrl-C would; for a signal handler. False when no graph is
    running (the handler should then raise KeyboardInterrupt itself).

    A request, not an exception thrown into the waiting thread: a KeyboardInterrupt that lands inside
    ``Thread.join`` can mark a live thread as finished (CPython's lock handling there, bpo-45274), and the
    run then exits with a worker still inside torch or FFmpeg; the waiting loop polls this instead.
    """
    _interrupt.set()
    with _waiting_lock:
        return _waiting > 0


def clear_interrupt() -> None:
    _interrupt.clear()


@dataclass
class Graph:
    """``source`` yields frames; each stage maps an iterator of frames to one.

    Each link holds at most ``queue_size`` frames and, beyond its first frame, at most ``queue_bytes`` of pixels
    (a frame's image plus its LQ ``source_image``; see :class:`FrameQueue`): the frame count alone would let a
    link's memory grow with the resolution.
    """

    source: Callable[[], Iterable[Frame]]
    stages: list[Stage]
    queue_size: int = 4
    queue_bytes: int = QUEUE_BYTES_DEFAULT
    source_name: str = "demux"
    timings: dict[str, StageTiming] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._stop = threading.Event()
        self._error: BaseException | None = None
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []

    # queue operations that give up when the graph stops
    def _put(self, q: FrameQueue, item: Any, timing: StageTiming) -> None:
        t0 = time.perf_counter()
        while True:
            if self._stop.is_set():
                raise Cancelled
            try:
                q.put(item, timeout=_POLL_S)
                break
            except queue.Full:
                continue
        timing.wait_out_s += time.perf_counter() - t0

    def _drain(self, q: FrameQueue, timing: StageTiming) -> Iterator[Frame]:
        while True:
            t0 = time.perf_counter()
            while True:
                if self._stop.is_set():
                    raise Cancelled
                try:
                    item = q.get(timeout=_POLL_S)
                    break
                except queue.Empty:
                    continue
            timing.wait_in_s += time.perf_counter() - t0
            if item is _END:
                return
            yield item

    def _fail(self, err: BaseException) -> None:
        with self._lock:
            if self._error is None:
                self._error = err
        self._stop.set()

    def _spawn(self, name: str, target: Callable[[], None]) -> None:
        def guarded() -> None:
            try:
                target()
            except Cancelled:
                pass
            except (VidsrError, KeyboardInterrupt) as err:
                self._fail(err)
            except BaseException as err:  # noqa: BLE001 - every failure must reach the caller, named
                wrapped = ProcessingError(f"stage '{name}' failed: {type(err).__name__}: {err}")
                wrapped.__cause__ = err
                self._fail(wrapped)

        thread = threading.Thread(target=guarded, name=f"vidsr-{name}", daemon=True)
        self._threads.append(thread)
        thread.start()

    def _queue(self) -> FrameQueue:
        return FrameQueue(self.queue_size, self.queue_bytes)

    def _start(self) -> FrameQueue:
        """Start the source and stage threads; return the queue the last stage writes to."""
        out_q = self._queue()
        timing = self.timings.setdefault(self.source_name, StageTiming(self.source_name))

        def run_source(q: FrameQueue = out_q, timing: StageTiming = timing) -> None:
            t0 = time.perf_counter()
            try:
                for frame in self.source():
                    timing.frames += 1
                    self._put(q, frame, timing)
                self._put(q, _END, timing)
            finally:
                timing.wall_s = time.perf_counter() - t0

        self._spawn(self.source_name, run_source)
        for stage in self.stages:
            in_q, out_q = out_q, self._queue()
            timing = self.timings.setdefault(stage.name, StageTiming(stage.name))

            def run_stage(stage: Stage = stage, in_q: FrameQueue = in_q, out_q: FrameQueue = out_q,
                          timing: StageTiming = timing) -> None:
                t0 = time.perf_counter()
                try:
                    for frame in stage.process(self._drain(in_q, timing)):
                        timing.frames += 1
                        self._put(out_q, frame, timing)
                    self._put(out_q, _END, timing)
                finally:
                    timing.wall_s = time.perf_counter() - t0

            self._spawn(stage.name, run_stage)
        return out_q

    def _finish(self, wait: bool = True) -> None:
        """Stop and join every thread; re-raise the first error any of them hit."""
        if not wait:
            self._stop.set()
        for thread in self._threads:
            while thread.is_alive():
                thread.join(timeout=_POLL_S)
                if _interrupt.is_set() and self._error is None:
                    self._fail(Interrupted())
                if self._error is not None:
                    self._stop.set()
        if self._error is not None:
            raise self._error

    def run(self, sink: Callable[[Iterator[Frame]], None], sink_name: str = "remux") -> None:
        """Run to completion with ``sink`` consuming the last stage's frames on its own thread.

        The calling thread only waits, so Ctrl-C (or a SIGTERM turned into KeyboardInterrupt)
        reaches it at once; it stops the graph and raises :class:`Interrupted`.
        """
        last_q = self._start()
        timing = self.timings.setdefault(sink_name, StageTiming(sink_name))

        def run_sink() -> None:
            t0 = time.perf_counter()
            try:
                sink(_counting(self._drain(last_q, timing), timing))
            finally:
                timing.wall_s = time.perf_counter() - t0

        self._spawn(sink_name, run_sink)
        global _waiting
        with _waiting_lock:
            _waiting += 1
        try:
            self._finish()
        except KeyboardInterrupt:
            self._fail(Interrupted())
            self._finish(wait=False)
        finally:
            with _waiting_lock:
                _waiting -= 1
        if _interrupt.is_set():  # asked as the last frames went out: the output is not in place yet, so honour it
            raise Interrupted()

    def iterate(self) -> Iterator[Frame]:
        """Yield the last stage's frames in the caller's thread (the frames-in, frames-out API)."""
        last_q = self._start()
        timing = self.timings.setdefault("output", StageTiming("output"))
        try:
            for frame in self._drain(last_q, timing):
                timing.frames += 1
                yield frame
        except Cancelled:
            pass
        finally:
            # normal end, an error upstream, or the caller closed the generator early
            self._stop.set()
            self._finish(wait=False)


def _counting(frames: Iterator[Frame], timing: StageTiming) -> Iterator[Frame]:
    for frame in frames:
        timing.frames += 1
        yield frame
