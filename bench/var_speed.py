"""Arithmetic and speed of the served one-step student (``var``) against its teacher (``var-teacher``).

FLOPs per 64 x 64 HQ window of the served path, attention included, split into attention / linear /
conv and counted three ways that must agree (``count_window``): by hand (closed form from the config
and the window's layout, convolutions from hooks), and twice with ``torch.utils.flop_counter`` -- once
with torch's SDPA formula registered for the CPU attention kernel, once with attention swapped for
explicit matrix products. The plain counter records 0 for CPU attention; the old "equal FLOPs" figure
(1.68 vs 1.72 GFLOP) was that zero. Per frame: windows of the served tiling x GFLOP, at 480p -> 960p
and at 1080p output (x2 and x4), and an *estimate* of 1080p fps on one H100 in bf16 from those FLOPs
at an assumed sustained share of its peak (``--h100-fraction``; the result says why that share).

Seconds: both models run on a real photograph (a crop of scikit-image's astronaut, degraded x2
medium) through their SR wrappers (64 x 64 HQ windows, batched), side by side; seconds per 480p frame
are derived from seconds per window and the 627 windows of an 854 x 480 frame plus the colour fix's
own measurement (a whole 480p frame takes minutes on this CPU). Also: the student with its low-rank
adapters kept apart (as trained) against the served one with them folded in, and the student's steps
one by one.

    python bench/var_speed.py                       # shipped weights, 1 and 2 threads, 128x128 crop
    nice -n 10 python bench/var_speed.py --threads 1 --repeats 2 --lq-size 64 --note "loaded"
    python bench/var_speed.py --flops-only          # counts and the H100 estimate, in seconds
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from vidsr.data import eval_images
from vidsr.degrade import degrade
from vidsr.models.quant import scale_hws
from vidsr.models.var import DEG_DIM, VARConfig
from vidsr.models.var_student import VARStudent, load_student, split_tokens
from vidsr.sr.colorfix import wavelet_colour_fix
from vidsr.sr.tiling import TileGrid, tile_starts
from vidsr.sr.var_sr import STUDENT_PATH, TEACHER_PATH, WINDOW, VarSR, _Windows
from vidsr.train.evaluate import to_tensor

CPU = torch.device("cpu")


def windows_per_frame(model: VarSR, h: int, w: int) -> int:
    tile = model.window - 2 * model.margin
    return len(tile_starts(h, tile, model.margin)) * len(tile_starts(w, tile, model.margin))


def best_time(fn, repeats: int) -> float:
    """Best of ``repeats`` in seconds of this process's CPU time (``--clock cpu``) or of wall time."""
    clock = time.process_time if CLOCK == "cpu" else time.perf_counter
    times = []
    for _ in range(repeats):
        t = clock()
        fn()
        times.append(clock() - t)
    return min(times)


CLOCK = "wall"  # set by --clock: on a loaded machine with 1 thread, CPU time is what the work costs


@torch.inference_mode()
def profile_student(model: VarSR, lq: torch.Tensor, repeats: int) -> dict[str, float]:
    """Milliseconds per 64 x 64 window of each step of the student, on one batch of windows."""
    s = model.scale
    n = model.window
    crops = torch.cat([lq[:, :, y : y + n, x : x + n] for y in range(0, lq.shape[-2] - n + 1, n)
                       for x in range(0, lq.shape[-1] - n + 1, n)])
    N = crops.shape[0]
    vq, lqe, st = model.vq, model.lq, model.model
    quant = vq.quantize
    parts: dict[str, float] = {}

    def timed(name: str, fn):
        parts[name] = 1000 * best_time(fn, repeats) / N
        return fn()

    up = timed("bicubic up", lambda: F.interpolate(crops, scale_factor=s, mode="bicubic", align_corners=False))
    feat = timed("LQ encoder", lambda: lqe.frame_to_prefix_features(up))
    lat = lqe.encoder.conv_out(feat)
    lq_idx = timed("LQ tokens (quantizer walk)", lambda: quant.f_to_tokens(lat))
    pyr = timed("LQ pyramid inputs", lambda: st.pyramid_inputs(quant, lq_idx))
    lq_hat = quant.tokens_to_fhat(lq_idx)
    logits = timed("transformer (one pass)", lambda: st(feat, pyr, lq_hat, None, tuple(up.shape[-2:])))
    idx = split_tokens(logits.argmax(-1), [tuple(i.shape[-2:]) for i in lq_idx])
    fhat = timed("tokens -> latent", lambda: quant.tokens_to_fhat(idx))
    timed("refiner", lambda: st.refiner(feat, fhat))
    timed("decoder", lambda: vq.fhat_to_frame(fhat))
    return {k: round(v, 2) for k, v in parts.items()}


