"""Typed configuration: dataclasses loaded from YAML with a one-line error for a wrong key or type."""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field
from typing import Any, TypeVar

from vidsr.errors import ConfigError

__all__ = [
    "DecodeConfig",
    "EncodeConfig",
    "StageConfig",
    "PipelineConfig",
    "from_dict",
    "check_config",
    "ranged",
]

T = TypeVar("T")

# a queue holds that many frames between two stages (the pipelines use 4 and 8), and no more than
# ``queue_megabytes`` of pixels beyond its first frame: an 8K frame at x2 is about 0.8 GB as 16-bit RGB
QUEUE_SIZE_MAX = 16


def ranged(default: Any, low: float | None = None, high: float | None = None) -> Any:
    """A dataclass field whose value must lie in ``[low, high]``: :func:`check_config` refuses one outside, so a
    YAML file, a command-line override and an API caller all meet the same bounds."""
    return field(default=default, metadata={"low": low, "high": high})


@dataclass
class DecodeConfig:
    """How demux decodes: FFmpeg threads (0 = one per core), the threading mode, and deinterlacing."""

    threads: int = ranged(0, 0, 1024)
    thread_type: str = "AUTO"
    # interlaced sources: auto deinterlaces (FFmpeg's bwdif, one frame per frame) when the stream's field order
    # or a frame's flag says interlaced, or idet finds combing; on, tff, bff: every frame; off: never
    # (vidsr.media.deinterlace)
    deinterlace: str = "auto"


@dataclass
class EncodeConfig:
    """How remux encodes the video; audio and subtitles are stream-copied whatever is set here."""

    codec: str = "libx264"
    crf: int = ranged(18, 0, 63)  # each encoder's own range is checked once the encoder is known (for_output)
    preset: str = "medium"
    pix_fmt: str | None = None  # None keeps the source's chroma layout and bit depth
    gop_seconds: float | None = ranged(None, 0, 3600)  # None (or 0) leaves the encoder's default GOP
    threads: int = ranged(0, 0, 1024)
    # MiB the encoder's own frame buffers may hold (its lookahead, B-frames, references, per-thread buffers grow
    # with width x height: x264 medium measured 0.49 GB at 1080p, 5.5 GB at 7680x4320): above it, x264/x265 get
    # a shorter rc-lookahead, then fewer threads, B-frames and references, never over a key set in `options`
    # (vidsr/media/encoder_memory.py). None or 0: no cap. Other encoders are left as they are. 4096: a 4K source
    # at x2 keeps rc-lookahead 24 (a 2048 cap cut it to 4, 1.3 dB PSNR-Y at CRF 18: bench/encoder_lookahead_cost.py)
    max_megabytes: int | None = ranged(4096, 0, None)
    # a fresh encoder (an IDR frame, rate control and lookahead from scratch) at each scene cut that
    # degrade-analysis finds: the video is then a chain of independent per-scene encodes, so a --ray job,
    # whose segments start on scene cuts, gives exactly a local run's bytes (costs ~0.1 dB; see README)
    restart_at_scene_cuts: bool = True
    # a local run of a video longer than this writes it in chunks of at least this much source time, ended
    # at scene cuts, kept next to the output so that the same command resumes a stopped or crashed run
    # (see vidsr/media/chunks.py); 0 writes the output in one piece (nothing to resume)
    chunk_seconds: float = ranged(30.0, 0, None)
    # extra encoder options, e.g. x264-params; only keys that cannot touch files (vidsr.media.encoder_options)
    options: dict[str, str] = field(default_factory=dict)
    audio_fallback_codec: str = "aac"  # used only when the container refuses the source audio codec

    def validate(self, where: str) -> None:
        from vidsr.media.encoder_options import check_encoder_options

        check_encoder_options(self.options, f"{where}.options")


@dataclass
class StageConfig:
    """One stage of the graph: ``type`` picks the class. ``params`` is a mapping as written (YAML, an API caller)
    until the pipeline is loaded or configured; from then on it is the stage's own typed params dataclass
    (``vidsr.stages.typed_stages``), so every later reader gets checked, typed values."""

    name: str
    type: str
    params: Any = field(default_factory=dict)


