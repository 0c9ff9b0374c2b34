"""One set of run options (``vidsr.options.RunOptions``) for the CLI and the API: the same overrides reach the
same config by either road, an unknown name is a one-line UsageError, and every entry point takes both forms."""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest

from vidsr.backlog import enhance_backlog
from vidsr.cli import build_parser
from vidsr.errors import UsageError
from vidsr.options import RunOptions
from vidsr.pipeline import Enhancer, configure, enhance
from workers.executor import run_on_ray


def test_keywords_and_options_give_the_same_config() -> None:
    by_keywords = configure("default", scale=4, model="bicubic", crf=20, preset="fast", height=720)
    by_options = configure("default", RunOptions(scale=4, model="bicubic", crf=20, preset="fast", height=720))
    assert by_keywords == by_options
    mixed = configure("default", RunOptions(scale=4, model="bicubic"), crf=20, preset="fast", height=720)
    assert mixed == by_options
    assert by_options.stage("sr").params.scale == 4 and by_options.encode.crf == 20


def test_the_command_line_builds_the_same_options() -> None:
    args = build_parser().parse_args(["run", "in.mp4", "out.mkv", "--scale", "4", "--crf", "20", "--model", "cnn",
                                      "--height", "720", "--deinterlace", "off"])
    assert RunOptions.from_args(args) == RunOptions(scale=4, crf=20, model="cnn", height=720, deinterlace="off")


def test_unknown_option_is_one_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="unknown option 'scael'.*scale, model"):
        configure("default", scael=4)
    with pytest.raises(UsageError, match="unknown option 'crf_'"):
        enhance(tmp_path / "in.mp4", tmp_path / "out.mp4", crf_=18)
    with pytest.raises(UsageError, match="options must be a RunOptions"):
        configure("default", {"scale": 4})  # type: ignore[arg-type]


def test_a_none_keyword_keeps_what_options_set() -> None:
    assert RunOptions.of(RunOptions(crf=20), crf=None, scale=2) == RunOptions(crf=20, scale=2)
    assert RunOptions(codec="libx265").chosen("codec") and not RunOptions().chosen("codec")


def test_every_entry_point_takes_options_and_no_longer_spells_the_list() -> None:
    """The override list lives in RunOptions only: no entry point declares scale, crf, ... as its own parameter."""
    for fn in (configure, enhance, enhance_backlog, run_on_ray, Enhancer.__init__):
        params = inspect.signature(fn).parameters
        assert "options" in params, fn.__qualname__
        assert not set(RunOptions.names()) & set(params), fn.__qualname__
