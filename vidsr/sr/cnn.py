"""The trained compact CNN (``vidsr.models.cnn``) registered as SR model ``cnn``, weights from the package."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import torch

from vidsr.analysis.batch import batch_degradations
from vidsr.models.cnn import CompactSR, load_weights
from vidsr.sr.base import Capabilities
from vidsr.sr.batch import SRBatch, as_batch
from vidsr.sr.register import register_model

__all__ = ["CNN", "weights_path", "shipped_scales"]

WEIGHTS_DIR = Path(__file__).resolve().parent.parent / "weights"


def weights_path(scale: int) -> Path:
    return WEIGHTS_DIR / f"cnn_x{scale}.safetensors"


def shipped_scales() -> tuple[int, ...]:
    """The scales that have a weights file in the package."""
    return tuple(s for s in (2, 3, 4) if weights_path(s).exists())


@lru_cache(maxsize=4)
def _load(scale: int) -> CompactSR:
    """Read a weights file once per process; every model instance shares the fp32 CPU copy."""
    return load_weights(weights_path(scale), "cpu")


class CNN:
    """fp32 on a CPU (bf16 is far slower there without AMX); bf16 autocast on CUDA (about 2x: the body's
    convolutions run in bf16 on tensor cores while the weights stay fp32, so nothing needs casting). The
    bicubic base the residual is added to and the FiLM MLP (float64, one vector at a time) stay in
    float, so flat areas and the conditioning do not take bf16's rounding. Any float input dtype is
    accepted; the output has the input's dtype.

    Tiled output equals whole-frame output exactly when tile crops start on even pixels (even frame
    sizes, even tile and overlap: every real video, since yuv420p needs even sizes); on odd-sized
    frames the last tile row/column sees a shifted pixel-unshuffle phase and differs slightly, inside
    the cross-faded overlap.

    A conditioned net (``cfg.cond_dim`` > 0) runs each item with the batch's vector for it
    (``SRBatch.degradation_BF``: degrade-analysis's, or measured by the tiler on the whole frame); a
    batch without vectors (or with a non-finite one) is measured here, item by item.
    """

    def __init__(self, scale: int, device: torch.device) -> None:
        self.name = "cnn"
        self.scale = scale
        self.device = device
        base = _load(scale)
        self.net = base if device.type == "cpu" else CompactSR(base.cfg).to(device).eval()
        if device.type != "cpu":
            self.net.load_state_dict(base.state_dict())
        # even, so that tile crops keep the pixel-unshuffle phase of the whole frame
        self.context = base.cfg.receptive_radius + base.cfg.receptive_radius % 2
        self.amp = device.type == "cuda"  # bf16 autocast; bench/gpu.py turns it off to measure fp32

    @property
    def capabilities(self) -> Capabilities:
        """Conditioned exactly when the net is (read from the net, which tests may swap for another)."""
        return Capabilities(conditioned=bool(self.net.cfg.cond_dim))

    def _vectors(self, batch: SRBatch) -> torch.Tensor | None:
        if not self.net.cfg.cond_dim:
            return None
        given = batch.degradation_BF
        if given is not None and given.shape[-1] < self.net.cfg.cond_dim:
            raise ValueError(f"degradation vectors with {given.shape[-1]} fields; this model reads "
                             f"{self.net.cfg.cond_dim} (vidsr.analysis.DEGRADATION_FIELDS)")
        if given is not None and torch.isfinite(given).all():
            return given.to(torch.float32)
        return batch_degradations(batch.x_BCHW)

    @torch.inference_mode()
    def __call__(self, batch: SRBatch | torch.Tensor) -> torch.Tensor:
        batch = as_batch(batch)
        x_BCHW = batch.x_BCHW
        vectors = self._vectors(batch)
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=self.amp and self.device.type == "cuda"):
            out = self.net(x_BCHW.float(), vectors)
        return out.float().clamp_(0.0, 1.0).to(x_BCHW.dtype)


@register_model("cnn", scales=shipped_scales())
def _cnn(scale: int, device: torch.device) -> CNN:
    return CNN(scale, device)
