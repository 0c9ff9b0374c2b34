"""Frame sizes the encoder cannot take (issue 20 item 5: a 16000x9000 input at x2 ran past 8 GB before anything
refused it): each encoder's limits, and a --ray job checked before Ray starts. The command line's refusals, and
frames too small for the stages (item 13): tests/test_frame_size_cli.py."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest

from vidsr.errors import UsageError
from vidsr.media.limits import check_frame_size


def ffv1_clip(path: Path, width: int, height: int, frames: int = 2) -> Path:
    """A lossless clip of any size (x264 cannot write 1x1 or odd sizes; FFV1 can, and stays small when flat)."""
    with av.open(str(path), "w") as out:
        s = out.add_stream("ffv1", rate=25)
        s.width, s.height, s.pix_fmt = width, height, "yuv444p"
        for i in range(frames):
            img = np.full((height, width, 3), 60 + 40 * i, np.uint8)
            frame = av.VideoFrame.from_ndarray(img, format="rgb24").reformat(format="yuv444p")
            frame.pts = i
            out.mux(s.encode(frame))
        out.mux(s.encode(None))
    return path


@pytest.mark.parametrize(("codec", "pix_fmt", "width", "height", "fits"), [
    ("libx264", "yuv420p", 16384, 8640, True),
    ("libx264", "yuv420p", 15360, 8640, True),  # an 8K input at x2
    ("libx264", "yuv420p", 16386, 64, False),
    ("libx264", "yuv420p", 64, 16386, False),
    ("libx264", "yuv420p", 65, 64, False),  # odd width in 4:2:0
    ("libx264", "yuv444p", 65, 64, True),
    ("libx265", "yuv420p", 16384, 8704, True),
    ("libx265", "yuv420p", 16000, 9000, False),  # over the highest level's picture area
    ("libx265", "yuv420p", 8, 64, False),
    ("libvpx-vp9", "yuv420p", 65536, 64, True),
    ("libvpx-vp9", "yuv420p", 65538, 64, False),
    ("libvpx", "yuv420p", 16383, 64, True),
    ("libvpx", "yuv420p", 16384, 64, False),
    ("libsvtav1", "yuv420p", 16384, 8704, True),
    ("libsvtav1", "yuv420p", 16384, 8706, False),
    ("libsvtav1", "yuv420p", 2, 2, False),
])
def test_frame_size_limits(codec: str, pix_fmt: str, width: int, height: int, fits: bool) -> None:
    if fits:
        check_frame_size(codec, pix_fmt, width, height)
    else:
        with pytest.raises(UsageError, match=f"{codec} cannot encode {width}x{height}"):
            check_frame_size(codec, pix_fmt, width, height)


def test_ray_jobs_check_sizes_before_any_ray_work(tmp_path: Path) -> None:
    """--ray jobs meet the same guard while their inputs are probed, before Ray starts."""
    pytest.importorskip("ray")
    from vidsr.pipeline import configure
    from workers.executor import Job, _check

    src = ffv1_clip(tmp_path / "big.mkv", 9000, 64)
    with pytest.raises(UsageError, match="libx264 cannot encode 18000x128"):
        _check([Job(src, tmp_path / "o.mkv")], configure("fast", model="bicubic"), False, lambda m: None)
