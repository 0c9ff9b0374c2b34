"""The real-source suite's core (bench/real_sources.py) on a tiny input, bicubic only: every source kind
gets a row and the codecs order as their CRFs say, so the suite's table cannot silently drop a kind or
mix up the encoders' settings."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))

import real_sources as rs  # noqa: E402

from vidsr.data import eval_images  # noqa: E402
from vidsr.degrade.sources import SOURCE_KINDS, pan_clip  # noqa: E402
from vidsr.sr.registry import build_model  # noqa: E402


def test_suite_core_bicubic_tiny() -> None:
    torch.set_num_threads(1)
    img = dict(eval_images())["skimage__astronaut"]
    hq = pan_clip(img, (128, 128), 3, np.random.default_rng(0))
    clip = rs.Clip("astronaut", "photo", hq)
    rows = rs.evaluate_clip(clip, 2, SOURCE_KINDS, {"bicubic": build_model("bicubic", 2, rs.CPU)})
    table = rs.summarise(rows, ("photo",), 2)["bicubic"]
    assert set(table) == {*SOURCE_KINDS, "mean"}
    assert all(r["frames"] == 3 and len(r["psnr_y_frames"]) == 3 for r in rows)  # every frame, not the I-frame
    assert table["clean"] > table["x264-crf23"] > table["x264-crf28"]  # higher CRF, lower PSNR
    assert rs.gains(rs.summarise(rows, ("photo",), 2))["bicubic"]["mean"] == 0.0
    md = rs.gain_table(rows, ("photo",), 2, SOURCE_KINDS, {"span": "not installed"})
    assert all(k in md[0] for k in SOURCE_KINDS) and "not run: not installed" in md[-1]
