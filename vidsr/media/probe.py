"""Read what a video holds and what vidsr will keep of it, before any frame is enhanced."""

from __future__ import annotations

import os
import re
import stat
from dataclasses import asdict, dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import av

from vidsr.errors import InputError, InputPathError
from vidsr.media.hdr import HdrMetadata, read_hdr_metadata

__all__ = ["VideoInfo", "StreamInfo", "MediaInfo", "probe", "open_input", "check_local_input", "COLOR_NAMES",
           "EXACT_COLOUR"]

# swscale flags for YUV <-> RGB: without accurate rounding and full chroma interpolation a round trip
# darkens every channel by 1-1.5 levels (measured), a visible shift; with them it is under 0.05.
_I = av.video.reformatter.Interpolation
EXACT_COLOUR = _I.BICUBIC | _I.ACCURATE_RND | _I.FULL_CHR_H_INT | _I.FULL_CHR_H_INP

# FFmpeg's enum values for the colour tags, named as ffprobe names them
COLOR_NAMES: dict[str, dict[int, str]] = {
    "range": {0: "unspecified", 1: "tv", 2: "pc"},
    "space": {0: "gbr", 1: "bt709", 2: "unspecified", 4: "fcc", 5: "bt470bg", 6: "smpte170m", 7: "smpte240m",
              8: "ycgco", 9: "bt2020nc", 10: "bt2020c"},
    "primaries": {1: "bt709", 2: "unspecified", 4: "bt470m", 5: "bt470bg", 6: "smpte170m", 7: "smpte240m",
                  8: "film", 9: "bt2020", 10: "smpte428", 11: "smpte431", 12: "smpte432"},
    "transfer": {1: "bt709", 2: "unspecified", 4: "gamma22", 5: "gamma28", 6: "smpte170m", 7: "smpte240m",
                 8: "linear", 13: "iec61966-2-1", 14: "bt2020-10", 15: "bt2020-12", 16: "smpte2084",
                 18: "arib-std-b67"},
}
HDR_TRANSFERS = {16: "HDR10 (PQ)", 18: "HLG"}
# FFmpeg's AVFMT_NOTIMESTAMPS: a raw elementary stream (.m1v, .m2v, .h264, ...) stores no time at all; its
# parser invents timestamps at the stream's rate and the container's "duration" is a guess from the bit rate
# (0.04 s for a 4 s MPEG-1 stream)
_AVFMT_NOTIMESTAMPS = 0x0080


@dataclass
class VideoInfo:
    index: int
    codec: str
    width: int
    height: int
    pix_fmt: str
    bit_depth: int
    color_range: int
    colorspace: int
    color_primaries: int
    color_trc: int
    rotation: int
    time_base: Fraction
    average_rate: Fraction | None
    frames: int  # video packets counted by a demux pass, or the container index's count if larger
    variable_frame_rate: bool
    duration_s: float | None
    sample_aspect_ratio: Fraction | None
    hdr: str | None  # "HDR10 (PQ)", "HLG" or None
    hdr_metadata: HdrMetadata = field(default_factory=HdrMetadata)
    metadata: dict[str, str] = field(default_factory=dict)

    def colour_tags(self) -> dict[str, str]:
        return {
            "range": COLOR_NAMES["range"].get(self.color_range, str(self.color_range)),
            "space": COLOR_NAMES["space"].get(self.colorspace, str(self.colorspace)),
            "primaries": COLOR_NAMES["primaries"].get(self.color_primaries, str(self.color_primaries)),
            "transfer": COLOR_NAMES["transfer"].get(self.color_trc, str(self.color_trc)),
        }


@dataclass
class StreamInfo:
    """A non-video stream and what remux will do with it."""

    index: int
    type: str
    codec: str
    language: str | None
    details: str
    metadata: dict[str, str] = field(default_factory=dict)


@dataclass
class MediaInfo:
    path: str
    format: str
    duration_s: float | None
    metadata: dict[str, str]
    video: VideoInfo
    streams: list[StreamInfo]

    def as_dict(self) -> dict[str, Any]:
        def clean(v: Any) -> Any:
            if isinstance(v, Fraction):
                return f"{v.numerator}/{v.denominator}"
            if isinstance(v, dict):
                return {k: clean(x) for k, x in v.items()}
            if isinstance(v, list):
                return [clean(x) for x in v]
            return v

        d = clean(asdict(self))
        d["video"]["colour"] = self.video.colour_tags()
        return d


