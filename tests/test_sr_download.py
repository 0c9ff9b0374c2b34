"""The SR stage's way down from the model (``vidsr.stages.sr.start_download``): on CUDA the output is narrowed on
the GPU and copied into pinned memory on a copy stream while the next batch runs, one batch in flight. A CPU
cannot run the stream, but it can check the two things that decide the output: the GPU-side narrowing rounds
exactly as the host path does, and the stage hands every frame on, in order, when each batch lands one batch
late (a stand-in for the CUDA event)."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
import torch

import vidsr.stages.sr as sr_stage
from vidsr.frame import Frame
from vidsr.stages.sr import Download, SRParams, SRStage, _narrow_on_device, tensor_to_images


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_narrowing_on_the_device_rounds_as_the_host_path(dtype: type) -> None:
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(3, 3, 17, 23, generator=gen)
    x[0, 0, 0, :4] = torch.tensor([0.0, 1.0, 0.5 / 255, 254.5 / 255])  # the ends and rounding ties
    host = tensor_to_images(x.clone(), np.dtype(dtype))
    narrow = _narrow_on_device(x.clone(), np.dtype(dtype)).numpy()
    down = Download(torch.from_numpy(narrow), np.dtype(dtype), event=_Event([])).images()
    assert all(a.dtype == b.dtype == dtype and np.array_equal(a, b) for a, b in zip(host, down))
    # both paths now share the narrowing, so judge it on its own too: numpy's round-half-even of the float32
    # x * peak, clipped, in the frames' layout
    peak = np.float32(255.0 if dtype == np.uint8 else 65535.0)
    want = np.clip(np.rint(x.numpy() * peak), 0, peak).astype(dtype).transpose(0, 2, 3, 1)
    assert np.array_equal(np.stack(down), want)


class _Event:
    """Stands for a CUDA event: records when the stage waits on it."""

    def __init__(self, log: list[str], name: str = "") -> None:
        self.log, self.name = log, name

    def synchronize(self) -> None:
        self.log.append(f"land {self.name}")


def _frames(shapes: list[tuple[int, int]]) -> list[Frame]:
    rng = np.random.default_rng(1)
    return [Frame(image=rng.integers(0, 256, (h, w, 3), dtype=np.uint8), pts=i, time_base=Fraction(1, 25), index=i)
            for i, (h, w) in enumerate(shapes)]


def test_batches_land_one_late_in_order(monkeypatch: pytest.MonkeyPatch) -> None:
    shapes = [(16, 24)] * 5 + [(20, 20)] * 3  # a size change flushes a batch
    params = SRParams(model="bicubic", scale=2, device="cpu", tile=0, batch_frames=2)
    expected = [f.image for f in SRStage("sr", params).process(iter(_frames(shapes)))]

    log: list[str] = []
    started = {"n": 0}

    def deferred(x_BCHW: torch.Tensor, dtype: np.dtype, stream: object = None) -> Download:
        started["n"] += 1
        log.append(f"start {started['n']}")
        return Download(_narrow_on_device(x_BCHW, dtype), dtype, event=_Event(log, str(started["n"])))

    monkeypatch.setattr(sr_stage, "start_download", deferred)
    out = list(SRStage("sr", params).process(iter(_frames(shapes))))
    assert [f.index for f in out] == list(range(len(shapes)))
    assert all(np.array_equal(a.image, b) for a, b in zip(out, expected))
    assert all(f.source_image is not None for f in out)
    # batches of 2, 2, 1 (size change), 2, 1: each lands after the next has started, the last at the end
    assert log == ["start 1", "start 2", "land 1", "start 3", "land 2", "start 4", "land 3", "start 5", "land 4",
                   "land 5"]
