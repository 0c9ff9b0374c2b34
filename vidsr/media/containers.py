"""Which video encoder each output container gets, checked before any work, as ffmpeg chooses without ``-c:v``.

Without ``--codec`` the pipeline's encoder (libx264) is kept where the container holds it (MP4, MKV, MOV, TS,
...) and the container's own default is taken where it does not (VP9 for WebM, VP8 for Ogg when libtheora is
absent). MPEG program streams get their own MPEG video, as ffmpeg gives them: MPEG-1 for .mpg, MPEG-2 for .vob
(FFmpeg's SVCD muxer) and DVD; H.264 there leaves many frames without a timestamp. A ``--codec`` the container
cannot hold is a usage error up front, not a failure after the first frame.
"""

from __future__ import annotations

import io
from pathlib import Path

import av

from vidsr.errors import UsageError

__all__ = ["SCAN_SUFFIXES", "KEPT_SUFFIXES", "muxer_name", "muxer_options", "program_stream", "encoder_for",
           "check_encoder", "speed_options", "backlog_name"]

# what a folder scan picks up: everything a single run reads
SCAN_SUFFIXES = {".mp4", ".m4v", ".mkv", ".mov", ".webm", ".avi", ".ts", ".mts", ".m2ts", ".mxf", ".flv", ".wmv",
                 ".mpg", ".mpeg", ".vob", ".ogv", ".3gp", ".3g2"}
# input extensions a backlog output keeps; any other input is written as .mkv, which holds every stream
KEPT_SUFFIXES = {".mp4", ".m4v", ".mkv", ".mov", ".webm", ".ts", ".mts", ".m2ts"}

# muxers whose FFmpeg query answers "maybe" for codecs they cannot really carry: the ones that play
_ONLY = {
    "mpegts": {"h264", "hevc", "mpeg1video", "mpeg2video", "mpeg4"},
    "mpeg": {"h264", "mpeg1video", "mpeg2video"},
    "vob": {"h264", "mpeg1video", "mpeg2video"},
    "svcd": {"h264", "mpeg2video"},
    "dvd": {"h264", "mpeg2video"},
    "ogg": {"theora", "vp8"},
    "ogv": {"theora", "vp8"},
    "mpeg1video": {"mpeg1video"},
    "mpeg2video": {"mpeg2video"},
}
# a container's own encoder where the pipeline's cannot go into it (ffmpeg's choice, libtheora if built)
_DEFAULT = {"webm": ["libvpx-vp9"], "ogg": ["libtheora", "libvpx"], "ogv": ["libtheora", "libvpx"]}
# containers whose own encoder comes before the pipeline's (ffmpeg's default for them), --codec aside
_OWN = {"mpeg": ["mpeg1video"], "vcd": ["mpeg1video"], "mpeg1video": ["mpeg1video"], "vob": ["mpeg2video"],
        "svcd": ["mpeg2video"], "dvd": ["mpeg2video"], "mpeg2video": ["mpeg2video"]}


def muxer_name(path: str | Path) -> str:
    """FFmpeg's muxer for a file name (``out.webm`` -> ``webm``); a name it cannot place is a usage error."""
    buf = io.BytesIO()
    buf.name = Path(path).name  # PyAV guesses the format from a file-like object's name
    try:
        with av.open(buf, "w") as c:
            return str(c.format.name)
    except (ValueError, av.FFmpegError):
        raise UsageError(f"cannot tell the container format from the output name: {Path(path).name}") from None


# MPEG program-stream muxers hold back 0.5 s of "preload" (ffmpeg's -muxpreload) and, where the first packet's
# dts falls below it, shift every timestamp until it does: a source already written that way (first dts 0.46 s
# after an x264 reorder delay) came out 40 ms late. With no preload only a negative dts, which the format cannot
# store, moves the clock, by the least that makes it zero.
_PROGRAM_STREAM = {"mpeg", "vob", "dvd", "svcd", "vcd"}


def muxer_options(path: str | Path) -> dict[str, str]:
    """Options for opening ``path`` as an output so that it keeps the source's timestamps."""
    return {"preload": "0"} if program_stream(path) else {}


def program_stream(path: str | Path) -> bool:
    """Whether ``path`` is written as an MPEG program stream (.mpg, .vob, ...)."""
    return muxer_name(path) in _PROGRAM_STREAM


def _fits(codec: str, muxer: str) -> bool:
    try:
        name = av.Codec(codec, "w").canonical_name
    except (ValueError, av.FFmpegError):
        return False
    if muxer in _ONLY:
        return name in _ONLY[muxer]
    buf = io.BytesIO()
    try:
        with av.open(buf, "w", format=muxer) as c:
            c.add_stream(codec, rate=25)  # PyAV asks avformat_query_codec here; nothing is written
    except (ValueError, av.FFmpegError):
        return False
    return True


def check_encoder(codec: str, dst: str | Path) -> None:
    """Refuse an encoder the output's container cannot hold, in one line naming one that it can."""
    muxer = muxer_name(dst)
    if not _fits(codec, muxer):
        raise UsageError(f"{Path(dst).suffix or muxer} output cannot hold {codec} video (use "
                         f"--codec {encoder_for(dst, 'libx264', chosen=False)}, or another container such as .mkv)")


def encoder_for(dst: str | Path, preferred: str, chosen: bool) -> str:
    """The encoder for ``dst``: ``preferred`` where the container holds it or the user named it (``chosen``,
    then checked), else the container's default; an MPEG program stream's own MPEG video unless ``chosen``."""
    if chosen:
        check_encoder(preferred, dst)
        return preferred
    muxer = muxer_name(dst)
    for codec in [*_OWN.get(muxer, []), preferred, *_DEFAULT.get(muxer, []), "libx264"]:
        if _available(codec) and _fits(codec, muxer):
            return codec
    raise UsageError(f"vidsr has no video encoder for {Path(dst).suffix or muxer} output; use .mp4 or .mkv")


# libvpx's own default (deadline good, cpu-used 1) takes minutes for a few seconds of video: the pipelines'
# x264 preset names map onto its speed scale, as SVT-AV1's do in remux
_VPX_SPEED = {"placebo": ("good", 0), "veryslow": ("good", 1), "slower": ("good", 2), "slow": ("good", 3),
              "medium": ("good", 4), "fast": ("good", 5), "faster": ("good", 5), "veryfast": ("realtime", 6),
              "superfast": ("realtime", 7), "ultrafast": ("realtime", 8)}


def speed_options(codec: str, preset: str) -> dict[str, str]:
    """Encoder options that make an x264 preset name mean the same speed to libvpx (VP8/VP9); none for others."""
    if codec not in ("libvpx", "libvpx-vp9") or preset not in _VPX_SPEED:
        return {}
    deadline, cpu_used = _VPX_SPEED[preset]
    options = {"deadline": deadline, "cpu-used": str(cpu_used)}
    if codec == "libvpx-vp9":
        options["row-mt"] = "1"
    return options


def _available(codec: str) -> bool:
    try:
        av.Codec(codec, "w")
    except (ValueError, av.FFmpegError):
        return False
    return True


def backlog_name(src: Path, folder: Path, fmt: str | None) -> Path:
    """A backlog output's path: the input's name, with ``fmt`` as extension when given (``--format mkv``), else
    the input's own extension where vidsr writes that container well, else ``.mkv``."""
    if fmt:
        return folder / f"{src.stem}.{fmt.lstrip('.')}"
    suffix = src.suffix.lower()
    return folder / (src.name if suffix in KEPT_SUFFIXES else f"{src.stem}.mkv")
