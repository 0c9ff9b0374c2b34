"""The command as a user meets it: help for every option, version, probe, progress bar on a terminal
only, and the README's Python example runs as written."""

from __future__ import annotations

import json
import os
import pty
import re
import subprocess
import sys
from pathlib import Path

from conftest import REPO

import vidsr


def test_help_explains_every_option(cli) -> None:
    import pytest

    with pytest.raises(SystemExit):
        cli("run", "--help")
    from vidsr.cli import build_parser

    run = build_parser()._subparsers._group_actions[0].choices["run"]  # type: ignore[union-attr]
    for action in run._actions:
        assert action.help, f"{action.option_strings or action.dest} has no help"


def test_version(cli) -> None:
    import pytest

    with pytest.raises(SystemExit) as exc:
        cli("--version")
    assert exc.value.code == 0


def test_probe_text_and_json(cli, clip) -> None:
    src = clip("p.mkv", frames=5, subtitles=[(0.0, 0.1, "x")], rotation=90, stream_language="eng",
               colour={"color_range": 1, "colorspace": 1, "color_primaries": 1, "color_trc": 1})
    res = cli("probe", src)
    assert res.code == 0
    for words in ("96x64", "yuv420p", "8-bit", "bt709", "range tv", "rotation 90", "constant frame rate",
                  "audio #1: aac", "subtitle #2", "stream copy", "converted to mov_text"):
        assert words in res.stdout, (words, res.stdout)
    res = cli("probe", src, "--json", "--output-name", "x.mkv")
    data = json.loads(res.stdout)
    assert data["video"]["rotation"] == 90 and data["video"]["frames"] == 5
    assert data["video"]["colour"]["space"] == "bt709"
    assert data["kept"] == ["#1 audio aac: stream copy", "#2 subtitle subrip: stream copy"] or all(
        "stream copy" in k for k in data["kept"])


def _run_with_tty_stderr(args: list[str]) -> str:
    """Run vidsr with stderr on a pseudo-terminal and return what it drew there."""
    master, slave = pty.openpty()
    env = {**os.environ, "PYTHONPATH": str(REPO), "COLUMNS": "120"}
    proc = subprocess.Popen([sys.executable, "-m", "vidsr", *args], stderr=slave, stdout=subprocess.DEVNULL, env=env)
    os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 4096)
        except OSError:
            break
        if not data:
            break
        chunks.append(data)
    proc.wait(timeout=120)
    os.close(master)
    return b"".join(chunks).decode(errors="replace")


def test_progress_bar_on_a_terminal_only(clip, tmp_path: Path) -> None:
    src = clip("in.mp4", frames=12)
    drawn = _run_with_tty_stderr(["run", str(src), str(tmp_path / "a.mp4"), "--preset", "ultrafast"])
    assert re.search(r"12/12", drawn) and "frame/s" in drawn, drawn  # done/total and fps
    quiet = _run_with_tty_stderr(["run", str(src), str(tmp_path / "b.mp4"), "--preset", "ultrafast", "--quiet"])
    assert "12/12" not in quiet and quiet.strip() == "", quiet
    piped = subprocess.run([sys.executable, "-m", "vidsr", "run", str(src), str(tmp_path / "c.mp4"), "--preset",
                            "ultrafast"], capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(REPO)})
    *progress, summary = piped.stderr.strip().splitlines()  # no bar: plain progress lines (see test_progress.py)
    assert "\r" not in piped.stderr and summary.startswith("vidsr: wrote ")
    assert all(ln.startswith("vidsr: frame ") for ln in progress), piped.stderr


def test_readme_python_example_runs(tmp_path: Path) -> None:
    text = (REPO / "README.md").read_text()
    code = re.search(r"```python\n(.*?)```", text, re.S)
    assert code, "README has no python example"
    cwd = os.getcwd()
    os.chdir(REPO)
    try:
        exec(compile(code.group(1), "README.md", "exec"), {"__name__": "readme"})
    finally:
        os.chdir(cwd)
    assert Path("/tmp/sample_x2.mp4").exists()
    assert vidsr.__version__


def test_a_local_backlog_writes_every_output(cli, clip, tmp_path: Path) -> None:
    """Several files into a folder without --ray: one after another, each output with its own input's
    frames and audio, a summary line each, and one report listing them."""
    from clipmaker import packet_bytes

    out = tmp_path / "out"
    out.mkdir()
    a = clip("a.mp4", frames=6)
    b = clip("b.mkv", frames=4, photo="coffee")
    res = cli("run", a, b, out, "--pipeline", "fast", "--preset", "ultrafast", "--report", tmp_path / "r.json")
    assert res.code == 0, res.stderr
    assert sorted(p.name for p in out.iterdir()) == ["a.mp4", "b.mkv"]
    assert packet_bytes(out / "b.mkv", "audio") == packet_bytes(b, "audio")
    assert res.stderr.count("vidsr: wrote") == 2
    assert [r["frames"] for r in json.loads((tmp_path / "r.json").read_text())["jobs"]] == [6, 4]


