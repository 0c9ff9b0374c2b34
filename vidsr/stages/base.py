"""What a stage is: one job, one method that takes frames and yields frames."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Protocol

from vidsr.frame import Frame

__all__ = ["Stage"]


class Stage(Protocol):
    """A graph stage. ``process`` may hold frames back (batching) but must yield each frame exactly once,
    in order, and flush what it holds when its input ends. ``summary`` feeds the run report."""

    name: str

    def process(self, frames: Iterator[Frame]) -> Iterator[Frame]: ...

    def summary(self) -> dict[str, Any]: ...
