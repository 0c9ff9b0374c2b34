"""The ``var`` model's scene-level token cache on clips cut from real photographs with known motion: a static
noisy shot is mostly reused at the same PSNR, moving content is never served stale, a scene cut starts
afresh (bit-exact with the no-cache output), memory stays at one frame of windows.

The model tests need the shipped student (``vidsr/weights/var.safetensors``; ``VIDSR_TEST_VAR_WEIGHTS``
points them at another file of the same architecture); the change tests and the tiling ones do not.
"""

from __future__ import annotations

import os
from dataclasses import asdict
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
import torch

from vidsr.data import eval_images
from vidsr.data.clips import Clip, cut_clip, object_clip, pan_clip, static_noise_clip
from vidsr.degrade import degrade
from vidsr.frame import Frame
from vidsr.metrics import psnr_y
from vidsr.pipeline_files import load_pipeline
from vidsr.sr.base import Capabilities
from vidsr.sr.batch import SRBatch, as_batch
from vidsr.sr.tiling import Blender, TileGrid, upscale_tiled
from vidsr.sr.token_cache import TokenCache, TokenCacheParams, block_change, window_motion
from vidsr.sr.var_sr import STUDENT_PATH
from vidsr.sr.vq_lq import TOKENIZER_PATH
from vidsr.stages.analysis import DegradeAnalysis
from vidsr.stages.sr import SRParams, SRStage

SCALE = 2
SEED = 2026
SIZE = (96, 128)  # HQ; the LQ is 48 x 64: 6 windows a frame
WEIGHTS = Path(os.environ.get("VIDSR_TEST_VAR_WEIGHTS", STUDENT_PATH))
needs_var = pytest.mark.skipif(
    not (WEIGHTS.exists() and TOKENIZER_PATH.exists()),
    reason="the var student's weights are not shipped yet",
)


def _tensor(frames: list[np.ndarray]) -> torch.Tensor:
    return torch.from_numpy(np.stack(frames)).permute(0, 3, 1, 2).float() / 255.0


def _lq(clip: Clip) -> list[Frame]:
    """The clip degraded (medium, seeded) to LQ frames, analysed (degradation vectors, scene ids)."""
    lq = degrade(_tensor(clip.frames), SCALE, "medium", seed=SEED)[0]
    images = [(x.permute(1, 2, 0) * 255).round().clamp(0, 255).to(torch.uint8).numpy() for x in lq]
    frames = [Frame(image=im, pts=i, time_base=Fraction(1, 25), index=i) for i, im in enumerate(images)]
    return list(DegradeAnalysis("degrade-analysis").process(iter(frames)))


def _stage(cache: bool) -> SRStage:
    """The SR stage with the default pipeline's cache settings, on ``var`` (or the test weights)."""
    from vidsr.sr.var_sr import VarSR

    cfg = load_pipeline("default").stage("sr")
    knobs = {k: v for k, v in (asdict(cfg.params) if cfg else {}).items() if k.startswith("cache_")}
    params = SRParams(model="var", scale=SCALE, device="cpu", tile=0, batch_frames=4, token_cache=cache, **knobs)
    return SRStage("sr", params, model=VarSR(WEIGHTS, "var", SCALE, torch.device("cpu")))


@pytest.fixture(scope="module")
def clips() -> dict[str, Clip]:
    imgs = dict(eval_images())
    chelsea, astronaut = imgs["skimage__chelsea"], imgs["skimage__astronaut"]
    return {
        "static_noise": static_noise_clip(chelsea, 8, SIZE),
        "pan": pan_clip(imgs["skimage__motorcycle_left"], 6, SIZE, (1, 3)),
        # a small object over a still background: some windows see it move, the others are still
        "object": object_clip(chelsea, astronaut[:256, 128:384], 6, SIZE, obj_size=24, velocity=(0, 12)),
        "cut": cut_clip(imgs["skimage__rocket"], imgs["skimage__coffee"], 6, SIZE, cut_at=3),
    }


@pytest.fixture(scope="module")
def runs(clips: dict[str, Clip]) -> dict[str, dict]:
    torch.set_num_threads(1)
    out = {}
    for name, clip in clips.items():
        frames = _lq(clip)
        r = {"hq": clip.frames, "frames": frames}
        for side in ("off", "on"):
            stage = _stage(side == "on")
            r[side] = np.stack([f.image for f in stage.process(iter(frames))])
            r[f"{side}_summary"] = stage.summary()
            r[f"{side}_stage"] = stage
        out[name] = r
    return out


