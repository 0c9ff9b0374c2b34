"""The VAR detail stage on real sources: does it add detail on top of the restored frame, and at what cost?

Held-out photographs (``vidsr.data.eval_images``: packages no training touched) become short pan clips,
made into every real source kind (``vidsr.degrade.sources``: a real scaler, 4:2:0, a real encoder) as in
the real-source suite (``bench/real_sources.py``, same seeds and settings). Methods on the same frames:
bicubic, the base (``cnn``), ``var`` at several ``detail`` levels (one pass gives them all:
``VarSR.base_and_change``), ``var-teacher`` (the guided multi-step teacher) and Real-ESRGAN x4plus run
offline through ncnn (``bench/peers.py``; skipped with the reason if it cannot run). PSNR-Y / SSIM-Y
(BT.601, 4-px border) over every frame, NIQE on the last frame (lower is more natural).

Prefix ablation: the student's windows of the same clips with the base's prefix (features and latent)
taken from another window of the batch; the PSNR-Y drop at detail 1 is reported per kind.

    python bench/detail_suite.py                   # x2; writes docs/quality/detail.{md,json} and detail_crops.png
    python bench/detail_suite.py --scales 2,4 --photos 12
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image, ImageDraw

sys.path.insert(0, str(Path(__file__).resolve().parent))

from peers import PeerUnavailable, build_peer  # noqa: E402
from real_sources import SEED, Settings, photo_clips, to_tensor, to_uint8  # noqa: E402

from vidsr.degrade.sources import SOURCE_KINDS, make_source, source_kind  # noqa: E402
from vidsr.metrics import niqe, psnr_y, ssim_y  # noqa: E402
from vidsr.models.detail import prepare_windows, student_change  # noqa: E402
from vidsr.sr.var_sr import STUDENT_PATH, VarSR  # noqa: E402

CPU = torch.device("cpu")
BORDER = 4
LEVELS = (0.25, 0.5, 0.75, 1.0)


def score(out: torch.Tensor, hq: torch.Tensor, do_niqe: bool) -> dict[str, float]:
    row = {"psnr_y": float(psnr_y(out, hq, crop=BORDER).mean()), "ssim_y": float(ssim_y(out, hq, crop=BORDER).mean())}
    if do_niqe:
        row["niqe"] = float(niqe(to_uint8(out[-1:])[0]))
    return row


@torch.inference_mode()
def prefix_ablation(model: VarSR, lq: torch.Tensor, hq: torch.Tensor) -> tuple[float, float]:
    """PSNR-Y of the student's 64 x 64 windows (detail 1) with their own prefix and with a shuffled one."""
    base = model._base(lq, None).clamp(0, 1)
    s = 64
    ys = range(0, base.shape[-2] - s + 1, s)
    xs = range(0, base.shape[-1] - s + 1, s)
    b = torch.cat([base[:, :, y : y + s, x : x + s] for y in ys for x in xs])
    h = torch.cat([hq[:, :, y : y + s, x : x + s] for y in ys for x in xs])
    vq, st = model.vq, model.predictor
    bt = prepare_windows(vq, b, st.cfg.predicted)
    out = []
    for use in (bt, bt.with_prefix_of(torch.roll(torch.arange(b.shape[0]), 1))):
        change = student_change(model.decoder, use, st.predict(use, vq.quantize))
        out.append(float(psnr_y((b + change).clamp(0, 1), h, crop=BORDER).mean()))
    return out[0], out[1]


