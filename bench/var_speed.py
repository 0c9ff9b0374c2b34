"""Arithmetic and speed of the VAR detail stage: the one-step student (``var``) against its guided,
KV-cached teacher (``var-teacher``), per 64 x 64 window of the restored frame.

FLOPs (2 per multiply-add of every matrix product and convolution; softmax, norms, activations, RoPE and
interpolation not counted) are counted two ways that must agree: by hand (closed form of the transformer
from the config and the window's layout, the quantizer walk's codebook products, convolutions from hooks
on every ``Conv2d``), and with ``torch.utils.flop_counter`` with torch's SDPA formula registered for the
CPU attention kernel (the counter as it comes records 0 for it) and for the quantizer's in-place
``addmm_``. Per frame: windows of the served grid x GFLOP plus the base CNN, at 480p -> 960p and at 1080p
output, and an *estimate* of 1080p fps on one H100 in bf16 at an assumed sustained share of its peak.

Seconds: teacher and student run side by side on the same base windows (crops of a held-out
photograph restored by the CNN), best of ``--repeats``, on this process's CPU clock (``--clock cpu``)
or wall clock; seconds per 480p frame are derived from seconds per window and the window count.

    python bench/var_speed.py                      # writes bench/results_var_speed.json
    python bench/var_speed.py --flops-only
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from vidsr.models.detail import DetailConfig, DetailStudent
from vidsr.models.quant import scale_hws
from vidsr.sr.tiling import tile_starts
from vidsr.sr.var_sr import STUDENT_PATH, WINDOW, VarSR, window_changes

CPU = torch.device("cpu")


def attention_flops(cfg: DetailConfig, h: int, w: int, one_pass: bool, batch: int) -> int:
    """Q K^T plus A V over all layers: ``4 * dim`` FLOPs per (query, key) pair per layer.
    ``one_pass`` (the student, ``student_depth`` blocks): the ``h x w`` positions attend to each other.
    Otherwise the teacher's KV-cached steps: predicted scale p's positions attend to every position
    generated so far."""
    if one_pass:
        pairs = (h * w) ** 2
    else:
        pairs, seen = 0, 0
        for gh, gw in scale_hws(h, w, cfg.schedule)[-cfg.predicted :]:
            seen += gh * gw
            pairs += gh * gw * seen
    return 4 * pairs * cfg.dim * _depth(cfg, one_pass) * batch


def _depth(cfg: DetailConfig, one_pass: bool) -> int:
    return cfg.student_depth if one_pass else cfg.depth


def linear_flops(cfg: DetailConfig, h: int, w: int, one_pass: bool, batch: int) -> int:
    """Every other matrix product of the transformer: embeddings, blocks, AdaLN vectors, head, prior."""
    D, C, V, Fd = cfg.dim, cfg.code_dim, cfg.vocab, cfg.feat_dim
    hidden = int(D * cfg.mlp_ratio)
    out_cells = sum(gh * gw for gh, gw in scale_hws(h, w, cfg.schedule)[-cfg.predicted :])
    in_cells = h * w if one_pass else out_cells
    passes = 1 if one_pass else cfg.predicted
    embed = in_cells * 2 * (2 * C * D + Fd * D)  # word, base-latent and prefix embeddings (once: the
    # guided teacher embeds a step's positions once and runs them under both quality labels)
    depth = _depth(cfg, one_pass)
    f = in_cells * depth * 2 * (4 * D * D + 2 * D * hidden)  # qkv, proj, MLP
    f += passes * depth * 2 * D * 6 * D  # AdaLN of every block, once per pass
    f += cfg.predicted * 2 * D * 2 * D  # head AdaLN, once per predicted scale
    f += out_cells * 2 * D * V + out_cells * 2 * C * V  # logits and the nearest-code prior
    expected = out_cells * 2 * V * C  # the expected latent: probabilities x codebook (once, after guidance)
    return f * batch + embed + expected


def quantizer_flops(cfg: DetailConfig, h: int, w: int) -> int:
    """The base window's quantizer walk: every cell of every scale against the whole codebook."""
    return sum(gh * gw for gh, gw in scale_hws(h, w, cfg.schedule)) * 2 * cfg.code_dim * cfg.vocab


