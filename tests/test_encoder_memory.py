"""encode.max_megabytes: the encoder's frame buffers are estimated and, over the budget, x264/x265 get a shorter
rc-lookahead, then fewer threads, then fewer B-frames (vidsr/media/encoder_memory.py).

x264 medium held ~5.6 GB at 7680x4320 output (a 4K source at x2) and ~0.5 GB at 1080p; the model is fitted on
bench/encoder_memory.py's measurements. Within the budget nothing changes: same options, same bytes."""

from __future__ import annotations

import hashlib
import re
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from clipmaker import scene_clip

import vidsr
from vidsr.config import EncodeConfig, check_config
from vidsr.errors import ConfigError
from vidsr.media.encoder_memory import estimate_megabytes, parse_params, plan_encoder_memory, resolved_settings
from vidsr.pipeline_files import load_pipeline

MEDIUM = {"crf": "18", "preset": "medium"}  # what Remuxer._configure gives libx264


def _est(width: int, height: int, **kw: object) -> float:
    value = estimate_megabytes("libx264", "medium", width, height, cpus=2, threads=2, **kw)  # type: ignore[arg-type]
    assert value is not None
    return value


def _plan(width: int, height: int, budget: int | None, options: dict[str, str] | None = None, threads: int = 0,
          cpus: int = 2, codec: str = "libx264"):
    options = dict(MEDIUM if options is None else options)
    return plan_encoder_memory(codec, options.get("preset", "medium"), 18, threads, options, width, height,
                               "yuv420p", budget, cpus=cpus)


# --- the estimate -----------------------------------------------------------------------------------------------


def test_estimate_is_linear_in_pixels() -> None:
    a, b, c = _est(1920, 1080), _est(3840, 1080), _est(5760, 1080)
    assert b - a == pytest.approx(c - b, rel=1e-9)
    assert b - a > 200  # x264 medium holds ~45 frames' worth: ~230 MiB more per 1920x1080 of extra pixels


def test_estimate_is_linear_in_lookahead_and_a_frame_costs_about_one_frame_of_planes() -> None:
    at = {la: _est(3840, 2160, options={**MEDIUM, "x264-params": f"rc-lookahead={la}"}) for la in (10, 20, 30)}
    step = at[20] - at[10]
    assert at[30] - at[20] == pytest.approx(step, rel=1e-9)
    # measured 27.8 MiB a lookahead frame at 3840x2160 (bench/results_encoder_memory.json)
    assert 27 < step / 10 < 30


def test_estimate_matches_the_measured_figures() -> None:
    """bench/results_encoder_memory.json's measurements (this build, 2 CPUs, allocation pattern on)."""
    assert _est(1920, 1080) == pytest.approx(493, rel=0.06)
    assert _est(3840, 2160) == pytest.approx(1507, rel=0.06)


def test_threads_resolve_as_x264_picks_them() -> None:
    # PyAV's contexts use slice threads: one per CPU, at most a thread per 4 macroblock rows (68 rows at 1080p)
    assert resolved_settings("libx264", "medium", 1920, 1080, cpus=2)["threads"] == 2  # type: ignore[index]
    assert resolved_settings("libx264", "medium", 1920, 1080, cpus=64)["threads"] == 17  # type: ignore[index]
    # frame threads (thread type FRAME): 1.5 per CPU
    assert resolved_settings("libx264", "medium", 1920, 1080, cpus=8, sliced=False)["threads"] == 12  # type: ignore
    assert resolved_settings("libx264", "medium", 1920, 1080, threads=3, cpus=64)["threads"] == 3  # type: ignore


def test_resolved_settings_are_what_x264_writes_in_its_sei(tmp_path: Path) -> None:
    """The model's reading of preset, tune and the pipeline's options against x264's own SEI options string."""
    cases = [({"crf": "18", "preset": "medium"}, 0),
             ({"crf": "18", "preset": "veryfast", "x264-params": "bframes=2:ref=2"}, 0),
             ({"crf": "18", "preset": "slow", "rc-lookahead": "17"}, 3),
             ({"crf": "18", "preset": "medium", "tune": "animation"}, 0)]
    for options, threads in cases:
        cc = av.CodecContext.create("libx264", "w")
        cc.width, cc.height, cc.pix_fmt = 640, 368, "yuv420p"
        cc.framerate, cc.time_base = Fraction(25), Fraction(1, 25)
        if threads:
            cc.thread_count = threads
        cc.options = options
        data = b"".join(bytes(p) for p in cc.encode(av.VideoFrame(640, 368, "yuv420p")))
        data += b"".join(bytes(p) for p in cc.encode(None))
        sei = dict(kv.split("=", 1) for kv in re.search(rb"options: ([ -~]*)", data).group(1).decode().split()
                   if "=" in kv)
        want = resolved_settings("libx264", options["preset"], 640, 368, threads=threads, options=options)
        assert want is not None
        got = {"rc-lookahead": int(sei["rc_lookahead"]), "bframes": int(sei["bframes"]), "ref": int(sei["ref"]),
               "threads": int(sei["threads"])}
        assert got == want, options


