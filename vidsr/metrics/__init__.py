"""Quality and speed measurements: PSNR/SSIM on Y, NIQE, colour shift, temporal flicker, time per megapixel."""

from vidsr.metrics.colour import ColourShift, colour_shift
from vidsr.metrics.fidelity import psnr_y, rgb_to_y, ssim_y
from vidsr.metrics.niqe import NIQEModel, fit_pristine, load_pristine, niqe
from vidsr.metrics.temporal import FlickerResult, flicker, warping_error
from vidsr.metrics.timing import ms_per_megapixel

__all__ = [
    "psnr_y",
    "ssim_y",
    "rgb_to_y",
    "niqe",
    "NIQEModel",
    "fit_pristine",
    "load_pristine",
    "flicker",
    "warping_error",
    "FlickerResult",
    "ms_per_megapixel",
    "colour_shift",
    "ColourShift",
]