def _window_errors(a: np.ndarray, b: np.ndarray, win: int = 32) -> np.ndarray:
    """Mean absolute difference (8-bit) of every ``win`` x ``win`` HQ block of every frame."""
    d = np.abs(a.astype(np.float32) - b.astype(np.float32))
    T, H, W, C = d.shape
    return d[:, : H // win * win, : W // win * win].reshape(T, H // win, win, W // win, win, C).mean((2, 4, 5))


def _psnr(images: np.ndarray, hq: list[np.ndarray]) -> float:
    return float(psnr_y(_tensor(list(images)), _tensor(hq), crop=SCALE).mean())


# ----- model-free: the change tests and the tiling -----
def test_change_tests_ignore_noise_and_see_motion() -> None:
    img = static_noise_clip(dict(eval_images())["skimage__chelsea"], 2, (64, 64), sigma=6.0)
    a, b = _tensor(img.frames[:1]), _tensor(img.frames[1:])
    assert float(block_change(a, b, 4)[0]) < 10.0 and float(window_motion(a, b)[0]) < 0.12
    shifted = _tensor([np.roll(img.frames[0], 1, axis=1)])
    assert float(window_motion(shifted, a)[0]) > 0.5  # one pixel of texture motion is seen


def test_tile_grid_and_blender_match_upscale_tiled() -> None:
    class Up:
        scale, context, name, capabilities = 2, 2, "up", Capabilities()

        def __call__(self, batch: SRBatch | torch.Tensor) -> torch.Tensor:
            x = as_batch(batch).x_BCHW
            return torch.nn.functional.interpolate(x, scale_factor=2, mode="bicubic") * 0.9 + 0.05

    x = torch.rand(2, 3, 48, 64)
    grid = TileGrid.make(48, 64, 28, 2, 2)
    blender = Blender(grid, 2, 2, 3, torch.float32, x.device)
    for b in range(2):  # frame by frame, as the cache does
        for i in range(len(grid.boxes)):
            blender.add(i, Up()(grid.crop(x[b : b + 1], i)), slice(b, b + 1))
    assert torch.equal(blender.result(), upscale_tiled(Up(), x, 28, 2))


def test_cache_state_is_one_frame_of_windows() -> None:
    cache = TokenCache(TokenCacheParams())
    crops = torch.rand(6, 3, 32, 32)
    from vidsr.sr.token_cache import CacheEntry

    for size, n in (((48, 64), 6), ((40, 40), 2)):
        cache.begin_frame(size, 0)
        keys = [(*size, i) for i in range(n)]
        for k, e in zip(keys, cache.match(keys, crops[:n])):
            if e is None:
                cache.store(k, CacheEntry(crops[0], None, torch.zeros(3, 64, 64)))
        assert len(cache) == n  # a new size dropped the old windows
    cache.begin_frame((40, 40), 1)  # a new scene
    assert len(cache) == 0 and cache.stats.resets == 2


# ----- the model -----
@needs_var
def test_static_noisy_shot_is_reused_at_the_same_psnr(runs: dict) -> None:
    r = runs["static_noise"]
    s = r["on_summary"]["token_cache"]
    windows_per_frame = s["windows"] // s["frames"]
    # every window of frames 1.. could be reused; measured 40 of 42 (95%) on this clip
    assert s["hits"] >= 0.8 * (s["windows"] - windows_per_frame), s
    assert _psnr(r["on"], r["hq"]) >= _psnr(r["off"], r["hq"]) - 0.1


@needs_var
@pytest.mark.parametrize("name", ["pan", "object"])
def test_moving_content_is_not_served_stale(runs: dict, name: str) -> None:
    r = runs[name]
    err = _window_errors(r["on"], r["off"])
    # every window that moved is recomputed (pan: 0.0); a reused still window (the object clip's
    # background) may differ from its recomputation only as much as the model's own output changes
    # between two frames of a still, noisy shot (its noise flicker; trained var: reused windows up to
    # 5.3, noise flicker up to ~6-7 levels; the dev student gave 1.3 and 1.4)
    still = runs["static_noise"]["off"]
    noise_flicker = _window_errors(still[1:], still[:-1]).max()
    assert err.max() <= max(2.0, noise_flicker), (err.max(), noise_flicker)
    assert _psnr(r["on"], r["hq"]) >= _psnr(r["off"], r["hq"]) - 0.1
    if name == "pan":
        assert r["on_summary"]["token_cache"]["hits"] == 0  # the whole frame moves every frame
    else:  # the object crosses the top row of windows; the lower row is still and reused
        assert r["on_summary"]["token_cache"]["hits"] >= 3 * 5 // 2, r["on_summary"]["token_cache"]


@needs_var
def test_scene_cut_clears_the_cache(runs: dict) -> None:
    r = runs["cut"]
    cut = next(i for i, f in enumerate(r["frames"]) if f.scene_id != r["frames"][0].scene_id)
    assert cut == 3
    assert r["on_summary"]["token_cache"]["resets"] == 1
    assert np.array_equal(r["on"][cut], r["off"][cut])  # the first frame after a cut: exactly the no-cache output
    assert np.array_equal(r["on"][0], r["off"][0])


@needs_var
def test_memory_and_report(runs: dict) -> None:
    for r in runs.values():
        s = r["on_summary"]["token_cache"]
        assert s["entries"] <= s["windows"] // s["frames"] == 6
        assert s["hits"] + s["misses"] == s["windows"] and 0.0 <= s["skipped_share"] <= 1.0
        assert "token_cache" not in r["off_summary"]
