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


def test_detail_goals_from_rows() -> None:
    """Issue 18's verdicts come from the main set's means: var against its base, bicubic and Real-ESRGAN,
    and a goal whose peer did not run is 'not judged' rather than met."""

    def row(method: str, kind: str, psnr: float, niqe: float) -> dict:
        return {"set": "photo", "scale": 2, "kind": kind, "method": method, "psnr_y": psnr, "niqe": niqe}

    rows = [row(m, k, p + (0.1 if k == "clean" else 0.0), n) for k in ("clean", "x264-crf28")
            for m, p, n in (("bicubic", 30.0, 7.0), ("cnn", 31.0, 8.0), ("var", 30.9, 7.4))]
    verdict = {g: ok for g, ok, _ in rs.detail_goals(rows)}
    assert verdict["var: PSNR-Y within 0.2 dB of the base"] is True  # -0.1
    assert verdict["var: at least bicubic +0.8 dB"] is True  # +0.9
    assert verdict["var: NIQE at least 0.5 better than the base's"] is True  # -0.6
    assert verdict["var: ahead of Real-ESRGAN on PSNR-Y"] is None
    rows += [row("realesrgan", k, 29.0, 6.8) for k in ("clean", "x264-crf28")]
    verdict = {g: ok for g, ok, _ in rs.detail_goals(rows)}
    assert verdict["var: ahead of Real-ESRGAN on PSNR-Y"] is True
    assert verdict["var: NIQE within 0.5 of Real-ESRGAN's"] is False  # 7.4 vs 6.8
    assert rs.detail_goals([r for r in rows if r["method"] != "var"]) == []
