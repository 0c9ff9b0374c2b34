"""Output appears only when complete: a failure, Ctrl-C, SIGTERM or a full disk leaves neither the
output nor a temporary file, and stops every thread of the graph."""

from __future__ import annotations

import resource
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import REPO, leftovers, run_subprocess

import vidsr
from vidsr.config import StageConfig
from vidsr.errors import EXIT_INTERRUPTED, EXIT_PROCESSING, ProcessingError
from vidsr.frame import Frame
from vidsr.pipeline_files import load_pipeline
from vidsr.stages import register_stage


class _Explode:
    """A stage that fails on its fifth frame, standing for any bug or device error mid-run."""

    def __init__(self, name: str, params: object) -> None:
        self.name = name

    def process(self, frames: Iterator[Frame]) -> Iterator[Frame]:
        for frame in frames:
            if frame.index == 4:
                raise RuntimeError("simulated failure in the middle of the video")
            yield frame

    def summary(self) -> dict:
        return {}


@dataclass
class _NoParams:
    pass


register_stage("explode", _Explode, _NoParams)


def _vidsr_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("vidsr-")]


def test_failure_mid_run_leaves_nothing_and_stops_every_thread(clip, tmp_path: Path) -> None:
    src = clip("in.mp4", frames=20)
    config = load_pipeline("default")
    config.stages.insert(1, StageConfig(name="explode", type="explode"))
    dst = tmp_path / "out.mp4"
    t0 = time.perf_counter()
    with pytest.raises(ProcessingError, match="stage 'explode' failed: RuntimeError: simulated failure"):
        vidsr.enhance(src, dst, pipeline=config, preset="ultrafast")
    assert time.perf_counter() - t0 < 30
    assert not dst.exists() and leftovers(tmp_path) == []
    assert _vidsr_threads() == []


def _long_clip(tmp_path: Path, clip) -> Path:
    return clip("long.mp4", frames=150, width=256, height=192)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_signal_mid_run_leaves_nothing(clip, tmp_path: Path, sig: int) -> None:
    src = _long_clip(tmp_path, clip)
    dst = tmp_path / "out.mp4"
    proc = subprocess.Popen(
        [sys.executable, "-m", "vidsr", "run", str(src), str(dst), "--scale", "4", "--preset", "slow", "--quiet"],
        stderr=subprocess.PIPE, text=True, env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"},
    )
    deadline = time.time() + 60
    while not leftovers(tmp_path) and time.time() < deadline and proc.poll() is None:
        time.sleep(0.05)
    assert leftovers(tmp_path), "the run never started writing"
    time.sleep(0.5)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == EXIT_INTERRUPTED, err
    assert "interrupted" in err and "Traceback" not in err, err
    assert not dst.exists() and leftovers(tmp_path) == []


def test_disk_full_while_writing(clip, tmp_path: Path) -> None:
    """A file-size limit makes writes fail with EFBIG, as a full disk fails them with ENOSPC."""
    src = clip("in.mp4", frames=30, width=128, height=96)
    dst = tmp_path / "out.mp4"

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (60_000, 60_000))

    res = run_subprocess("run", src, dst, "--scale", "4", "--crf", "0", "--preset", "ultrafast", "--quiet",
                         preexec_fn=limit)
    assert res.returncode == EXIT_PROCESSING, res.stderr
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and "writing" in lines[0] and "failed" in lines[0], res.stderr
    assert not dst.exists() and leftovers(tmp_path) == []


def test_ctrl_c_while_the_libraries_load_is_one_line(clip, tmp_path: Path) -> None:
    """Ctrl-C in the first second (torch, PyAV and Ray still importing) ends like Ctrl-C mid-run: one line,
    exit 130, no traceback, no output."""
    src = clip("in.mp4", frames=10)
    dst = tmp_path / "out.mp4"
    proc = subprocess.Popen([sys.executable, "-m", "vidsr", "run", str(src), str(dst)], stderr=subprocess.PIPE,
                            text=True, env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"})
    time.sleep(0.3)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == EXIT_INTERRUPTED, err
    assert "interrupted" in err and "Traceback" not in err, err
    assert not dst.exists() and leftovers(tmp_path) == []
