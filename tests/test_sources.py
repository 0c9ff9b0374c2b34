"""Real-source degradations: the LQ really went through a scaler, 4:2:0 and a real encoder.

The clips are cut from scikit-image's astronaut photograph (a held-out picture, never trained on), so the
codecs see real texture; sizes are small (96 x 128 HQ, 5 frames) to keep each case well under a second.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from vidsr.analysis import DEGRADATION_FIELDS
from vidsr.data import eval_images
from vidsr.degrade.sources import CODECS, SCALERS, SourceParams, make_source, pan_clip, sample_source, source_kind
from vidsr.train.source_data import PoolSpec, SourcePool


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    return float(10 * np.log10(255.0**2 / np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)))


@pytest.fixture(scope="module")
def clip() -> np.ndarray:
    img = dict(eval_images())["skimage__astronaut"]
    return pan_clip(img, (96, 128), 5, np.random.default_rng(0))


def _chroma_r(rgb: np.ndarray) -> np.ndarray:
    """BT.601 Cr of uint8 RGB, float."""
    x = rgb.astype(np.float64)
    y = 0.299 * x[..., 0] + 0.587 * x[..., 1] + 0.114 * x[..., 2]
    return 0.713 * (x[..., 0] - y)


def test_decoded_chroma_is_subsampled() -> None:
    # red and green columns alternating every LQ pixel: luma-resolved, but a 4:2:0 chroma plane (one
    # sample per 2x2 block) cannot hold a 1-pixel chroma period, so it must come back flattened
    cols = np.where(np.arange(32) % 2 == 0, 0, 1)
    lq_pattern = np.zeros((32, 32, 3), np.uint8)
    lq_pattern[:, cols == 0] = (200, 40, 40)
    lq_pattern[:, cols == 1] = (40, 200, 40)
    hq = np.repeat(np.repeat(lq_pattern, 2, 0), 2, 1)[None]
    out = make_source(hq, SourceParams(2, "area", None))
    swing_in = np.abs(np.diff(_chroma_r(lq_pattern), axis=1)).mean()
    swing_out = np.abs(np.diff(_chroma_r(out[0]), axis=1)).mean()
    assert swing_in > 100 and swing_out < 0.25 * swing_in


@pytest.mark.parametrize("codec", list(CODECS))
def test_higher_crf_gives_lower_fidelity_and_same_params_give_same_bytes(clip: np.ndarray, codec: str) -> None:
    lo, hi = CODECS[codec].crf_range
    ref = make_source(clip, SourceParams(2, "bicubic", None))  # the downscale alone (4:2:0 too)
    p_lo = SourceParams(2, "bicubic", codec, lo, CODECS[codec].eval_preset)
    p_hi = SourceParams(2, "bicubic", codec, hi, CODECS[codec].eval_preset)
    a, b = make_source(clip, p_lo), make_source(clip, p_hi)
    assert a.shape == b.shape == (5, 48, 64, 3) and a.dtype == np.uint8
    # the heavy end of the range costs real fidelity; the light end is close to the downscale
    assert _psnr(b, ref) < _psnr(a, ref) - 2.0
    assert _psnr(a, ref) > 32.0
    assert np.array_equal(make_source(clip, p_hi), b)  # one thread per codec, repeatable heap: same bytes


def test_every_scaler_keeps_the_picture_aligned(clip: np.ndarray) -> None:
    """Each scaler's LQ is the HQ shrunk in place (no shift): upscaled back it matches the HQ far better
    than a one-pixel-shifted copy of itself does."""
    hq = torch.from_numpy(clip[:1]).permute(0, 3, 1, 2).float()
    for scaler in SCALERS:
        lq = make_source(clip[:1], SourceParams(2, scaler, None))
        up = F.interpolate(torch.from_numpy(lq).permute(0, 3, 1, 2).float(), scale_factor=2, mode="bicubic")
        err = (up - hq)[..., 4:-4, 4:-4].abs().mean()
        shifted = (up.roll(1, -1) - hq)[..., 4:-4, 4:-4].abs().mean()
        assert err < 0.7 * shifted, scaler


def test_the_sampler_is_mostly_a_clean_downscale_then_a_codec() -> None:
    rng = np.random.default_rng(1)
    draws = [sample_source(2, rng) for _ in range(600)]
    with_codec = [d for d in draws if d.codec is not None]
    assert len(with_codec) / len(draws) > 0.8
    assert {d.codec for d in with_codec} == set(CODECS)
    assert {d.scaler for d in draws} == set(SCALERS)
    assert all(CODECS[d.codec].crf_range[0] <= d.crf <= CODECS[d.codec].crf_range[1] for d in with_codec)
    assert sum(d.noise_sigma > 0 for d in draws) / len(draws) < 0.4  # noise is the exception, not the rule


def test_evaluation_kinds_are_fixed_and_named() -> None:
    p = source_kind("camera", 4, seed=3)
    assert (p.scale, p.scaler, p.codec, p.crf, p.noise_sigma, p.seed) == (4, "area", "libx264", 24, 4.0, 3)
    with pytest.raises(ValueError, match="unknown source kind"):
        source_kind("vhs", 2)


def test_the_training_pool_pairs_aligned_regions_with_their_vectors() -> None:
    img = dict(eval_images())["skimage__coffee"]
    pool = SourcePool([img], PoolSpec(scale=2, size=6, region=48, per_clip=2), seed=0)
    lq, hq, vec = pool.batch(4, 32, step=0)
    assert lq.shape == (4, 3, 32, 32) and hq.shape == (4, 3, 64, 64) and vec.shape == (4, len(DEGRADATION_FIELDS))
    down = F.interpolate(hq, size=(32, 32), mode="bicubic", antialias=True)
    assert float((down - lq).abs().mean()) < 0.05  # the same place, not a neighbouring crop
    assert torch.isfinite(vec).all()
    before = pool.lq.copy()
    pool.refresh(0.5, round_=1)
    assert not np.array_equal(before, pool.lq)


def test_the_pool_cuts_a_share_of_its_clips_from_footage() -> None:
    """With ``footage_share`` 1 every HQ region comes from the footage (here flat grey frames: they stay flat
    grey whatever the crop, zoom, flip and rotation); with 0 the footage is never drawn and the pool is the
    photo-only pool, entry for entry."""
    img = dict(eval_images())["skimage__coffee"]
    footage = [np.full((2, 6, 120, 160, 3), 77, np.uint8)]  # 2 stretches of 6 frames
    spec = PoolSpec(scale=2, size=4, region=48, per_clip=2, synthetic_share=0.0)
    only = SourcePool([img], PoolSpec(2, 4, 48, per_clip=2, synthetic_share=0.0, footage_share=1.0), 0, footage)
    assert (only.hq == 77).all() and not (only.lq == 0).all()
    photos = SourcePool([img], spec, seed=0)
    unused = SourcePool([img], spec, seed=0, footage=footage)
    assert np.array_equal(photos.hq, unused.hq) and np.array_equal(photos.lq, unused.lq)
    with pytest.raises(ValueError, match="needs footage"):
        SourcePool([img], PoolSpec(2, 4, 48, footage_share=0.5), 0)