def run(args: argparse.Namespace) -> dict[str, Any]:
    torch.set_num_threads(args.threads)
    s = Settings(photos=args.photos, crop=args.crop, frames=args.frames, data=args.data)
    clips = photo_clips(s)
    rows: list[dict[str, Any]] = []
    crops: dict[tuple, np.ndarray] = {}
    ablation: list[dict[str, Any]] = []
    peers_failed: dict[str, str] = {}
    for scale in args.scales:
        student = VarSR(args.weights, "var", scale, CPU)
        teacher = VarSR(args.weights, "var-teacher", scale, CPU)
        try:
            peer = build_peer("realesrgan", scale, args.threads)
        except PeerUnavailable as e:
            peer, peers_failed["realesrgan"] = None, str(e)
        for ci, clip in enumerate(clips):
            hq = to_tensor(clip.hq)
            for kind in args.kinds:
                lq_u8 = make_source(clip.hq, source_kind(kind, scale, seed=SEED))
                lq = to_tensor(lq_u8)
                outs: dict[str, torch.Tensor] = {}
                with torch.inference_mode():
                    outs["bicubic"] = torch.nn.functional.interpolate(lq, scale_factor=scale, mode="bicubic",
                                                                      align_corners=False).clamp(0, 1)
                    base, change = student.base_and_change(lq)
                    outs["base (cnn)"] = base.clamp(0, 1)
                    for d in LEVELS:
                        outs[f"var d={d}"] = (base + d * change).clamp(0, 1)
                    if not args.no_teacher:
                        tb, tc = teacher.base_and_change(lq)
                        outs["var-teacher d=1.0"] = (tb + tc).clamp(0, 1)
                        outs[f"var-teacher d={student.detail}"] = (tb + student.detail * tc).clamp(0, 1)
                    if peer is not None:
                        outs["Real-ESRGAN"] = peer(lq).float().clamp(0, 1)
                for m, out in outs.items():
                    rows.append({"scale": scale, "item": clip.name, "kind": kind, "method": m,
                                 **score(out, hq, not args.no_niqe)})
                if ci == args.crop_clip:
                    crops[(scale, kind, "LQ")] = lq_u8[-1]
                    crops[(scale, kind, "HQ")] = clip.hq[-1]
                    for m, out in outs.items():
                        crops[(scale, kind, m)] = to_uint8(out[-1:])[0]
                if ci < args.ablation_clips:
                    own, shuffled = prefix_ablation(student, lq, hq)
                    ablation.append({"scale": scale, "item": clip.name, "kind": kind, "own": own, "shuffled": shuffled})
            print(f"x{scale} {clip.name} done", flush=True)
    return {"rows": rows, "ablation": ablation, "crops": crops, "peers_failed": peers_failed,
            "default_detail": VarSR(args.weights, "var", 2, CPU).detail}


def summary(report: dict[str, Any], scale: int) -> dict[str, dict[str, float]]:
    """Mean PSNR-Y, SSIM-Y and NIQE per method over every clip and kind, and per kind PSNR-Y."""
    rows = [r for r in report["rows"] if r["scale"] == scale]
    out: dict[str, dict[str, float]] = {}
    for m in dict.fromkeys(r["method"] for r in rows):
        mine = [r for r in rows if r["method"] == m]
        out[m] = {k: round(float(np.mean([r[k] for r in mine if k in r])), 3) for k in ("psnr_y", "ssim_y", "niqe")
                  if any(k in r for r in mine)}
        for kind in dict.fromkeys(r["kind"] for r in mine):
            out[m][kind] = round(float(np.mean([r["psnr_y"] for r in mine if r["kind"] == kind])), 3)
    return out


def markdown(report: dict[str, Any], meta: dict[str, Any]) -> str:
    lines = ["# The VAR detail stage on real sources", "",
             f"`{meta['command']}` ({meta['seconds']} s, {meta['machine']}, commit {meta['commit']}).",
             f"{meta['photos']} held-out photographs, {meta['frames']}-frame pans of {meta['crop']} px, every kind; "
             "PSNR-Y / SSIM-Y over every frame (4-px border), NIQE on the last frame (lower is more natural).", ""]
    for scale, table in report["summary"].items():
        kinds = [k for k in SOURCE_KINDS if k in next(iter(table.values()))]
        lines += [f"## x{scale}", "", "| method | PSNR-Y | SSIM-Y | NIQE | " + " | ".join(kinds) + " |",
                  "|---|---:|---:|---:|" + "---:|" * len(kinds)]
        for m, v in table.items():
            lines.append(f"| {m} | {v['psnr_y']:.2f} | {v['ssim_y']:.4f} | {v.get('niqe', float('nan')):.2f} | "
                         + " | ".join(f"{v[k]:.2f}" for k in kinds) + " |")
        lines.append("")
    if report["ablation_summary"]:
        lines += ["## Prefix ablation (student windows, detail 1)", "",
                  "| scale | kind | own prefix | shuffled | drop |", "|---|---|---:|---:|---:|"]
        for r in report["ablation_summary"]:
            lines.append(f"| x{r['scale']} | {r['kind']} | {r['own']:.2f} | {r['shuffled']:.2f} | {r['drop']:.2f} |")
        lines.append("")
    if report["peers_failed"]:
        lines += [f"Not run: {k}: {v}" for k, v in report["peers_failed"].items()] + [""]
    return "\n".join(lines)


