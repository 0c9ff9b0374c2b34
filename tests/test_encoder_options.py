"""encode.options: only encoder options that cannot read or write files pass (issue 20 item 6).

A pipeline YAML with ``x264-params: dump-yuv=PATH`` wrote 4.3 MB at PATH; every option or x264/x265/SVT-AV1
parameter that names a file, or that vidsr does not know, is now refused up front in one line, exit 2."""

from __future__ import annotations

from pathlib import Path

import pytest

from vidsr.config import EncodeConfig, check_config
from vidsr.errors import EXIT_USAGE, ConfigError


def _pipeline(tmp_path: Path, options: str) -> Path:
    path = tmp_path / "p.yaml"
    path.write_text(f"name: p\nstages:\n  - {{name: sr, type: sr, params: {{model: bicubic}}}}\n"
                    f"encode: {{preset: ultrafast, options: {options}}}\n")
    return path


def test_dump_yuv_in_a_pipeline_is_refused_and_writes_nothing(cli, clip, tmp_path: Path) -> None:
    src = clip("in.mp4", frames=4)
    target = tmp_path / "stolen.yuv"
    pipeline = _pipeline(tmp_path, f'{{x264-params: "dump-yuv={target}"}}')
    res = cli("run", src, tmp_path / "o.mp4", "--pipeline", pipeline)
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert res.code == EXIT_USAGE and len(lines) == 1, res.stderr
    assert "dump-yuv" in lines[0] and "not an allowed" in lines[0]
    assert not target.exists() and not (tmp_path / "o.mp4").exists()


@pytest.mark.parametrize("options", [
    {"x264-params": "keyint=48:dump-yuv=/tmp/x.yuv"},
    {"x264-params": "stats=/tmp/x.log"},
    {"x264-params": "pass=1"},
    {"x264-params": "qpfile=/tmp/q.txt"},
    {"x264-params": "cqmfile=/tmp/cqm.cfg"},
    {"x264-params": "dump_yuv=/tmp/x.yuv"},  # x264 reads _ as -
    {"x264opts": "dump-yuv=/tmp/x.yuv"},
    {"x265-params": "log-level=error:csv=/tmp/x.csv"},
    {"x265-params": "analysis-save=/tmp/a.dat"},
    {"x265-params": "analysis-load=/tmp/a.dat"},
    {"x265-params": "zonefile=/tmp/z.txt"},
    {"x265-params": "recon=/tmp/r.yuv"},
    {"x265-params": "dhdr10-info=/tmp/h.json"},
    {"x265-params": "scaling-list=/tmp/s.txt"},
    {"x265-params": "stats=/tmp/s.log:pass=1"},
    {"svtav1-params": "stat-file=/tmp/s.stat"},
    {"svtav1-params": "fgs-table=/tmp/g.tbl"},
    {"stats": "/tmp/x.log"},  # libx264's two-pass stats file
    {"flags": "+pass1"},  # two-pass logs land in the current folder
    {"passlogfile": "/tmp/p"},
    {"aom-params": "x=1"},  # unknown to vidsr: refused, not trusted
    {"crf": "10"},  # has its own checked field
])
def test_file_touching_or_unknown_options_are_refused(options: dict[str, str]) -> None:
    with pytest.raises(ConfigError, match="encode.options"):
        check_config(EncodeConfig(options=options), "p.encode")


@pytest.mark.parametrize("options", [
    {},
    {"x264-params": "keyint=48:no-mbtree:bframes=3:aq-mode=2"},
    {"x265-params": "log-level=error:no-sao:keyint=60"},
    {"svtav1-params": "tune=0:enable-overlays=1"},
    {"tune": "film", "g": "48", "bf": "2"},
    {"deadline": "good", "cpu-used": "4", "row-mt": "1"},  # what vidsr itself sets for libvpx
])
def test_safe_options_pass(options: dict[str, str]) -> None:
    check_config(EncodeConfig(options=options), "p.encode")


def test_an_allowed_option_reaches_the_encoder(cli, clip, tmp_path: Path) -> None:
    import av

    src = clip("in.mp4", frames=4)
    out = tmp_path / "o.mp4"
    res = cli("run", src, out, "--quiet", "--pipeline", _pipeline(tmp_path, '{x264-params: "keyint=37"}'))
    assert res.code == 0, res.stderr
    with av.open(str(out)) as c:  # x264 writes its settings into the first packet's SEI
        first = bytes(next(p for p in c.demux(video=0) if p.size))
    assert b"keyint=37" in first
