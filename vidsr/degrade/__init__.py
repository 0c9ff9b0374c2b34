"""Degradation synthesis: turn clean HQ frames into realistic LQ ones, with the true parameters.

Why: an SR model is only as good as the LQ it trained on, and the degrade-analysis stage can only be
validated against known degradations. Everything works on float RGB ``B x 3 x H x W`` in [0, 1].

- ``degrade(hq_BCHW, scale, "medium", seed)`` -> ``(lq_BCHW, DegradationParams)``: the second-order
  pipeline (Real-ESRGAN style) with a fixed preset (``light``, ``medium``, ``heavy``) or given params.
- ``sample_params(scale, rng)``: a random training degradation (feed it to ``degrade``).
- Single-factor ops for controlled sweeps, size-preserving: ``apply_blur`` (sigma in pixels,
  anisotropic via ``sigma_y``/``theta``, generalised via ``beta``), ``apply_gaussian_noise`` (std in
  8-bit units), ``apply_poisson_noise`` (shot-noise scale), ``apply_jpeg`` (quality 1..100),
  ``apply_h264`` (CRF, the batch is one sequence), and ``apply_resize``.
"""

from vidsr.degrade.ops import (
    RESIZE_MODES,
    apply_blur,
    apply_gaussian_noise,
    apply_h264,
    apply_jpeg,
    apply_poisson_noise,
    apply_resize,
    blur_kernel,
)
from vidsr.degrade.pipeline import (
    PRESETS,
    Blur,
    DegradationParams,
    Noise,
    Stage,
    degrade,
    preset,
    sample_params,
)

__all__ = [
    "degrade",
    "preset",
    "sample_params",
    "PRESETS",
    "DegradationParams",
    "Stage",
    "Blur",
    "Noise",
    "apply_blur",
    "apply_resize",
    "apply_gaussian_noise",
    "apply_poisson_noise",
    "apply_jpeg",
    "apply_h264",
    "blur_kernel",
    "RESIZE_MODES",
]
