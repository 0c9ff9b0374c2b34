"""The colour-shift metric (``vidsr.metrics.colour``) and the colour fixes (``vidsr.sr.colorfix``)."""

from __future__ import annotations

import kornia
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from skimage import data as skdata

from vidsr.degrade import degrade
from vidsr.metrics import colour_shift, psnr_y
from vidsr.sr.colorfix import adain_colour_fix, colour_fix, colour_fix_context, wavelet_colour_fix
from vidsr.sr.registry import available_models, build_model

CPU = torch.device("cpu")


def _t(img: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(img)).permute(2, 0, 1)[None].float() / 255.0


@pytest.fixture(scope="module")
def photo() -> torch.Tensor:
    """A real photograph, 192 x 192 (the cat's face and the wall: mid tones, few clipped pixels)."""
    return _t(skdata.chelsea()[40:232, 120:312])


@pytest.fixture(scope="module")
def pair(photo: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(HQ, LQ) at x2 with the medium degradation, seeded."""
    lq, _ = degrade(photo, 2, "medium", seed=7)
    return photo, lq


def _shift_lab(x: torch.Tensor, dl: float = 0.0, da: float = 0.0, db: float = 0.0) -> torch.Tensor:
    lab = kornia.color.rgb_to_lab(x)
    lab = lab + torch.tensor([dl, da, db]).view(1, 3, 1, 1)
    return kornia.color.lab_to_rgb(lab).clamp(0, 1)


def _cast(x: torch.Tensor) -> torch.Tensor:
    """A warm cast and a brightness lift, as a drifting generative model might add."""
    return (x * 1.08 + torch.tensor([0.05, 0.01, -0.04]).view(1, 3, 1, 1)).clamp(0, 1)


# --- the metric ---------------------------------------------------------------------------------


def test_colour_shift_is_zero_for_identical_images(photo: torch.Tensor) -> None:
    cs = colour_shift(photo, photo)
    for v in (cs.delta_e2000, cs.abs_l, cs.abs_a, cs.abs_b, cs.abs_lab):
        assert v.shape == (1,) and float(v[0]) == 0.0
    # an exact upscale (nearest) area-downscales back to the input: still zero
    up = F.interpolate(photo, scale_factor=4, mode="nearest")
    assert float(colour_shift(up, photo).delta_e2000[0]) < 1e-4  # float rounding of the average


def test_colour_shift_grows_with_a_known_shift(photo: torch.Tensor) -> None:
    up = F.interpolate(_shift_lab(photo, dl=5.0), scale_factor=2, mode="nearest")
    cs = colour_shift(up, photo)
    assert abs(float(cs.abs_l[0]) - 5.0) < 0.3  # the photo has few clipped pixels
    assert float(cs.abs_a[0]) < 0.3 and float(cs.abs_b[0]) < 0.3
    cs10 = colour_shift(F.interpolate(_shift_lab(photo, dl=10.0), scale_factor=2, mode="nearest"), photo)
    assert float(cs10.abs_l[0]) > 9.0
    assert 2.0 < float(cs.delta_e2000[0]) < float(cs10.delta_e2000[0])
    # a shift in b (yellow-blue) shows in b, not L
    cs_b = colour_shift(_shift_lab(photo, db=6.0), photo)
    assert abs(float(cs_b.abs_b[0]) - 6.0) < 0.5 and float(cs_b.abs_l[0]) < 0.5


def test_colour_shift_per_image_of_a_batch(photo: torch.Tensor) -> None:
    batch = torch.cat([photo, photo])
    cs = colour_shift(torch.cat([photo, _shift_lab(photo, dl=5.0)]), batch)
    assert float(cs.abs_l[0]) == 0.0 and float(cs.abs_l[1]) > 4.5


# --- the fixes ----------------------------------------------------------------------------------


@pytest.mark.parametrize("shape", [(37, 51), (5, 3), (1, 1), (64, 64)])
def test_fixes_keep_shape_and_dtype_on_any_size(shape: tuple[int, int]) -> None:
    g = torch.Generator().manual_seed(0)
    lq = torch.rand(2, 3, (shape[0] + 1) // 2, (shape[1] + 1) // 2, generator=g)
    sr = torch.rand(2, 3, *shape, generator=g)
    for fix in (wavelet_colour_fix, adain_colour_fix):
        out = fix(sr, lq)
        assert out.shape == sr.shape and out.dtype == sr.dtype
        assert 0.0 <= float(out.min()) and float(out.max()) <= 1.0
    assert wavelet_colour_fix(sr.bfloat16(), lq).dtype == torch.bfloat16
    assert colour_fix(sr, lq, "none") is sr
    with pytest.raises(ValueError):
        colour_fix(sr, lq, "median")  # type: ignore[arg-type]


def test_wavelet_fix_of_the_bicubic_upsample_is_nearly_itself(pair: tuple[torch.Tensor, torch.Tensor]) -> None:
    """The low band of the input's own upsample is already the input's: the fix changes nothing."""
    _, lq = pair
    up = F.interpolate(lq, scale_factor=2, mode="bicubic", align_corners=False).clamp(0, 1)
    assert float((wavelet_colour_fix(up, lq) - up).abs().max()) < 1e-5


def test_wavelet_fix_on_tiles_equals_the_whole_frame() -> None:
    """A tile with ``colour_fix_context`` input pixels of neighbours gets the whole-frame result."""
    g = torch.Generator().manual_seed(1)
    scale, lq = 2, torch.rand(1, 3, 80, 96, generator=g)
    sr = (F.interpolate(lq, scale_factor=scale, mode="bicubic") + 0.05 * torch.randn(1, 3, 160, 192, generator=g))
    sr = sr.clamp(0, 1)
    whole = wavelet_colour_fix(sr, lq)
    c = colour_fix_context(scale)
    y0, x0, th, tw = 30, 34, 20, 24  # the tile, in input pixels
    crop_lq = lq[..., y0 - c : y0 + th + c, x0 - c : x0 + tw + c]
    crop_sr = sr[..., (y0 - c) * scale : (y0 + th + c) * scale, (x0 - c) * scale : (x0 + tw + c) * scale]
    tile = wavelet_colour_fix(crop_sr, crop_lq)[..., c * scale : (c + th) * scale, c * scale : (c + tw) * scale]
    ref = whole[..., y0 * scale : (y0 + th) * scale, x0 * scale : (x0 + tw) * scale]
    assert float((tile - ref).abs().max()) < 1e-5


def test_adain_matches_mean_and_std() -> None:
    g = torch.Generator().manual_seed(2)
    lq = torch.rand(1, 3, 20, 30, generator=g) * 0.5 + 0.25
    sr = torch.rand(1, 3, 40, 60, generator=g) * 0.2 + 0.1
    out = adain_colour_fix(sr, lq)
    std_o, mean_o = torch.std_mean(out, dim=(-2, -1))
    std_i, mean_i = torch.std_mean(lq, dim=(-2, -1))
    assert torch.allclose(mean_o, mean_i, atol=1e-4) and torch.allclose(std_o, std_i, atol=1e-3)


@pytest.mark.skipif("cnn" not in available_models() or 2 not in available_models()["cnn"], reason="no cnn x2 weights")
def test_fixes_remove_an_injected_cast_from_an_sr_output(pair: tuple[torch.Tensor, torch.Tensor]) -> None:
    """cnn x2 output of a real photo, plus a warm cast and a brightness lift: the fixes take the shift
    back near the clean output's; on the clean output the wavelet fix costs no PSNR.

    Measured dE2000 against the input: clean 1.58, cast 6.92, wavelet-fixed 1.90, AdaIN-fixed 1.45. The
    wavelet fix leaves a little because the cast's 8 % gain also scales mid frequencies (finer than its
    low band) which the area-downscaled comparison still sees; a purely additive cast it removes to 1.58.
    """
    hq, lq = pair
    sr = build_model("cnn", 2, CPU)(lq)
    clean = float(colour_shift(sr, lq).delta_e2000[0])
    cast = _cast(sr)
    assert float(colour_shift(cast, lq).delta_e2000[0]) > clean + 3.0  # the cast is plainly visible
    assert float(colour_shift(wavelet_colour_fix(cast, lq), lq).delta_e2000[0]) < clean + 0.5
    assert float(colour_shift(adain_colour_fix(cast, lq), lq).delta_e2000[0]) < clean + 0.3
    additive = (sr + torch.tensor([0.05, 0.03, -0.04]).view(1, 3, 1, 1)).clamp(0, 1)
    assert float(colour_shift(wavelet_colour_fix(additive, lq), lq).delta_e2000[0]) < clean + 0.1
    assert float(colour_shift(wavelet_colour_fix(cast, lq), lq).abs_l[0]) < float(colour_shift(sr, lq).abs_l[0]) + 0.5
    # a good output stays as good: PSNR within 0.1 dB (measured +0.004 dB); the cast one recovers 4 dB
    p_sr, p_fixed = float(psnr_y(sr, hq, crop=2)[0]), float(psnr_y(wavelet_colour_fix(sr, lq), hq, crop=2)[0])
    assert p_fixed > p_sr - 0.1
    assert float(psnr_y(cast, hq, crop=2)[0]) < p_sr - 3.0
    assert float(psnr_y(wavelet_colour_fix(cast, lq), hq, crop=2)[0]) > p_sr - 0.5


def test_wavelet_fixes_a_cast_that_varies_across_the_frame(pair: tuple[torch.Tensor, torch.Tensor]) -> None:
    """A brightness ramp (as a model drifting across tiles would leave) is local: the wavelet fix
    removes it, AdaIN's one gain and offset per channel cannot, which is why wavelet is the default."""
    _, lq = pair
    up = F.interpolate(lq, scale_factor=2, mode="bicubic", align_corners=False).clamp(0, 1)
    ramp = torch.linspace(-0.08, 0.08, up.shape[-1]).view(1, 1, 1, -1)
    drifted = (up + ramp).clamp(0, 1)
    before = float(colour_shift(drifted, lq).delta_e2000[0])
    wav = float(colour_shift(wavelet_colour_fix(drifted, lq), lq).delta_e2000[0])
    ada = float(colour_shift(adain_colour_fix(drifted, lq), lq).delta_e2000[0])
    assert wav < 0.3 * before and wav < 0.5 * ada


@pytest.mark.skipif("vq-lq" not in available_models() or 2 not in available_models()["vq-lq"], reason="no vq-lq")
def test_vq_lq_output_with_the_fix_stays_close_in_colour(pair: tuple[torch.Tensor, torch.Tensor]) -> None:
    """vq-lq x2 on the real photo, medium degradation: mean dE2000 of the fixed output against the
    input below 1.6 (measured 1.37, 1.47 without the fix; the HQ photograph itself scores 3.10 against
    this noisy input: its fur texture is what the degradation wiped out)."""
    hq, lq = pair
    sr = build_model("vq-lq", 2, CPU)(lq)
    fixed = float(colour_shift(wavelet_colour_fix(sr, lq), lq).delta_e2000[0])
    assert fixed < 1.6
    assert fixed <= float(colour_shift(sr, lq).delta_e2000[0]) + 0.02
