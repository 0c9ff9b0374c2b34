"""Progress wherever it is read: plain lines when stderr is a file (a job runner, `2> log`), JSON lines for
programs, a callback in the API; resumed frames count as done but not in fps."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

from conftest import REPO

import vidsr
from vidsr.progress import Progress

LINE = re.compile(r"^vidsr: frame (\d+)/12 \(\d+%\), ([\d.]+|-) fps, elapsed \d:\d\d:\d\d, ETA (\d:\d\d:\d\d|-)$")


def test_plain_lines_when_stderr_is_a_file(clip, tmp_path: Path) -> None:
    """stderr redirected to a file, as under a job runner: progress lines with frames, fps and ETA (every frame
    here, --stats-period 0), ending at 12/12, then the summary; no bar's carriage returns."""
    src = clip("in.mp4", frames=12)
    log = tmp_path / "log.txt"
    with log.open("w") as err:
        code = subprocess.run([sys.executable, "-m", "vidsr", "run", src, tmp_path / "o.mp4", "--pipeline", "fast",
                               "--preset", "ultrafast", "--stats-period", "0"], stderr=err, stdout=subprocess.DEVNULL,
                              env={**os.environ, "PYTHONPATH": str(REPO)}, timeout=300).returncode
    text = log.read_text()
    assert code == 0, text
    assert "\r" not in text
    *lines, summary = text.strip().splitlines()
    frames = [int(LINE.match(ln).group(1)) for ln in lines]  # type: ignore[union-attr]  # each line parses
    assert frames == sorted(frames) and frames[-1] == 12 and len(frames) >= 2, text
    assert summary.startswith("vidsr: wrote ") and "12 frames" in summary


def test_json_lines_on_stdout(cli, clip, tmp_path: Path) -> None:
    src = clip("in.mp4", frames=6)
    res = cli("run", src, tmp_path / "o.mp4", "--pipeline", "fast", "--preset", "ultrafast", "--progress", "json",
              "--stats-period", "0", "--quiet")
    assert res.code == 0, res.stderr
    records = [json.loads(ln) for ln in res.stdout.splitlines()]
    assert [r["frames"] for r in records] == [1, 2, 3, 4, 5, 6, 6]
    assert records[-1]["done"] and records[-1]["percent"] == 100.0 and records[-1]["output"] == str(tmp_path / "o.mp4")
    assert res.stderr == ""  # --quiet: no summary line


def test_api_progress_callback(clip, tmp_path: Path) -> None:
    """A media backend's hook: one state per frame, then the finished state."""
    src = clip("in.mp4", frames=5)
    states: list[dict] = []
    vidsr.enhance(src, tmp_path / "o.mp4", pipeline="fast", preset="ultrafast", progress=states.append)
    assert [s["frames"] for s in states] == [1, 2, 3, 4, 5, 5]
    assert [s["done"] for s in states] == [False] * 5 + [True]
    assert states[-1]["total"] == 5 and states[-1]["eta_s"] == 0


def test_resumed_frames_are_done_but_not_in_fps(monkeypatch) -> None:
    """A resumed run's 90 finished frames count in frames and percent; fps and ETA come from this run's own."""
    clock = iter([0.0, 2.0, 2.0])
    monkeypatch.setattr("vidsr.progress.time.monotonic", lambda: next(clock))
    states: list[dict] = []
    bar = Progress(100, enabled=states.append)
    bar.resumed(90)
    bar.update(1)
    assert (states[-1]["frames"], states[-1]["percent"]) == (91, 91.0)
    assert (states[-1]["fps"], states[-1]["eta_s"]) == (0.5, 18.0)  # 1 frame in 2 s, 9 left


def test_a_warning_prints_above_the_bar_not_into_it(capsys) -> None:
    """A warning during a run goes through the bar's own write: the bar's line is cleared first, the warning
    stands on a line of its own, and the bar is drawn once more below it (a plain print tore the bar)."""
    from vidsr.cli import _warn

    bar = Progress(10, enabled=True)
    bar.update(3)
    capsys.readouterr()
    _warn("resuming o.mp4: 1 finished chunks")
    err = capsys.readouterr().err
    before, line, after = err.partition("vidsr: warning: resuming o.mp4: 1 finished chunks\n")
    assert line, err
    assert before.endswith("\r") and before.strip(" \r") == ""  # only the bar's erasure precedes the warning
    assert "3/10" in after  # the bar again, below the warning
    bar.close()
    capsys.readouterr()
    _warn("after the run")
    assert capsys.readouterr().err == "vidsr: warning: after the run\n"  # no bar: a plain line
