"""An actor pool that survives its actors: Ray's ``ActorPool`` pattern plus retries of lost segments.

``ray.util.ActorPool`` hands a dead actor back to its idle list and surfaces the error to the
caller with no way to tell which actor died, so a lost node would keep failing segments. This pool
does what ``ActorPool`` does (hand work to idle actors, ``ray.wait`` on the results) and, when an
actor or its node dies, replaces the actor and gives the segment to the next free one, a bounded
number of times.

A pool can also change tier while it runs: actors added by ``grow`` (GPU actors for GPU nodes that joined
after the job started) are preferred, and once the first of them is ready the others (CPU actors, many
times slower on the same model) are retired as they come free, so no segment waits on a slow actor at the
end of the job and their CPUs go to the GPU actors' decode and encode.
"""

from __future__ import annotations

import collections
import logging
import time
from collections.abc import Callable, Iterator
from typing import Any

import ray
from ray import ObjectRefGenerator
from ray.actor import ActorHandle
from ray.exceptions import (
    ActorUnavailableError,
    GetTimeoutError,
    ObjectLostError,
    OwnerDiedError,
    RayActorError,
    RayTaskError,
    WorkerCrashedError,
)

from vidsr.errors import ProcessingError, VidsrError
from workers.actor import SegmentResult, SegmentTask

__all__ = ["SegmentPool"]

log = logging.getLogger("vidsr")

# what a dead actor, process or node looks like from the driver: worth another actor's try
_LOST = (RayActorError, ActorUnavailableError, WorkerCrashedError, ObjectLostError, OwnerDiedError)


