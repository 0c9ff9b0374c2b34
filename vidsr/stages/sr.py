"""The SR stage: batches frames, converts them to float tensors once, and runs the chosen model tiled."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, cast

import numpy as np
import torch

from vidsr.device import resolve_device
from vidsr.errors import UsageError
from vidsr.frame import Frame
from vidsr.sr.base import SuperResolver, TokenCaching
from vidsr.sr.batch import SRBatch
from vidsr.sr.registry import build_model
from vidsr.sr.tiling import upscale_tiled
from vidsr.sr.token_cache import TokenCacheParams

__all__ = ["SRParams", "SRStage", "Download", "frames_to_tensor", "tensor_to_images", "start_download"]


@dataclass
class SRParams:
    """``tile`` is in low-resolution pixels (0 = whole frames); ``batch_frames`` frames go through at once.

    ``token_cache`` (models that have one: ``var``, ``var-teacher``): reuse a window's result while its LQ
    input is unchanged within a scene (``vidsr.sr.token_cache``); ``cache_threshold``: the largest LQ block
    change (8-bit units) and ``cache_motion`` the largest apparent motion (LQ pixels) still counted as
    unchanged; ``cache_margin``: the logit margin within which a recomputed window keeps its cached token
    (hysteresis; 0 = off).
    """

    model: str = "bicubic"
    scale: int = 2
    device: str = "auto"
    tile: int = 512
    tile_overlap: int = 16
    batch_frames: int = 4
    # a batch also stops at this many input megapixels: a 4K frame goes alone (four 4K frames at x2 would
    # hold 1.6 GB of float output at once; measured in bench/memory_4k.py)
    batch_megapixels: float = 2.0
    max_tiles_per_call: int = 16
    # tiles only for frames above this many input megapixels per model call (None: by device: 2.1 on a
    # CPU, up to a 1080p frame whole; on CUDA sized from free GPU memory). Tiling bounds memory but costs
    # compute: ``tile: 512`` made a 480p run 1.8x slower than whole frames at bit-identical output
    tile_above_megapixels: float | None = None
    token_cache: bool = False
    cache_threshold: float = 10.0
    cache_motion: float = 0.12
    cache_margin: float = 0.0
    # models with a detail stage (``var``, ``var-teacher``): how much of the VAR's change to the base reaches
    # the output, 0-1 (0: the base exactly); None: the default written in the weights file
    detail: float | None = None


def frames_to_tensor(
    images: list[np.ndarray], device: torch.device, keep_uint8: bool = False, widen_on_device: bool | None = None
) -> torch.Tensor:
    """Stack HxWx3 uint8/uint16 images into a float ``B x 3 x H x W`` tensor in [0, 1], contiguous
    (float kernels on a CPU run 2-3x slower on the channels-last view the stack gives; measured).
    With ``keep_uint8`` an 8-bit batch stays uint8 and channels-last, as integer kernels want it.

    On CUDA the batch goes up in its own integer type (uint8, or 10/16-bit as uint16: half or a quarter of
    float32's bytes) from pinned memory without blocking, and is widened on the GPU (``widen_on_device``:
    the default on CUDA; forced on a CPU by tests)."""
    stack = images[0][None] if len(images) == 1 else np.stack(images)  # one frame (4K, 8K): a view, not a copy
    if widen_on_device if widen_on_device is not None else device.type == "cuda":
        host = torch.from_numpy(stack if stack.dtype == np.uint8 else stack.view(np.int16))
        x = host.pin_memory().to(device, non_blocking=True) if device.type == "cuda" else host.to(device)
        if stack.dtype != np.uint8:  # uint16 travelled as int16 bits: widen and undo the sign
            x = x.int().bitwise_and_(0xFFFF)
        if keep_uint8 and stack.dtype == np.uint8:
            return x.permute(0, 3, 1, 2)
        scale = 1.0 / (255.0 if stack.dtype == np.uint8 else 65535.0)
        return x.permute(0, 3, 1, 2).float().contiguous().mul_(scale)
    if keep_uint8 and stack.dtype == np.uint8:
        return torch.from_numpy(stack).to(device).permute(0, 3, 1, 2)
    scale = 1.0 / (255.0 if stack.dtype == np.uint8 else 65535.0)
    x = torch.from_numpy(stack.astype(np.float32) if stack.dtype != np.uint8 else stack).to(device)
    return x.permute(0, 3, 1, 2).float().contiguous().mul_(scale)


def _narrow_on_device(x_BCHW: torch.Tensor, dtype: np.dtype) -> torch.Tensor:
    """``B x H x W x 3`` in the frames' own width, on ``x_BCHW``'s device: uint8, or 16-bit as int16 bits (a
    quarter of float32's bytes to copy down from a GPU). ``x_BCHW`` is consumed (scaled and rounded in place):
    at 8K one float frame is 400 MB, and each temporary copy of a batch would cost that again; the output is
    narrowed before the layout change."""
    if x_BCHW.dtype == torch.uint8 and dtype == np.uint8:
        return x_BCHW.permute(0, 2, 3, 1).contiguous()
    peak = 255.0 if dtype == np.uint8 else 65535.0
    with torch.inference_mode():  # the models' outputs are inference tensors: in-place only in this mode
        y = x_BCHW if x_BCHW.dtype == torch.float32 else x_BCHW.float()
        y.mul_(peak).round_().clamp_(0, peak)
        narrow = y.to(torch.uint8) if dtype == np.uint8 else y.to(torch.int32).to(torch.int16)
        return narrow.permute(0, 2, 3, 1).contiguous()


def _host_images(narrow_BHWC: torch.Tensor, dtype: np.dtype) -> list[np.ndarray]:
    batch = narrow_BHWC.cpu().numpy()
    return list(batch if dtype == np.uint8 else batch.view(np.uint16))


def tensor_to_images(x_BCHW: torch.Tensor, dtype: np.dtype) -> list[np.ndarray]:
    """The inverse of :func:`frames_to_tensor`, rounding to the source's bit depth (consumes ``x_BCHW``)."""
    return _host_images(_narrow_on_device(x_BCHW, dtype), dtype)


@dataclass
class Download:
    """A batch's output on its way to the host: the images already (a CPU run), or a pinned buffer that a CUDA
    copy stream is filling, ready once ``event`` has passed, while the GPU goes on with the next batch."""

    host: Any  # list[np.ndarray], or a pinned B x H x W x 3 uint8/int16 tensor
    dtype: np.dtype
    event: Any = None  # torch.cuda.Event

    def images(self) -> list[np.ndarray]:
        if self.event is None:
            return self.host
        self.event.synchronize()
        return _host_images(self.host, self.dtype)


def start_download(x_BCHW: torch.Tensor, dtype: np.dtype, stream: Any = None) -> Download:
    """Bring a model's output to the host: at once on a CPU; on CUDA (given a copy ``stream``) narrowed on the
    GPU, then copied into pinned memory on that stream without blocking, so the copy overlaps the next batch's
    upload and compute (the caller collects it with :meth:`Download.images`)."""
    if stream is None or x_BCHW.device.type != "cuda":
        return Download(tensor_to_images(x_BCHW, dtype), dtype)
    out = _narrow_on_device(x_BCHW, dtype)
    host = torch.empty(out.shape, dtype=out.dtype, pin_memory=True)
    stream.wait_stream(torch.cuda.current_stream(out.device))
    with torch.cuda.stream(stream):
        host.copy_(out, non_blocking=True)
    out.record_stream(stream)  # the allocator keeps ``out`` until the copy is done
    event = torch.cuda.Event()
    event.record(stream)
    return Download(host, dtype, event)

CPU_WHOLE_MEGAPIXELS = 2.1  # a 1080p frame (2.07 MP) runs whole on a CPU; 4K and 8K go in tiles
CUDA_MAX_BATCH = 16  # frames a CUDA batch may hold when the budget allows (latency and host memory bound it)
CUDA_BYTES_PER_PIXEL = 4096  # CUDA working set per input pixel, a generous bound (cnn at x4 ~ 1.2 KB in fp32)


def tile_budget_pixels(params: SRParams, device: torch.device) -> int:
    """Input pixels one model call may hold before frames are cut into tiles (see ``upscale_tiled``).

    On CUDA, half the free memory at start over a generous per-pixel working set: an H100's 80 GB holds
    a 4K frame whole, where tiles would recompute ``2 * context`` pixels of each tile's border."""
    if params.tile_above_megapixels is not None:
        return int(params.tile_above_megapixels * 1e6)
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return max(int(CPU_WHOLE_MEGAPIXELS * 1e6), free // 2 // CUDA_BYTES_PER_PIXEL)
    return int(CPU_WHOLE_MEGAPIXELS * 1e6)


def deterministic_cuda() -> None:
    """Same kernels whatever the batch shape, so a Ray segment (other batch neighbours) joins a local
    run bit for bit: no cuDNN autotuning, deterministic algorithms where they exist, no TF32 rounding."""
    torch.backends.cudnn.benchmark = False
    torch.backends.cudnn.deterministic = True
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False


def _sr_batch(x_BCHW: torch.Tensor, frames: list[Frame]) -> SRBatch:
    """The model's input for ``frames``: their pixels, degrade-analysis's vectors (None unless every frame
    has one: a conditioned model then measures the frames itself) and scene ids (a cut clears a cache)."""
    vecs = [f.degradation for f in frames]
    vectors = None if any(v is None for v in vecs) else torch.from_numpy(np.stack(vecs).astype(np.float32))
    return SRBatch(x_BCHW, vectors, tuple(f.scene_id for f in frames))


class SRStage:
    """Holds one model for the whole run; frames of one size are batched, a size change flushes."""

    def __init__(self, name: str, params: SRParams, model: SuperResolver | None = None) -> None:
        self.name = name
        self.params = params
        self.device = resolve_device(params.device)
        self.model = model or build_model(params.model, params.scale, self.device)
        if self.model.capabilities.token_cache:
            p = params
            cache = TokenCacheParams(p.token_cache, p.cache_threshold, p.cache_motion, p.cache_margin)
            cast(TokenCaching, self.model).configure_cache(cache if params.token_cache else None)
        if params.detail is not None:
            if not self.model.capabilities.detail:
                raise UsageError(
                    f"detail applies to models with a detail stage (var, var-teacher), not '{self.model.name}'"
                )
            self.model.detail = float(params.detail)  # type: ignore[attr-defined]  # once, before any call
        self.budget_pixels = tile_budget_pixels(params, self.device)
        if self.device.type == "cuda":
            deterministic_cuda()
        # outputs come down on their own stream, overlapping the next batch (see ``start_download``)
        self.copy_stream = torch.cuda.Stream(self.device) if self.device.type == "cuda" else None
        self.frames = 0
        self.megapixels_in = 0.0

    def _start(self, batch: list[Frame]) -> tuple[list[Frame], Download]:
        """Upload, run the model and start bringing the output back; the frames are made by :meth:`_land`."""
        x = frames_to_tensor([f.image for f in batch], self.device, self.model.capabilities.accepts_uint8)
        p = self.params
        inputs = _sr_batch(x, batch)
        y = upscale_tiled(self.model, inputs, p.tile, p.tile_overlap, p.max_tiles_per_call, self.budget_pixels)
        self.frames += len(batch)
        self.megapixels_in += x.shape[0] * x.shape[2] * x.shape[3] / 1e6
        return batch, start_download(y, batch[0].image.dtype, self.copy_stream)

    @staticmethod
    def _land(flight: tuple[list[Frame], Download]) -> list[Frame]:
        batch, download = flight
        # the LQ input stays reachable (Frame.source_image) for stages that need it, e.g. temporal-smoothing
        return [f.with_image(img, source_image=f.image) for f, img in zip(batch, download.images())]

    def _run(self, batch: list[Frame]) -> list[Frame]:
        return self._land(self._start(batch))

    def _batch_limit(self, frame: Frame) -> int:
        pixels = max(frame.width * frame.height, 1)
        if self.device.type == "cuda":  # a GPU wants large batches: as many frames as the budget holds, to 16
            return max(1, min(CUDA_MAX_BATCH, max(self.params.batch_frames, self.budget_pixels // pixels)))
        by_pixels = int(self.params.batch_megapixels * 1e6 // pixels)
        return max(1, min(self.params.batch_frames, by_pixels))

    def process(self, frames: Iterator[Frame]) -> Iterator[Frame]:
        """Batches in order; on CUDA one batch stays in flight (its copy down overlapping the next batch's
        upload and compute) and is handed on once the next has started, or at the end."""
        batch: list[Frame] = []
        flight: tuple[list[Frame], Download] | None = None

        def run(frames_: list[Frame]) -> Iterator[Frame]:
            nonlocal flight
            started = self._start(frames_)
            if flight is not None:
                yield from self._land(flight)
                flight = None
            if started[1].event is None:  # already on the host: nothing to overlap
                yield from self._land(started)
            else:
                flight = started

        for frame in frames:
            if batch and (frame.image.shape != batch[0].image.shape or frame.image.dtype != batch[0].image.dtype):
                yield from run(batch)
                batch = []
            batch.append(frame)
            if len(batch) >= self._batch_limit(frame):
                yield from run(batch)
                batch = []
        if batch:
            yield from run(batch)
        if flight is not None:
            yield from self._land(flight)

    def summary(self) -> dict[str, Any]:
        cache = cast(TokenCaching, self.model).cache_summary() if self.model.capabilities.token_cache else None
        return {
            "type": "sr",
            "model": self.model.name,
            "scale": self.model.scale,
            "device": str(self.device),
            "tile": self.params.tile,
            "frames": self.frames,
            "megapixels_in": round(self.megapixels_in, 3),
            **({"token_cache": cache} if cache is not None else {}),
        }
