"""Text subtitles are converted into the container's own text format instead of dropped (issue 20 item 12):
SubRip and ASS into MP4 become mov_text, mov_text into MKV becomes SubRip, SubRip into WebM becomes WebVTT;
every cue keeps its text, its start (against the video) and its duration, and italics survive."""

from __future__ import annotations

import re
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from av.subtitles.subtitle import SubtitleSet

CUES = [(0.1, 0.4, "Hello world"), (0.6, 0.3, "Second line\nthird")]  # start s, duration s, text

ASS = r"""[Script Info]
ScriptType: v4.00+
PlayResX: 384
PlayResY: 288

[V4+ Styles]
Format: {style_fields}
Style: Default,Arial,16,&Hffffff,&Hffffff,&H0,&H0,0,0,0,0,100,100,0,0,1,1,0,2,10,10,10,1

[Events]
Format: Layer, Start, End, Style, Name, MarginL, MarginR, MarginV, Effect, Text
Dialogue: 0,0:00:00.10,0:00:00.50,Default,,0,0,0,,Hello {\i1}world{\i0}
Dialogue: 0,0:00:00.60,0:00:00.90,Default,,0,0,0,,Second line\Nthird
""".replace("{style_fields}", "Name, Fontname, Fontsize, PrimaryColour, SecondaryColour, OutlineColour, BackColour, "
            "Bold, Italic, Underline, StrikeOut, ScaleX, ScaleY, Spacing, Angle, BorderStyle, Outline, Shadow, "
            "Alignment, MarginL, MarginR, MarginV, Encoding")
SRT = "1\n00:00:00,100 --> 00:00:00,500\nHello <i>world</i>\n\n2\n00:00:00,600 --> 00:00:00,900\nSecond line\nthird\n\n"


def _video(out: av.container.OutputContainer, frames: int = 25) -> av.VideoStream:
    v = out.add_stream("libx264", rate=25)
    v.width, v.height, v.pix_fmt = 64, 48, "yuv420p"
    v.options = {"preset": "ultrafast"}
    return v


def _write_video(out: av.container.OutputContainer, v: av.VideoStream, frames: int = 25) -> None:
    for i in range(frames):
        frame = av.VideoFrame.from_ndarray(np.full((48, 64, 3), 10 * i, np.uint8), format="rgb24")
        frame.pts = i
        out.mux(v.encode(frame))
    out.mux(v.encode(None))


def from_text_file(path: Path, text_file: Path) -> Path:
    """A clip whose subtitle stream is ``text_file``'s (.srt: SubRip, .ass: ASS), packets copied."""
    with av.open(str(text_file)) as subs, av.open(str(path), "w") as out:
        v = _video(out)
        s = out.add_stream_from_template(subs.streams.subtitles[0])
        s.metadata["language"] = "fra"
        _write_video(out, v)
        for packet in subs.demux():
            if packet.size:
                packet.stream = s
                out.mux(packet)
    return path


def mov_text_clip(path: Path) -> Path:
    """An MP4 with a mov_text track, made by FFmpeg's own mov_text encoder."""
    with av.open(str(path), "w") as out:
        v = _video(out)
        s = out.add_stream("mov_text")
        s.codec_context.subtitle_header = ASS.split("[Events]")[0].encode() + b"[Events]\n"
        s.codec_context.time_base = Fraction(1, 1000)
        s.metadata["language"] = "fra"
        _write_video(out, v)
        for i, (start, dur, text) in enumerate(CUES):
            event = f"{i},0,Default,,0,0,0,,{text}".replace("\n", "\\N").encode()
            packet = s.codec_context.encode_subtitle(SubtitleSet.create(event, 0, int(dur * 1000), int(start * 1000)))
            packet.pts = packet.dts = int(start * 1000)
            packet.duration, packet.time_base, packet.stream = int(dur * 1000), Fraction(1, 1000), s
            out.mux(packet)
    return path


def cues(path: Path) -> tuple[str, list[tuple[float, float, str]], bytes, str | None]:
    """(codec, [(start against the first video frame, duration, plain text)], first cue's bytes, language)."""
    with av.open(str(path)) as c:
        s = c.streams.subtitles[0]
        video_start = None
        found, first = [], b""
        for packet in c.demux():
            if packet.pts is None or not packet.size:
                continue
            t = float(packet.pts * packet.time_base)
            if packet.stream.type == "video":
                video_start = t if video_start is None else min(video_start, t)
            elif packet.stream.index == s.index:
                for cue in s.codec_context.decode(packet):
                    text = re.sub(r"\{[^}]*\}", "", cue.dialogue.decode()).replace("\\N", "\n")
                    if text:
                        first = first or bytes(packet)
                        found.append((t, float(packet.duration * packet.time_base), text))
        return s.codec_context.name, [(round(a - video_start, 3), round(d, 3), x) for a, d, x in found], first, \
            s.metadata.get("language")


@pytest.mark.parametrize(("make", "out_name", "codec"), [
    ("srt", "o.mp4", "mov_text"),
    ("ass", "o.mp4", "mov_text"),
    ("ass", "o.mov", "mov_text"),
    ("mov_text", "o.mkv", "subrip"),
    ("srt", "o.webm", "webvtt"),
])
def test_text_subtitles_are_converted_with_timing_and_text(cli, tmp_path: Path, make: str, out_name: str,
                                                           codec: str) -> None:
    if make == "mov_text":
        src = mov_text_clip(tmp_path / "in.mp4")
    else:
        text_file = tmp_path / f"subs.{make}"
        text_file.write_text(SRT if make == "srt" else ASS)
        src = from_text_file(tmp_path / "in.mkv", text_file)
    out = tmp_path / out_name
    res = cli("run", src, out, "--model", "bicubic", "--preset", "ultrafast")
    assert res.code == 0, res.stderr
    assert f"converted to {codec}" in res.stderr and "dropped" not in res.stderr, res.stderr
    got_codec, got, first, language = cues(out)
    _, want, _, _ = cues(src)
    assert want == CUES
    assert got_codec in (codec, "srt" if codec == "subrip" else codec) and got == want
    assert language == "fra"
    if codec == "mov_text" and make != "mov_text":
        assert b"styl" in first  # the italic span became a mov_text style box
    if codec == "subrip":
        assert first.startswith(b"Hello")


def test_probe_says_the_subtitles_are_converted(cli, tmp_path: Path) -> None:
    (tmp_path / "subs.srt").write_text(SRT)
    src = from_text_file(tmp_path / "in.mkv", tmp_path / "subs.srt")
    res = cli("probe", src, "--output-name", "x.mp4")
    assert res.code == 0 and "converted to mov_text (.mp4 does not accept" in res.stdout, res.stdout
