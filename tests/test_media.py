"""Media correctness: every frame once with its own timestamp, audio bytes untouched, depth, colour,
rotation, odd sizes, subtitles and metadata kept. Clips are real H.264/H.265 encodes of real photos."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from clipmaker import decoded_times, packet_bytes

import vidsr


@pytest.fixture(autouse=True, params=["whole", "chunked"])
def writer(request: pytest.FixtureRequest) -> str:
    """Every property holds both for an output written in one piece and for one written as resumable chunks
    joined at the end (a video longer than ``encode.chunk_seconds``; here shrunk so these clips qualify)."""
    return request.param


def _enhance(src: Path, dst: Path, writer: str = "whole", **kw: object) -> dict:
    config = vidsr.configure(kw.pop("pipeline", "default"), preset=kw.pop("preset", "ultrafast"),  # type: ignore[arg-type]
                             **{k: kw.pop(k) for k in ("scale", "model", "codec", "crf") if k in kw})
    config.encode.chunk_seconds = 0.01 if writer == "chunked" else 0
    report = vidsr.enhance(src, dst, pipeline=config, **kw)  # type: ignore[arg-type]
    assert (report["chunks"] is not None) == (writer == "chunked")
    return report


def test_frames_timestamps_audio_and_size(clip, tmp_path: Path, writer: str) -> None:
    src = clip("in.mp4", frames=15, width=96, height=64, stream_language="deu",
               metadata={"title": "a pan", "comment": "kept?", "creation_time": "2024-05-06T07:08:09.000000Z"})
    dst = tmp_path / "out.mp4"
    report = _enhance(src, dst, scale=2, writer=writer)
    assert report["frames"] == 15
    assert decoded_times(dst) == decoded_times(src)
    assert packet_bytes(dst, "audio") == packet_bytes(src, "audio")  # stream copy, byte for byte
    with av.open(str(dst)) as c:
        v = c.streams.video[0]
        assert (v.width, v.height) == (192, 128)
        assert c.metadata.get("title") == "a pan" and c.metadata.get("comment") == "kept?"
        assert c.metadata.get("creation_time") == "2024-05-06T07:08:09.000000Z"
        assert v.metadata.get("language") == "deu"
        assert c.streams.audio[0].metadata.get("language") == "eng"


def test_x4_output_matches_bicubic_of_decoded_input(clip, tmp_path: Path, writer: str) -> None:
    """The pixels are the model's output (not a stale or shifted frame): compare frame 5 with a direct
    bicubic of the decoded input; the margin is x264's CRF-10 noise."""
    import torch

    from vidsr.sr.registry import build_model

    src = clip("in.mp4", frames=8)
    dst = tmp_path / "out.mp4"
    _enhance(src, dst, scale=4, crf=10, model="bicubic", writer=writer)
    with av.open(str(src)) as c:
        lq = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)][5]
    with av.open(str(dst)) as c:
        out = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)][5].astype(np.float32)
    model = build_model("bicubic", 4, torch.device("cpu"))
    ref = model(torch.from_numpy(lq).permute(2, 0, 1)[None].float() / 255)[0].permute(1, 2, 0).numpy() * 255
    psnr = 10 * np.log10(255**2 / np.mean((out - ref) ** 2))
    assert psnr > 38, psnr


def test_variable_frame_rate_stays_variable(clip, tmp_path: Path, writer: str) -> None:
    pts = [0, 512, 1024, 2560, 3072, 3200, 5120, 5632, 8192, 8704]  # irregular gaps, time base 1/12800
    src = clip("vfr.mp4", frames=len(pts), pts=pts, audio=None)
    assert vidsr.media.probe.probe(src).video.variable_frame_rate  # type: ignore[attr-defined]
    dst = tmp_path / "out.mp4"
    _enhance(src, dst, writer=writer)
    assert decoded_times(dst) == decoded_times(src) == [round(p / 12800, 6) for p in pts]


def test_ten_bit_stays_ten_bit_with_sixteen_bit_precision(clip, tmp_path: Path, writer: str) -> None:
    src = clip("deep.mp4", frames=6, pix_fmt="yuv420p10le", audio=None,
               colour={"color_range": 1, "colorspace": 1, "color_primaries": 1, "color_trc": 1})
    dst = tmp_path / "out.mp4"
    _enhance(src, dst, writer=writer)
    with av.open(str(dst)) as c:
        frame = next(c.decode(video=0))
        assert c.streams.video[0].codec_context.pix_fmt == "yuv420p10le"
        y = frame.to_ndarray()[: frame.height]  # the 10-bit luma plane
    # values carried through 8 bits would land on multiples of 4 in 10-bit code values
    assert np.mean(y % 4 != 0) > 0.5


