"""Degradation synthesis: presets are reproducible and carry their truth; each factor moves the image
the way its parameter says."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from vidsr.data import eval_images
from vidsr.degrade import (
    PRESETS,
    DegradationParams,
    apply_blur,
    apply_gaussian_noise,
    apply_h264,
    apply_jpeg,
    apply_poisson_noise,
    blur_kernel,
    degrade,
    sample_params,
)


@pytest.fixture(scope="module")
def photo() -> torch.Tensor:
    """A 128x192 crop of a real held-out photograph (astronaut: skin, fabric, hard edges)."""
    img = dict(eval_images())["skimage__astronaut"][64:192, 160:352]
    return torch.from_numpy(img.copy()).permute(2, 0, 1)[None].float() / 255.0


def _highpass_energy(x: torch.Tensor) -> float:
    lap = torch.tensor([[0.0, 1, 0], [1, -4, 1], [0, 1, 0]]).view(1, 1, 3, 3).repeat(3, 1, 1, 1)
    return float(F.conv2d(x, lap, groups=3).pow(2).mean())


@pytest.mark.parametrize("level", PRESETS)
def test_presets_are_deterministic_and_carry_their_params(photo: torch.Tensor, level: str) -> None:
    lq1, p1 = degrade(photo, 2, level, seed=5)
    lq2, p2 = degrade(photo, 2, level, seed=5)
    lq3, _ = degrade(photo, 2, level, seed=6)
    assert lq1.shape == (1, 3, 64, 96)
    assert torch.equal(lq1, lq2) and p1 == p2
    assert not torch.equal(lq1, lq3)  # the seed drives the noise
    assert (p1.name, p1.scale, p1.seed) == (level, 2, 5)
    assert DegradationParams.from_dict(p1.to_dict()) == p1
    # the params alone reproduce the image: they are the whole truth
    assert torch.equal(degrade(photo, 2, p1)[0], lq1)


def test_presets_get_harder(photo: torch.Tensor) -> None:
    """light < medium < heavy in every summary factor and in the damage done (bicubic PSNR)."""
    psnrs, summaries = [], []
    for level in PRESETS:
        lq, p = degrade(photo, 2, level, seed=0)
        up = F.interpolate(lq, scale_factor=2, mode="bicubic", align_corners=False).clamp(0, 1)
        psnrs.append(float(-10 * torch.log10(F.mse_loss(up, photo))))
        summaries.append(p.summary())
    assert psnrs[0] > psnrs[1] > psnrs[2]
    assert summaries[0]["noise_sigma"] < summaries[1]["noise_sigma"] < summaries[2]["noise_sigma"]
    assert summaries[0]["jpeg_quality"] > summaries[1]["jpeg_quality"] > summaries[2]["jpeg_quality"]
    assert summaries[2]["crf"] > 0


def test_sampler_is_seeded_and_covers_every_factor(photo: torch.Tensor) -> None:
    a = [sample_params(4, np.random.default_rng(1)) for _ in range(2)]
    assert a[0] == a[1]
    params = [sample_params(4, np.random.default_rng(i)) for i in range(200)]
    kinds = {st.blur.kind for p in params for st in p.stages if st.blur}
    noises = {(st.noise.kind, st.noise.gray) for p in params for st in p.stages if st.noise}
    assert kinds == {"isotropic", "anisotropic", "generalized"}
    assert noises == {("gaussian", False), ("gaussian", True), ("poisson", False), ("poisson", True)}
    assert any(p.crf for p in params) and any(len(p.stages) == 2 for p in params)
    lq, p = degrade(photo, 4, params[0])
    assert lq.shape == (1, 3, 32, 48) and p is params[0]


def test_blur_kernel_is_normalised_and_anisotropic() -> None:
    k = blur_kernel(3.0, 1.0, theta=0.0).double()
    assert abs(float(k.sum()) - 1.0) < 1e-6
    ax = torch.arange(k.shape[0], dtype=torch.float64) - k.shape[0] // 2
    var_x, var_y = float((k.sum(0) * ax**2).sum()), float((k.sum(1) * ax**2).sum())
    assert var_x / var_y == pytest.approx(9.0, rel=0.1)  # sigma_x / sigma_y = 3, truncation costs a little


def test_blur_removes_detail_monotonically(photo: torch.Tensor) -> None:
    energies = [_highpass_energy(apply_blur(photo, s)) for s in (0.5, 1.0, 2.0, 3.0)]
    assert all(a > b for a, b in zip(energies, energies[1:], strict=False))
    assert _highpass_energy(apply_blur(photo, 1.0, beta=1.0)) < _highpass_energy(photo)


def test_gaussian_noise_has_the_asked_std(photo: torch.Tensor) -> None:
    mid = 0.25 + 0.5 * photo  # away from 0 and 1 so clipping does not shrink the noise
    for sigma in (2.0, 5.0, 10.0):
        std = float((apply_gaussian_noise(mid, sigma, seed=0) - mid).std() * 255)
        assert std == pytest.approx(sigma, rel=0.05)
    grey = apply_gaussian_noise(mid, 5.0, gray=True, seed=0) - mid
    assert (grey - grey[:, :1]).abs().max() < 1e-6  # one noise field shared by R, G and B


def test_poisson_noise_grows_with_scale_and_brightness(photo: torch.Tensor) -> None:
    stds = [float((apply_poisson_noise(photo, s, seed=0) - photo).std()) for s in (0.25, 0.5, 1.0)]
    assert stds[0] < stds[1] < stds[2]
    dark, bright = torch.full((1, 3, 64, 64), 0.1), torch.full((1, 3, 64, 64), 0.8)
    # shot noise std goes as sqrt(signal): 8x the light, about 2.8x the std
    bright_std = (apply_poisson_noise(bright, 1.0) - bright).std()
    assert bright_std > 2 * (apply_poisson_noise(dark, 1.0) - dark).std()


def test_jpeg_error_falls_with_quality(photo: torch.Tensor) -> None:
    errs = [float(F.mse_loss(apply_jpeg(photo, q), photo)) for q in (10, 30, 60, 95)]
    assert all(a > b for a, b in zip(errs, errs[1:], strict=False))


def test_h264_error_rises_with_crf_and_is_deterministic(photo: torch.Tensor) -> None:
    clip = torch.cat([photo, photo.roll(2, dims=-1), photo.roll(4, dims=-1)])  # a tiny pan
    outs = [apply_h264(clip, crf) for crf in (15, 30, 45)]
    errs = [float(F.mse_loss(o, clip)) for o in outs]
    assert outs[0].shape == clip.shape
    assert errs[0] < errs[1] < errs[2]
    assert torch.equal(apply_h264(clip, 30), outs[1])
    odd = apply_h264(photo[..., :63, :95], 30)  # odd sizes are padded inside and cropped back
    assert odd.shape == (1, 3, 63, 95)
