"""Inputs that are not video files say what they are (issue 20 item 13): a FIFO and /dev/zero were "input is
empty (0 bytes)", a URL was printed as ``http:/...`` (pathlib folds ``//``). Each is now one line naming
what the input is. (Frames too small for the stages: tests/test_frame_size.py.)"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from vidsr.errors import EXIT_USAGE


def _one_line(res) -> str:
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("vidsr: error:"), res.stderr
    assert "Traceback" not in res.stderr
    return lines[0]


@pytest.mark.parametrize("command", ["run", "probe"])
def test_fifo_is_named(cli, tmp_path: Path, command: str) -> None:
    fifo = tmp_path / "pipe.mp4"
    os.mkfifo(fifo)
    args = [fifo, tmp_path / "o.mp4"] if command == "run" else [fifo]
    res = cli(command, *args)
    line = _one_line(res)
    assert res.code == EXIT_USAGE and "is a FIFO (named pipe)" in line and "0 bytes" not in line, line
    assert not (tmp_path / "o.mp4").exists()


def test_character_device_is_named(cli, tmp_path: Path) -> None:
    res = cli("run", "/dev/zero", tmp_path / "o.mp4")
    line = _one_line(res)
    assert res.code == EXIT_USAGE and "is a character device" in line and "/dev/zero" in line, line


@pytest.mark.parametrize("url", ["http://example.com/clip.mp4", "rtsp://camera.local:554/stream"])
@pytest.mark.parametrize("command", ["run", "probe"])
def test_url_is_printed_whole(cli, tmp_path: Path, url: str, command: str) -> None:
    args = [url, tmp_path / "o.mp4"] if command == "run" else [url]
    res = cli(command, *args)
    line = _one_line(res)
    assert res.code == EXIT_USAGE and url in line and "is a URL" in line, line