# ----- arithmetic per window, counted three ways -----
#
# FLOPs are 2 per multiply-add of the matrix products (linear layers, attention's Q K^T and A V, the
# codebook distance products) and of the convolutions; softmax, norms, activations, RoPE and
# interpolation are not counted (a few % at most). torch's ``FlopCounterMode`` has no formula for
# the CPU attention kernel (``aten._scaled_dot_product_flash_attention_for_cpu``) and silently counts
# it as 0: that is how the earlier "equal FLOPs" (1.68 vs 1.72 GFLOP) came about.

PARTS = ("attention", "linear", "conv")


def attention_flops(cfg: VARConfig, h: int, w: int, one_pass: bool, batch: int = 1) -> int:
    """Closed form of Q K^T plus A V over all layers for an ``h x w`` latent: ``4 * dim`` FLOPs per
    (query, key) pair per layer (every head's ``2 * head_dim`` per product, two products).

    ``one_pass`` (the student): all ``n + sum(l_k)`` positions attend to all of them (no mask).
    Otherwise (the teacher's KV-cached generation): the prefix's ``n`` positions attend to themselves,
    then scale k's ``l_k`` new positions attend to everything cached so far plus themselves.
    ``batch`` 2 for the teacher with classifier-free guidance (both conditions run)."""
    n = h * w
    sizes = [gh * gw for gh, gw in scale_hws(h, w, cfg.schedule)]
    if one_pass:
        pairs = (n + sum(sizes)) ** 2
    else:
        pairs, seen = n * n, n
        for size in sizes:
            seen += size
            pairs += size * seen
    return 4 * pairs * cfg.dim * cfg.depth * batch


def transformer_linear_flops(cfg: VARConfig, h: int, w: int, one_pass: bool, with_deg: bool = True) -> int:
    """Closed form of every matrix product of the transformer other than attention, one window (no CFG):
    input embeddings, conditioning, per block qkv / proj / MLP and the AdaLN vector (once per pass),
    the head (AdaLN once per scale pass), the codebook logits and the nearest-code prior."""
    D, C, V, P = cfg.dim, cfg.code_dim, cfg.vocab, cfg.prefix_dim
    hidden = int(D * cfg.mlp_ratio)
    n = h * w
    m = sum(gh * gw for gh, gw in scale_hws(h, w, cfg.schedule))  # scale positions
    passes = 1 if one_pass else 1 + cfg.K  # the teacher: the prefix pass, then one per scale
    head_passes = 1 if one_pass else cfg.K
    per_token_layer = 2 * (3 * D * D + D * D + 2 * D * hidden)
    f = per_token_layer * (n + m) * cfg.depth
    f += passes * cfg.depth * 2 * D * 6 * D  # AdaLN scale/shift/gates of every block, per pass
    f += head_passes * 2 * D * 2 * D + m * 2 * D * V  # head AdaLN and logits
    f += m * 2 * C * V  # nearest-code prior (d @ codebook^T)
    f += n * 2 * P * D + m * 2 * 2 * C * D  # prefix embedding; word + LQ-pyramid embeddings
    f += 2 * (32 * D + D * D) + (2 * (DEG_DIM * D + D * D) if with_deg else 0)  # resolution, degradation
    return f


def quantizer_flops(cfg: VARConfig, h: int, w: int) -> int:
    """The LQ quantizer walk's nearest-code products: every scale cell against the whole codebook."""
    m = sum(gh * gw for gh, gw in scale_hws(h, w, cfg.schedule))
    return m * 2 * cfg.code_dim * cfg.vocab


