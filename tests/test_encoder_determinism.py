"""The same frames through libx264 twice in one process give the same bytes (the encode side of "same
input, same command, same bytes").

libx264's B-frame lookahead with macroblock-tree rate control reads heap memory it never wrote; before
``vidsr.media.heap.fill_fresh_memory`` this exact case (noise frames, 192x128, preset medium, one thread)
differed from the first packet on 3 of 3 tries, and byte-equal resume and Ray joins failed at random.
"""

from __future__ import annotations

from fractions import Fraction

import av
import numpy as np

from vidsr.media.heap import fill_fresh_memory


def _encode(frames: list[av.VideoFrame]) -> list[bytes]:
    cc = av.CodecContext.create("libx264", "w")
    cc.width, cc.height, cc.pix_fmt = 192, 128, "yuv420p"
    cc.time_base, cc.framerate = Fraction(1, 25), Fraction(25)
    cc.thread_count = 1
    cc.options = {"crf": "18", "preset": "medium"}
    packets = []
    for i, frame in enumerate(frames):
        frame.pts = i
        packets += [bytes(p) for p in cc.encode(frame)]
    return packets + [bytes(p) for p in cc.encode(None)]


def test_x264_with_b_frames_and_mbtree_repeats_its_bytes() -> None:
    fill_fresh_memory()
    rng = np.random.default_rng(0)
    base = (rng.random((128, 192, 3)) * 255).astype(np.uint8)
    frames = [av.VideoFrame.from_ndarray(np.roll(base, (i, 2 * i), (0, 1)), format="rgb24").reformat(
        format="yuv420p") for i in range(60)]
    first = _encode(frames)
    junk = [np.full(1 << 16, i, np.uint8) for i in range(64)]  # leave other leftovers on the heap between
    del junk
    assert all(_encode(frames) == first for _ in range(3))
