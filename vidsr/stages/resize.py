"""The output size (``--height 1080``, ``--size WxH``, ``--scale 3``): the SR model upscales by the scale it has
(x2 or x4), then this stage resizes to the exact size asked, as Topaz, Real-ESRGAN and Video2X users expect.

The resampler is torch's antialiased bicubic: on a reduction (x4 to 3x, or to 1080 lines) it filters over the
whole footprint, as ffmpeg's scaler does, instead of aliasing as a plain bicubic would; 10/12-bit frames are
resized at 16-bit precision.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from vidsr.errors import UsageError
from vidsr.frame import Frame

__all__ = ["ResizeParams", "ResizeStage", "output_size", "parse_size", "pick_model_scale"]


@dataclass
class ResizeParams:
    """``width`` x ``height`` in output pixels; with only one of them the other keeps the frame's aspect, rounded
    to an even number (4:2:0 video needs even sizes; ffmpeg's ``scale=-2:H``). ``factor`` instead resizes by a
    ratio of the stage's input (``--scale 3`` after an x4 model: 0.75). Sizes are of the picture as stored; a
    rotated video's displayed width is its stored height (the pipeline swaps them for it)."""

    width: int | None = None
    height: int | None = None
    factor: float | None = None


def _even(x: float) -> int:
    return max(2, 2 * round(x / 2))


def output_size(width: int, height: int, params: ResizeParams) -> tuple[int, int]:
    """The size a ``width`` x ``height`` frame is resized to."""
    if params.width and params.height:
        return params.width, params.height
    if params.height:
        return _even(width * params.height / height), params.height
    if params.width:
        return params.width, _even(height * params.width / width)
    if params.factor:
        return _even(width * params.factor), _even(height * params.factor)
    return width, height


def parse_size(text: str) -> tuple[int, int]:
    """``1920x1080`` (or ``1920:1080``) as two even positive numbers; anything else is a UsageError."""
    parts = str(text).lower().replace(":", "x").split("x")
    try:
        w, h = (int(p) for p in parts)
    except ValueError:
        raise UsageError(f"--size {text}: give WIDTHxHEIGHT, e.g. 1920x1080") from None
    check_dimension("--size", w, f"{text} (width)")
    check_dimension("--size", h, f"{text} (height)")
    return w, h


def check_dimension(option: str, value: int, shown: str | int | None = None) -> None:
    """An output dimension: positive, even (4:2:0 video), and no larger than 8K's 7680 x 2 (a typo guard)."""
    shown = value if shown is None else shown
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise UsageError(f"{option} {shown}: must be a whole number of pixels above 0")
    if value % 2:
        raise UsageError(f"{option} {shown}: must be even (4:2:0 video has one chroma sample per 2x2 pixels)")
    if value > 15360:
        raise UsageError(f"{option} {shown}: more than 15360 pixels (16K) is not a video size vidsr writes")


def pick_model_scale(width: int, height: int, target: tuple[int, int], scales: tuple[int, ...]) -> int:
    """The smallest of the model's ``scales`` whose output covers ``target`` (the least upscaling the resize
    then only reduces), or the largest there is when none does (the rest is resampled)."""
    tw, th = target
    for s in sorted(scales):
        if width * s >= tw and height * s >= th:
            return s
    return max(scales)


class ResizeStage:
    """Resizes every frame to :func:`output_size` (frames already at that size pass untouched)."""

    def __init__(self, name: str, params: ResizeParams) -> None:
        self.name = name
        self.params = params
        self.frames = 0
        self.size: tuple[int, int] | None = None
        self.input_size: tuple[int, int] | None = None

    def process(self, frames: Iterator[Frame]) -> Iterator[Frame]:
        for frame in frames:
            w, h = output_size(frame.width, frame.height, self.params)
            self.input_size, self.size = (frame.width, frame.height), (w, h)
            self.frames += 1
            if (w, h) == (frame.width, frame.height):
                yield frame
            else:
                yield frame.with_image(resize_image(frame.image, w, h))

    def summary(self) -> dict[str, Any]:
        return {"type": "resize", "method": "bicubic, antialiased (torch)", "frames": self.frames,
                "from": list(self.input_size) if self.input_size else None,
                "to": list(self.size) if self.size else None}


def resize_image(image: np.ndarray, width: int, height: int) -> np.ndarray:
    """An HxWx3 uint8/uint16 image resized to ``width`` x ``height``, rounded back to its own type."""
    peak = 255.0 if image.dtype == np.uint8 else 65535.0
    x = torch.from_numpy(image.astype(np.float32)).permute(2, 0, 1).unsqueeze(0)
    with torch.inference_mode():
        y = F.interpolate(x, size=(height, width), mode="bicubic", align_corners=False, antialias=True)
        y = y.round_().clamp_(0, peak)
    return np.ascontiguousarray(y[0].permute(1, 2, 0).numpy().astype(image.dtype))


# --- from the options to the pipeline ---------------------------------------------------------------


def model_scales(model: str) -> tuple[int, ...] | None:
    """The scales ``model`` has (``auto``: every scale some model has); None for a name no model has (building
    it then says so)."""
    from vidsr.sr.registry import available_models

    models = available_models()
    if model == "auto":
        return tuple(sorted({s for scales in models.values() for s in scales}))
    return models.get(model)


def model_scale_for(scale: int, scales: tuple[int, ...] | None) -> tuple[int, float | None]:
    """``(model scale, resize factor)`` for ``--scale``: a scale the model has, as it is; one between its scales
    (x3 with x2 and x4) from the next larger and resized down (x4, then 0.75); one outside them a UsageError that
    says so and what gives other sizes."""
    if scales is None or scale in scales:
        return scale, None
    if not min(scales) < scale < max(scales):
        offered = " or ".join(f"x{s}" for s in scales)
        raise UsageError(f"--scale {scale} is not offered: the models upscale {offered} (x3 and other scales "
                         "between them are made from the next larger and resized; --size WxH or --height H "
                         "give any output size)")
    up = min(s for s in scales if s > scale)
    return up, scale / up


def add_resize(config: Any, width: int | None = None, height: int | None = None,
               factor: float | None = None) -> None:
    """Append (or reset) the pipeline's last stage, ``resize``, to the size asked (typed params, as a loaded
    pipeline's are); nothing asked, nothing added."""
    from vidsr.config import StageConfig

    if not (width or height or factor):
        return
    params = ResizeParams(width=width or None, height=height or None, factor=factor or None)
    existing = next((s for s in config.stages if s.type == "resize"), None)
    if existing is not None:
        existing.params = params
    else:
        config.stages.append(StageConfig(name="resize", type="resize", params=params))


def output_size_options(size: str | tuple[int, int] | None, height: int | None) -> tuple[int | None, int | None]:
    """``(width, height)`` from ``--size`` or ``--height`` (one of them at most), checked."""
    if size is not None and height is not None:
        raise UsageError("--size and --height both set the output size: give one of them")
    if height is not None:
        check_dimension("--height", height)
        return None, height
    if size is None:
        return None, None
    if isinstance(size, tuple):
        if len(size) != 2:
            raise UsageError(f"size must be (width, height), got {size!r}")
        for value in size:
            check_dimension("--size", value, f"{size[0]}x{size[1]}")
        return int(size[0]), int(size[1])
    return parse_size(size)


def fit_to_source(config: Any, width: int, height: int, rotation: int, scale_chosen: bool) -> Any:
    """``config`` for one source: a size asked for the displayed picture turned to the stored one (a phone's
    portrait video is stored landscape with a rotation), and, unless ``--scale`` was given, the smallest model
    scale that reaches it (480 lines to 1080: x4, then reduced; 720 to 1080: x2, then enlarged slightly)."""
    import copy

    stage = next((s for s in config.stages if s.type == "resize"), None)
    sr = next((s for s in config.stages if s.type == "sr"), None)
    if stage is None or not (stage.params.width or stage.params.height):
        return config
    config = copy.deepcopy(config)
    stage = next(s for s in config.stages if s.type == "resize")
    sr = next((s for s in config.stages if s.type == "sr"), None)
    if rotation % 180 == 90:
        stage.params = dataclasses.replace(stage.params, width=stage.params.height, height=stage.params.width)
    if sr is not None and not scale_chosen:
        scales = model_scales(sr.params.model)
        if scales:
            size = output_size(width, height, stage.params)
            sr.params = dataclasses.replace(sr.params, scale=pick_model_scale(width, height, size, scales))
    return config
