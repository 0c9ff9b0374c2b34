"""What each encoder can take, checked before any frame is made: its CRF scale, its preset names, and the
frame sizes it encodes. Each refusal is one line and a usage error, so a run never spends minutes (and
gigabytes) on frames its encoder then refuses.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING

import av

from vidsr.errors import InputError, UsageError
from vidsr.media.containers import speed_options
from vidsr.media.remux import choose_pix_fmt

if TYPE_CHECKING:
    from vidsr.config import PipelineConfig
    from vidsr.media.probe import MediaInfo

__all__ = ["CRF_RANGES", "X26X_PRESETS", "MIN_INPUT_SIDE", "check_crf", "check_preset", "check_frame_size",
           "check_input_size", "output_frame_size", "check_sizes"]

# the quality scale of each encoder's ``crf`` (x264/x265 0-51, VP8/VP9 and AV1 0-63)
CRF_RANGES = {"libx264": (0, 51), "libx264rgb": (0, 51), "libx265": (0, 51), "libvpx": (0, 63),
              "libvpx-vp9": (0, 63), "libsvtav1": (0, 63), "libaom-av1": (0, 63)}
X26X_PRESETS = ("ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow",
                "placebo")
# the frame sizes of the encoders that allocate their whole frame store when opened (VP9: 7 GB for one 16K
# frame), so a trial open would cost what it guards against; measured with FFmpeg 8.1 through PyAV 18:
# (least side, widest, tallest)
_SIZE_TABLE = {"libvpx-vp9": (1, 65536, 65536), "libvpx": (1, 16383, 16383), "libsvtav1": (4, 16384, 8704)}
# x264 and x265 open in milliseconds and a few MB at any size, so they are asked directly: that also covers
# their rules on odd sizes in 4:2:0 and x265's level limit on the picture area
_TRIAL_OPEN = {"libx264", "libx264rgb", "libx265"}
# the degrade-analysis and temporal-smoothing stages' OpenCV calls need frames of about this size
MIN_INPUT_SIDE = 16


def check_crf(codec: str, crf: int) -> None:
    """Refuse a CRF outside ``codec``'s own scale (x264 stops at 51, where VP9 and AV1 go to 63)."""
    low, high = CRF_RANGES.get(codec, (0, 63))
    if not low <= crf <= high:
        raise UsageError(f"--crf {crf} is out of range for {codec} (it takes {low}-{high}, lower is better)")


def check_preset(codec: str, preset: str) -> None:
    """Refuse a preset name the encoder does not know, before the encoder says so in its own log lines."""
    if codec in ("libx264", "libx264rgb", "libx265") and preset not in X26X_PRESETS:
        raise UsageError(f"--preset {preset} means nothing to {codec}: give one of {', '.join(X26X_PRESETS)}")
    if codec in ("libvpx", "libvpx-vp9") and not speed_options(codec, preset):
        raise UsageError(f"--preset {preset} means nothing to {codec}: give one of {', '.join(X26X_PRESETS)}")


def _opens(codec: str, pix_fmt: str, width: int, height: int) -> bool:
    cc = av.CodecContext.create(codec, "w")
    cc.width, cc.height, cc.pix_fmt = width, height, pix_fmt
    cc.time_base, cc.framerate = Fraction(1, 25), Fraction(25)
    cc.thread_count = 1
    options = {"preset": "ultrafast"}
    if codec == "libx265":
        options["x265-params"] = "log-level=none"
    cc.options = options
    level = av.logging.get_level()
    av.logging.set_level(None)  # the encoder's own complaint would be a second line
    try:
        cc.open()
    except (av.FFmpegError, ValueError):
        return False
    finally:
        av.logging.set_level(level)
    return True


def check_frame_size(codec: str, pix_fmt: str, width: int, height: int, what: str = "") -> None:
    """Refuse output frames of ``width`` x ``height`` that ``codec`` cannot encode; ``what`` says where the size
    comes from (e.g. "from a 16000x9000 input")."""
    why = ""
    if codec in _SIZE_TABLE:
        least, widest, tallest = _SIZE_TABLE[codec]
        if not (least <= width <= widest and least <= height <= tallest):
            why = f"it takes {least}x{least} to {widest}x{tallest}"
    elif codec in _TRIAL_OPEN and not _opens(codec, pix_fmt, width, height):
        why = ("it takes at most 16384 pixels a side and even sizes in 4:2:0" if codec != "libx265" else
               "it takes at least 16 pixels a side, even sizes in 4:2:0 and at most 16384x8704 pixels in all")
    if why:
        source = f" ({what})" if what else ""
        raise UsageError(f"{codec} cannot encode {width}x{height} {pix_fmt} frames{source}: {why}; use a smaller "
                         "--scale or another --codec")


def check_input_size(name: str, width: int, height: int) -> None:
    """Frames too small for the stages' image operations are refused by name, not by an OpenCV assertion."""
    if width < MIN_INPUT_SIDE or height < MIN_INPUT_SIDE:
        raise InputError(f"{name} has {width}x{height} frames; vidsr needs at least "
                         f"{MIN_INPUT_SIDE}x{MIN_INPUT_SIDE}")


def output_frame_size(config: PipelineConfig, width: int, height: int) -> tuple[int, int]:
    """The size the encoder will get: the stages in order (their typed params: a configured pipeline's), sr
    multiplying by its scale, resize setting a size."""
    for stage in config.stages:
        if stage.type == "sr":
            width, height = width * stage.params.scale, height * stage.params.scale
        elif stage.type == "resize":
            from vidsr.stages.resize import output_size  # media sits below stages

            width, height = output_size(width, height, stage.params)
    return width, height


def check_sizes(src: Path, info: MediaInfo, config: PipelineConfig) -> None:
    """Input frames the stages can work on, output frames the encoder can take: refused before any frame (a
    local run before its model loads, a --ray job before Ray starts)."""
    v = info.video
    check_input_size(src.name, v.width, v.height)
    width, height = output_frame_size(config, v.width, v.height)
    pix_fmt = choose_pix_fmt(config.encode.codec, v.pix_fmt, config.encode.pix_fmt)
    check_frame_size(config.encode.codec, pix_fmt, width, height, f"from a {v.width}x{v.height} input")