def test_a_bad_file_in_a_backlog_stops_it_before_any_work(cli, clip, tmp_path: Path) -> None:
    """Every input is probed first: the bad one's line, the same exit code as alone, and no output at all."""
    out = tmp_path / "out"
    out.mkdir()
    good = clip("good.mp4", frames=4)
    bad = tmp_path / "bad.mp4"
    bad.write_text("this is not a video\n" * 50)
    alone = cli("run", bad, tmp_path / "o.mp4", "--quiet")
    res = cli("run", good, bad, out, "--quiet")
    assert res.code == alone.code != 0
    assert res.stderr.replace(str(out / "bad.mp4"), "X") == alone.stderr.replace(str(tmp_path / "o.mp4"), "X")
    assert list(out.iterdir()) == []
    same = cli("run", good, tmp_path / "good.mp4", out, "--quiet")  # two inputs, one output name
    assert same.code == 2 and "two inputs would write the same output" in same.stderr


def test_ray_is_a_flag_and_the_address_its_own_option(tmp_path: Path) -> None:
    """`vidsr run --ray in.mp4 out.mp4` takes in.mp4 as the input (it used to be taken as the Ray address);
    the old `--ray auto` and `--ray=ADDR` still mean --ray-address, so `ray job submit -- vidsr run ...`
    scripts keep working."""
    from vidsr.cli import build_parser
    from vidsr.cli_ray import ray_compat_argv

    src = tmp_path / "in.mp4"
    src.write_bytes(b"")

    def parse(*argv: str) -> tuple[list[str], str, bool, str | None]:
        a = build_parser().parse_args(ray_compat_argv(list(argv)))
        return a.input, a.output, a.ray, a.ray_address

    assert parse("run", "--ray", str(src), "out.mp4") == ([str(src)], "out.mp4", True, None)
    assert parse("run", str(src), "out.mp4", "--ray") == ([str(src)], "out.mp4", True, None)
    assert parse("run", str(src), "out.mp4", "--ray", "auto") == ([str(src)], "out.mp4", False, "auto")
    assert parse("run", str(src), "out.mp4", "--ray=ray://head:10001")[3] == "ray://head:10001"
    assert parse("run", str(src), "out.mp4", "--ray-address", "10.0.0.1:6379")[3] == "10.0.0.1:6379"


def test_help_and_probe_do_not_import_torch() -> None:
    """`vidsr --help` and `vidsr probe` answer like ffprobe: without loading torch or Ray (13 s under load
    before, 0.35 s after)."""
    code = ("import sys, contextlib, io\n"
            "from vidsr.cli import main\n"
            "with contextlib.suppress(SystemExit), contextlib.redirect_stdout(io.StringIO()):\n"
            "    main(['--help'])\n"
            "with contextlib.redirect_stdout(io.StringIO()):\n"
            "    assert main(['probe', 'examples/sample.mp4']) == 0\n"
            "print(sorted(m for m in ('torch', 'ray', 'vidsr.pipeline') if m in sys.modules))\n")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO,
                         env={**os.environ, "PYTHONPATH": str(REPO)}, timeout=120)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == "[]"


def test_an_unoffered_scale_names_the_scale_not_a_model(cli, clip, tmp_path: Path) -> None:
    """x3 is made (x4, then resized: tests/test_output_size.py); x8 is beyond every model, and says so."""
    res = cli("run", clip("in.mp4", frames=2), tmp_path / "o.mp4", "--scale", "8")
    assert res.code == 2
    assert res.stderr.strip() == (
        "vidsr: error: --scale 8 is not offered: the models upscale x2 or x4 (x3 and other scales between them are "
        "made from the next larger and resized; --size WxH or --height H give any output size)")


def test_ray_missing_is_one_line_naming_the_extra(cli, clip, tmp_path: Path, monkeypatch) -> None:
    """Ray is the `vidsr[ray]` extra: a base install asked for --ray says how to get it (exit 2)."""
    import importlib.util

    find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "ray" else find_spec(name, *a))
    res = cli("run", "--ray", clip("in.mp4", frames=2), tmp_path / "o.mp4")
    assert res.code == 2
    assert res.stderr == "vidsr: error: --ray needs Ray, which is not installed: pip install 'vidsr[ray]'\n"
