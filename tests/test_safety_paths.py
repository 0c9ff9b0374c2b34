"""Every path a run writes is its own: the report never lands on the input or the output, a planted symlink is
not followed, a second run to the same output stops at once (a lock beside the output), a file that appears
under the output name meanwhile is not replaced, and what killed runs left behind is swept."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from conftest import leftovers

import vidsr
from vidsr.config import PipelineConfig, StageConfig
from vidsr.errors import EXIT_USAGE, OutputError, ProcessingError, UsageError
from vidsr.frame import Frame
from vidsr.media.output import lock_path_for, temp_path_for, workdir_for
from vidsr.pipeline import configure
from vidsr.stages import register_stage


def _digest(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


def _one_line(stderr: str) -> str:
    lines = [ln for ln in stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and "Traceback" not in stderr, stderr
    return lines[0]


def _fast(cli, *args: object) -> Any:
    return cli("run", *map(str, args), "--quiet", "--pipeline", "fast", "--model", "bicubic", "--preset",
               "ultrafast")


@pytest.fixture
def good(clip) -> Path:
    return clip("good.mp4", frames=6)


def test_report_may_not_name_the_input_or_the_output(cli, tmp_path: Path, good: Path) -> None:
    """Each refused up front, exit 2, one line: the input and an existing output keep their bytes."""
    out = tmp_path / "o.mp4"
    out.write_bytes(b"an earlier result")
    before = (_digest(good), _digest(out))
    link = tmp_path / "alias.json"
    link.symlink_to(good)
    for report, words in [(good, "overwrite the input"), (link, "overwrite the input"),
                          (out, "overwrite the output"), (workdir_for(out) / "r.json", "work file")]:
        res = _fast(cli, good, out, "--overwrite", "--report", report)
        assert res.code == EXIT_USAGE and words in _one_line(res.stderr), res.stderr
    assert (_digest(good), _digest(out)) == before
    assert leftovers(tmp_path) == []


def test_report_in_a_missing_folder_is_refused_before_any_work(cli, tmp_path: Path, good: Path) -> None:
    res = _fast(cli, good, tmp_path / "o.mp4", "--report", tmp_path / "no" / "such" / "r.json")
    assert res.code == EXIT_USAGE and "--report folder does not exist" in _one_line(res.stderr)
    assert not (tmp_path / "o.mp4").exists() and leftovers(tmp_path) == []


def test_a_planted_work_folder_symlink_is_refused_not_followed(cli, tmp_path: Path, good: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    out = tmp_path / "o.mp4"
    workdir_for(out).symlink_to(elsewhere)
    res = _fast(cli, good, out)
    assert res.code == EXIT_USAGE and "not a folder vidsr made" in _one_line(res.stderr)
    assert list(elsewhere.iterdir()) == [] and not out.exists()


def test_a_planted_temporary_file_symlink_is_not_written_through(tmp_path: Path, good: Path) -> None:
    """The temporary name carries this process's pid, so it is predictable: whatever sits there is removed
    before the muxer opens it."""
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    out = tmp_path / "o.mp4"
    temp_path_for(out).symlink_to(victim)
    vidsr.enhance(good, out, pipeline=configure("fast", model="bicubic", preset="ultrafast"))
    assert victim.read_text() == "keep me" and out.stat().st_size > 1000
    assert leftovers(tmp_path) == []


def _sleeper() -> subprocess.Popen[bytes]:
    return subprocess.Popen(["sleep", "60"])


def _dead_pid() -> int:
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


def test_a_second_run_to_an_output_being_written_stops_and_touches_nothing(cli, tmp_path: Path, good: Path) -> None:
    """The first run (a live process) holds the lock and has a finished chunk and a temporary file: the second
    run stops with one line, exit 2, and every one of those files keeps its bytes."""
    import socket

    out = tmp_path / "o.mp4"
    first = _sleeper()
    try:
        lock_path_for(out).write_text(f"{socket.gethostname()} {first.pid}\n")
        work = workdir_for(out)
        work.mkdir()
        (work / "seg-00000.mp4").write_bytes(b"the first run's finished chunk")
        temp_path_for(out, first.pid).write_bytes(b"the first run's output so far")
        before = {p.name: _digest(p) for p in [*tmp_path.iterdir(), *work.iterdir()] if p.is_file()}
        res = _fast(cli, good, out)
        line = _one_line(res.stderr)
        assert res.code == EXIT_USAGE and f"pid {first.pid}" in line and "is writing o.mp4" in line, line
        after = {p.name: _digest(p) for p in [*tmp_path.iterdir(), *work.iterdir()] if p.is_file()}
        assert after == before and not out.exists()
    finally:
        first.kill()
        first.wait()


def test_a_dead_runs_lock_and_temporary_file_are_taken_over(cli, tmp_path: Path, good: Path) -> None:
    """SIGKILL, an OOM kill or SIGHUP leave the lock and ``.o.vidsr-tmp-PID.mp4``: the next run to the same
    output removes both (their pid is gone) and leaves a live process's temporary file alone."""
    import socket

    out = tmp_path / "o.mp4"
    dead = _dead_pid()
    lock_path_for(out).write_text(f"{socket.gethostname()} {dead}\n")
    temp_path_for(out, dead).write_bytes(b"half a video")
    alive = _sleeper()
    try:
        temp_path_for(out, alive.pid).write_bytes(b"another live run's file")
        res = _fast(cli, good, out)
        assert res.code == 0, res.stderr
        assert leftovers(tmp_path) == [temp_path_for(out, alive.pid).name]
    finally:
        alive.kill()
        alive.wait()