class SegmentPool:
    """``size`` actors made by ``make_actor``; ``run(tasks)`` yields ``(task, result)`` as segments finish."""

    def __init__(self, make_actor: Callable[[], ActorHandle], size: int, max_retries: int,
                 start_timeout_s: float, on_actor: Callable[[dict[str, Any]], None] | None = None,
                 on_progress: Callable[[int], None] | None = None) -> None:
        """``on_progress(n)`` gets frames done as actors report them (negative when a lost attempt's
        frames must be taken back)."""
        self._make = make_actor
        self.on_progress = on_progress or (lambda n: None)
        self.max_retries = max_retries
        self.start_timeout_s = start_timeout_s
        self._on_actor = on_actor or (lambda info: None)
        self._idle: list[ActorHandle] = []
        self._starting: dict[ray.ObjectRef, ActorHandle] = {}
        self._busy: dict[ObjectRefGenerator, tuple[ActorHandle, SegmentTask]] = {}
        self.size = size
        # checked between segments: makers of actors to add (e.g. GPU actors for GPU nodes that joined late)
        self.grow: Callable[[], list[Callable[[], ActorHandle]]] | None = None
        self.actors_started = 0
        self.actors_lost = 0
        self.start_failures = 0
        self.actors_retired = 0
        self.on_retire: Callable[[], None] = lambda: None
        self._preferred: set[ActorHandle] = set()  # started by grow: the tier the pool moves to
        self._make_preferred: Callable[[], ActorHandle] | None = None
        self._retiring = False  # a preferred actor is ready: the others take no new segment
        self._retired: list[tuple[ActorHandle, ray.ObjectRef]] = []
        for _ in range(size):
            self._start_actor()

    def _start_actor(self, make: Callable[[], ActorHandle] | None = None, preferred: bool = False) -> None:
        if make is None and self._retiring:  # a replacement, once the pool has moved to the preferred tier
            make, preferred = self._make_preferred, True
        actor = (make or self._make)()
        if preferred:
            self._preferred.add(actor)
        self._starting[actor.ready.remote()] = actor
        self.actors_started += 1

    def _retire(self, actor: ActorHandle) -> None:
        """Take ``actor`` out of the pool: it cleans its scratch space now and is ended at shutdown."""
        self._retired.append((actor, actor.close.remote()))
        self.actors_retired += 1
        self.size -= 1
        self.on_retire()

    def _free(self, actor: ActorHandle) -> None:
        """An actor with nothing to do: idle, or retired when the pool has moved to the preferred tier."""
        if self._retiring and actor not in self._preferred:
            self._retire(actor)
        else:
            self._idle.append(actor)

    def run(self, tasks: list[SegmentTask], method: str = "process") -> Iterator[tuple[SegmentTask, Any]]:
        """Call actor ``method`` (a streaming generator: frame counts, then its result) once per task."""
        pending = collections.deque(tasks)
        last_progress = time.monotonic()
        while pending or self._busy:
            while pending and self._idle:
                actor, task = self._idle.pop(), pending.popleft()
                task.frames_done = 0
                self._busy[getattr(actor, method).remote(task)] = (actor, task)
            waiting = [*self._busy, *self._starting]
            if not waiting:
                raise ProcessingError("every Ray actor was lost and none could be restarted; nothing left to run on")
            ready, _ = ray.wait(waiting, num_returns=1, timeout=5.0)
            if not ready:
                if not self._busy and time.monotonic() - last_progress > self.start_timeout_s:
                    raise ProcessingError(
                        f"no Ray actor became ready in {self.start_timeout_s:.0f} s; the cluster lacks the "
                        f"resources asked for (available: {ray.available_resources()})"
                    )
                continue
            last_progress = time.monotonic()
            ref = ready[0]
            if ref in self._starting:
                self._actor_ready(ref)
                continue
            actor, task = self._busy[ref]
            try:
                t_get = time.perf_counter()
                item: int | SegmentResult | list[int] = ray.get(next(ref))
                task.fetch_s = time.perf_counter() - t_get
            except (*_LOST, StopIteration) as err:
                del self._busy[ref]
                self.on_progress(-task.frames_done)
                task.frames_done = 0
                self._lost(actor, task, err)
                pending.appendleft(task)
                continue
            except RayTaskError as err:
                raise _user_error(err, task) from None
            if isinstance(item, int):
                task.frames_done += item
                self.on_progress(item)
                continue
            del self._busy[ref]
            self._free(actor)
            if self.grow is not None and pending:
                for make in self.grow():
                    self._start_actor(make, preferred=True)
                    self._make_preferred = make
                    self.size += 1
            yield task, item

    def _actor_ready(self, ref: ray.ObjectRef) -> None:
        actor = self._starting.pop(ref)
        try:
            info = ray.get(ref)
        except _LOST as err:
            self.actors_lost += 1
            self.start_failures += 1
            if self.start_failures > self.size + self.max_retries:
                raise ProcessingError(
                    f"Ray actors keep dying while they load the pipeline ({self.start_failures} so far; last: "
                    f"{_first_line(err)}); check the worker nodes' memory and logs"
                ) from None
            log.warning("a Ray actor died while starting (%s); starting another", _first_line(err))
            preferred = actor in self._preferred
            self._start_actor(self._make_preferred if preferred else None, preferred=preferred)
            return
        except RayTaskError as err:  # the pipeline cannot be built there: the same error as a local run
            raise _user_error(err, None) from None
        self._on_actor(info)
        if actor in self._preferred and not self._retiring:
            self._retiring = True
            log.info("a preferred (GPU) actor is ready: the other actors retire as they come free")
            for other in [a for a in self._idle if a not in self._preferred]:
                self._idle.remove(other)
                self._retire(other)
        self._free(actor)

    def _lost(self, actor: ActorHandle, task: SegmentTask, err: Exception) -> None:
        """Record the failure on the task, replace the actor, and give up after ``max_retries`` retries."""
        self.actors_lost += 1
        task.attempt += 1
        task.failures.append(f"{type(err).__name__}: {_first_line(err)}")
        ray.kill(actor, no_restart=True)
        if task.attempt > self.max_retries:
            raise ProcessingError(
                f"{task.segment.name} of {task.src} failed {task.attempt} times (its Ray actor or node died each "
                f"time; last: {task.failures[-1]})"
            )
        log.warning("%s of %s lost its actor (%s); retrying on another", task.segment.name, task.src,
                    task.failures[-1])
        self._start_actor()

    def shutdown(self) -> None:
        """Let every actor clean its scratch space, then end them (queued calls are cancelled)."""
        actors = [*self._idle, *(a for a, _ in self._busy.values()), *self._starting.values(),
                  *(a for a, _ in self._retired)]
        closing = [a.close.remote() for a in self._idle] + [ref for _, ref in self._retired]
        try:
            ray.get(closing, timeout=10)
        except (GetTimeoutError, *_LOST, RayTaskError):
            pass
        for actor in actors:
            ray.kill(actor, no_restart=True)
        self._idle.clear()
        self._busy.clear()
        self._starting.clear()
        self._retired.clear()


def _first_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return " ".join(text[0].split())[:300] if text else type(err).__name__


def _user_error(err: RayTaskError, task: SegmentTask | None) -> VidsrError:
    """A typed error raised inside an actor reaches the user as the same one line a local run prints."""
    cause = err.cause
    if isinstance(cause, VidsrError):
        return cause
    where = f"{task.segment.name} of {task.src}" if task else "starting a Ray actor"
    detail = f"{type(cause).__name__}: {_first_line(cause)}" if cause is not None else _first_line(err)
    return ProcessingError(f"{where} failed: {detail}")