# --- the plan ---------------------------------------------------------------------------------------------------


def test_within_the_budget_nothing_changes() -> None:
    plan = _plan(1920, 1080, 2048)
    assert plan is not None and not plan.changes and plan.fits
    assert plan.options == MEDIUM
    assert _plan(7680, 4320, None) is None and _plan(7680, 4320, 0) is None  # no cap


def test_over_the_budget_the_lookahead_is_lowered_to_the_largest_that_fits() -> None:
    plan = _plan(7680, 4320, 2048)
    assert plan is not None and plan.fits
    assert plan.estimate_mb > 5000 and plan.fitted_mb <= 2048
    was, now = plan.changes["rc-lookahead"]
    assert was == 40 and 3 <= now < 40
    assert list(plan.changes) == ["rc-lookahead"]  # the lookahead alone was enough
    assert plan.options == {**MEDIUM, "x264-params": f"rc-lookahead={now}"}
    one_more = _est(7680, 4320, options={**MEDIUM, "x264-params": f"rc-lookahead={now + 1}"})
    assert one_more > 2048  # the largest that fits


def test_threads_are_lowered_once_the_lookahead_is_at_its_floor() -> None:
    plan = _plan(7680, 4320, 2048, cpus=64)  # 64 slice threads, each a bitstream buffer of ~2.2 bytes a pixel
    assert plan is not None and plan.fits
    assert plan.changes["rc-lookahead"] == (40, 3)  # x264's B-frame delay: a shorter lookahead frees nothing
    t_was, t_now = plan.changes["threads"]
    assert t_was == 64 and 1 <= t_now < 64
    assert "bframes" not in plan.changes


def test_bframes_then_references_last_and_a_budget_nothing_fits_says_so() -> None:
    plan = _plan(15360, 8640, 2048, cpus=64)
    assert plan is not None and not plan.fits
    assert plan.changes["bframes"] == (3, 0) and plan.changes["ref"] == (3, 1)
    assert plan.options["x264-params"] == "rc-lookahead=1:threads=1:bframes=0:ref=1"
    assert "over the 2048 MB" in plan.notice()
    fewer = _plan(15360, 8640, 4096, cpus=64)  # references go only as far as the budget needs
    assert fewer is not None and fewer.fits and fewer.changes["ref"][1] in (1, 2)
    assert fewer.fitted_mb <= 4096


def test_a_key_the_pipeline_set_is_kept() -> None:
    user = {**MEDIUM, "x264-params": "rc-lookahead=30:aq-mode=2"}
    plan = _plan(7680, 4320, 2048, options=user)
    assert plan is not None and "rc-lookahead" not in plan.changes
    assert plan.changes  # threads, then B-frames instead
    params = parse_params(plan.options["x264-params"])
    assert params["rc-lookahead"] == "30" and params["aq-mode"] == "2"
    assert plan.options["x264-params"].startswith("rc-lookahead=30:aq-mode=2:")
    # libavcodec's own rc-lookahead option, and encode.threads, count as set too
    plan = _plan(7680, 4320, 2048, options={**MEDIUM, "rc-lookahead": "20"}, threads=2)
    assert plan is not None and set(plan.changes) == {"bframes", "ref"}  # neither lookahead nor threads
    assert plan.options["rc-lookahead"] == "20"


def test_x265_gets_lookahead_and_frame_threads_in_its_params() -> None:
    options = {"crf": "18", "preset": "medium", "x265-params": "log-level=error"}
    plan = _plan(7680, 4320, 4096, options=options, cpus=64, codec="libx265")
    assert plan is not None and plan.changes
    params = parse_params(plan.options["x265-params"])
    assert params["log-level"] == "error"
    assert int(params["rc-lookahead"]) > 4  # x265 needs a lookahead longer than its 4 B-frames
    assert _plan(1920, 1080, 2048, options=options, codec="libx265").changes == {}  # type: ignore[union-attr]


