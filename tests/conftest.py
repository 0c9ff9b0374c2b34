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



@pytest.fixture
def one_torch_thread():
    """Model tests on one torch thread: fast on a shared 2-core machine and free of thread-count effects."""
    import torch

    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)
