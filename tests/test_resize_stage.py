"""The ``resize`` stage on its own: exact sizes, even widths in proportion, an antialiased reduction, 16-bit kept,
and a model scale picked to reach a size."""

from __future__ import annotations

from fractions import Fraction

import numpy as np

from vidsr.config import StageConfig
from vidsr.frame import Frame
from vidsr.stages import build_stage
from vidsr.stages.resize import ResizeParams, output_size, pick_model_scale, resize_image


def test_sizes_and_scales() -> None:
    assert output_size(384, 256, ResizeParams(height=1080)) == (1620, 1080)
    assert output_size(1280, 536, ResizeParams(height=1080)) == (2580, 1080)  # 2579.1 to the nearest even
    assert output_size(640, 480, ResizeParams(width=1920, height=1080)) == (1920, 1080)
    assert output_size(384, 256, ResizeParams(factor=0.75)) == (288, 192)
    assert pick_model_scale(640, 360, (1920, 1080), (2, 4)) == 4  # 360p to 1080p
    assert pick_model_scale(960, 540, (1920, 1080), (2, 4)) == 2
    assert pick_model_scale(320, 180, (3840, 2160), (2, 4)) == 4  # none reaches: the largest


def test_resize_is_antialiased_and_keeps_depth() -> None:
    """A reduction of fine stripes averages them (a plain bicubic would alias them into a pattern); 16-bit stays
    16-bit; a flat picture stays flat."""
    stripes = np.zeros((64, 64, 3), np.uint8)
    stripes[:, ::2] = 255
    small = resize_image(stripes, 16, 16)[2:-2, 2:-2]  # the border columns see the edge's reflection
    assert small.dtype == np.uint8 and abs(float(small.mean()) - 127.5) < 1 and small.std() < 1
    deep = np.full((32, 48, 3), 40000, np.uint16)
    out = resize_image(deep, 72, 48)
    assert out.dtype == np.uint16 and out.shape == (48, 72, 3) and (out == 40000).all()


def test_stage_from_a_pipeline_config() -> None:
    """A pipeline YAML can hold the stage (``type: resize``); frames keep their timing, the report says what
    it did."""
    stage = build_stage(StageConfig(name="resize", type="resize", params={"height": 100}))
    frames = [Frame(image=np.zeros((128, 192, 3), np.uint8), pts=i * 512, time_base=Fraction(1, 12800), index=i)
              for i in range(3)]
    out = list(stage.process(iter(frames)))
    assert [f.image.shape for f in out] == [(100, 150, 3)] * 3 and [f.pts for f in out] == [0, 512, 1024]
    assert stage.summary()["from"] == [192, 128] and stage.summary()["to"] == [150, 100]
