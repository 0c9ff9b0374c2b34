"""Bad input gets one clear line on stderr and a documented exit code, never a traceback, and nothing
is written under the output name (the input is never touched)."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest
from conftest import leftovers, run_subprocess

from vidsr.errors import EXIT_PROCESSING, EXIT_USAGE


def _one_line_error(stderr: str) -> str:
    lines = [ln for ln in stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, stderr
    assert lines[0].startswith("vidsr") and "error" in lines[0], stderr
    assert "Traceback" not in stderr
    return lines[0]


def _digest(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


@pytest.fixture
def good(clip) -> Path:
    return clip("good.mp4", frames=6)


def _expect(cli, tmp_path: Path, args: list[str], code: int, words: str) -> None:
    before = {p.name for p in tmp_path.iterdir()}
    res = cli("run", *args, "--quiet", "--preset", "ultrafast")
    line = _one_line_error(res.stderr)
    assert res.code == code, (res.code, line)
    assert words in line, line
    after = {p.name for p in tmp_path.iterdir()}
    assert after == before, after - before  # no output, no temporary file
    assert leftovers(tmp_path) == []


def test_missing_input(cli, tmp_path: Path) -> None:
    """A path error, as the README and --help say: exit 2 (a file that is there but not video exits 1)."""
    _expect(cli, tmp_path, [str(tmp_path / "nope.mp4"), str(tmp_path / "o.mp4")], EXIT_USAGE, "input not found")


def test_directory_input(cli, tmp_path: Path) -> None:
    (tmp_path / "d").mkdir()
    _expect(cli, tmp_path, [str(tmp_path / "d"), str(tmp_path / "o.mp4")], EXIT_USAGE, "is a directory")


def test_empty_input(cli, tmp_path: Path) -> None:
    (tmp_path / "empty.mp4").write_bytes(b"")
    _expect(cli, tmp_path, [str(tmp_path / "empty.mp4"), str(tmp_path / "o.mp4")], EXIT_PROCESSING, "empty")


def test_text_file_named_mp4(cli, tmp_path: Path) -> None:
    (tmp_path / "notes.mp4").write_text("this is not a video\n" * 50)
    _expect(cli, tmp_path, [str(tmp_path / "notes.mp4"), str(tmp_path / "o.mp4")], EXIT_PROCESSING,
            "cannot read")


def test_truncated_mp4_without_index(cli, tmp_path: Path, good: Path) -> None:
    data = good.read_bytes()
    (tmp_path / "cut.mp4").write_bytes(data[: len(data) // 2])  # moov is at the end: gone
    _expect(cli, tmp_path, [str(tmp_path / "cut.mp4"), str(tmp_path / "o.mp4")], EXIT_PROCESSING, "cannot read")


def test_audio_only_input(cli, tmp_path: Path) -> None:
    import av
    import numpy as np

    path = tmp_path / "sound.m4a"
    with av.open(str(path), "w") as c:
        a = c.add_stream("aac", rate=48000, layout="stereo")
        for i in range(20):
            f = av.AudioFrame.from_ndarray(np.zeros((2, 1024), np.float32), format="fltp", layout="stereo")
            f.sample_rate, f.pts = 48000, i * 1024
            c.mux(a.encode(f))
        c.mux(a.encode(None))
    _expect(cli, tmp_path, [str(path), str(tmp_path / "o.mp4")], EXIT_PROCESSING, "no video stream")


def test_output_equal_to_input(cli, tmp_path: Path, good: Path) -> None:
    digest = _digest(good)
    _expect(cli, tmp_path, [str(good), str(good), "--overwrite"], EXIT_USAGE, "overwrite the input")
    link = tmp_path / "link.mp4"
    link.symlink_to(good)
    _expect(cli, tmp_path, [str(good), str(link), "--overwrite"], EXIT_USAGE, "overwrite the input")
    assert _digest(good) == digest


def test_output_exists_without_overwrite(cli, tmp_path: Path, good: Path) -> None:
    (tmp_path / "o.mp4").write_bytes(b"precious")
    _expect(cli, tmp_path, [str(good), str(tmp_path / "o.mp4")], EXIT_USAGE, "--overwrite")
    assert (tmp_path / "o.mp4").read_bytes() == b"precious"


def test_output_folder_missing(cli, tmp_path: Path, good: Path) -> None:
    _expect(cli, tmp_path, [str(good), str(tmp_path / "no" / "o.mp4")], EXIT_USAGE, "folder does not exist")


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes anywhere; permission bits cannot refuse it")
def test_output_folder_not_writable(cli, tmp_path: Path, good: Path) -> None:
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    _expect(cli, tmp_path, [str(good), str(ro / "o.mp4")], EXIT_USAGE, "not writable")


def test_unknown_output_extension(cli, tmp_path: Path, good: Path) -> None:
    _expect(cli, tmp_path, [str(good), str(tmp_path / "o.xyz")], EXIT_USAGE, "container format")


@pytest.mark.parametrize(
    ("extra", "words"),
    [
        (["--codec", "nosuchcodec"], "unknown video encoder"),
        (["--codec", "aac"], "not a video encoder"),
        (["--pipeline", "nosuchpipeline"], "unknown pipeline"),
        (["--scale", "8"], "--scale 8 is not offered"),
        (["--model", "nosuchmodel"], "unknown model"),
        (["--crf", "99"], "out of range"),
        (["--pix-fmt", "rgb24"], "pixel format"),
    ],
)
def test_bad_options(cli, tmp_path: Path, good: Path, extra: list[str], words: str) -> None:
    _expect(cli, tmp_path, [str(good), str(tmp_path / "o.mp4"), *extra], EXIT_USAGE, words)


def test_cuda_without_cuda(cli, tmp_path: Path, good: Path) -> None:
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    _expect(cli, tmp_path, [str(good), str(tmp_path / "o.mp4"), "--device", "cuda"], EXIT_USAGE, "CUDA")


def test_malformed_pipeline_yaml(cli, tmp_path: Path, good: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nstages: [\n  - {name: sr\n")
    _expect(cli, tmp_path, [str(good), str(tmp_path / "o.mp4"), "--pipeline", str(bad)], EXIT_USAGE, "malformed YAML")


def test_pipeline_yaml_with_unknown_key_and_wrong_type(cli, tmp_path: Path, good: Path) -> None:
    typo = tmp_path / "typo.yaml"
    typo.write_text("name: x\nstages:\n  - {name: sr, type: sr, params: {scael: 2}}\n")
    _expect(cli, tmp_path, [str(good), str(tmp_path / "o.mp4"), "--pipeline", str(typo)], EXIT_USAGE,
            "unknown key 'scael'")
    wrong = tmp_path / "wrong.yaml"
    wrong.write_text("name: x\nqueue_size: many\nstages: []\n")
    _expect(cli, tmp_path, [str(good), str(tmp_path / "o.mp4"), "--pipeline", str(wrong)], EXIT_USAGE,
            "queue_size: expected int")


def test_bad_argument_is_one_line(cli, tmp_path: Path, good: Path) -> None:
    with pytest.raises(SystemExit) as exc:
        cli("run", str(good), str(tmp_path / "o.mp4"), "--scale", "two")
    assert exc.value.code == EXIT_USAGE


def test_corrupt_packets_in_the_middle(cli, clip, tmp_path: Path) -> None:
    """Damage 3 kB in the middle of the video data: what decodes is written, the loss is counted and
    reported, the exit code is 1 unless --ignore-errors."""
    src = clip("c.mp4", frames=40, audio=None, options={"g": "10"})
    data = bytearray(src.read_bytes())
    mid = int(len(data) * 0.4)
    for k in range(mid, mid + 3000, 50):
        data[k : k + 8] = b"\xff" * 8
    bad = tmp_path / "damaged.mp4"
    bad.write_bytes(bytes(data))
    res = cli("run", str(bad), str(tmp_path / "o.mp4"), "--quiet", "--preset", "ultrafast")
    line = _one_line_error(res.stderr)
    assert res.code == EXIT_PROCESSING and "damaged data" in line and "--ignore-errors" in line, line
    assert (tmp_path / "o.mp4").exists()  # every frame that could be saved was
    res = cli("run", str(bad), str(tmp_path / "o2.mp4"), "--quiet", "--preset", "ultrafast", "--ignore-errors",
              "--report", str(tmp_path / "r.json"))
    assert res.code == 0, res.stderr
    import json

    report = json.loads((tmp_path / "r.json").read_text())
    assert report["frames_lost"] + report["frames_damaged"] > 0
    assert report["frames"] + report["frames_lost"] == 40


def test_truncated_mp4_with_index_at_front(cli, clip, tmp_path: Path) -> None:
    """A faststart file cut short: the index says 40 frames, the data holds fewer; the rest is reported."""
    import av

    src = clip("c.mp4", frames=40, audio=None, options={"g": "10"})
    fs = tmp_path / "fs.mp4"
    with av.open(str(src)) as i, av.open(str(fs), "w", options={"movflags": "faststart"}) as o:
        s = o.add_stream_from_template(i.streams.video[0])
        for p in i.demux(i.streams.video[0]):
            if p.size:
                p.stream = s
                o.mux(p)
    data = fs.read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: len(data) * 2 // 3])
    res = cli("run", str(cut), str(tmp_path / "o.mp4"), "--quiet", "--preset", "ultrafast")
    line = _one_line_error(res.stderr)
    assert res.code == EXIT_PROCESSING and "lost" in line and "of 40 frames" in line, line


def test_real_process_reports_one_line_and_exit_code(tmp_path: Path) -> None:
    """The installed command as a subprocess: no traceback reaches the user."""
    res = run_subprocess("run", tmp_path / "missing.mp4", tmp_path / "o.mp4")
    assert res.returncode == EXIT_USAGE
    _one_line_error(res.stderr)


def test_truncated_matroska_is_read_as_far_as_it_goes(cli, clip, tmp_path: Path) -> None:
    """An interrupted recording: an 8 s clip with audio remuxed to Matroska and cut at 90% of its bytes (no
    Cues, which Matroska writes last, so the file cannot seek). Probe and run read what is there."""
    import av

    src = clip("c.mp4", frames=200)
    mkv = tmp_path / "whole.mkv"
    with av.open(str(src)) as i, av.open(str(mkv), "w") as o:
        out = {s.index: o.add_stream_from_template(s) for s in i.streams}
        for p in i.demux():
            if p.dts is not None:
                p.stream = out[p.stream.index]
                o.mux(p)
    data = mkv.read_bytes()
    cut = tmp_path / "cut.mkv"
    cut.write_bytes(data[: len(data) * 9 // 10])
    res = cli("probe", str(cut), "--json")
    assert res.code == 0, res.stderr
    res = cli("run", str(cut), str(tmp_path / "o.mp4"), "--quiet", "--pipeline", "fast", "--model", "bicubic",
              "--preset", "ultrafast", "--ignore-errors")
    assert res.code == 0, res.stderr
    with av.open(str(tmp_path / "o.mp4")) as o:
        assert 150 < sum(1 for _ in o.decode(video=0)) < 200