@pytest.mark.parametrize("codec", ["libvpx-vp9", "libsvtav1", "mpeg2video", "libaom-av1"])
def test_other_encoders_are_left_as_they_are(codec: str) -> None:
    assert _plan(7680, 4320, 64, options={"crf": "18", "preset": "medium"}, codec=codec) is None


def test_the_plan_is_the_same_every_time() -> None:
    a, b = _plan(7680, 4320, 2048), _plan(7680, 4320, 2048)
    assert a is not None and b is not None and a.options == b.options and a.changes == b.changes


# --- the config field -------------------------------------------------------------------------------------------


def test_the_field_validates(tmp_path: Path) -> None:
    for ok in (None, 0, 64, 100000):
        check_config(EncodeConfig(max_megabytes=ok), "p.encode")
    with pytest.raises(ConfigError, match=r"p\.encode\.max_megabytes: -1 is out of range"):
        check_config(EncodeConfig(max_megabytes=-1), "p.encode")
    with pytest.raises(ConfigError, match="max_megabytes"):
        check_config(EncodeConfig(max_megabytes="2 GB"), "p.encode")  # type: ignore[arg-type]
    path = tmp_path / "p.yaml"
    path.write_text("name: p\nstages: []\nencode: {max_megabytes: -5}\n")
    with pytest.raises(ConfigError, match="max_megabytes"):
        load_pipeline(str(path))
    assert load_pipeline("default").encode.max_megabytes == 4096


# --- a real run -------------------------------------------------------------------------------------------------


def _pipeline(tmp_path: Path, budget: int | None, chunk_seconds: float = 0.0) -> Path:
    path = tmp_path / "p.yaml"
    budget_text = "null" if budget is None else str(budget)
    path.write_text(
        "name: p\nstages:\n  - {name: degrade-analysis, type: degrade-analysis}\n"
        "  - {name: sr, type: sr, params: {model: bicubic, scale: 2}}\n"
        f"encode: {{preset: medium, max_megabytes: {budget_text}, chunk_seconds: {chunk_seconds}}}\n")
    return path


def _sei_lookaheads(path: Path) -> list[int]:
    with av.open(str(path)) as c:
        data = b"".join(bytes(p) for p in c.demux(video=0))
    return [int(m) for m in re.findall(rb"rc_lookahead=(\d+)", data)]


@pytest.mark.parametrize("chunk_seconds", [0.0, 0.8], ids=["whole", "chunked"])
def test_a_real_encode_over_a_small_budget_uses_the_reduced_settings(tmp_path: Path, chunk_seconds: float) -> None:
    src = scene_clip(tmp_path / "in.mp4", 36, cuts=[12, 24], width=320, height=180)  # 640x360 out, 3 scenes
    notices: list[str] = []
    dst = tmp_path / "out.mp4"
    # x264 medium at 640x360 measured 59 MiB (estimated 53); a 32 MiB budget needs a shorter lookahead
    report = vidsr.enhance(src, dst, pipeline=str(_pipeline(tmp_path, 32, chunk_seconds)), warn=notices.append)
    memory = report["output_video"]["encoder_memory"]
    was, now = memory["changed"]["rc-lookahead"]
    assert was == 40 and now < 40 and memory["budget_mb"] == 32 and memory["applied_estimate_mb"] <= 32
    assert memory["estimate_mb"] > 32
    assert report["output_video"]["encoder_restarts"] >= 2
    said = [n for n in notices if n.startswith("encoder memory:")]
    assert len(said) == 1 and f"rc-lookahead 40 -> {now}" in said[0] and "640x360" in said[0]
    # every encoder of the output (the stream's and each fresh one at a cut, every chunk's) ran with it
    lookaheads = _sei_lookaheads(dst)
    assert len(lookaheads) >= 3 and set(lookaheads) == {now}
    with av.open(str(dst)) as c:
        frames = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
    assert len(frames) == 36 and frames[0].shape == (360, 640, 3) and np.mean(frames[-1]) > 10


def test_within_the_budget_the_bytes_are_the_same_as_without_one(tmp_path: Path) -> None:
    src = scene_clip(tmp_path / "in.mp4", 24, cuts=[12])
    digests = []
    for budget in (None, 2048):
        dst = tmp_path / f"out-{budget}.mp4"
        report = vidsr.enhance(src, dst, pipeline=str(_pipeline(tmp_path, budget)), overwrite=True)
        memory = report["output_video"]["encoder_memory"]
        assert (memory is None) if budget is None else (memory["changed"] == {})
        digests.append(hashlib.sha256(dst.read_bytes()).hexdigest())
        assert _sei_lookaheads(dst) and set(_sei_lookaheads(dst)) == {40}
    assert digests[0] == digests[1]
