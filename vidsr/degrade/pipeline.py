"""The second-order degradation pipeline (after Real-ESRGAN): parameters, fixed presets, a sampler.

HQ -> [stage: blur -> resize -> noise -> JPEG] x 1 or 2 -> optional H.264 round trip -> LQ.
The last stage always resizes to exactly ``H // scale x W // scale``. Every LQ image comes with the
``DegradationParams`` that made it, so the analysis stage can be validated against the truth.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from vidsr.degrade.ops import (
    RESIZE_MODES,
    apply_blur,
    apply_gaussian_noise,
    apply_h264,
    apply_jpeg,
    apply_poisson_noise,
    apply_resize,
)

__all__ = [
    "Blur",
    "Noise",
    "Stage",
    "DegradationParams",
    "PRESETS",
    "preset",
    "sample_params",
    "degrade",
]


@dataclass(frozen=True)
class Blur:
    """A generalised-Gaussian blur; sigmas in pixels of the image the stage receives."""

    sigma_x: float
    sigma_y: float
    theta: float = 0.0
    beta: float = 2.0

    @property
    def kind(self) -> str:
        if abs(self.beta - 2.0) > 1e-6:
            return "generalized"
        return "isotropic" if abs(self.sigma_x - self.sigma_y) < 1e-6 else "anisotropic"


@dataclass(frozen=True)
class Noise:
    """``gaussian``: ``strength`` is the std in 8-bit units; ``poisson``: the shot-noise scale (see ops)."""

    kind: str
    strength: float
    gray: bool = False

    @property
    def sigma_255(self) -> float:
        """Approximate std in 8-bit units at mid-grey, so both kinds sit on one axis."""
        if self.kind == "gaussian":
            return self.strength
        return self.strength * math.sqrt(0.5 / 256.0) * 255.0


@dataclass(frozen=True)
class Stage:
    """One order: blur, resize to ``resize`` x the HQ size (last stage: exactly the LQ size), noise, JPEG."""

    blur: Blur | None
    resize: float
    resize_mode: str
    noise: Noise | None
    jpeg_quality: int | None


@dataclass(frozen=True)
class DegradationParams:
    """Everything that made an LQ image from its HQ one (the seed fixes the noise draws)."""

    scale: int
    stages: tuple[Stage, ...]
    crf: int | None = None
    seed: int = 0
    name: str = "sampled"

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> DegradationParams:
        stages = tuple(
            Stage(
                blur=Blur(**s["blur"]) if s["blur"] else None,
                resize=s["resize"],
                resize_mode=s["resize_mode"],
                noise=Noise(**s["noise"]) if s["noise"] else None,
                jpeg_quality=s["jpeg_quality"],
            )
            for s in d["stages"]
        )
        return cls(scale=d["scale"], stages=stages, crf=d["crf"], seed=d["seed"], name=d["name"])

    def summary(self) -> dict[str, float]:
        """A few scalars per factor, the truth the analysis estimates are checked against.

        ``blur_sigma_lq``: root-sum-square of the blur sigmas, each converted to LQ pixels;
        ``noise_sigma``: root-sum-square noise std (8-bit units, at mid-grey, noise added in earlier
        stages is shrunk by later resizes only approximately, so this is an upper bound);
        ``jpeg_quality``: the lowest quality applied (100 = none); ``crf``: 0 = no H.264.
        """
        blur2, noise2, q = 0.0, 0.0, 100
        for idx, st in enumerate(self.stages):
            # a stage's input is at the previous stage's size; express its sigma in LQ pixels
            in_factor = 1.0 if idx == 0 else self.stages[idx - 1].resize
            lq_factor = 1.0 / self.scale
            if st.blur is not None:
                s = math.sqrt(st.blur.sigma_x * st.blur.sigma_y) * lq_factor / in_factor
                blur2 += s * s
            if st.noise is not None:
                noise2 += st.noise.sigma_255**2
            if st.jpeg_quality is not None:
                q = min(q, st.jpeg_quality)
        return {
            "blur_sigma_lq": math.sqrt(blur2),
            "noise_sigma": math.sqrt(noise2),
            "jpeg_quality": float(q),
            "crf": float(self.crf or 0),
        }


def _presets(scale: int) -> dict[str, DegradationParams]:
    lq = 1.0 / scale
    light = DegradationParams(
        scale=scale,
        stages=(Stage(Blur(0.6, 0.6), lq, "bicubic", Noise("gaussian", 2.0), 90),),
        name="light",
    )
    medium = DegradationParams(
        scale=scale,
        stages=(
            Stage(Blur(1.2, 0.8, theta=0.6), 0.8, "bilinear", Noise("gaussian", 4.0), 75),
            Stage(Blur(0.6, 0.6), lq, "bicubic", Noise("poisson", 0.5, gray=True), 70),
        ),
        name="medium",
    )
    heavy = DegradationParams(
        scale=scale,
        stages=(
            Stage(Blur(2.0, 1.0, theta=1.1, beta=1.3), 0.6, "area", Noise("gaussian", 8.0), 50),
            Stage(Blur(0.9, 0.9), lq, "bilinear", Noise("poisson", 1.0), 45),
        ),
        crf=30,
        name="heavy",
    )
    return {"light": light, "medium": medium, "heavy": heavy}


PRESETS = ("light", "medium", "heavy")


def preset(level: str, scale: int, seed: int = 0) -> DegradationParams:
    """The fixed evaluation degradation ``level`` (light, medium, heavy) at ``scale``."""
    table = _presets(scale)
    if level not in table:
        raise ValueError(f"unknown degradation level '{level}' (choose from {', '.join(PRESETS)})")
    return dataclasses.replace(table[level], seed=seed)


def _sample_noise(rng: np.random.Generator, gauss_max: float, poisson_max: float) -> Noise:
    gray = bool(rng.random() < 0.4)
    if rng.random() < 0.6:
        return Noise("gaussian", float(rng.uniform(1.0, gauss_max)), gray)
    return Noise("poisson", float(rng.uniform(0.05, poisson_max)), gray)


def _sample_blur(rng: np.random.Generator, sigma_max: float) -> Blur:
    kind = rng.choice(["isotropic", "anisotropic", "generalized"], p=[0.5, 0.3, 0.2])
    sx = float(rng.uniform(0.2, sigma_max))
    if kind == "isotropic":
        return Blur(sx, sx)
    sy = float(rng.uniform(0.2, sigma_max))
    theta = float(rng.uniform(0.0, math.pi))
    beta = 2.0 if kind == "anisotropic" else float(rng.choice([rng.uniform(0.5, 1.0), rng.uniform(2.0, 4.0)]))
    return Blur(sx, sy, theta, beta)


def sample_params(scale: int, rng: np.random.Generator, video_prob: float = 0.2) -> DegradationParams:
    """A random training degradation: first order always, second order with probability 0.6.

    Ranges are a little milder than Real-ESRGAN's (whose heavy tail targets perceptual GAN training)
    so that a small fidelity-trained peer still learns to sharpen, while covering all three presets.
    """
    lq = 1.0 / scale
    two = rng.random() < 0.6
    mode = lambda: str(rng.choice(RESIZE_MODES))  # noqa: E731
    first = Stage(
        blur=_sample_blur(rng, 2.2) if rng.random() < 0.9 else None,
        resize=float(rng.choice([rng.uniform(lq, 1.0), rng.uniform(1.0, 1.25), 1.0], p=[0.6, 0.15, 0.25]))
        if two
        else lq,
        resize_mode=mode(),
        noise=_sample_noise(rng, 10.0, 1.2) if rng.random() < 0.8 else None,
        jpeg_quality=int(rng.integers(40, 96)) if rng.random() < 0.8 else None,
    )
    stages = [first]
    if two:
        stages.append(
            Stage(
                blur=_sample_blur(rng, 1.2) if rng.random() < 0.6 else None,
                resize=lq,
                resize_mode=mode(),
                noise=_sample_noise(rng, 8.0, 1.0) if rng.random() < 0.7 else None,
                jpeg_quality=int(rng.integers(40, 96)) if rng.random() < 0.8 else None,
            )
        )
    crf = int(rng.integers(20, 34)) if rng.random() < video_prob else None
    return DegradationParams(scale, tuple(stages), crf=crf, seed=int(rng.integers(2**31)), name="sampled")


@torch.no_grad()
def degrade(
    hq_BCHW: torch.Tensor, scale: int, params: str | DegradationParams = "medium", seed: int = 0
) -> tuple[torch.Tensor, DegradationParams]:
    """Make the LQ batch ``B x 3 x H//scale x W//scale`` from ``hq_BCHW`` (float RGB in [0, 1]).

    ``params`` is a preset name (``light``, ``medium``, ``heavy``; then ``seed`` fixes its noise) or a
    ``DegradationParams`` (its own seed is used). All images of the batch get the same parameters and
    independent noise; with a CRF, the batch is encoded in order as one H.264 sequence (pass a clip's
    frames as ``T x 3 x H x W``). Same inputs and seed give bit-identical output.
    """
    p = preset(params, scale, seed) if isinstance(params, str) else params
    if p.scale != scale:
        raise ValueError(f"params are for x{p.scale}, asked for x{scale}")
    H, W = hq_BCHW.shape[-2:]
    target = (H // scale, W // scale)
    x = hq_BCHW.float().clamp(0.0, 1.0)
    for i, st in enumerate(p.stages):
        if st.blur is not None:
            x = apply_blur(x, st.blur.sigma_x, st.blur.sigma_y, st.blur.theta, st.blur.beta)
        last = i == len(p.stages) - 1
        size = target if last else (max(round(H * st.resize), 8), max(round(W * st.resize), 8))
        x = apply_resize(x, size, st.resize_mode)
        if st.noise is not None:
            noise_seed = p.seed * 7919 + i
            if st.noise.kind == "gaussian":
                x = apply_gaussian_noise(x, st.noise.strength, st.noise.gray, noise_seed)
            else:
                x = apply_poisson_noise(x, st.noise.strength, st.noise.gray, noise_seed)
        if st.jpeg_quality is not None:
            x = apply_jpeg(x, st.jpeg_quality)
    if p.crf is not None:
        x = apply_h264(x, p.crf)
    return x.clamp(0.0, 1.0), p
