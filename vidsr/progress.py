"""Progress of a run, in the form its reader wants: a bar on a terminal, plain lines in a log (a job runner,
``2> log``), JSON lines or a callback for a program driving vidsr.

A redirected stderr used to get nothing until the end; like ffmpeg's stats and HandBrakeCLI, it now gets one
line every ``period`` seconds: frames done/total, percent, fps and ETA.
"""

from __future__ import annotations

import json
import shutil
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

__all__ = ["Progress", "ProgressOptions", "ProgressSpec", "PROGRESS_MODES", "DEFAULT_PERIOD_S", "write"]

T = TypeVar("T")

PROGRESS_MODES = ("auto", "bar", "lines", "json", "none")
DEFAULT_PERIOD_S = {"lines": 10.0, "json": 1.0}


@dataclass(frozen=True)
class ProgressOptions:
    """A mode of PROGRESS_MODES with its own period (``vidsr run --progress lines --stats-period 2``)."""

    mode: str = "auto"
    period_s: float | None = None


# what a run's ``progress`` argument may be: None (a bar on a terminal, lines elsewhere), False (nothing), True
# (the bar), one of PROGRESS_MODES, ProgressOptions, or a callable given a state dict (``Progress.state``) at
# every update
ProgressSpec = bool | str | ProgressOptions | Callable[[dict[str, Any]], None] | None


_SHOWN: Progress | None = None  # the bar on the terminal now, if any (one run draws one at a time)


def write(line: str) -> None:
    """Print ``line`` on stderr: above a live bar through its own write (the bar is cleared, the line printed, the
    bar drawn again below it), plainly where no bar is shown. A plain print under a bar left a torn copy of the
    bar with the warning glued to its end, and the bar drawn again on the next line."""
    shown = _SHOWN
    if shown is not None and not shown._closed:
        shown._bar.write(line, file=sys.stderr)
    else:
        print(line, file=sys.stderr, flush=True)


class Progress:
    def __init__(self, total: int | None, enabled: ProgressSpec = None, desc: str = "vidsr",
                 name: str | None = None, period_s: float | None = None) -> None:
        """``enabled`` picks the form (see ``ProgressSpec``); ``name`` (the output) goes into JSON and callback
        states, so a backlog's reader can tell the videos apart; ``period_s`` spaces lines and JSON records."""
        self.total = total
        self.name = name
        self.frames = 0
        self._resumed = 0
        self._t0 = time.monotonic()
        if isinstance(enabled, ProgressOptions):
            enabled, period_s = enabled.mode, enabled.period_s if period_s is None else period_s
        self._callback = enabled if callable(enabled) else None
        mode = "callback" if self._callback else _mode(enabled)
        self._mode = mode
        self._period = DEFAULT_PERIOD_S.get(mode, 0.0) if period_s is None else period_s
        self._last = self._t0
        self._printed = False
        self._closed = False
        # the terminal's size, 80x24 where it is unknown: a tty that reports 0 rows (a bare pty, some CI
        # runners) would make tqdm hide the bar altogether
        from tqdm import tqdm  # here, not at the top: the CLI's --help reads PROGRESS_MODES

        size = shutil.get_terminal_size(fallback=(80, 24))
        self._bar = tqdm(total=total, unit="frame", desc=desc, disable=mode != "bar", file=sys.stderr,
                         ncols=size.columns or 80, nrows=size.lines or 24, smoothing=0.1)
        if mode == "bar":
            global _SHOWN
            _SHOWN = self

    def wrap(self, items: Iterator[T]) -> Iterator[T]:
        for item in items:
            yield item
            self.update(1)

    def resumed(self, n: int) -> None:
        """Frames an earlier run already wrote: they count as done but not in fps or ETA."""
        self._resumed += n
        self.frames += n
        self._bar.update(n)

    def update(self, n: int = 1) -> None:
        self.frames += n
        self._bar.update(n)
        if self._mode in ("lines", "json", "callback"):
            now = time.monotonic()
            if self._mode == "callback" or now - self._last >= self._period:
                self._last = now
                self._emit(done=False)

    def state(self, done: bool = False) -> dict[str, Any]:
        """Where the run is: frames done (resumed ones included) and total, percent, fps and ETA of this run."""
        elapsed = time.monotonic() - self._t0
        fresh = self.frames - self._resumed
        fps = fresh / elapsed if elapsed > 0 and fresh else None
        left = (self.total - self.frames) if self.total else None
        return {"output": self.name, "frames": self.frames, "total": self.total,
                "percent": round(100 * self.frames / self.total, 1) if self.total else None,
                "fps": round(fps, 3) if fps else None, "elapsed_s": round(elapsed, 2),
                "eta_s": round(left / fps, 1) if fps and left is not None else None, "done": done}

    def _emit(self, done: bool) -> None:
        s = self.state(done)
        if self._callback is not None:
            self._callback(s)
        elif self._mode == "json":
            print(json.dumps(s), file=sys.stdout, flush=True)
        else:
            total = f"/{s['total']}" if s["total"] else ""
            pct = f" ({s['percent']:.0f}%)" if s["percent"] is not None else ""
            fps = f"{s['fps']:.2f} fps" if s["fps"] else "- fps"
            eta = _clock(s["eta_s"]) if s["eta_s"] is not None else "-"
            print(f"vidsr: frame {s['frames']}{total}{pct}, {fps}, elapsed {_clock(s['elapsed_s'])}, ETA {eta}",
                  file=sys.stderr, flush=True)
        self._printed = True

    def close(self) -> None:
        """The last record of a finished run: always for JSON and a callback (``done: true``), for lines only
        after earlier ones. A run that fails (closed while an exception propagates) ends with its error instead."""
        if self._closed:
            return
        self._closed = True
        self._bar.close()
        global _SHOWN
        if _SHOWN is self:
            _SHOWN = None
        if sys.exc_info()[0] is not None:
            return
        if self._mode in ("json", "callback") or (self._mode == "lines" and self._printed):
            self._emit(done=True)


def _mode(enabled: bool | str | None) -> str:
    if enabled is None or enabled == "auto":
        return "bar" if sys.stderr.isatty() else "lines"
    if enabled is True:
        return "bar"
    if enabled is False:
        return "none"
    if enabled not in PROGRESS_MODES:
        from vidsr.errors import UsageError

        raise UsageError(f"progress '{enabled}' is not one of {', '.join(PROGRESS_MODES)}")
    return str(enabled)


def _clock(seconds: float) -> str:
    s = int(round(seconds))
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"