class _Meddle:
    """Does something to the output's folder at the fourth frame, as another program might mid-run."""

    act = staticmethod(lambda: None)

    def __init__(self, name: str, params: object) -> None:
        self.name = name

    def process(self, frames: Iterator[Frame]) -> Iterator[Frame]:
        for frame in frames:
            if frame.index == 3:
                _Meddle.act()
            yield frame

    def summary(self) -> dict:
        return {}


@dataclass
class _NoParams:
    pass


register_stage("meddle", _Meddle, _NoParams)


def _meddling(act, chunk_seconds: float = 0.0) -> PipelineConfig:
    _Meddle.act = staticmethod(act)
    config = configure("fast", model="bicubic", preset="ultrafast")
    config.stages.insert(0, StageConfig(name="meddle", type="meddle"))
    config.encode.chunk_seconds = chunk_seconds
    return config


def test_an_output_that_appeared_during_the_run_is_not_replaced(clip, tmp_path: Path) -> None:
    src = clip("in.mp4", frames=12)
    out = tmp_path / "o.mp4"
    config = _meddling(lambda: out.write_bytes(b"someone else's file"))
    with pytest.raises(OutputError, match="appeared while this run was writing it"):
        vidsr.enhance(src, out, pipeline=config)
    assert out.read_bytes() == b"someone else's file" and leftovers(tmp_path) == []
    out.unlink()
    vidsr.enhance(src, out, pipeline=_meddling(lambda: out.write_bytes(b"replace me")), overwrite=True)
    assert out.stat().st_size > 1000  # --overwrite: replaced, as asked


@pytest.mark.parametrize("chunk_seconds", [0.0, 0.2], ids=["whole", "chunked"])
def test_output_folder_removed_mid_run(clip, tmp_path: Path, chunk_seconds: float,
                                       caplog: pytest.LogCaptureFixture) -> None:
    """One typed error naming what happened; no claim that chunks were kept when they went with the folder."""
    src = clip("in.mp4", frames=25)
    folder = tmp_path / "out"
    folder.mkdir()
    config = _meddling(lambda: shutil.rmtree(folder), chunk_seconds)
    with pytest.raises((OutputError, ProcessingError)) as err:
        vidsr.enhance(src, folder / "o.mp4", pipeline=config)
    assert "removed during the run" in str(err.value), err.value
    assert "kept" not in caplog.text
    assert not folder.exists()


def test_report_errors_are_typed(tmp_path: Path, good: Path) -> None:
    with pytest.raises(UsageError, match="overwrite the input"):
        vidsr.enhance(good, tmp_path / "o.mp4", pipeline="fast", report_path=good)
