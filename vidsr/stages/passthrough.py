"""A stage that is declared in the graph but not built yet: frames pass untouched, and the report says so."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from vidsr.frame import Frame

__all__ = ["PassThrough", "PassThroughParams"]


@dataclass
class PassThroughParams:
    """No parameters: the stage exists so the graph reads as the design, and is replaced when real."""


class PassThrough:
    def __init__(self, name: str, params: PassThroughParams) -> None:
        self.name = name

    def process(self, frames: Iterator[Frame]) -> Iterator[Frame]:
        yield from frames

    def summary(self) -> dict[str, Any]:
        return {"type": "passthrough", "note": "not implemented yet: frames pass unchanged"}
