"""Classical resamplers registered as SR models: the baseline every learned model must beat."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from vidsr.sr.base import Capabilities
from vidsr.sr.batch import SRBatch, as_batch
from vidsr.sr.register import register_model

__all__ = ["Bicubic"]


class Bicubic:
    """Bicubic upscaling (antialiased, so the same class also downscales cleanly).

    Kernels differ by device: a CPU has an integer (uint8) antialiased kernel, about 8x faster than
    float there (measured), and a float32-only float one; CUDA has no integer kernel ("not implemented
    for 'Byte'") but takes float32, float16 and bfloat16. ``integer_kernel`` and ``kernel_dtypes`` hold
    what this device has; any other input is widened to float32 and the result narrowed back.
    """

    context = 4  # bicubic reads 2 LR pixels each side; 4 keeps tiles exact with margin
    # a uint8 batch comes back uint8 on every device (widened internally off CPU)
    capabilities = Capabilities(accepts_uint8=True)

    def __init__(self, scale: int, device: torch.device) -> None:
        self.name = "bicubic"
        self.scale = scale
        self.device = device
        self.integer_kernel = device.type == "cpu"
        self.kernel_dtypes: tuple[torch.dtype, ...] = (
            (torch.float32,) if device.type == "cpu" else (torch.float32, torch.float16, torch.bfloat16)
        )

    def _resize(self, x_BCHW: torch.Tensor) -> torch.Tensor:
        h, w = x_BCHW.shape[-2:]
        size = (h * self.scale, w * self.scale)
        return F.interpolate(x_BCHW, size=size, mode="bicubic", align_corners=False, antialias=True)

    @torch.inference_mode()
    def __call__(self, batch: SRBatch | torch.Tensor) -> torch.Tensor:
        """Float in [0, 1] -> float of the same dtype; uint8 (best channels-last) -> uint8, rounded."""
        x_BCHW = as_batch(batch).x_BCHW
        if x_BCHW.dtype == torch.uint8:
            if self.integer_kernel:
                return self._resize(x_BCHW)
            # the resize is linear, so it runs on 0-255 floats directly (no scaling there and back)
            return self._resize(x_BCHW.float()).round_().clamp_(0, 255).to(torch.uint8)
        work = x_BCHW if x_BCHW.dtype in self.kernel_dtypes else x_BCHW.float()
        return self._resize(work).clamp_(0.0, 1.0).to(x_BCHW.dtype)


@register_model("bicubic", scales=(2, 4))
def _bicubic(scale: int, device: torch.device) -> Bicubic:
    return Bicubic(scale, device)
