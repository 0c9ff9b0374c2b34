"""A long local run writes chunks that survive a failure: the same command resumes after the last finished
chunk, recomputes none of them, and gives the video an uninterrupted run gives, byte for byte (chunks end at
scene cuts, where the encoder restarts anyway). The chunk length is shrunk to 0.5 s so that a 3.6 s clip has
four chunks; the shipped default is 30 s."""

from __future__ import annotations

import dataclasses
import logging
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from clipmaker import decoded_times, packet_bytes, scene_clip
from conftest import REPO, leftovers, run_subprocess

import vidsr
from vidsr.config import PipelineConfig, StageConfig
from vidsr.errors import EXIT_INTERRUPTED, OutputError, ProcessingError
from vidsr.frame import Frame
from vidsr.media.workdir import workdir_for
from vidsr.pipeline import configure
from vidsr.stages import register_stage


class _FailOnce:
    """Fails on the first frame at or after 2.76 s (frame 69) while ``armed``; records the times it saw.

    Late in chunk 2, so that the frames still in flight behind it (queues, batches) cannot hold back the
    end of chunk 1 (frame 45)."""

    armed = False
    seen: list[float] = []

    def __init__(self, name: str, params: object) -> None:
        self.name = name

    def process(self, frames: Iterator[Frame]) -> Iterator[Frame]:
        for frame in frames:
            _FailOnce.seen.append(round(frame.time or 0.0, 6))
            if _FailOnce.armed and (frame.time or 0.0) >= 2.76:
                raise RuntimeError("simulated crash")
            yield frame

    def summary(self) -> dict:
        return {}


@dataclass
class _NoParams:
    pass


register_stage("fail-once", _FailOnce, _NoParams)


def chunked(chunk_seconds: float = 0.5) -> PipelineConfig:
    config = configure("default", model="bicubic", preset="medium", crf=18)
    config.stages.insert(1, StageConfig(name="fail-once", type="fail-once"))
    config.encode.chunk_seconds = chunk_seconds
    return config


@pytest.fixture
def scenes(tmp_path: Path) -> Path:
    return scene_clip(tmp_path / "in.mp4", 90, cuts=[20, 45, 70])  # 25 fps: 3.6 s


def test_a_crashed_run_resumes_after_its_finished_chunks(scenes: Path, tmp_path: Path,
                                                         caplog: pytest.LogCaptureFixture) -> None:
    dst, whole = tmp_path / "out.mp4", tmp_path / "whole.mp4"
    _FailOnce.armed, _FailOnce.seen = True, []
    with pytest.raises(ProcessingError, match="simulated crash"), caplog.at_level(logging.WARNING, "vidsr"):
        vidsr.enhance(scenes, dst, pipeline=chunked())
    assert not dst.exists()
    kept = sorted(p.name for p in workdir_for(dst).glob("seg-*.json"))
    assert kept == ["seg-00000.json", "seg-00001.json"]  # frames 0-19 and 20-44; the crash hit chunk 2
    assert "2 finished chunks of out.mp4 are kept" in caplog.text

    _FailOnce.armed, _FailOnce.seen = False, []
    report = vidsr.enhance(scenes, dst, pipeline=chunked())
    assert {k: v for k, v in report["chunks"].items() if k != "join_s"} == {
        "seconds": 0.5, "chunks": 4, "chunks_resumed": 2, "frames_resumed": 45}
    assert _FailOnce.seen[0] == 1.8 and len(_FailOnce.seen) == 45  # frames 45-89 only
    assert report["frames"] == 90
    assert abs(report["fps"] * report["wall_s"] - 45) < 0.5  # fps of this run's 45 frames, not of all 90
    assert leftovers(tmp_path) == []

    report = vidsr.enhance(scenes, whole, pipeline=chunked())
    assert report["chunks"]["chunks_resumed"] == 0 and report["output_video"]["encoder_restarts"] == 3
    assert packet_bytes(dst, "video") == packet_bytes(whole, "video")
    assert decoded_times(dst) == decoded_times(scenes)


def test_chunks_change_no_byte_of_the_video(scenes: Path, tmp_path: Path) -> None:
    """Chunks end on scene cuts, where the encoder restarts in a run written in one piece too."""
    one, chunks = tmp_path / "one.mkv", tmp_path / "chunks.mkv"
    a = vidsr.enhance(scenes, one, pipeline=chunked(0))
    b = vidsr.enhance(scenes, chunks, pipeline=chunked())
    assert a["chunks"] is None and b["chunks"]["chunks"] == 4
    assert packet_bytes(one, "video") == packet_bytes(chunks, "video")
    assert decoded_times(one) == decoded_times(chunks) == decoded_times(scenes)


