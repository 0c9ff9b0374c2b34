"""Speed of the served one-step student (``var``) against its teacher (``var-teacher``), side by side in one
run on the same input, and where the student's time goes (per module).

Both models run on a real photograph (a crop of scikit-image's astronaut, degraded x2 medium) through
their SR wrappers (64 x 64 HQ windows, batched); the ratio is the figure. Frames per second at
480p -> 960p are derived from the measured seconds per window and the window count of an 854 x 480
frame (a whole 480p frame takes minutes on this CPU, so it is not run whole; the derivation is exact
for the windows, and the colour fix and encoder are added from their own measurement).

    python bench/var_speed.py                 # shipped weights, 1 and 2 threads
    python bench/var_speed.py --threads 2 --repeats 3

Also measured side by side: the student with its low-rank adapters kept apart (as trained) against the
served one with the adapters folded into the frozen layers, and the floating-point operations of the
student's one pass against the teacher's generation on the same windows (``torch.utils.flop_counter``):
on a CPU, which is bound by arithmetic rather than by the launch latency of ten small steps, that
FLOP ratio caps the speed-up one step can give.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from vidsr.data import eval_images
from vidsr.degrade import degrade
from vidsr.models.var_student import load_student, split_tokens
from vidsr.sr.colorfix import wavelet_colour_fix
from vidsr.sr.tiling import tile_starts
from vidsr.sr.var_sr import STUDENT_PATH, TEACHER_PATH, VarSR
from vidsr.train.evaluate import to_tensor

CPU = torch.device("cpu")


def windows_per_frame(model: VarSR, h: int, w: int) -> int:
    tile = model.window - 2 * model.margin
    return len(tile_starts(h, tile, model.margin)) * len(tile_starts(w, tile, model.margin))


def best_time(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


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


@torch.inference_mode()
def transformer_gflops(student: VarSR, teacher: VarSR, lq: torch.Tensor) -> dict[str, float]:
    """GFLOP per 64 x 64 window of the transformer alone: the student's one pass, the teacher's generation."""
    from torch.utils.flop_counter import FlopCounterMode

    n = student.window
    crop = lq[:, :, :n, :n]
    up = F.interpolate(crop, scale_factor=student.scale, mode="bicubic", align_corners=False)
    feat = student.lq.frame_to_prefix_features(up)
    quant = student.vq.quantize
    lq_idx = quant.f_to_tokens(student.lq.encoder.conv_out(feat))
    hq_size = tuple(up.shape[-2:])
    st, te = student.model, teacher.model
    pyr, lq_hat = st.pyramid_inputs(quant, lq_idx), quant.tokens_to_fhat(lq_idx)
    out = {}
    for name, fn in (
        ("student one pass", lambda: st(feat, pyr, lq_hat, None, hq_size)),
        ("teacher generation", lambda: te.generate(quant, feat, lq_idx, None, hq_size)),
    ):
        with FlopCounterMode(display=False) as counter:
            fn()
        out[name] = round(counter.get_total_flops() / 1e9, 3)
    out["teacher / student"] = round(out["teacher generation"] / out["student one pass"], 2)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--student", type=Path, default=STUDENT_PATH)
    ap.add_argument("--teacher", type=Path, default=TEACHER_PATH)
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--out", type=Path, default=Path("bench/results_var_speed.json"))
    args = ap.parse_args()

    img = dict(eval_images())["skimage__astronaut"]
    hq = to_tensor(img[96:352, 128:384])  # 256 x 256 HQ -> 128 x 128 LQ at x2
    lq, _ = degrade(hq, 2, "medium", seed=0)
    student = VarSR(args.student, "var", 2, CPU)
    teacher = VarSR(args.teacher, "var-teacher", 2, CPU)
    unmerged = VarSR(args.student, "var", 2, CPU)
    unmerged.model = load_student(args.student, CPU, merge=False)  # the adapters as trained, kept apart
    n_win = windows_per_frame(student, *lq.shape[-2:])
    n_480 = windows_per_frame(student, 480, 854)
    big = torch.rand(1, 3, 480, 854)
    rows = []
    for threads in [int(t) for t in args.threads.split(",")]:
        torch.set_num_threads(threads)
        student(lq[..., :32, :32])  # warm-up (weights, allocator)
        t_student = best_time(lambda: student(lq), args.repeats)
        t_teacher = best_time(lambda: teacher(lq), args.repeats)
        t_unmerged = best_time(lambda: unmerged(lq), args.repeats)
        t_fix = best_time(lambda: wavelet_colour_fix(F.interpolate(big, scale_factor=2, mode="bicubic"), big), 2)
        per_win = t_student / n_win
        s_per_frame = per_win * n_480 + t_fix
        rows.append({
            "threads": threads,
            "input": f"{lq.shape[-1]}x{lq.shape[-2]} LQ, x2, {n_win} windows",
            "student_s": round(t_student, 3),
            "teacher_s": round(t_teacher, 3),
            "student_speedup_vs_teacher": round(t_teacher / t_student, 2),
            "student_adapters_unmerged_s": round(t_unmerged, 3),
            "merge_speedup": round(t_unmerged / t_student, 2),
            "student_s_per_window": round(per_win, 4),
            "windows_per_480p_frame": n_480,
            "student_s_per_480p_frame_derived": round(s_per_frame, 1),
            "student_fps_480p_to_960p_derived": round(1 / s_per_frame, 4),
        })
        print(json.dumps(rows[-1]), flush=True)
    flops = transformer_gflops(student, teacher, lq)
    print(json.dumps({"transformer_gflop_per_window": flops}), flush=True)
    torch.set_num_threads(1)
    profile = profile_student(student, lq, args.repeats)
    print(json.dumps({"profile_ms_per_window_1_thread": profile}), flush=True)
    result = {
        "command": "python bench/var_speed.py " + " ".join(f"--{k} {v}" for k, v in vars(args).items()
                                                           if k in ("threads", "repeats")),
        "machine": f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} torch threads max",
        "rows": rows,
        "profile_ms_per_window_1_thread": profile,
        "transformer_gflop_per_window": flops,
        "goal": "student >= 8x faster than teacher; >= 1 fps at 480p -> 960p on this CPU",
        "met": {"8x": all(r["student_speedup_vs_teacher"] >= 8 for r in rows),
                "1fps": any(r["student_fps_480p_to_960p_derived"] >= 1 for r in rows)},
    }
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
