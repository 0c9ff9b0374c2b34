"""The progress bar on stderr: frames done/total, fps and ETA; silent when asked or when not a terminal."""

from __future__ import annotations

import shutil
import sys
from collections.abc import Iterator
from typing import TypeVar

from tqdm import tqdm

__all__ = ["Progress"]

T = TypeVar("T")


class Progress:
    def __init__(self, total: int | None, enabled: bool | None = None, desc: str = "vidsr") -> None:
        if enabled is None:
            enabled = sys.stderr.isatty()
        # the terminal's size, 80x24 where it is unknown: a tty that reports 0 rows (a bare pty, some CI
        # runners) would make tqdm hide the bar altogether
        size = shutil.get_terminal_size(fallback=(80, 24))
        self._bar = tqdm(total=total, unit="frame", desc=desc, disable=not enabled, file=sys.stderr,
                         ncols=size.columns or 80, nrows=size.lines or 24, smoothing=0.1)

    def wrap(self, items: Iterator[T]) -> Iterator[T]:
        for item in items:
            yield item
            self._bar.update(1)

    def update(self, n: int = 1) -> None:
        self._bar.update(n)

    def close(self) -> None:
        self._bar.close()
