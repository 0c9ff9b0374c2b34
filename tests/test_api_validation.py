"""The API refuses wrong arguments and impossible frames with vidsr's own errors (issue 20 item 11):
``crf="18"`` or ``enhance(123, ...)`` is a UsageError naming the argument, not a bare TypeError from deep
inside; float frames above 1.0 or holding NaN are refused (a FrameError, also a ValueError) instead of being
clamped to white or turned black."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import torch
from clipmaker import pan_frames

import vidsr
from vidsr import ConfigError, Enhancer, FrameError, UsageError


@pytest.mark.parametrize(("kwargs", "words"), [
    ({"crf": "18"}, "crf must be an int, got str '18'"),
    ({"crf": 18.5}, "crf must be an int"),
    ({"crf": True}, "crf must be an int"),
    ({"scale": "2"}, "scale must be an int"),
    ({"preset": 3}, "preset must be a str"),
    ({"codec": ["libx264"]}, "codec must be a str"),
])
def test_wrong_argument_types_are_usage_errors(clip, tmp_path: Path, kwargs: dict, words: str) -> None:
    src = clip("in.mp4", frames=3)
    with pytest.raises(UsageError, match=words.replace("[", r"\[")):
        vidsr.enhance(src, tmp_path / "o.mp4", model="bicubic", **kwargs)
    assert not (tmp_path / "o.mp4").exists()


@pytest.mark.parametrize(("src", "dst", "words"), [
    (123, "o.mp4", "src must be a path"),
    (None, "o.mp4", "src must be a path"),
    ("in.mp4", 4.5, "dst must be a path"),
])
def test_non_path_arguments_are_usage_errors(clip, tmp_path: Path, src: object, dst: object, words: str,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    clip("in.mp4", frames=3)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(UsageError, match=words):
        vidsr.enhance(src, dst, model="bicubic")  # type: ignore[arg-type]


def test_a_pipeline_that_is_not_a_name_or_config() -> None:
    with pytest.raises(UsageError, match="pipeline must be"):
        vidsr.configure(42)  # type: ignore[arg-type]


def test_a_config_changed_in_python_is_checked_like_a_yaml_file() -> None:
    config = vidsr.configure("fast", model="bicubic")
    bad = dataclasses.replace(config, encode=dataclasses.replace(config.encode, crf="18"))
    with pytest.raises(ConfigError, match="encode.crf: expected int"):
        vidsr.configure(bad)
    bad = dataclasses.replace(config, queue_size=-3)
    with pytest.raises(ConfigError, match="queue_size: -3 is out of range"):
        vidsr.configure(bad)


@pytest.fixture(scope="module")
def enhancer() -> Enhancer:
    return Enhancer("fast", model="bicubic", device="cpu")


def _float_frame() -> torch.Tensor:
    return torch.from_numpy(pan_frames(1, 40, 24)[0]).permute(2, 0, 1).float() / 255


@pytest.mark.parametrize(("change", "words"), [
    (lambda t: t * 255, r"values in \[0, 1\], this one spans 0 to 2\d\d"),
    (lambda t: t.index_fill(1, torch.tensor([3]), 1.0001), r"spans .* to 1"),
    (lambda t: t - 0.5, r"values in \[0, 1\]"),
    (lambda t: t.index_fill(1, torch.tensor([3]), float("nan")), "NaN"),
    (lambda t: t.index_fill(2, torch.tensor([0]), float("inf")), "NaN or infinite"),
])
def test_float_frames_outside_zero_to_one_are_refused(enhancer: Enhancer, change, words: str) -> None:
    frame = change(_float_frame())
    with pytest.raises(FrameError, match=words) as err:
        list(enhancer.enhance_frames([(frame, 0)]))
    assert isinstance(err.value, ValueError) and isinstance(err.value, UsageError)


def test_float_frames_at_the_ends_of_the_range_pass(enhancer: Enhancer) -> None:
    frame = _float_frame()
    frame[:, 0, 0], frame[:, 1, 1] = 0.0, 1.0
    (out, pts), = enhancer.enhance_frames([(frame, 7)])
    assert pts == 7 and out.shape == (3, 48, 80) and float(out.max()) <= 1.0


def test_bad_shapes_are_frame_errors(enhancer: Enhancer) -> None:
    with pytest.raises(FrameError, match="H x W x 3"):
        list(enhancer.enhance_frames([(np.zeros((8, 8), np.uint8), 0)]))
    with pytest.raises(FrameError, match="pairs"):
        list(enhancer.enhance_frames([np.zeros((8, 8, 3), np.uint8)]))
