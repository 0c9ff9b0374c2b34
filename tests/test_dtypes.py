"""Every SR model takes float32, float16 and bfloat16 batches, and torch frames of each dtype enter the API.

A GPU user hands over half or bfloat16 tensors (what their own pipeline holds); no CPU run had ever sent
one. The reference is the model on the same values widened to float32, so what is checked is the dtype
handling, not the model's sensitivity to the input's rounding (a tokenizer model's codes flip on noise
frames when the input itself moves by a bf16 step). Tiny noise frames keep ``var`` to a second a call.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from vidsr.pipeline import _to_frame
from vidsr.sr.classical import Bicubic
from vidsr.sr.registry import available_models, build_model

MODELS = [name for name, scales in available_models().items() if 2 in scales]
LEVEL = 1 / 255


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.mark.parametrize("name", MODELS)
def test_every_model_takes_half_and_bfloat16_and_answers_in_kind(name: str) -> None:
    torch.manual_seed(0)
    x = torch.rand(1, 3, 12, 16)
    model = build_model(name, 2, torch.device("cpu"))
    for dtype in (torch.float16, torch.bfloat16):
        xd = x.to(dtype)
        y = model(xd)
        ref = model(xd.float())
        assert y.dtype == dtype and y.shape == (1, 3, 24, 32)
        # the only difference allowed is the output's own rounding to the dtype: under 1 level at 8 bits
        assert (y.float() - ref).abs().max() <= LEVEL, (name, dtype)


def test_bicubic_float_branch_on_uint8_matches_the_integer_kernel() -> None:
    """CUDA has no uint8 antialiased bicubic, so there uint8 batches are widened: forced here on a CPU."""
    # a smooth picture: on noise the integer kernel's saturation between its two passes differs by more
    yy, xx = torch.meshgrid(torch.arange(20.0), torch.arange(28.0), indexing="ij")
    img = torch.stack([128 + 100 * torch.sin(xx / 3 + c) * torch.cos(yy / 4) for c in range(3)])
    x = img[None].repeat(2, 1, 1, 1).round().to(torch.uint8).contiguous(memory_format=torch.channels_last)
    integer = Bicubic(2, torch.device("cpu"))
    widened = Bicubic(2, torch.device("cpu"))
    widened.integer_kernel = False
    a, b = integer(x), widened(x)
    assert b.dtype == torch.uint8 and b.shape == a.shape
    assert (a.int() - b.int()).abs().max() <= 1  # two roundings of the same resize


def test_bicubic_widens_dtypes_its_kernel_lacks() -> None:
    """The CPU float kernel is float32-only ("not implemented for 'Half'"); CUDA's takes all three."""
    model = Bicubic(2, torch.device("cpu"))
    assert model.kernel_dtypes == (torch.float32,)
    y = model(torch.rand(1, 3, 8, 8, dtype=torch.bfloat16))
    assert y.dtype == torch.bfloat16


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16])
def test_api_takes_float_torch_frames_of_every_dtype(dtype: torch.dtype) -> None:
    """A bf16 frame failed at ``.numpy()``; an fp16 one overflowed at 1.0 x 65535 (fp16 tops at 65504)."""
    image = torch.ones(3, 4, 6, dtype=dtype)
    image[:, 0, 0] = 0.5
    frame, back = _to_frame((image, 7), 0, __import__("fractions").Fraction(1, 25))
    assert frame.image.dtype == np.uint16
    assert frame.image[1, 1, 0] == 65535 and abs(int(frame.image[0, 0, 0]) - 32768) <= 1
    out, pts = back(frame)
    assert out.dtype == dtype and pts == 7 and (out.float() - image.float()).abs().max() <= 1 / 65535
