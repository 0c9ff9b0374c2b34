"""The graph's links are bounded in bytes as well as frames: the budget holds, a frame bigger than it still flows,
order and content are unchanged, and a stop still reaches a producer that waits for room."""

from __future__ import annotations

import queue
import threading
import time
from collections import deque
from collections.abc import Iterator
from fractions import Fraction
from typing import Any

import numpy as np
import pytest

import vidsr.graph as graph_module
from vidsr.config import PipelineConfig, from_dict
from vidsr.errors import ConfigError, ProcessingError
from vidsr.frame import Frame
from vidsr.graph import FrameQueue, Graph, frame_nbytes

END = object()


def _frame(i: int, size: int = 4, lq: bool = False) -> Frame:
    """A frame whose pixels say which one it is (so content, not only order, can be checked)."""
    rng = np.random.default_rng(i)
    image = rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
    source = rng.integers(0, 256, (size // 2, size // 2, 3), dtype=np.uint8) if lq else None
    return Frame(image=image, pts=i, time_base=Fraction(1, 25), index=i, source_image=source)


class _CheckedItems(deque):
    """The queue's storage, checking after every append (under the queue's lock) what the queue then holds."""

    def __init__(self, owner: FrameQueue, log: list[tuple[int, int]]) -> None:
        super().__init__()
        self.owner, self.log = owner, log

    def append(self, entry: tuple[Any, int]) -> None:
        super().append(entry)
        frames = sum(1 for _, size in self if size > 0)  # the end marker has no pixels: it needs only count room
        held = sum(size for _, size in self)
        self.log.append((frames, held))
        assert len(self) <= self.owner.maxsize
        assert frames <= 1 or held <= self.owner.max_bytes, (frames, held, self.owner.max_bytes)


class _CheckedQueue(FrameQueue):
    logs: list[list[tuple[int, int]]] = []

    def __init__(self, maxsize: int, max_bytes: int) -> None:
        super().__init__(maxsize, max_bytes)
        log: list[tuple[int, int]] = []
        _CheckedQueue.logs.append(log)
        self._items = _CheckedItems(self, log)


@pytest.fixture
def checked(monkeypatch: pytest.MonkeyPatch) -> list[list[tuple[int, int]]]:
    """Every queue a Graph builds checks its bounds; yields the (frames, bytes) held after each put, per queue."""
    _CheckedQueue.logs = []
    monkeypatch.setattr(graph_module, "FrameQueue", _CheckedQueue)
    return _CheckedQueue.logs


class _Stage:
    """A pass-through stage: optionally slow, optionally adding an LQ record as SR does, optionally failing."""

    def __init__(self, name: str, delay_s: float = 0.0, add_lq: bool = False, fail_after: int | None = None,
                 batch: int = 1) -> None:
        self.name, self.delay_s, self.add_lq, self.fail_after, self.batch = name, delay_s, add_lq, fail_after, batch

    def process(self, frames: Iterator[Frame]) -> Iterator[Frame]:
        held: list[Frame] = []
        for n, f in enumerate(frames):
            if self.fail_after is not None and n >= self.fail_after:
                raise RuntimeError("simulated failure")
            time.sleep(self.delay_s)
            if self.add_lq:
                f = f.with_image(np.repeat(np.repeat(f.image, 2, 0), 2, 1), source_image=f.image)
            held.append(f)
            if len(held) == self.batch:
                yield from held
                held = []
        yield from held

    def summary(self) -> dict[str, Any]:
        return {}


def test_nbytes_counts_image_and_lq_and_nothing_else() -> None:
    assert frame_nbytes(_frame(0, 4)) == 48
    assert frame_nbytes(_frame(0, 4, lq=True)) == 48 + 12
    assert frame_nbytes(END) == 0


def test_queue_holds_frames_up_to_the_byte_budget() -> None:
    q = FrameQueue(10, max_bytes=100)  # 48 bytes a frame: two fit, a third does not
    q.put(_frame(0), timeout=0.01)
    q.put(_frame(1), timeout=0.01)
    assert (len(q), q.nbytes) == (2, 96)
    with pytest.raises(queue.Full):
        q.put(_frame(2), timeout=0.01)
    q.put(END, timeout=0.01)  # the end marker counts 0 bytes
    assert q.get(timeout=0.01).index == 0
    q.put(_frame(2), timeout=0.01)
    assert [q.get(timeout=0.01) for _ in range(3)][1] is END  # FIFO, the marker in its place
    with pytest.raises(queue.Empty):
        q.get(timeout=0.01)
    assert q.nbytes == 0


def test_queue_still_bounds_the_frame_count() -> None:
    q = FrameQueue(2, max_bytes=10**9)
    q.put(_frame(0), timeout=0.01)
    q.put(END, timeout=0.01)
    with pytest.raises(queue.Full):
        q.put(_frame(1), timeout=0.01)


def test_a_frame_bigger_than_the_budget_passes_alone() -> None:
    q = FrameQueue(4, max_bytes=10)
    q.put(_frame(0), timeout=0.01)  # an empty queue always admits
    with pytest.raises(queue.Full):
        q.put(_frame(1), timeout=0.01)
    assert q.get(timeout=0.01).index == 0
    q.put(_frame(1), timeout=0.01)
    assert q.get(timeout=0.01).index == 1


def test_queue_between_threads_keeps_order_and_the_budget() -> None:
    q = FrameQueue(8, max_bytes=150)  # three 48-byte frames at most, far below the count bound
    log: list[tuple[int, int]] = []
    q._items = _CheckedItems(q, log)
    got: list[int] = []

    def produce() -> None:
        for i in range(200):
            q.put(_frame(i))
        q.put(END)

    def consume() -> None:
        while (item := q.get()) is not END:
            got.append(item.index)
            if item.index % 7 == 0:
                time.sleep(0.002)  # let the producer fill the queue now and then

    threads = [threading.Thread(target=produce), threading.Thread(target=consume)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=10)
    assert got == list(range(200))
    assert max(n for n, _ in log) == 3  # the byte budget was what held it back, never the count


def test_graph_order_and_content_are_unchanged(checked: list[list[tuple[int, int]]]) -> None:
    frames = [_frame(i, 8) for i in range(40)]

    def run(queue_bytes: int) -> list[Frame]:
        stages = [_Stage("a", batch=3), _Stage("sr", add_lq=True, batch=4), _Stage("b", batch=2)]
        graph = Graph(source=lambda: iter(frames), stages=stages, queue_size=4, queue_bytes=queue_bytes)
        out: list[Frame] = []
        graph.run(lambda it: out.extend(it))
        assert graph.timings["remux"].frames == 40
        return out

    # 192-byte frames before "sr", 960 after: 1000 bytes holds 1 to 4 frames depending on the link
    for bounded, free in zip(run(1000), run(10**9), strict=True):
        assert bounded.index == free.index
        assert np.array_equal(bounded.image, free.image) and np.array_equal(bounded.source_image, free.source_image)
    assert [f.index for f in run(1000)] == list(range(40))
    assert max(n for n, b in checked[-1] if b > 0) == 1  # after sr, one 960-byte frame at a time


def test_graph_respects_the_byte_budget_with_a_slow_sink(checked: list[list[tuple[int, int]]]) -> None:
    frames = [_frame(i, 4) for i in range(30)]  # 48 bytes each
    graph = Graph(source=lambda: iter(frames), stages=[_Stage("a")], queue_size=16, queue_bytes=150)

    def sink(it: Iterator[Frame]) -> None:
        for _ in it:
            time.sleep(0.005)

    graph.run(sink)
    assert len(checked) == 2
    for log in checked:  # the _CheckedItems asserts held the budget at every put; it was reached, not exceeded
        assert max(n for n, b in log if b > 0) == 3


def test_graph_passes_frames_bigger_than_the_budget(checked: list[list[tuple[int, int]]]) -> None:
    frames = [_frame(i, 16, lq=True) for i in range(12)]
    graph = Graph(source=lambda: iter(frames), stages=[_Stage("sr", add_lq=True)], queue_size=4, queue_bytes=1)
    got = [f.index for f in graph.iterate()]
    assert got == list(range(12))
    assert all(n == 1 for log in checked for n, b in log if b > 0)


def _endless() -> Iterator[Frame]:
    i = 0
    while True:
        yield _frame(i, 8)
        i += 1


def test_a_failure_stops_a_producer_waiting_for_room() -> None:
    # the source fills its link to the byte budget and waits; the stage then fails
    graph = Graph(source=_endless, stages=[_Stage("slow", delay_s=0.3, fail_after=1)], queue_size=16, queue_bytes=500)
    t0 = time.perf_counter()
    with pytest.raises(ProcessingError, match="stage 'slow' failed: RuntimeError: simulated failure"):
        graph.run(lambda it: None if list(it) else None)
    assert time.perf_counter() - t0 < 2
    assert not any(t.is_alive() for t in graph._threads)


def test_closing_the_output_early_stops_a_producer_waiting_for_room() -> None:
    graph = Graph(source=_endless, stages=[_Stage("a")], queue_size=16, queue_bytes=500)
    out = graph.iterate()
    assert [next(out).index for _ in range(3)] == [0, 1, 2]
    time.sleep(0.1)  # both links fill to their byte budget; source and stage wait for room
    t0 = time.perf_counter()
    out.close()
    assert time.perf_counter() - t0 < 1
    assert not any(t.is_alive() for t in graph._threads)


def test_config_field_default_matches_the_graph_and_is_range_checked() -> None:
    assert PipelineConfig(name="x").queue_megabytes * 2**20 == Graph(source=list, stages=[]).queue_bytes
    assert from_dict(PipelineConfig, {"name": "x", "queue_megabytes": 64}).queue_megabytes == 64
    # 4 frames of 3840x2160 8-bit out, with their 1920x1080 LQ, fit the default: 4K output is not held back
    assert 4 * (3840 * 2160 * 3 + 1920 * 1080 * 3) <= PipelineConfig(name="x").queue_megabytes * 2**20
    with pytest.raises(ConfigError, match="queue_megabytes: -1 is out of range"):
        from_dict(PipelineConfig, {"name": "x", "queue_megabytes": -1})