def test_a_changed_setting_starts_afresh(scenes: Path, tmp_path: Path) -> None:
    """Chunks from a run with another crf are not mixed into this one."""
    dst = tmp_path / "out.mp4"
    _FailOnce.armed, _FailOnce.seen = True, []
    with pytest.raises(ProcessingError):
        vidsr.enhance(scenes, dst, pipeline=chunked())
    _FailOnce.armed = False
    other = chunked()
    other.encode.crf = 30
    report = vidsr.enhance(scenes, dst, pipeline=other)
    assert report["chunks"]["chunks_resumed"] == 0
    assert leftovers(tmp_path) == []


def test_a_failure_before_the_first_chunk_ends_leaves_nothing(scenes: Path, tmp_path: Path) -> None:
    dst = tmp_path / "out.mp4"
    _FailOnce.armed, _FailOnce.seen = True, []
    with pytest.raises(ProcessingError):
        vidsr.enhance(scenes, dst, pipeline=chunked(3.0))  # one chunk until 3.0 s, the crash at 2.76 s
    _FailOnce.armed = False
    assert not dst.exists() and leftovers(tmp_path) == []


def test_ctrl_c_keeps_finished_chunks_and_the_same_command_resumes(tmp_path: Path) -> None:
    """The user's view: Ctrl-C once a chunk is finished exits 130 naming the kept chunks and leaves no
    output; the same command resumes (it says so) and completes the video (byte-equality with an
    uninterrupted run is checked above, through the API)."""
    src = scene_clip(tmp_path / "in.mp4", 100, cuts=[25, 50, 75], width=256, height=192)
    config = configure("default", model="bicubic", scale=4, preset="slow")
    config.encode.chunk_seconds = 0.8
    yaml_path = tmp_path / "chunked.yaml"
    yaml_path.write_text(yaml.safe_dump(dataclasses.asdict(config)))
    dst = tmp_path / "out.mp4"
    argv = [sys.executable, "-m", "vidsr", "run", str(src), str(dst), "--pipeline", str(yaml_path), "--quiet"]
    proc = subprocess.Popen(argv, stderr=subprocess.PIPE, text=True,
                            env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"})
    deadline = time.time() + 120
    while not list(workdir_for(dst).glob("seg-*.json")) and time.time() < deadline and proc.poll() is None:
        time.sleep(0.02)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == EXIT_INTERRUPTED, err
    assert "finished chunks of out.mp4 are kept" in err and not dst.exists()
    kept = len(list(workdir_for(dst).glob("seg-*.json")))
    assert 1 <= kept < 4

    again = run_subprocess(*argv[3:])
    assert again.returncode == 0, again.stderr
    assert f"resuming out.mp4: {kept} finished chunks" in again.stderr
    assert decoded_times(dst) == decoded_times(src)
    assert leftovers(tmp_path) == []


def test_a_failed_join_keeps_every_chunk_and_the_rerun_only_joins(scenes: Path, tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """A full disk at the very end (the join) costs no enhancing: the rerun decodes nothing and joins."""
    import vidsr.pipeline

    dst, whole = tmp_path / "out.mp4", tmp_path / "whole.mp4"
    real_join = vidsr.pipeline.join_segments

    def full_disk(*args: object, **kwargs: object) -> int:
        raise OutputError("joining segments into out.mp4 failed: No space left on device")

    _FailOnce.armed, _FailOnce.seen = False, []
    monkeypatch.setattr(vidsr.pipeline, "join_segments", full_disk)
    with pytest.raises(OutputError, match="No space left"):
        vidsr.enhance(scenes, dst, pipeline=chunked())
    assert not dst.exists() and len(list(workdir_for(dst).glob("seg-*.json"))) == 4
    monkeypatch.setattr(vidsr.pipeline, "join_segments", real_join)
    _FailOnce.seen = []
    report = vidsr.enhance(scenes, dst, pipeline=chunked())
    assert report["chunks"]["chunks_resumed"] == 4 and report["frames"] == 90
    assert _FailOnce.seen == []  # nothing decoded or enhanced again
    vidsr.enhance(scenes, whole, pipeline=chunked())
    assert packet_bytes(dst, "video") == packet_bytes(whole, "video")
    assert leftovers(tmp_path) == []
