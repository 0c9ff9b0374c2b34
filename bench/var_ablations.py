"""The teacher's and student's ablations on held-out data, in one run; writes ``bench/results_var_ablations.json``.

1. Guidance: ``var-teacher`` with image-based CFG at scale 1.0 / 1.5 / 3.0 on held-out photographs
   (x2, medium): PSNR-Y, SSIM-Y and NIQE (lower = more natural): the fidelity-realism trade-off.
2. Dynamic sampling scheduler off/on: the two teachers' held-out teacher-forcing and free-running
   token accuracy per scale (the exposure-bias gap) and free-running tile PSNR, from their training logs'
   last held-out evaluation (same held-out tiles, same step budget; the "off" run branched from the "on"
   run's checkpoint at the moment the scheduler switched on).
3. Resolution generalisation: the teacher (trained on 64 x 64 HQ tiles only) run whole on held-out crops
   of 64 x 64, 48 x 48, 96 x 96 and 32 x 128 (1:4), x2 medium: PSNR against bicubic and ``vq-lq``.
4. The student's refiner: held-out tile PSNR with and without it, and the distillation variants
   (teacher on ground-truth tokens vs on the student's own), from the student runs' logs.

    python bench/var_ablations.py --teacher-log runs/teacher/train.log --nodss-log runs/teacher_nodss/train.log \\
        --student-log runs/student/train.log --student-gt-log runs/student_gt/train.log
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from vidsr.data import eval_images
from vidsr.degrade import degrade
from vidsr.metrics import niqe, psnr_y, ssim_y
from vidsr.sr.var_sr import TEACHER_PATH, VarSR
from vidsr.train.evaluate import bicubic_up, to_tensor

CPU = torch.device("cpu")


def last_held_out(log: Path) -> dict | None:
    if not log.exists():
        return None
    rows = [json.loads(line) for line in log.read_text().splitlines() if '"held_out"' in line]
    return rows[-1] if rows else None


def held_out_at(log: Path, step: int, stage: str | None = None) -> dict | None:
    if not log.exists():
        return None
    for line in log.read_text().splitlines():
        r = json.loads(line)
        if "held_out" in r and r.get("step") == step and (stage is None or r.get("stage") == stage):
            return r
    return None


def guidance_table(teacher: Path, images: list[np.ndarray], scales: tuple[float, ...]) -> list[dict]:
    rows = []
    for cfg in scales:
        model = VarSR(teacher, "var-teacher", 2, CPU, cfg_scale=cfg)
        p, s, n = [], [], []
        for i, img in enumerate(images):
            hq = to_tensor(img[: img.shape[0] // 2 * 2, : img.shape[1] // 2 * 2])
            lq, _ = degrade(hq, 2, "medium", seed=2026 + i)
            out = model(lq).clamp(0, 1)
            p.append(psnr_y(out, hq, 2))
            s.append(ssim_y(out, hq, 2))
            n.append(niqe((out[0].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)))
        rows.append({"cfg_scale": cfg, "psnr_y": round(float(np.mean(p)), 3), "ssim_y": round(float(np.mean(s)), 4),
                     "niqe": round(float(np.mean(n)), 3)})
        print(json.dumps(rows[-1]), flush=True)
    return rows


@torch.inference_mode()
def resolution_table(teacher: Path, images: list[np.ndarray], shapes: list[tuple[int, int]], n: int) -> list[dict]:
    """The teacher on whole crops (no windows): does a model trained at 64 x 64 hold at other sizes?"""
    model = VarSR(teacher, "var-teacher", 2, CPU)
    model.colour_fix = False
    rng = np.random.default_rng(0)
    rows = []
    for h, w in shapes:
        psnr_t, psnr_b, psnr_v = [], [], []
        for k in range(n):
            img = images[k % len(images)]
            y, x = int(rng.integers(0, img.shape[0] - h)), int(rng.integers(0, img.shape[1] - w))
            hq = to_tensor(img[y : y + h, x : x + w])
            lq, _ = degrade(hq, 2, "medium", seed=k)
            up = bicubic_up(lq, 2)
            out = _whole(model, lq)
            feat = model.lq.frame_to_prefix_features(up)
            vq_lq = model.vq.latent_to_frame(model.lq.encoder.conv_out(feat), (h, w))
            psnr_t.append(psnr_y(out, hq, 2))
            psnr_b.append(psnr_y(up, hq, 2))
            psnr_v.append(psnr_y(vq_lq, hq, 2))
        rows.append({"hq_crop": f"{h}x{w}", "trained_on": "64x64", "crops": n,
                     "teacher_psnr_y": round(float(np.mean(psnr_t)), 3),
                     "vq_lq_psnr_y": round(float(np.mean(psnr_v)), 3),
                     "bicubic_psnr_y": round(float(np.mean(psnr_b)), 3)})
        print(json.dumps(rows[-1]), flush=True)
    return rows


def _whole(model: VarSR, lq: torch.Tensor) -> torch.Tensor:
    """One window covering the whole crop (the teacher sees the crop's own size)."""
    s = model.scale
    up = F.interpolate(lq, scale_factor=s, mode="bicubic", align_corners=False).clamp(0, 1)
    H, W = up.shape[-2:]
    feat = model.lq.frame_to_prefix_features(up)
    lq_idx = model.vq.quantize.f_to_tokens(model.lq.encoder.conv_out(feat))
    _, fhat = model.model.generate(model.vq.quantize, feat, lq_idx, None, (H, W))
    return model.vq.fhat_to_frame(fhat, (H, W))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--teacher", type=Path, default=TEACHER_PATH)
    ap.add_argument("--teacher-log", type=Path, default=Path("runs/teacher/train.log"))
    ap.add_argument("--nodss-log", type=Path, default=Path("runs/teacher_nodss/train.log"))
    ap.add_argument("--student-log", type=Path, default=Path("runs/student/train.log"))
    ap.add_argument("--student-gt-log", type=Path, default=Path("runs/student_gt/train.log"))
    ap.add_argument("--data", default="data")
    ap.add_argument("--images", type=int, default=4)
    ap.add_argument("--max-side", type=int, default=256)
    ap.add_argument("--crops", type=int, default=24)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", type=Path, default=Path("bench/results_var_ablations.json"))
    ap.add_argument("--logs-only", action="store_true", help="re-read the training logs into an existing result")
    args = ap.parse_args()
    if args.logs_only:
        result = json.loads(args.out.read_text())
        result["dss"] = {"on": last_held_out(args.teacher_log), "off": last_held_out(args.nodss_log),
                         "on_at_300": held_out_at(args.teacher_log, 300),
                         "off_at_300": held_out_at(args.nodss_log, 300)}
        result["student"] = {"self": last_held_out(args.student_log), "gt": last_held_out(args.student_gt_log),
                             "self_at_100": held_out_at(args.student_log, 100, "distill"),
                             "gt_at_100": held_out_at(args.student_gt_log, 100, "distill")}
        args.out.write_text(json.dumps(result, indent=2) + "\n")
        return
    torch.set_num_threads(args.threads)
    photos = eval_images(args.data, max_side=args.max_side)[: args.images]
    big = [img for _, img in eval_images(args.data)]
    result: dict = {"command": "python bench/var_ablations.py", "held_out_images": [n for n, _ in photos]}
    result["guidance"] = guidance_table(args.teacher, [img for _, img in photos], (1.0, 1.5, 3.0))
    result["dss"] = {"on": last_held_out(args.teacher_log), "off": last_held_out(args.nodss_log)}
    result["resolution"] = resolution_table(args.teacher, big, [(64, 64), (48, 48), (96, 96), (32, 128)], args.crops)
    result["student"] = {"self": last_held_out(args.student_log), "gt": last_held_out(args.student_gt_log)}
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
