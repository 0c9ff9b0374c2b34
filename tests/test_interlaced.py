"""Interlaced sources: found from the stream and its frames, deinterlaced before SR with FFmpeg's bwdif (one
frame out per frame in, timestamps kept), said in the report; --deinterlace on/off forces it either way."""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from clipmaker import decoded_times, packet_bytes

W, H, N = 128, 96, 12


def _fields_frame(i: int) -> np.ndarray:
    """A bright bar moving 12 px a frame, the two fields of each frame half a frame apart (as a camera that
    scans fields makes it): on motion, the frame shows comb teeth."""
    img = np.full((H, W, 3), 60, np.uint8)
    for y in range(H):
        x = int((i + 0.5 * (y % 2)) * 12) % (W - 16)
        img[y, x : x + 16] = 230
    return img


def interlaced_clip(path: Path, codec: str = "libx264", rate: int = 25, flagged: bool = True) -> Path:
    """An interlaced encode with PyAV: interlaced DCT and motion estimation, so the decoder flags every frame
    interlaced and the stream carries a field order; ``flagged=False`` encodes the same combed frames as
    progressive (a capture that lost its flags)."""
    with av.open(str(path), "w") as out:
        v = out.add_stream(codec, rate=rate)
        v.width, v.height, v.pix_fmt = W, H, "yuv420p"
        if flagged:
            v.codec_context.flags |= av.codec.context.Flags.interlaced_dct | av.codec.context.Flags.interlaced_me
        if codec == "libx264":
            v.options = {"preset": "ultrafast", "x264-params": "tff=1" if flagged else ""}
        for i in range(N):
            frame = av.VideoFrame.from_ndarray(_fields_frame(i), format="rgb24").reformat(format="yuv420p")
            frame.pts, frame.time_base = i, Fraction(1, rate)
            out.mux(v.encode(frame))
        out.mux(v.encode(None))
    return path


def _comb(path: Path) -> float:
    """Mean comb strength of the decoded frames, read at the source's rows (the x2 output's every other row):
    how far each row stands from the mean of its neighbours."""
    with av.open(str(path)) as c:
        scores = []
        for f in c.decode(video=0):
            y = f.to_ndarray(format="gray").astype(np.float32)[::2, ::2]
            scores.append(float(np.abs(y[1:-1] - 0.5 * (y[:-2] + y[2:])).mean()))
    return float(np.mean(scores))


def _interlaced_flags(path: Path) -> tuple[int, int]:
    """(frames flagged interlaced, frames) as decoded."""
    with av.open(str(path)) as c:
        flags = [f.interlaced_frame for f in c.decode(video=0)]
    return sum(flags), len(flags)


def _run(cli, src: Path, out: Path, *extra: str) -> dict:
    report = out.with_suffix(".json")
    res = cli("run", src, out, "--pipeline", "fast", "--preset", "ultrafast", "--quiet", "--report", report, *extra)
    assert res.code == 0, res.stderr
    return json.loads(report.read_text())


@pytest.mark.parametrize(("name", "codec", "order"), [("in.mp4", "libx264", "tt"), ("in.mpg", "mpeg2video", "bb")])
def test_interlaced_source_comes_out_progressive(cli, tmp_path: Path, name: str, codec: str, order: str) -> None:
    src = interlaced_clip(tmp_path / name, codec)
    assert _interlaced_flags(src) == (N, N)
    out = tmp_path / "out.mkv"
    report = _run(cli, src, out)
    assert report["frames"] == N and _interlaced_flags(out) == (0, N)
    assert decoded_times(out) == decoded_times(src)  # one frame per frame, each at its own time
    assert report["deinterlace"] == {"mode": "auto", "ran_as": "auto", "why": f"the stream's field order is {order}",
                                     "field_order": order, "filter": "bwdif (send_frame: one frame per frame)",
                                     "frames_deinterlaced": N}
    kept = tmp_path / "kept.mkv"
    off = _run(cli, src, kept, "--deinterlace", "off")
    assert off["deinterlace"]["frames_deinterlaced"] == 0 and off["deinterlace"]["filter"] is None
    assert _comb(out) < 0.5 * _comb(kept), (_comb(out), _comb(kept))  # the comb teeth are gone


def test_progressive_source_is_left_alone_unless_forced(cli, clip, tmp_path: Path) -> None:
    """auto on a progressive stream changes no byte; --deinterlace on runs bwdif over every frame anyway."""
    src = clip("in.mp4", frames=8)
    auto = _run(cli, src, tmp_path / "auto.mp4")
    _run(cli, src, tmp_path / "off.mp4", "--deinterlace", "off")
    assert auto["deinterlace"] == {"mode": "auto", "ran_as": "auto",
                                   "why": "progressive (idet: 7 of the first 8 frames progressive, 0 combed)",
                                   "field_order": "progressive", "filter": None, "frames_deinterlaced": 0}
    assert packet_bytes(tmp_path / "auto.mp4", "video") == packet_bytes(tmp_path / "off.mp4", "video")
    forced = _run(cli, src, tmp_path / "on.mp4", "--deinterlace", "on")
    assert forced["frames"] == 8 and forced["deinterlace"]["frames_deinterlaced"] == 8
    assert decoded_times(tmp_path / "on.mp4") == decoded_times(src)


def test_combing_flagged_progressive_is_found_by_idet(cli, tmp_path: Path) -> None:
    """The same combed frames encoded as progressive: no flag says interlaced, FFmpeg's idet finds the combing
    (top field first) on the first frames, and the run deinterlaces every frame in that field order."""
    src = interlaced_clip(tmp_path / "in.mp4", flagged=False)
    assert _interlaced_flags(src) == (0, N)
    out = tmp_path / "out.mkv"
    d = _run(cli, src, out)["deinterlace"]
    assert (d["ran_as"], d["frames_deinterlaced"]) == ("tff", N) and d["why"].startswith("idet: ")
    off = tmp_path / "off.mkv"
    _run(cli, src, off, "--deinterlace", "off")
    assert _comb(out) < 0.5 * _comb(off), (_comb(out), _comb(off))
    assert decoded_times(out) == decoded_times(src)


def test_a_preview_of_an_interlaced_source(cli, tmp_path: Path) -> None:
    """The window is cut after deinterlacing: its first frame still has the frame before it as a neighbour."""
    src = interlaced_clip(tmp_path / "in.mp4")
    report = _run(cli, src, tmp_path / "p.mkv", "--start", "0.2", "--duration", "0.2")
    assert report["frames"] == 5 and _interlaced_flags(tmp_path / "p.mkv") == (0, 5)
    assert report["deinterlace"]["filter"] is not None


def test_wrong_mode_is_a_usage_error(clip, tmp_path: Path) -> None:
    import vidsr
    from vidsr.errors import UsageError

    with pytest.raises(UsageError, match="deinterlace 'maybe' is not one of auto, on, off, tff, bff"):
        vidsr.enhance(clip("in.mp4", frames=2), tmp_path / "o.mp4", pipeline="fast", deinterlace="maybe")