@dataclass
class PipelineConfig:
    """A graph: demux, then ``stages`` in order, then remux; queues between stages hold ``queue_size`` frames and,
    beyond their first frame, ``queue_megabytes`` of pixels."""

    name: str
    description: str = ""
    queue_size: int = ranged(4, 1, QUEUE_SIZE_MAX)
    # MiB of frame pixels (image plus its LQ source_image) a queue holds beyond its first frame, so the queues'
    # memory stops growing with the resolution; a frame bigger than this still passes, one at a time (0: always one
    # at a time). 512 still holds 4 frames up to 7680x4320 out (8-bit, with their LQ), and holds the links after SR
    # at 15360x8640 to one frame (4 could hold 2 GB a link); 256 measured no lower at 8K (bench/results_memory_8k.json)
    # and would hold 4K-in links back too. vidsr.graph.QUEUE_BYTES_DEFAULT matches it
    queue_megabytes: int = ranged(512, 0, None)
    decode: DecodeConfig = field(default_factory=DecodeConfig)
    stages: list[StageConfig] = field(default_factory=list)
    encode: EncodeConfig = field(default_factory=EncodeConfig)

    def stage(self, type_: str) -> StageConfig | None:
        """The first stage of a type, or None."""
        return next((s for s in self.stages if s.type == type_), None)


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


def _coerce(tp: Any, value: Any, where: str) -> Any:
    """Check ``value`` against the annotation ``tp``; ints pass as floats, nothing else is converted."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _coerce(arg, value, where)
            except ConfigError as err:
                errors.append(str(err))
        raise ConfigError(errors[0] if errors else f"{where}: wrong type")
    if dataclasses.is_dataclass(tp):
        return value if isinstance(value, tp) else from_dict(tp, value, where)  # an API caller's own object
    if origin is list:
        (item,) = typing.get_args(tp)
        if not isinstance(value, list):
            raise ConfigError(f"{where}: expected a list, got {type(value).__name__}")
        return [_coerce(item, v, f"{where}[{i}]") for i, v in enumerate(value)]
    if origin is dict:
        key_tp, val_tp = typing.get_args(tp)
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a mapping, got {type(value).__name__}")
        return {_coerce(key_tp, k, where): _coerce(val_tp, v, f"{where}.{k}") for k, v in value.items()}
    if tp is Any:
        return value
    if tp is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if tp is int and isinstance(value, bool):
        raise ConfigError(f"{where}: expected int, got bool")
    if tp in (int, float, str, bool):
        if not isinstance(value, tp):
            raise ConfigError(f"{where}: expected {_type_name(tp)}, got {type(value).__name__} {value!r}")
        return value
    raise ConfigError(f"{where}: unsupported config type {_type_name(tp)}")


def _out_of_range(value: Any, low: float | None, high: float | None) -> bool:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    return not ((low is None or value >= low) and (high is None or value <= high))  # NaN is out of any range


def check_config(obj: Any, where: str) -> None:
    """Refuse a field outside its :func:`ranged` bounds, then let the dataclass's own ``validate(where)`` check
    what a range cannot say; nested dataclasses and lists of them are checked too. Types are checked as a YAML
    file's are, so a config built or changed in Python (``config.encode.crf = "18"``) fails here, not deep in
    the run."""
    hints = typing.get_type_hints(type(obj))
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        at = f"{where}.{f.name}"
        _coerce(hints[f.name], value, at)
        low, high = f.metadata.get("low"), f.metadata.get("high")
        if _out_of_range(value, low, high):
            bounds = f"at least {low}" if high is None else f"{low} to {high}" if low is not None else f"at most {high}"
            raise ConfigError(f"{at}: {value!r} is out of range (it must be {bounds})")
        items = value if isinstance(value, list) else [value]
        for i, item in enumerate(items):
            if dataclasses.is_dataclass(item) and not isinstance(item, type):
                check_config(item, f"{at}[{i}]" if isinstance(value, list) else at)
    validate = getattr(obj, "validate", None)
    if callable(validate):
        validate(where)


def from_dict(cls: type[T], data: Any, where: str = "config") -> T:
    """Build dataclass ``cls`` from a mapping, refusing unknown keys, missing keys and wrong types."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: expected a mapping, got {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(map(str, data)) - set(fields))
    if unknown:
        raise ConfigError(f"{where}: unknown key '{unknown[0]}' (known: {', '.join(fields)})")
    kwargs = {}
    for name, f in fields.items():
        if name in data:
            kwargs[name] = _coerce(hints[name], data[name], f"{where}.{name}")
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise ConfigError(f"{where}: missing key '{name}'")
    obj = cls(**kwargs)
    check_config(obj, where)
    return obj