@pytest.mark.parametrize("own_params", [None, "aq-mode=2"])
def test_hdr10_tags_and_mastering_metadata_survive_with_x265(clip, tmp_path: Path, writer: str,
                                                             own_params: str | None) -> None:
    """Also when the pipeline passes x265-params of its own: they join vidsr's (which carry the HDR metadata)."""
    hdr = {"color_range": 1, "colorspace": 9, "color_primaries": 9, "color_trc": 16}
    master = "G(13250,34500)B(7500,3000)R(34000,16000)WP(15635,16450)L(10000000,1)"
    params = f"hdr10=1:repeat-headers=1:master-display={master}:max-cll=1000,400"
    src = clip("hdr.mp4", frames=4, codec="libx265", pix_fmt="yuv420p10le", audio=None, colour=hdr,
               options={"x265-params": params})
    dst = tmp_path / "out.mp4"
    config = vidsr.configure("default", preset="ultrafast", codec="libx265")
    if own_params:
        config.encode.options = {"x265-params": own_params}
    _enhance(src, dst, pipeline=config, writer=writer)
    info = vidsr.media.probe.probe(dst)  # type: ignore[attr-defined]
    assert info.video.pix_fmt == "yuv420p10le"
    assert (info.video.color_range, info.video.colorspace, info.video.color_primaries, info.video.color_trc) == (
        1, 9, 9, 16)
    assert info.video.hdr == "HDR10 (PQ)"
    assert info.video.hdr_metadata.master_display == master
    assert info.video.hdr_metadata.max_cll == "1000,400"


def test_hdr_metadata_with_x264_warns(clip, tmp_path: Path, writer: str) -> None:
    hdr = {"color_range": 1, "colorspace": 9, "color_primaries": 9, "color_trc": 16}
    params = "hdr10=1:repeat-headers=1:master-display=G(1,2)B(3,4)R(5,6)WP(7,8)L(10000000,1):max-cll=500,100"
    src = clip("hdr.mp4", frames=3, codec="libx265", pix_fmt="yuv420p10le", audio=None, colour=hdr,
               options={"x265-params": params})
    warnings: list[str] = []
    _enhance(src, tmp_path / "out.mp4", warn=warnings.append, writer=writer)
    assert any("libx265" in w for w in warnings), warnings
    assert vidsr.media.probe.probe(tmp_path / "out.mp4").video.color_trc == 16  # type: ignore[attr-defined]


def test_colour_tags_and_no_colour_shift(clip, tmp_path: Path, writer: str) -> None:
    """BT.709 tv-range in, BT.709 tv-range out, and the mean colour of the output equals the input's.

    The media path alone (bicubic): a learned model's own colour fidelity is judged on real pictures in
    test_colour.py. (The real-source CNN lifts this synthetic clip's mean by 0.6-0.9 levels per channel,
    measured before any clipping: a small brightness bias of the model, noted in its card, not a matrix
    or range error, which shifts by 3-20 levels.)"""
    tags = {"color_range": 1, "colorspace": 1, "color_primaries": 1, "color_trc": 1}
    src = clip("bt709.mp4", frames=4, audio=None, colour=tags, options={"crf": "8"})
    dst = tmp_path / "out.mp4"
    _enhance(src, dst, crf=8, writer=writer, model="bicubic")
    info = vidsr.media.probe.probe(dst)  # type: ignore[attr-defined]
    assert (info.video.color_range, info.video.colorspace, info.video.color_primaries, info.video.color_trc) == (
        1, 1, 1, 1)
    with av.open(str(src)) as a, av.open(str(dst)) as b:
        fa = next(a.decode(video=0)).to_ndarray(format="rgb24", src_colorspace=1, src_color_range=1)
        fb = next(b.decode(video=0)).to_ndarray(format="rgb24", src_colorspace=1, src_color_range=1)
    # per-channel mean within one 8-bit level: no matrix or range mix-up (those shift by 3-20 levels)
    diff = np.abs(fa.reshape(-1, 3).mean(0) - fb.reshape(-1, 3).mean(0))
    assert diff.max() < 1.0, diff


