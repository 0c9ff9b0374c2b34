"""Shared fixtures: real clips made with PyAV, and the CLI run in-process or as a real subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from clipmaker import ClipSpec, make_clip

from vidsr.cli import main

REPO = Path(__file__).resolve().parent.parent


@dataclass
class CliResult:
    code: int
    stdout: str
    stderr: str


@pytest.fixture
def clip(tmp_path: Path) -> Callable[..., Path]:
    """``clip(name, **spec)`` makes a clip in the test's folder."""

    def make(name: str = "in.mp4", **spec: object) -> Path:
        return make_clip(tmp_path / name, ClipSpec(**spec))  # type: ignore[arg-type]

    return make


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]) -> Callable[..., CliResult]:
    """Run ``vidsr ARGS`` in this process (fast) and capture what it printed."""

    def run(*args: str) -> CliResult:
        code = main([str(a) for a in args])
        out, err = capsys.readouterr()
        return CliResult(code, out, err)

    return run


def run_subprocess(*args: str, timeout: float = 120, **kwargs: object) -> subprocess.CompletedProcess[str]:
    """Run the real `vidsr` command as a user would (used where signals or limits are involved)."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run(  # type: ignore[call-overload]
        [sys.executable, "-m", "vidsr", *map(str, args)], capture_output=True, text=True, timeout=timeout,
        env=env, **kwargs
    )


def leftovers(folder: Path) -> list[str]:
    """Temporary files, work directories and locks a run may have left behind (there must be none)."""
    return sorted(p.name for p in folder.iterdir() if any(w in p.name for w in (".vidsr-tmp", ".vidsr-segments",
                                                                                 ".vidsr-lock")))


def wait_for_children_to_exit(timeout: float = 30.0) -> None:
    """After a Ray test module shuts its cluster down, wait for the processes Ray started to exit.

    Isolation, not a fix: Ray's dashboard, agents and workers linger for seconds after ``ray.shutdown()``
    and load the CPU, and under that load the chunked and whole runs of test_resume.py have been seen to
    write different video bytes (the open determinism fault: ``ray.init(); ray.shutdown()`` right before
    tests/test_resume.py makes it fail, the same with a 25 s pause passes). A Ray module must not hand
    its leftover load to the next module."""
    import time

    markers = (b"raylet", b"gcs_server", b"ray::", b"dashboard", b"ray/_private", b"default_worker")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        alive = []
        for entry in Path("/proc").glob("[0-9]*"):
            try:
                cmd = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            if int(entry.name) != os.getpid() and any(m in cmd for m in markers):
                alive.append(entry.name)
        if not alive:
            return
        time.sleep(0.5)