def _conv_hook_flops(model: VarSR, fn) -> int:
    """Convolution FLOPs of ``fn()`` from the shapes every ``nn.Conv2d`` actually sees (forward hooks)."""
    total = [0]

    def hook(mod: torch.nn.Conv2d, _inp, out: torch.Tensor) -> None:
        kh, kw = mod.kernel_size
        total[0] += 2 * out.numel() * (mod.in_channels // mod.groups) * kh * kw

    mods = [m for part in (model.vq, model.lq, model.model) for m in part.modules() if isinstance(m, torch.nn.Conv2d)]
    handles = [m.register_forward_hook(hook) for m in mods]
    try:
        fn()
    finally:
        for hd in handles:
            hd.remove()
    return total[0]


def _cpu_sdpa_flop(query, key, value, *args, out_shape=None, **kwargs) -> int:
    """torch's own SDPA formula, registered for the CPU kernel the counter has no entry for."""
    from torch.utils.flop_counter import sdpa_flop_count

    return sdpa_flop_count(query, key, value)


def _addmm_inplace_flop(self_shape, mat1, mat2, *args, out_shape=None, **kwargs) -> int:
    """``addmm_`` (in place; the quantizer's codebook distances): 2 FLOPs per multiply-add of mat1 @ mat2."""
    return 2 * mat1[0] * mat1[1] * mat2[1]


class MathSDPA(torch.nn.Module):
    """Attention spelled out as matrix products, so that ``FlopCounterMode`` sees (and attributes) them."""

    def forward(self, q, k, v, attn_mask=None, dropout_p=0.0, is_causal=False, scale=None, **kwargs):
        assert dropout_p == 0.0 and not is_causal
        s = (q @ k.transpose(-2, -1)) * (scale if scale is not None else q.shape[-1] ** -0.5)
        if attn_mask is not None:
            s = s.masked_fill(~attn_mask, float("-inf")) if attn_mask.dtype == torch.bool else s + attn_mask
        return s.softmax(-1) @ v


def _gflop(parts: dict[str, int]) -> dict[str, float]:
    out = {k: round(v / 1e9, 4) for k, v in parts.items()}
    out["total"] = round(sum(parts.values()) / 1e9, 4)
    out["attention_share"] = round(parts["attention"] / sum(parts.values()), 3)
    return out


def counter_parts(fn, route: str) -> dict[str, int]:
    """FLOPs of ``fn()`` by ``torch.utils.flop_counter``, split into attention / linear / conv.

    ``route``: ``"sdpa_registered"`` (torch's SDPA formula registered for the CPU attention kernel),
    ``"math_attention"`` (attention swapped for :class:`MathSDPA`'s explicit products, attributed to it
    by the counter's module tracking) or ``"plain"`` (the counter as it comes: CPU attention counts 0).
    Both fixed routes also register the in-place ``addmm_`` (the quantizer's codebook distances), which
    the counter has no entry for either. Every other matrix product is "linear"."""
    from unittest import mock

    from torch.utils.flop_counter import FlopCounterMode

    mapping = {} if route == "plain" else {torch.ops.aten.addmm_: _addmm_inplace_flop}
    if route == "sdpa_registered":
        mapping[torch.ops.aten._scaled_dot_product_flash_attention_for_cpu] = _cpu_sdpa_flop
    swap = (mock.patch.object(F, "scaled_dot_product_attention", MathSDPA()) if route == "math_attention"
            else contextlib.nullcontext())
    with swap, FlopCounterMode(display=False, custom_mapping=mapping) as c:
        fn()
    counts = c.get_flop_counts()
    glob = {str(k): v for k, v in counts["Global"].items()}
    if route == "math_attention":
        attn = sum(sum(v.values()) for k, v in counts.items() if k.split(".")[-1] == "MathSDPA")
    else:
        attn = sum(v for k, v in glob.items() if "scaled_dot_product" in k)
    conv = sum(v for k, v in glob.items() if "convolution" in k)
    return {"attention": attn, "linear": c.get_total_flops() - attn - conv, "conv": conv}


@torch.inference_mode()
def count_window(model: VarSR, lq_window: torch.Tensor) -> dict[str, dict[str, float]]:
    """GFLOP of one served window (``_Windows.run``: bicubic up, LQ encoder and quantizer walk,
    transformer, refiner for the student, decoder), split into attention / linear / conv, three ways:

    - ``hand``: attention and the transformer's linear layers in closed form from the config and the
      window's layout (:func:`attention_flops`, :func:`transformer_linear_flops`), the quantizer walk's
      codebook products in closed form, convolutions from forward hooks on every ``Conv2d``;
    - ``counter_sdpa_registered``: ``torch.utils.flop_counter`` with torch's own SDPA formula
      registered for the CPU attention kernel (actual shapes at run time, KV cache included);
    - ``counter_math_attention``: the counter with attention swapped for explicit matrix products
      (:class:`MathSDPA`), so that it counts them with its own matmul formulas.

    The first of these is also the GFLOP the result reports."""
    inner = _Windows(model, model.margin)
    B = lq_window.shape[0]
    deg = torch.zeros(B, 4)
    run = lambda: inner.run(lq_window, deg)  # noqa: E731
    student = isinstance(model.model, VARStudent)
    cfg = model.model.cfg.teacher if student else model.model.cfg
    lat = WINDOW // cfg.downsample
    cfg_batch = 2 if not student and model.cfg_scale != 1.0 else 1  # CFG runs both conditions
    transformer = {"attention": attention_flops(cfg, lat, lat, one_pass=student, batch=cfg_batch),
                   "linear": transformer_linear_flops(cfg, lat, lat, one_pass=student) * cfg_batch}
    hand = {"attention": B * transformer["attention"],
            "linear": B * (transformer["linear"] + quantizer_flops(cfg, lat, lat)),
            "conv": _conv_hook_flops(model, run)}
    out = {"hand": hand,
           "counter_sdpa_registered": counter_parts(run, "sdpa_registered"),
           "counter_math_attention": counter_parts(run, "math_attention")}
    res: dict = {k: _gflop({p: v[p] / B for p in PARTS}) for k, v in out.items()}
    res["counter_unpatched_total"] = round(sum(counter_parts(run, "plain").values()) / B / 1e9, 4)
    res["transformer_only_hand"] = _gflop({**transformer, "conv": 0})
    return res


def routes_agree(counts: dict, tol: float = 0.03) -> bool:
    """Every part and the total of the two counter routes within ``tol`` of the hand count."""
    hand = counts["hand"]
    return all(abs(counts[r][p] - hand[p]) <= tol * max(hand[p], 1e-9)
               for r in ("counter_sdpa_registered", "counter_math_attention") for p in (*PARTS, "total"))


def output_windows(scale: int, H_out: int, W_out: int) -> int:
    """64 x 64 windows the served tiling (``upscale_tiled``'s grid) cuts from an ``H_out x W_out``
    output frame's LQ input at ``scale``."""
    window = WINDOW // scale
    margin = max(1, window // 16)
    grid = TileGrid.make(H_out // scale, W_out // scale, window - 2 * margin, margin, margin)
    return len(grid.boxes)


def h100_estimate(gflop_frame: dict[str, float], fraction: float, band: tuple[float, float]) -> dict:
    """fps at 1080p output on one H100 SXM in bf16 if ``fraction`` of its dense peak were sustained."""
    peak = H100_BF16_DENSE_TFLOPS
    fps = lambda f, g: round(f * peak * 1e3 / g, 1)  # noqa: E731
    return {
        "assumed_peak_tflops_bf16_dense": peak,
        "assumed_sustained_fraction": fraction,
        "assumed_sustained_tflops": round(fraction * peak),
        "fps": {k: fps(fraction, g) for k, g in gflop_frame.items()},
        "fps_band": {k: [fps(band[0], g), fps(band[1], g)] for k, g in gflop_frame.items()},
        "band_fractions": list(band),
        "why": H100_WHY,
        "kind": "estimate from counted FLOPs, not a measurement",
    }


H100_BF16_DENSE_TFLOPS = 989.0
H100_WHY = (
    "15% of the 989 TFLOP/s dense bf16 peak (band 10-30%): a 128-wide, 6-deep transformer on 936-token "
    "windows is far from the shapes that reach 40-60% on an H100. 62% of the student's FLOPs are attention "
    "with head dim 32 (flash kernels reach a fraction of what they do at head dim 128, since each K/V tile "
    "load feeds a 32-deep product); the linear layers are 128 -> 384 / 256 / 128 products whose arithmetic "
    "intensity (~100 FLOP per byte at bf16) is below the H100's ~300 FLOP/byte ridge, so they are bound by "
    "memory; and the norms, AdaLN, RoPE, GELU, the quantizer walk and the convolutional encoder/decoder move "
    "bytes without counted FLOPs. The teacher's 11 KV-cached steps add launch gaps per batch on top."
)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--student", type=Path, default=STUDENT_PATH)
    ap.add_argument("--teacher", type=Path, default=TEACHER_PATH)
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--lq-size", type=int, default=128, help="side of the LQ crop timed (128: 25 windows, 64: 9)")
    ap.add_argument("--skip-unmerged", action="store_true", help="do not time the student with adapters apart")
    ap.add_argument("--skip-profile", action="store_true", help="do not time the student's steps one by one")
    ap.add_argument("--flops-only", action="store_true", help="count FLOPs and estimate; time nothing")
    ap.add_argument("--h100-fraction", type=float, default=0.15, help="sustained share of the bf16 dense peak")
    ap.add_argument("--clock", choices=("wall", "cpu"), default="wall",
                    help="cpu: process CPU seconds (use with --threads 1 on a loaded machine)")
    ap.add_argument("--note", default="", help="machine state to record (e.g. 'loaded: two trainings')")
    ap.add_argument("--out", type=Path, default=Path("bench/results_var_speed.json"))
    args = ap.parse_args()
    global CLOCK
    CLOCK = args.clock

    img = dict(eval_images())["skimage__astronaut"]
    hq = to_tensor(img[96:352, 128:384])  # 256 x 256 HQ -> 128 x 128 LQ at x2
    lq, _ = degrade(hq, 2, "medium", seed=0)
    lq = lq[..., : args.lq_size, : args.lq_size]
    student = VarSR(args.student, "var", 2, CPU)
    teacher = VarSR(args.teacher, "var-teacher", 2, CPU)
    load_start = os.getloadavg()

    # 1. arithmetic per 64 x 64 window, and per frame
    torch.set_num_threads(1)
    win = lq[:1, :, : student.window, : student.window]
    flops = {"student (var, one pass)": count_window(student, win),
             "teacher (var-teacher, KV-cached, cfg 1)": count_window(teacher, win)}
    for name, c in flops.items():
        print(json.dumps({name: c}), flush=True)
    g_s, g_t = (c["hand"]["total"] for c in flops.values())
    agree = all(routes_agree(c) for c in flops.values())
    frames = {"480p -> 960p (x2)": (2, 960, 1708), "1080p out, x2 (960x540 in)": (2, 1080, 1920),
              "1080p out, x4 (480x270 in)": (4, 1080, 1920)}
    per_frame = {}
    for label, (sc, H, W) in frames.items():
        n = output_windows(sc, H, W)
        per_frame[label] = {"windows": n, "student_gflop": round(n * g_s, 1), "teacher_gflop": round(n * g_t, 1)}
    h100 = {
        "student": h100_estimate({k: v["student_gflop"] for k, v in per_frame.items() if "1080p" in k},
                                 args.h100_fraction, (0.10, 0.30)),
        "teacher": h100_estimate({k: v["teacher_gflop"] for k, v in per_frame.items() if "1080p" in k},
                                 args.h100_fraction, (0.10, 0.30)),
    }
    print(json.dumps({"per_frame": per_frame, "routes_agree_within_3pct": agree}), flush=True)
    print(json.dumps({"h100_estimate_fps": {k: v["fps"] for k, v in h100.items()}}), flush=True)

    # 2. seconds, side by side
    rows, profile = [], None
    n_win = windows_per_frame(student, *lq.shape[-2:])
    n_480 = per_frame["480p -> 960p (x2)"]["windows"]
    if not args.flops_only:
        unmerged = None
        if not args.skip_unmerged:
            unmerged = VarSR(args.student, "var", 2, CPU)
            unmerged.model = load_student(args.student, CPU, merge=False)  # the adapters as trained, kept apart
        big = torch.rand(1, 3, 480, 854)
        for threads in [int(t) for t in args.threads.split(",")]:
            torch.set_num_threads(threads)
            student(lq[..., :32, :32])  # warm-up (weights, allocator)
            t_student = best_time(lambda: student(lq), args.repeats)
            t_teacher = best_time(lambda: teacher(lq), args.repeats)
            t_fix = best_time(lambda: wavelet_colour_fix(F.interpolate(big, scale_factor=2, mode="bicubic"), big), 2)
            row = {
                "threads": threads,
                "input": f"{lq.shape[-1]}x{lq.shape[-2]} LQ, x2, {n_win} windows",
                "student_s": round(t_student, 3),
                "teacher_s": round(t_teacher, 3),
                "student_speedup_vs_teacher": round(t_teacher / t_student, 2),
                "student_s_per_window": round(t_student / n_win, 4),
                "teacher_s_per_window": round(t_teacher / n_win, 4),
                "student_gflops_achieved": round(g_s * n_win / t_student, 2),
                "teacher_gflops_achieved": round(g_t * n_win / t_teacher, 2),
                "windows_per_480p_frame": n_480,
                "student_s_per_480p_frame_derived": round(t_student / n_win * n_480 + t_fix, 1),
                "teacher_s_per_480p_frame_derived": round(t_teacher / n_win * n_480 + t_fix, 1),
            }
            if unmerged is not None:
                t_unmerged = best_time(lambda: unmerged(lq), args.repeats)
                row["student_adapters_unmerged_s"] = round(t_unmerged, 3)
                row["merge_speedup"] = round(t_unmerged / t_student, 2)
            rows.append(row)
            print(json.dumps(row), flush=True)
        if not args.skip_profile:
            torch.set_num_threads(1)
            profile = profile_student(student, lq, args.repeats)
            print(json.dumps({"profile_ms_per_window_1_thread": profile}), flush=True)
    load_end = os.getloadavg()

    flags = [f"--{k.replace('_', '-')} {v}" for k, v in vars(args).items()
             if k in ("threads", "repeats", "lq_size", "clock") and v != ap.get_default(k)]
    flags += [f"--{k.replace('_', '-')}" for k in ("skip_unmerged", "skip_profile", "flops_only") if getattr(args, k)]
    result = {
        "command": " ".join(["python bench/var_speed.py", *flags]),
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs",
        "note": args.note,
        "clock": f"{args.clock} seconds, best of {args.repeats}",
        "load_average_1min_start_end": [round(load_start[0], 1), round(load_end[0], 1)],
        "date_utc": time.strftime("%Y-%m-%d %H:%M", time.gmtime()),
        "flops_gflop_per_window": flops,
        "flop_convention": "2 FLOPs per multiply-add of matrix products and convolutions; softmax, norms, "
                           "activations, RoPE and interpolation not counted; one 64x64 HQ window (16x16 latent, "
                           "256 prefix + 680 scale tokens = 936), batch 1, the served path (_Windows.run)",
        "routes_agree_within_3pct": agree,
        "teacher_over_student_flops": round(g_t / g_s, 3),
        "per_frame": per_frame,
        "h100_bf16_1080p_estimate": h100,
        "rows": rows,
        "profile_ms_per_window_1_thread": profile,
        "goal": "student >= 3x faster than the teacher on this CPU (issue 18)",
        "met": {"3x": bool(rows) and all(r["student_speedup_vs_teacher"] >= 3 for r in rows)},
    }
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