def crops_png(report: dict[str, Any], path: Path, scale: int, kinds: tuple[str, ...], methods: list[str]) -> None:
    crops = report["crops"]
    cols = ["LQ", "bicubic", "base (cnn)"] + [m for m in methods if m.startswith("var d=")][:3] + \
        (["Real-ESRGAN"] if (scale, kinds[0], "Real-ESRGAN") in crops else []) + ["HQ"]
    side = crops[(scale, kinds[0], "HQ")].shape[0]
    sheet = Image.new("RGB", (side * len(cols), (side + 14) * len(kinds) + 14), "white")
    draw = ImageDraw.Draw(sheet)
    for j, c in enumerate(cols):
        draw.text((j * side + 2, 1), c, fill="black")
    for i, kind in enumerate(kinds):
        for j, c in enumerate(cols):
            im = Image.fromarray(crops[(scale, kind, c)])
            if c == "LQ":
                im = im.resize((side, side), Image.NEAREST)
            sheet.paste(im, (j * side, 14 + i * (side + 14)))
        draw.text((2, 14 + i * (side + 14) + side), kind, fill="black")
    sheet.save(path)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--scales", default="2")
    ap.add_argument("--kinds", default=",".join(SOURCE_KINDS))
    ap.add_argument("--photos", type=int, default=8)
    ap.add_argument("--crop", type=int, default=192)
    ap.add_argument("--frames", type=int, default=3)
    ap.add_argument("--data", default="data")
    ap.add_argument("--weights", type=Path, default=STUDENT_PATH)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--no-teacher", action="store_true")
    ap.add_argument("--no-niqe", action="store_true")
    ap.add_argument("--ablation-clips", type=int, default=4)
    ap.add_argument("--crop-clip", type=int, default=0)
    ap.add_argument("--out", type=Path, default=Path("docs/quality"))
    args = ap.parse_args()
    args.scales = [int(s) for s in args.scales.split(",")]
    args.kinds = [k for k in args.kinds.split(",") if k]
    t0 = time.time()
    report = run(args)
    report["summary"] = {s: summary(report, s) for s in args.scales}
    abl = []
    for scale in args.scales:
        for kind in args.kinds:
            mine = [r for r in report["ablation"] if r["scale"] == scale and r["kind"] == kind]
            if mine:
                own, sh = float(np.mean([r["own"] for r in mine])), float(np.mean([r["shuffled"] for r in mine]))
                abl.append({"scale": scale, "kind": kind, "own": own, "shuffled": sh, "drop": own - sh})
    report["ablation_summary"] = abl
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    meta = {"command": "python bench/detail_suite.py " + " ".join(sys.argv[1:]), "seconds": round(time.time() - t0),
            "machine": platform.processor() or platform.machine(), "commit": commit, "photos": args.photos,
            "frames": args.frames, "crop": args.crop, "default_detail": report["default_detail"]}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "detail.md").write_text(markdown(report, meta))
    crops_png(report, args.out / "detail_crops.png", args.scales[0], ("clean", "x264-crf28", "camera"),
              list(report["summary"][args.scales[0]]))
    data = {k: v for k, v in report.items() if k != "crops"}
    (args.out / "detail.json").write_text(json.dumps({"meta": meta, **data}, indent=1) + "\n")
    print(markdown(report, meta))


if __name__ == "__main__":
    main()