@pytest.mark.parametrize("degrees", [90, -90])
def test_rotation_kept(clip, tmp_path: Path, degrees: int, writer: str) -> None:
    src = clip("rot.mp4", frames=3, audio=None, rotation=degrees)
    dst = tmp_path / "out.mp4"
    _enhance(src, dst, writer=writer)
    with av.open(str(dst)) as c:
        assert next(c.decode(video=0)).rotation == degrees


def test_odd_size(clip, tmp_path: Path, writer: str) -> None:
    src = clip("odd.mp4", frames=4, width=61, height=35, pix_fmt="yuv444p", audio=None)
    dst = tmp_path / "out.mp4"
    _enhance(src, dst, scale=2, writer=writer)
    with av.open(str(dst)) as c:
        v = c.streams.video[0]
        assert (v.width, v.height, v.codec_context.pix_fmt) == (122, 70, "yuv444p")
        assert sum(1 for _ in c.decode(video=0)) == 4


def test_subtitles_copied_into_matroska(clip, tmp_path: Path, writer: str) -> None:
    cues = [(0.0, 0.2, "first line"), (0.24, 0.4, "second line")]
    src = clip("subs.mkv", frames=10, subtitles=cues)
    dst = tmp_path / "out.mkv"
    _enhance(src, dst, writer=writer)
    assert packet_bytes(dst, "subtitle") == packet_bytes(src, "subtitle") == [b"first line", b"second line"]
    assert packet_bytes(dst, "audio") == packet_bytes(src, "audio")
    with av.open(str(dst)) as c:
        assert c.streams.subtitles[0].metadata.get("language") == "fra"


def test_subtitles_mp4_cannot_hold_are_converted_with_a_warning(clip, tmp_path: Path, writer: str) -> None:
    """SubRip into MP4 becomes mov_text, as ffmpeg does (issue 20 item 12; tests/test_subtitles.py has the
    timing and the other routes), whole or in chunks."""
    src = clip("subs.mkv", frames=6, subtitles=[(0.0, 0.1, "hi")])
    warnings: list[str] = []
    _enhance(src, tmp_path / "out.mp4", warn=warnings.append, writer=writer)
    assert any("subtitle" in w and "converted to mov_text" in w for w in warnings), warnings
    with av.open(str(tmp_path / "out.mp4")) as c:
        assert c.streams.subtitles[0].codec_context.name == "mov_text"
    assert b"\x00\x02hi" in packet_bytes(tmp_path / "out.mp4", "subtitle")


def test_audio_the_container_refuses_is_transcoded_with_a_warning(clip, tmp_path: Path, writer: str) -> None:
    src = clip("pcm.mkv", frames=10, audio="pcm_u8")
    dst = tmp_path / "out.mp4"
    warnings: list[str] = []
    report = _enhance(src, dst, warn=warnings.append, writer=writer)
    assert any("transcode to aac" in w for w in warnings), warnings
    assert any("transcode" in s for s in report["streams"])
    with av.open(str(dst)) as c:
        a = c.streams.audio[0]
        assert a.codec_context.name == "aac"
        assert float(a.duration * a.time_base) == pytest.approx(10 / 25, abs=0.05)


def test_timestamps_are_source_timestamps_not_renumbered(clip, tmp_path: Path, writer: str) -> None:
    """A clip starting at t = 2 s keeps its start (no rebasing to zero)."""
    src = clip("late.mp4", frames=5, audio=None, pts=[25600 + 512 * i for i in range(5)])
    dst = tmp_path / "out.mp4"
    _enhance(src, dst, writer=writer)
    assert decoded_times(dst)[0] == pytest.approx(2.0)
    assert decoded_times(dst) == decoded_times(src)
    assert Fraction(1, 12800) == vidsr.media.probe.probe(dst).video.time_base  # type: ignore[attr-defined]


def test_av1_takes_the_pipelines_preset_names(clip, tmp_path: Path, writer: str) -> None:
    """SVT-AV1 numbers its presets (0-13): the pipelines' x264 names map onto them (medium -> 8) instead of
    failing with FFmpeg's "Invalid argument"; a name it cannot map is a one-line usage error up front."""
    src = clip("in.mp4", frames=6, audio=None)
    dst = tmp_path / "out.mkv"
    _enhance(src, dst, codec="libsvtav1", preset="medium", model="bicubic", writer=writer)
    with av.open(str(dst)) as c:
        assert c.streams.video[0].codec_context.name in ("libdav1d", "av1", "libaom-av1")
    assert decoded_times(dst) == decoded_times(src)
    with pytest.raises(vidsr.UsageError, match="means nothing to libsvtav1"):
        vidsr.configure("default", codec="libsvtav1", preset="snappy")