_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
_NOT_A_FILE = ((stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISCHR, "a character device"),
               (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"))


def check_local_input(path: str | os.PathLike[str]) -> None:
    """A URL is refused as itself: ``Path`` would fold its ``//`` into ``/`` and call it a missing file. vidsr
    reads its input more than once (probe, side streams, resume), which a network stream does not allow."""
    text = os.fspath(path)
    if isinstance(text, str) and _URL.match(text) and not Path(text).exists():
        raise InputPathError(f"input is a URL, not a local file: {text} (download it first)")


def open_input(path: str | os.PathLike[str]) -> av.container.InputContainer:
    """Open ``path`` for reading or raise :class:`InputError` with a one-line reason."""
    check_local_input(path)
    p = Path(path)
    if not p.exists():
        raise InputPathError(f"input not found: {p}")
    if p.is_dir():
        raise InputPathError(f"input is a directory, not a video file: {p}")
    if not os.access(p, os.R_OK):
        raise InputPathError(f"input is not readable (permission denied): {p}")
    mode = p.stat().st_mode
    for is_kind, kind in _NOT_A_FILE:
        if is_kind(mode):  # a pipe or /dev/zero reads as 0 bytes, or forever: say what it is instead
            raise InputPathError(f"input is {kind}, not a video file: {p} (vidsr reads a regular file more than "
                                 "once; save the stream to a file first)")
    if p.stat().st_size == 0:
        raise InputError(f"input is empty (0 bytes): {p}")
    try:
        return av.open(str(p), "r")
    except av.FFmpegError as err:
        raise InputError(f"cannot read {p} as a video file: {_reason(err)}") from None


def _reason(err: Exception) -> str:
    text = getattr(err, "strerror", None) or str(err)
    return " ".join(str(text).split())


def _bit_depth(pix_fmt: str) -> int:
    try:
        return max(c.bits for c in av.VideoFormat(pix_fmt).components)
    except (ValueError, av.FFmpegError):
        return 8


def _scan_video_packets(container: av.container.InputContainer, stream: av.VideoStream) -> tuple[int, bool]:
    """Count video packets and tell whether their durations vary (variable frame rate); a read error (a
    truncated or damaged file) ends the count there, as it ends decoding."""
    pts: list[int] = []
    try:
        for packet in container.demux(stream):
            if packet.size and packet.pts is not None:
                pts.append(packet.pts)
    except av.FFmpegError:
        pass
    count = len(pts)
    pts.sort()
    deltas = {b - a for a, b in zip(pts, pts[1:])}
    if len(deltas) <= 1:
        return count, False
    # rounding of a constant rate to the time base moves a delta by at most one tick
    return count, max(deltas) - min(deltas) > 1


def probe(path: str | os.PathLike[str]) -> MediaInfo:
    """Describe the input's video and other streams; raise :class:`InputError` for anything unusable."""
    with open_input(path) as container:
        if not container.streams.video:
            kinds = sorted({s.type for s in container.streams}) or ["no streams"]
            raise InputError(f"no video stream in {path} (found: {', '.join(kinds)})")
        vs = container.streams.video[0]
        cc = vs.codec_context
        rotation = 0
        first = None
        try:
            for frame in container.decode(vs):
                first = frame
                break
        except av.FFmpegError as err:
            raise InputError(f"cannot decode the first video frame of {path}: {_reason(err)}") from None
        if first is None:
            raise InputError(f"no decodable video frame in {path} (truncated or damaged file?)")
        rotation = int(first.rotation or 0)
        # a fresh read instead of seek(0): a Matroska file cut short (no Cues) refuses to seek with EPERM
        with open_input(path) as again:
            frames, vfr = _scan_video_packets(again, again.streams.video[0])
        frames = max(frames, vs.frames or 0)  # the index counts frames a truncated file lost
        rate = vs.average_rate or vs.guessed_rate
        untimed = bool(container.format.flags & _AVFMT_NOTIMESTAMPS)
        if untimed:
            vfr = False  # invented timestamps: the parser's last-frame guess is no variable rate
        counted_s = float(frames / rate) if untimed and rate else None  # the length the frames make
        pix_fmt = cc.pix_fmt or first.format.name
        trc = first.color_trc if first.color_trc not in (None, 2) else cc.color_trc
        video = VideoInfo(
            index=vs.index,
            codec=cc.name,
            width=first.width,
            height=first.height,
            pix_fmt=pix_fmt,
            bit_depth=_bit_depth(pix_fmt),
            color_range=int(first.color_range or cc.color_range or 0),
            colorspace=int(first.colorspace if first.colorspace is not None else cc.colorspace),
            color_primaries=int(first.color_primaries or cc.color_primaries or 2),
            color_trc=int(trc or 2),
            rotation=rotation,
            time_base=vs.time_base,
            average_rate=rate,
            frames=frames,
            variable_frame_rate=vfr,
            duration_s=counted_s or (float(vs.duration * vs.time_base) if vs.duration else None),
            sample_aspect_ratio=vs.sample_aspect_ratio or None,
            hdr=HDR_TRANSFERS.get(int(trc or 2)),
            hdr_metadata=read_hdr_metadata(first),
            metadata=dict(vs.metadata),
        )
        streams = []
        for s in container.streams:
            if s.index == vs.index:
                continue
            details = ""
            if s.type == "audio":
                acc = s.codec_context
                details = f"{acc.sample_rate} Hz, {acc.layout.name if acc.layout else f'{acc.channels} channels'}"
            elif s.type == "video":
                details = "extra video stream (cover art or alternate angle)"
            streams.append(StreamInfo(
                index=s.index,
                type=s.type,
                codec=s.codec_context.name if s.codec_context else "unknown",
                language=s.metadata.get("language"),
                details=details,
                metadata=dict(s.metadata),
            ))
        return MediaInfo(
            path=str(path),
            format=container.format.name,
            duration_s=counted_s or (container.duration / 1e6 if container.duration else video.duration_s),
            metadata=dict(container.metadata),
            video=video,
            streams=streams,
        )
