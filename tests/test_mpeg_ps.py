"""MPEG program-stream output (.mpg): MPEG-1 video by default, as ffmpeg picks it, and MPEG-1/2 encoders on their
frame clock (time base 1/rate at a standard MPEG rate) with every frame at its source time."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import pytest

from vidsr.errors import OutputError
from vidsr.frame import Frame
from vidsr.media.containers import encoder_for
from vidsr.media.remux import mpeg_rate

TICK = 1 / 25


def _frames(path: Path) -> tuple[str, list[float | None]]:
    """The video codec and each decoded frame's time (None where the frame carries no timestamp)."""
    with av.open(str(path)) as c:
        name = c.streams.video[0].codec_context.name
        return name, [None if f.pts is None else float(f.time) for f in c.decode(video=0)]


def _same_times(out: Path, src: Path) -> None:
    _, before = _frames(src)
    _, after = _frames(out)
    assert None not in after, after
    assert len(after) == len(before)
    assert all(abs(a - b) <= TICK + 1e-6 for a, b in zip(after, before, strict=True)), (after, before)


def test_mpg_output_defaults_to_mpeg1_with_every_frame_timed(cli, clip, tmp_path: Path) -> None:
    """No --codec: `.mpg` gets mpeg1video (it got libx264, whose frames in MPEG-PS often carry no pts), every frame
    timed, the input's frame count and times (within a frame: the AAC source's audio, transcoded to MP2, starts
    10 ms early and the muxer moves every stream by that; without audio they are exact, see the chunked test)."""
    src = clip("in.mp4", frames=10, audio="aac")  # time base 1/12800: the MPEG encoders refused it
    out = tmp_path / "out.mpg"
    res = cli("run", src, out, "--pipeline", "fast", "--quiet")
    assert res.code == 0, res.stderr
    codec, times = _frames(out)
    assert codec == "mpeg1video"
    _same_times(out, src)
    assert times == sorted(times)


def test_mpeg2video_into_mpg_keeps_frames_and_times(cli, clip, tmp_path: Path) -> None:
    """`--codec mpeg2video out.mpg` failed with "Invalid argument" (the source's 1/90000 clock went to the
    encoder): now its frame clock, the input's frame count and times."""
    src = clip("in.mpg", frames=10, codec="mpeg2video", audio="mp2", time_base=Fraction(1, 25))  # 1/90000 on read
    out = tmp_path / "out.mpg"
    res = cli("run", src, out, "--pipeline", "fast", "--codec", "mpeg2video", "--quiet")
    assert res.code == 0, res.stderr
    assert _frames(out)[0] == "mpeg2video"
    _same_times(out, src)
    _, before = _frames(src)
    _, after = _frames(out)
    assert after == pytest.approx(before, abs=1e-6)  # a source past the PS preload needs no shift at all


def test_dvd_like_containers_get_mpeg2_and_others_keep_their_encoder() -> None:
    assert encoder_for("a.mpg", "libx264", chosen=False) == "mpeg1video"
    assert encoder_for("a.mpeg", "libx264", chosen=False) == "mpeg1video"
    assert encoder_for("a.vob", "libx264", chosen=False) == "mpeg2video"
    assert encoder_for("a.m2v", "libx264", chosen=False) == "mpeg2video"
    assert encoder_for("a.mpg", "libx264", chosen=True) == "libx264"  # --codec is the user's
    for name in ("a.mp4", "a.mkv", "a.mov", "a.ts"):
        assert encoder_for(name, "libx264", chosen=False) == "libx264"


def test_mpeg_rates() -> None:
    assert mpeg_rate(Fraction(25)) == 25
    assert mpeg_rate(Fraction(30000, 1001)) == Fraction(30000, 1001)
    assert mpeg_rate(Fraction(2997, 100)) == Fraction(30000, 1001)
    assert mpeg_rate(Fraction(15)) == Fraction(24000, 1001)  # the lowest above: no two frames on one tick
    assert mpeg_rate(Fraction(120)) == 60
    assert mpeg_rate(None) == 25


def test_two_frames_on_one_tick_are_refused_in_one_line(clip, tmp_path: Path) -> None:
    """A variable frame rate that puts two frames on one frame of the MPEG clock: one clear line, not a muddle."""
    import dataclasses

    from vidsr.config import EncodeConfig
    from vidsr.media.probe import probe
    from vidsr.media.remux import Remuxer

    src = clip("in.mp4", frames=3, audio=None)
    info = probe(src)
    encode = dataclasses.replace(EncodeConfig(), codec="mpeg1video")
    remuxer = Remuxer(tmp_path / "out.mpg", src, info, encode, [])
    with av.open(str(src)) as c:
        images = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
    tb = Fraction(1, 12800)
    pts = [0, 512, 600]  # 25 fps, then a frame 7 ms later
    frames = [Frame(image=img, pts=p, time_base=tb, index=i)
              for i, (img, p) in enumerate(zip(images, pts, strict=True))]
    with pytest.raises(OutputError) as err:
        remuxer(iter(frames))
    assert "constant frame rate only" in str(err.value) and "\n" not in str(err.value)


def test_crf_sets_the_mpeg_quantiser(cli, clip, tmp_path: Path) -> None:
    """--crf means constant quality to MPEG-1/2 too (qscale crf/6): lower is larger, as for x264."""
    src = clip("in.mp4", frames=6, audio=None)
    sizes = []
    for crf in (6, 60):
        out = tmp_path / f"q{crf}.mpg"
        assert cli("run", src, out, "--pipeline", "fast", "--crf", crf, "--quiet").code == 0
        with av.open(str(out)) as c:
            sizes.append(sum(p.size for p in c.demux(video=0)))
    assert sizes[0] > 1.5 * sizes[1]


def test_a_chunked_mpg_run_joins_to_the_whole_runs_video(tmp_path: Path) -> None:
    """Chunks (a long run's, resumable) and scene-cut restarts: each MPEG encoder starts its frame clock at 0 and
    the same rate control, and the PS demuxer's guessed dts (one frame late where it equals pts) is put back, so
    the joined video is the whole run's, packet for packet, every frame at its source time."""
    from clipmaker import scene_clip

    import vidsr
    from vidsr.pipeline import configure

    src = scene_clip(tmp_path / "in.mp4", 40, cuts=[10, 25])
    outs = []
    for chunk_seconds in (None, 0.5):
        config = configure("default", model="bicubic", preset="medium", crf=18)
        if chunk_seconds:
            config.encode.chunk_seconds = chunk_seconds
        outs.append(tmp_path / f"out{chunk_seconds}.mpg")
        vidsr.enhance(src, outs[-1], pipeline=config)
    whole, chunked = ([(bytes(p), p.pts) for p in av.open(str(o)).demux(video=0) if p.size] for o in outs)
    assert whole == chunked
    assert _frames(outs[1]) == ("mpeg1video", pytest.approx(_frames(src)[1], abs=1e-6))
