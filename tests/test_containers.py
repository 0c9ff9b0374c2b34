"""Each output container gets an encoder it holds, as ffmpeg picks one without -c:v; a pair that cannot work is
refused before any work; a backlog writes every output in a container vidsr writes well."""

from __future__ import annotations

from pathlib import Path

import av
import pytest

from vidsr.backlog import expand_jobs


def _video(path: Path) -> tuple[str, int]:
    with av.open(str(path)) as c:
        return c.streams.video[0].codec_context.name, sum(1 for _ in c.decode(video=0))


@pytest.mark.parametrize(("ext", "codec"), [(".mp4", "h264"), (".mkv", "h264"), (".mov", "h264"),
                                            (".webm", "vp9"), (".ts", "h264"), (".ogv", "vp8")])
def test_each_container_gets_its_default_encoder(cli, clip, tmp_path: Path, ext: str, codec: str) -> None:
    """No --codec: a real encode into each container, every frame decodable, with ffmpeg's choice of codec
    (H.264 where it fits, VP9 for WebM; VP8 for Ogg, libtheora being absent from PyAV's FFmpeg)."""
    src = clip("in.mkv", frames=6, audio="libopus")
    out = tmp_path / f"out{ext}"
    res = cli("run", src, out, "--pipeline", "fast", "--preset", "ultrafast", "--quiet")
    assert res.code == 0, res.stderr
    assert _video(out) == (codec, 6)


def test_a_codec_the_container_cannot_hold_is_refused_up_front(cli, clip, tmp_path: Path) -> None:
    """`--codec libx264 out.webm` used to fail in remux after the model ran: now one line, exit 2, no file."""
    src = clip("in.mp4", frames=4)
    res = cli("run", src, tmp_path / "out.webm", "--codec", "libx264")
    assert res.code == 2
    assert res.stderr.strip().splitlines() == [
        "vidsr: error: .webm output cannot hold libx264 video (use --codec libvpx-vp9, or another container "
        "such as .mkv)"]
    assert list(tmp_path.iterdir()) == [src]


def test_a_backlog_keeps_a_container_it_can_write(tmp_path: Path) -> None:
    """The folder scan takes every container a single run reads; outputs keep the input's extension where vidsr
    writes that container well, else become .mkv; --format names them all."""
    folder, out = tmp_path / "in", tmp_path / "out"
    folder.mkdir()
    out.mkdir()
    names = ["a.mp4", "b.webm", "c.mpg", "d.mpeg", "e.ogv", "f.3gp", "g.vob", "h.ts", "i.avi", "notes.txt"]
    for name in names:
        (folder / name).write_bytes(b"")
    jobs = expand_jobs([str(folder)], str(out))
    assert [(s.name, d.name) for s, d in jobs] == [
        ("a.mp4", "a.mp4"), ("b.webm", "b.webm"), ("c.mpg", "c.mkv"), ("d.mpeg", "d.mkv"), ("e.ogv", "e.mkv"),
        ("f.3gp", "f.mkv"), ("g.vob", "g.mkv"), ("h.ts", "h.ts"), ("i.avi", "i.mkv")]
    assert {d.name for _, d in expand_jobs([str(folder)], str(out), "mp4")} == {f"{n[0]}.mp4" for n in names[:-1]}


def test_format_is_checked(cli, clip, tmp_path: Path) -> None:
    src = clip("in.mp4", frames=2)
    unknown = cli("run", src, tmp_path / "o.mp4", "--format", "nope")
    assert unknown.code == 2 and "--format nope" in unknown.stderr
    single = cli("run", src, tmp_path / "o.mp4", "--format", "mkv")
    assert single.code == 2 and "name it o.mkv" in single.stderr
    assert not (tmp_path / "o.mp4").exists()


def _times(path: Path) -> dict[str, list[float]]:
    """Audio packets' and decoded video frames' times (H.264 in MPEG-PS leaves some frames without a pts)."""
    with av.open(str(path)) as c:
        audio = [round(float(p.pts * p.time_base), 4) for p in c.demux(audio=0) if p.pts is not None and p.size]
    with av.open(str(path)) as c:
        video = [round(f.time, 4) for f in c.decode(video=0) if f.pts is not None]
    return {"audio": sorted(audio), "video": video}


def test_mpeg_ps_output_keeps_the_source_timestamps(cli, clip, tmp_path: Path) -> None:
    """MPEG-PS in, MPEG-PS out: every audio timestamp as the source's, every timed video frame at its source
    time. The muxer's default 0.5 s preload shifted the whole output by +40 ms (x264's reorder delay put its
    first dts under the preload)."""
    from fractions import Fraction

    src = clip("in.mpg", frames=10, codec="mpeg2video", audio="mp2", time_base=Fraction(1, 25))
    out = tmp_path / "out.mpg"
    res = cli("run", src, out, "--pipeline", "fast", "--preset", "medium", "--quiet")  # B-frames: dts < pts
    assert res.code == 0, res.stderr
    before, after = _times(src), _times(out)
    assert before["video"][0] > 0.4  # the source itself carries a PS muxer's preload
    assert after["audio"] == before["audio"]
    assert after["video"][0] == before["video"][0] and set(after["video"]) <= set(before["video"])


def _ts_with_data_track(path: Path) -> Path:
    """An MPEG-TS file with H.264 and a data stream (as cameras and broadcast files carry)."""
    from fractions import Fraction

    import numpy as np

    with av.open(str(path), "w") as out:
        v = out.add_stream("libx264", rate=25)
        v.width, v.height, v.pix_fmt = 64, 64, "yuv420p"
        d = out.add_data_stream()
        for i in range(4):
            f = av.VideoFrame.from_ndarray(np.zeros((64, 64, 3), np.uint8), format="rgb24").reformat(format="yuv420p")
            f.pts, f.time_base = i, Fraction(1, 25)
            out.mux(v.encode(f))
            p = av.Packet(b"telemetry")
            p.stream, p.pts, p.dts, p.time_base = d, i, i, Fraction(1, 25)
            out.mux(p)
        out.mux(v.encode(None))
    return path


def test_a_dropped_data_track_names_containers_that_keep_it(tmp_path: Path) -> None:
    """The warning said "use .mkv to keep it" on a .mkv output, which had just refused the track: now it names
    the containers that really take it."""
    from vidsr.media.streams import plan_side_streams

    src = _ts_with_data_track(tmp_path / "in.ts")
    (mkv,) = plan_side_streams(src, 0, "out.mkv", "aac")
    assert mkv.action == "drop" and mkv.reason == ".mkv does not accept data; use .mov or .ts to keep it"
    (mp4,) = plan_side_streams(src, 0, "out.mp4", "aac")
    assert mp4.reason == ".mp4 does not accept data; use .mov or .ts to keep it"
    assert plan_side_streams(src, 0, "out.mov", "aac")[0].action == "copy"
