"""A stage that passes frames untouched: a stage switched off in a pipeline YAML keeps its place in the
graph (and the benchmarks compare a real stage against it), and the report says it did nothing."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from vidsr.frame import Frame

__all__ = ["PassThrough", "PassThroughParams"]


@dataclass
class PassThroughParams:
    """No parameters."""


class PassThrough:
    def __init__(self, name: str, params: PassThroughParams) -> None:
        self.name = name

    def process(self, frames: Iterator[Frame]) -> Iterator[Frame]:
        yield from frames

    def summary(self) -> dict[str, Any]:
        return {"type": "passthrough", "note": "switched off: frames pass unchanged"}
