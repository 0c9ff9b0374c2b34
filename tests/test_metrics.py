"""Metrics the quality harness reports (PSNR/SSIM on Y, NIQE, flicker, speed) and the Lanczos baseline."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from vidsr.data import eval_images
from vidsr.data.clips import pan_clip
from vidsr.degrade import apply_blur, apply_gaussian_noise
from vidsr.metrics import fit_pristine, flicker, load_pristine, ms_per_megapixel, niqe, psnr_y, ssim_y
from vidsr.sr.registry import available_models, build_model
from vidsr.sr.tiling import upscale_tiled

CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def photos() -> dict[str, np.ndarray]:
    return dict(eval_images(max_side=384))


def _t(img: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(img).permute(2, 0, 1)[None].float() / 255.0


def _img(x: torch.Tensor) -> np.ndarray:
    return (x[0].permute(1, 2, 0).clamp(0, 1) * 255).round().to(torch.uint8).numpy()


# --- PSNR / SSIM on Y ---------------------------------------------------------------------------


def test_psnr_of_identical_images_is_infinite_and_ssim_is_one() -> None:
    x = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    assert torch.isinf(psnr_y(x, x)).all()
    assert torch.allclose(ssim_y(x, x), torch.ones(2))


def test_psnr_known_value_per_image() -> None:
    """Grey 0.5 against grey 0.6 is a luma error of exactly 0.1: 20 dB; 0.01 gives 40 dB."""
    target = torch.full((2, 3, 16, 16), 0.5)
    pred = target.clone()
    pred[0] += 0.1
    pred[1] += 0.01
    assert psnr_y(pred, target).tolist() == pytest.approx([20.0, 40.0], abs=1e-3)


def test_psnr_only_sees_luma_and_crop_ignores_the_border() -> None:
    target = torch.full((1, 3, 16, 16), 0.5)
    chroma_only = target.clone()
    chroma_only[:, 0] += 0.1 / 0.299 * 0.114  # R up, B down: the same luma
    chroma_only[:, 2] -= 0.1
    assert psnr_y(chroma_only, target).item() > 60
    border = target.clone()
    border[..., :2, :] = 1.0
    assert math.isinf(psnr_y(border, target, crop=2).item())
    assert psnr_y(border, target).item() < 20


def test_ssim_falls_as_noise_rises(photos: dict[str, np.ndarray]) -> None:
    x = _t(photos["skimage__astronaut"])[..., 96:288, 96:288]
    scores = [ssim_y(apply_gaussian_noise(x, s, seed=0), x).item() for s in (0, 2, 8, 20)]
    assert scores[0] == pytest.approx(1.0, abs=1e-5) and scores == sorted(scores, reverse=True)


# --- NIQE ---------------------------------------------------------------------------------------


def test_shipped_niqe_model_is_a_valid_gaussian() -> None:
    m = load_pristine()
    assert m.mu_D.shape == (36,) and m.cov_DD.shape == (36, 36)
    assert np.allclose(m.cov_DD, m.cov_DD.T) and np.linalg.eigvalsh(m.cov_DD).min() > -1e-9
    assert m.info["images"] >= 30 and "vidsr.metrics.niqe fit" in m.info["how"]


@pytest.mark.parametrize("name", ["skimage__astronaut", "skimage__coffee"])
def test_niqe_scores_clean_photos_as_more_natural_than_blurred_or_noisy(photos: dict, name: str) -> None:
    img = photos[name]
    clean = niqe(img)
    blurred = niqe(_img(apply_blur(_t(img), 2.5)))
    noisy = niqe(_img(apply_gaussian_noise(_t(img), 12.0, seed=0)))
    print(f"\n{name}: NIQE clean {clean:.2f}, blurred {blurred:.2f}, noisy {noisy:.2f}")
    assert clean + 1.0 < blurred and clean + 1.0 < noisy


def test_niqe_fit_on_small_pictures(photos: dict[str, np.ndarray]) -> None:
    model = fit_pristine([photos["skimage__chelsea"], photos["skimage__rocket"]])
    assert np.isfinite(model.mu_D).all() and model.info["patches"] >= 2
    assert np.isfinite(niqe(photos["skimage__coffee"], model))
    with pytest.raises(ValueError, match="96x96"):
        niqe(np.zeros((50, 200, 3), np.uint8))


# --- temporal flicker ---------------------------------------------------------------------------


def test_flicker_of_the_truth_itself_is_zero_and_noise_adds_its_expected_amount(photos: dict) -> None:
    clip = pan_clip(photos["skimage__coffee"], 5, size=(96, 128), step=(0, 2))
    back = [np.zeros((96, 128, 2), np.float32) for _ in range(4)]
    for f in back:
        f[..., 0] = 2.0  # pixel x of frame t was at x + 2 in frame t-1

    def known(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        # the harness asks for back flows (a, b) then forward flows (b, a); tell them apart by order
        known.calls += 1
        return back[0] if known.calls <= 4 else -back[0]

    known.calls = 0
    same = flicker(clip.frames, clip.frames, flow_fn=known)
    assert same.output == pytest.approx(same.reference) and same.excess == pytest.approx(0.0)
    assert same.reference < 0.5  # integer shifts: the warp is exact up to the occluded edge

    sigma = 6.0
    rng = np.random.default_rng(0)
    noisy = [np.clip(f + rng.normal(0, sigma, f.shape), 0, 255).round().astype(np.uint8) for f in clip.frames]
    known.calls = 0
    r = flicker(noisy, clip.frames, flow_fn=known)
    luma_sigma = sigma * math.sqrt(0.299**2 + 0.587**2 + 0.114**2)
    expected = 2 * luma_sigma / math.sqrt(math.pi)  # E|n1 - n2| for independent Gaussian noise
    assert r.excess == pytest.approx(expected, rel=0.15)


def test_flicker_with_estimated_flow_on_a_real_pan(photos: dict[str, np.ndarray]) -> None:
    pytest.importorskip("cv2")
    clip = pan_clip(photos["skimage__motorcycle_left"], 4, size=(96, 128), step=(1, 3))
    rng = np.random.default_rng(1)
    noisy = [np.clip(f + rng.normal(0, 5, f.shape), 0, 255).astype(np.uint8) for f in clip.frames]
    r = flicker(noisy, clip.frames)
    assert r.masked_fraction > 0.8
    assert r.reference < 2.0 and r.excess > 2.0


# --- speed and the Lanczos baseline ---------------------------------------------------------------


def test_ms_per_megapixel_is_positive() -> None:
    model = build_model("bicubic", 2, CPU)
    ms = ms_per_megapixel(model, torch.rand(1, 3, 64, 64), repeats=2)
    assert 0 < ms < 1e5


def test_lanczos_is_registered_tile_exact_and_keeps_flat_areas() -> None:
    assert available_models()["lanczos"] == (2, 4)
    x = torch.rand(1, 3, 40, 52, generator=torch.Generator().manual_seed(0))
    for scale in (2, 4):
        model = build_model("lanczos", scale, CPU)
        whole = model(x)
        assert whole.shape == (1, 3, 40 * scale, 52 * scale)
        assert torch.allclose(upscale_tiled(model, x, tile=16, overlap=model.context), whole, atol=1e-5)
        assert torch.allclose(model(torch.full((1, 3, 9, 9), 0.3)), torch.full((1, 3, 9 * scale, 9 * scale), 0.3))


def test_lanczos_is_sharper_than_bicubic_on_a_real_photo(photos: dict[str, np.ndarray]) -> None:
    hq = _t(photos["skimage__astronaut"])[..., :384, :384]
    lq = torch.nn.functional.interpolate(hq, scale_factor=0.5, mode="bicubic", antialias=True).clamp(0, 1)
    lanczos = psnr_y(build_model("lanczos", 2, CPU)(lq), hq, crop=2).item()
    bicubic = psnr_y(build_model("bicubic", 2, CPU)(lq), hq, crop=2).item()
    assert lanczos > bicubic
