"""The Python API: file to file returns the report; frames in, frames out keeps order, timestamps and
the caller's own form, and holds one model across calls."""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
import torch
from clipmaker import pan_frames

import vidsr
from vidsr import Enhancer, Frame, UsageError


def test_enhance_returns_and_writes_the_report(clip, tmp_path: Path) -> None:
    src = clip("in.mp4", frames=9)
    report = vidsr.enhance(src, tmp_path / "o.mp4", preset="ultrafast", report_path=tmp_path / "r.json")
    on_disk = json.loads((tmp_path / "r.json").read_text())
    assert report["frames"] == on_disk["frames"] == 9
    for stage in ("demux", "degrade-analysis", "sr", "temporal-smoothing", "remux"):
        assert report["stages"][stage]["frames"] == 9, stage
    assert report["stages"]["sr"]["fps"] > 0 and report["fps"] > 0
    assert report["output_video"]["size"] == [192, 128] or tuple(report["output_video"]["size"]) == (192, 128)
    assert report["versions"]["vidsr"] == vidsr.__version__ and "torch" in report["versions"]
    assert report["streams"] == ["#1 audio aac: stream copy"]
    assert "cache" in report
    assert report["scenes"][0]["frames"] == 9  # one shot: degrade-analysis finds no cut in a pan
    assert {"noise", "blur", "blockiness", "ringing"} <= set(report["degradation"])


def test_one_enhancer_many_videos_carries_no_state_between_them(tmp_path: Path) -> None:
    """A media backend holds one Enhancer (one model load) for every video: each run starts as a fresh one
    (scene list, scene ids, smoothing history), so the second video's report and pixels do not depend on the
    first. Two scenes in one clip; the same clip twice gives the same report scenes and the same video."""
    from clipmaker import packet_bytes, scene_clip

    src = scene_clip(tmp_path / "in.mp4", 30, cuts=[15])
    held = Enhancer(vidsr.configure("default", model="bicubic", preset="ultrafast"))
    first = vidsr.enhance(src, tmp_path / "a.mp4", enhancer=held)
    second = vidsr.enhance(src, tmp_path / "b.mp4", enhancer=held)
    assert [(s["scene_id"], s["start_index"]) for s in second["scenes"]] == [(0, 0), (1, 15)]
    assert second["scenes"] == first["scenes"]
    assert packet_bytes(tmp_path / "a.mp4", "video") == packet_bytes(tmp_path / "b.mp4", "video")


@pytest.fixture(scope="module")
def enhancer() -> Enhancer:
    return Enhancer("default", scale=2, device="cpu")


def test_numpy_uint8_in_order_with_timestamps(enhancer: Enhancer) -> None:
    images = pan_frames(7, 48, 32)
    pts = [0, 3, 5, 11, 12, 20, 21]
    out = list(enhancer.enhance_frames(zip(images, pts)))
    assert [p for _, p in out] == pts
    assert all(img.shape == (64, 96, 3) and img.dtype == np.uint8 for img, _ in out)
    # order: each output is the upscale of its own input (compare means of a downscaled output)
    for (img, _), src in zip(out, images):
        assert abs(img.reshape(32, 2, 48, 2, 3).mean((1, 3)).mean() - src.mean()) < 1.0


def test_numpy_uint16_keeps_sixteen_bits(enhancer: Enhancer) -> None:
    images = [(im.astype(np.uint16) * 257 + 100) for im in pan_frames(3, 40, 24)]
    out = list(enhancer.enhance_frames((im, i) for i, im in enumerate(images)))
    assert all(img.dtype == np.uint16 for img, _ in out)
    assert np.mean(out[0][0] % 257 != 0) > 0.5  # not squeezed through 8 bits


def test_torch_float_and_uint8_tensors(enhancer: Enhancer) -> None:
    img = pan_frames(1, 40, 24)[0]
    as_float = torch.from_numpy(img).permute(2, 0, 1).float() / 255
    (out_f, pts_f), = enhancer.enhance_frames([(as_float, 42)])
    assert pts_f == 42 and out_f.shape == (3, 48, 80) and out_f.dtype == torch.float32
    (out_u, _), = enhancer.enhance_frames([(torch.from_numpy(img), 0)])
    assert out_u.shape == (48, 80, 3) and out_u.dtype == torch.uint8
    assert torch.allclose(out_f, out_u.permute(2, 0, 1).float() / 255, atol=2 / 255)


def test_frame_objects_and_one_model_across_calls(enhancer: Enhancer) -> None:
    sr = next(s for s in enhancer.stages if s.name == "sr")
    model = sr.model
    frames = [Frame(image=im, pts=i * 1001, time_base=Fraction(1, 30000), index=i)
              for i, im in enumerate(pan_frames(4, 32, 32))]
    out = list(enhancer.enhance_frames(frames))
    assert [f.pts for f in out] == [0, 1001, 2002, 3003] and all(isinstance(f, Frame) for f in out)
    list(enhancer.enhance_frames(frames))
    assert next(s for s in enhancer.stages if s.name == "sr").model is model


def test_bad_frame_raises_typed_error(enhancer: Enhancer) -> None:
    with pytest.raises(UsageError, match="H x W x 3"):
        list(enhancer.enhance_frames([(np.zeros((8, 8), np.uint8), 0)]))


def test_caller_stopping_early_stops_the_graph(enhancer: Enhancer) -> None:
    import threading

    gen = enhancer.enhance_frames((im, i) for i, im in enumerate(pan_frames(50, 32, 32)))
    next(gen)
    gen.close()
    assert [t for t in threading.enumerate() if t.name.startswith("vidsr-")] == []