def conv_flops(modules: list[torch.nn.Module], fn) -> int:
    total = [0]

    def hook(mod: torch.nn.Conv2d, _inp, out: torch.Tensor) -> None:
        kh, kw = mod.kernel_size
        total[0] += 2 * out.numel() * (mod.in_channels // mod.groups) * kh * kw

    convs = [m for part in modules for m in part.modules() if isinstance(m, torch.nn.Conv2d)]
    handles = [m.register_forward_hook(hook) for m in convs]
    try:
        fn()
    finally:
        for hd in handles:
            hd.remove()
    return total[0]


def _cpu_sdpa_flop(query, key, value, *args, out_shape=None, **kwargs) -> int:
    from torch.utils.flop_counter import sdpa_flop_count

    return sdpa_flop_count(query, key, value)


def _addmm_inplace_flop(self_shape, mat1, mat2, *args, out_shape=None, **kwargs) -> int:
    return 2 * mat1[0] * mat1[1] * mat2[1]


def counted_flops(fn) -> int:
    """``fn()``'s FLOPs by torch's counter, with the CPU attention kernel and ``addmm_`` registered."""
    from torch.utils.flop_counter import FlopCounterMode

    aten = torch.ops.aten
    custom = {aten._scaled_dot_product_flash_attention_for_cpu: _cpu_sdpa_flop, aten.addmm_: _addmm_inplace_flop}
    with FlopCounterMode(display=False, custom_mapping=custom) as counter:
        fn()
    return counter.get_total_flops()


def window_flops(model: VarSR, base_N: torch.Tensor) -> dict[str, dict[str, float]]:
    """GFLOP per window of the student and the teacher path, by hand and by the counter."""
    vq = model.vq
    cfg = model.predictor.cfg
    N = base_N.shape[0]
    h, w = base_N.shape[-2] // vq.cfg.downsample, base_N.shape[-1] // vq.cfg.downsample
    out = {}
    for name, (net, dec) in paths(model).items():
        one = isinstance(net, DetailStudent)
        batch = 1 if one else (2 if model.cfg_scale != 1.0 else 1)

        def run(net=net, dec=dec) -> None:
            window_changes(vq, net, dec, base_N, model.cfg_scale)

        conv = conv_flops([vq, dec, net], run) / N
        hand = {"attention": attention_flops(cfg, h, w, one, batch), "linear": linear_flops(cfg, h, w, one, batch),
                "quantizer": quantizer_flops(cfg, h, w), "conv": conv}
        total = sum(hand.values())
        by_counter = counted_flops(run) / N
        out[name] = {**{k: round(v / 1e9, 4) for k, v in hand.items()}, "total": round(total / 1e9, 4),
                     "counter_total": round(by_counter / 1e9, 4),
                     "agree": abs(by_counter - total) <= 1e-6 * total}
    return out


def paths(model: VarSR) -> dict[str, tuple[torch.nn.Module, torch.nn.Module]]:
    """(predictor, its route to pixels) of the student and the teacher."""
    return {"var": (model.student, model.decoder), "var-teacher": (model.teacher, model.teacher_fusion)}


def windows_per_frame(model: VarSR, h: int, w: int) -> int:
    tile = model.window - 2 * model.margin
    return len(tile_starts(h, tile, model.margin)) * len(tile_starts(w, tile, model.margin))


def base_gflop_per_lq_pixel(model: VarSR) -> float:
    x = torch.rand(1, 3, 64, 64)
    return conv_flops([model.base.net], lambda: model.base(x)) / (64 * 64) / 1e9


def best_time(fn, repeats: int, clock) -> float:
    times = []
    for _ in range(repeats):
        t = clock()
        fn()
        times.append(clock() - t)
    return min(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--weights", type=Path, default=STUDENT_PATH)
    ap.add_argument("--windows", type=int, default=64,
                    help="base windows per timed call: a square number up to 64 (64: the batch var serves)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--clock", choices=("cpu", "wall"), default="cpu")
    ap.add_argument("--flops-only", action="store_true")
    ap.add_argument("--h100-fraction", type=float, default=0.15)
    ap.add_argument("--note", default="")
    ap.add_argument("--out", type=Path, default=Path("bench/results_var_speed.json"))
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    from vidsr.data import eval_images
    from vidsr.train.evaluate import to_tensor

    model = VarSR(args.weights, "var", 2, CPU)
    teacher = VarSR(args.weights, "var-teacher", 2, CPU)
    model.student, model.teacher, model.teacher_fusion = model.predictor, teacher.predictor, teacher.decoder
    img = to_tensor(eval_images(None)[0][1])  # 512 x 512: up to 8 x 8 windows
    n = math.isqrt(args.windows)
    if n * n != args.windows or n * WINDOW > min(img.shape[-2:]):
        raise SystemExit(f"--windows {args.windows}: give a square number up to {(min(img.shape[-2:]) // WINDOW) ** 2}")
    side = n * WINDOW
    lq = F.interpolate(img[..., :side, :side], scale_factor=0.5, mode="bicubic", antialias=True).clamp(0, 1)
    with torch.inference_mode():
        base = model.base(lq).clamp(0, 1)
    crops = torch.cat([base[..., y * WINDOW : (y + 1) * WINDOW, x * WINDOW : (x + 1) * WINDOW]
                       for y in range(n) for x in range(n)])
    with torch.inference_mode():
        flops = window_flops(model, crops)
    result: dict = {"command": "python bench/var_speed.py " + " ".join(f"--{k.replace('_', '-')} {v}" for k, v in
                                                                       vars(args).items() if k not in ("out",)),
                    "machine": platform.processor() or platform.machine(), "threads": args.threads,
                    "clock": args.clock, "note": args.note, "flops_gflop_per_window": flops,
                    "cfg_scale": model.cfg_scale}
    base_px = base_gflop_per_lq_pixel(model)
    frames = {}
    for label, (H, W, s) in {"480p->960p x2": (480, 854, 2), "1080p out x2": (540, 960, 2),
                             "1080p out x4": (270, 480, 4)}.items():
        m = model if s == 2 else VarSR(args.weights, "var", 4, CPU)
        nw = windows_per_frame(m, H, W)
        frames[label] = {"windows": nw, "base_gflop": round(base_px * H * W, 2),
                         **{k: round(nw * v["total"] + base_px * H * W, 1) for k, v in flops.items()}}
    result["gflop_per_frame"] = frames
    peak = 989e12 * args.h100_fraction
    result["h100_bf16_fps_estimate"] = {k: round(peak / (frames["1080p out x2"][k] * 1e9), 1) for k in flops}
    result["h100_assumption"] = f"{args.h100_fraction:.0%} of 989 TFLOP/s dense bf16 sustained (an estimate)"
    if not args.flops_only:
        clock = time.process_time if args.clock == "cpu" else time.perf_counter
        secs = {}
        with torch.inference_mode():
            for name, (net, dec) in paths(model).items():
                t = best_time(lambda net=net, dec=dec: window_changes(model.vq, net, dec, crops, model.cfg_scale),
                              args.repeats, clock)
                secs[name] = t / crops.shape[0]
            t_base = best_time(lambda: model.base(lq), args.repeats, clock) / (lq.shape[-2] * lq.shape[-1])
        nw = frames["480p->960p x2"]["windows"]
        result["seconds_per_window"] = {k: round(v, 4) for k, v in secs.items()}
        result["student_speedup_over_teacher"] = round(secs["var-teacher"] / secs["var"], 2)
        result["seconds_per_480p_frame_derived"] = {k: round(v * nw + t_base * 480 * 854, 1) for k, v in secs.items()}
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
