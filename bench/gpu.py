"""Proves the GPU path on a lent machine in one command (about ten minutes) and writes every figure to one
JSON file: environment; every model on CUDA against its CPU output; batch invariance; SR-stage fps at
540p -> 1080p per model (fp32 against bf16 autocast, tiled against whole); an end-to-end ``vidsr run``
with ``--report``; a local ``--ray`` run on the GPU. Without CUDA it says so in one line and exits 0.

    python bench/gpu.py --json bench/results_gpu.json

Each section records its own error instead of stopping the run: one failing section still leaves the
others' figures. Sizes are small where the question is correctness and 540p where it is speed.
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path
from typing import Any

import torch

MODELS = ("bicubic", "lanczos", "cnn", "vq-lq", "var", "var-teacher")
SPEED_SECONDS = 6.0  # per fps figure: enough iterations to settle a GPU clock, bounded for the 10-minute total


def environment() -> dict[str, Any]:
    props = torch.cuda.get_device_properties(0)
    smi = subprocess.run(["nvidia-smi", "--query-gpu=name,driver_version,memory.total", "--format=csv,noheader"],
                         capture_output=True, text=True, check=False).stdout.strip()
    return {"gpu": props.name, "memory_gb": round(props.total_memory / 2**30, 1),
            "capability": list(torch.cuda.get_device_capability(0)),
            "nvidia_smi": smi, "torch": torch.__version__, "cuda": torch.version.cuda,
            "cudnn": torch.backends.cudnn.version(), "bf16_supported": torch.cuda.is_bf16_supported(),
            "python": platform.python_version(), "cpu_threads": torch.get_num_threads()}


def _photo(h: int, w: int, n: int = 1) -> torch.Tensor:
    """``n`` crops of a real photograph (scikit-image's astronaut, mirrored to cover the size), float [0, 1]."""
    import numpy as np
    from skimage import data as skdata

    p = skdata.astronaut()
    canvas = np.concatenate([np.concatenate([p, p[:, ::-1]], 1)] * 2, 0)
    crops = [canvas[i * 8 : i * 8 + h, i * 12 : i * 12 + w] for i in range(n)]
    return torch.from_numpy(np.stack(crops)).permute(0, 3, 1, 2).float().div(255)


def _psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    mse = (a.float() - b.float()).square().mean().item()
    return math.inf if mse == 0 else 10 * math.log10(1 / mse)


def _levels(a: torch.Tensor, b: torch.Tensor) -> int:
    return int(((a.float() * 255).round() - (b.float() * 255).round()).abs().max().item())


def cuda_vs_cpu() -> dict[str, Any]:
    """Each model's CUDA output (as served: bf16 autocast where the model uses it, and fp32) against CPU fp32."""
    from vidsr.sr.registry import build_model

    x = _photo(64, 96)
    out: dict[str, Any] = {"input": "1 x 3 x 64 x 96, x2"}
    for name in MODELS:
        cpu = build_model(name, 2, torch.device("cpu"))(x)
        gpu_model = build_model(name, 2, torch.device("cuda"))
        row: dict[str, Any] = {}
        for amp in (True, False) if hasattr(gpu_model, "amp") else (None,):
            if amp is not None:
                gpu_model.amp = amp
            y = gpu_model(x.cuda()).cpu()
            key = "served" if amp in (True, None) else "fp32"
            row[key] = {"max_diff_8bit": _levels(y, cpu), "psnr_db": round(_psnr(y, cpu), 2)}
        out[name] = row
        print(f"  {name}: {row}", flush=True)
    return out


def batch_invariance() -> dict[str, Any]:
    """A frame's CUDA output alone against inside a batch of 4 (a Ray segment batches other neighbours)."""
    from vidsr.sr.registry import build_model

    x = _photo(64, 96, 4)
    out: dict[str, Any] = {}
    for name in MODELS:
        m = build_model(name, 2, torch.device("cuda"))
        together = m(x.cuda()).cpu()
        alone = torch.cat([m(x[i : i + 1].cuda()).cpu() for i in range(4)])
        out[name] = {"bit_identical": bool(torch.equal(together, alone)), "max_diff_8bit": _levels(together, alone)}
        print(f"  {name}: {out[name]}", flush=True)
    return out


def _fps(call: Callable[[], Any], frames: int) -> float:
    call()
    torch.cuda.synchronize()
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < SPEED_SECONDS or n < 2:
        call()
        n += 1
    torch.cuda.synchronize()
    return round(n * frames / (time.perf_counter() - t0), 2)


def stage_speed() -> dict[str, Any]:
    """SR-stage fps 540p -> 1080p (uint8 frames in and out, as a run sees them): fp32 and bf16, tiled
    (tile 512, the CPU default) and whole frames, 4 frames a batch."""
    import numpy as np

    from vidsr.frame import Frame
    from vidsr.stages.sr import SRParams, SRStage

    x = (_photo(540, 960, 4) * 255).round().byte().permute(0, 2, 3, 1).numpy()
    tb = Fraction(1, 25)
    frames = [Frame(image=np.ascontiguousarray(im), pts=i, time_base=tb, index=i) for i, im in enumerate(x)]
    out: dict[str, Any] = {}
    for name in MODELS:
        for amp in (False, True):
            for tiled in (True, False):
                params = SRParams(model=name, scale=2, device="cuda", tile=512, batch_frames=4,
                                  tile_above_megapixels=0.26 if tiled else None)
                stage = SRStage("sr", params)
                if hasattr(stage.model, "amp"):
                    stage.model.amp = amp
                elif amp:
                    continue  # no autocast in this model: fp32 only
                key = f"{name} {'bf16' if amp else 'fp32'} {'tiled' if tiled else 'whole'}"
                batch = frames[:1] if name.startswith("var") else frames  # seconds a frame: keep the total bounded
                out[key] = _fps(lambda st=stage, b=batch: list(st.process(iter(b))), len(batch))
                print(f"  {key}: {out[key]} fps", flush=True)
    return out


def _cli(args: list[str], timeout: float) -> dict[str, Any]:
    t0 = time.perf_counter()
    r = subprocess.run([sys.executable, "-m", "vidsr", *args], capture_output=True, text=True, timeout=timeout)
    return {"command": "vidsr " + " ".join(args), "rc": r.returncode, "wall_s": round(time.perf_counter() - t0, 1),
            "stderr_tail": r.stderr[-1500:]}


def end_to_end(tmp: Path) -> dict[str, Any]:
    """``vidsr run`` on a 5 s 540p clip with ``--report``, then the same with ``--ray`` (a local Ray on this GPU)."""
    import av
    import numpy as np

    src = tmp / "in.mp4"
    pic = (_photo(540, 960, 1)[0] * 255).byte().permute(1, 2, 0).numpy()
    with av.open(str(src), "w") as c:
        s = c.add_stream("libx264", rate=25)
        s.width, s.height, s.pix_fmt = 960, 540, "yuv420p"
        for i in range(125):
            f = av.VideoFrame.from_ndarray(np.ascontiguousarray(np.roll(pic, i * 3, 1)), "rgb24")
            c.mux(s.encode(f))
        c.mux(s.encode(None))
    out: dict[str, Any] = {}
    for label, extra in (("local", []), ("ray", ["--ray"])):
        report = tmp / f"report-{label}.json"
        args = ["run", str(src), str(tmp / f"out-{label}.mp4"), "--device", "cuda", "--model", "cnn", "--scale", "2",
                "--overwrite", "--report", str(report), *extra]
        out[label] = _cli(args, timeout=240)
        if report.exists():
            out[label]["report"] = json.loads(report.read_text())
        print(f"  {label}: rc {out[label]['rc']} in {out[label]['wall_s']} s", flush=True)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--json", type=Path, default=Path("bench/results_gpu.json"))
    ap.add_argument("--sections", nargs="+", default=["cuda_vs_cpu", "batch_invariance", "stage_speed", "end_to_end"])
    args = ap.parse_args(argv)
    if not torch.cuda.is_available():
        print("bench/gpu.py: no CUDA device on this machine; nothing measured")
        return 0
    results: dict[str, Any] = {"command": "python " + " ".join(sys.argv), "environment": environment()}
    print(json.dumps(results["environment"]), flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        sections: dict[str, Callable[[], dict[str, Any]]] = {
            "cuda_vs_cpu": cuda_vs_cpu, "batch_invariance": batch_invariance, "stage_speed": stage_speed,
            "end_to_end": lambda: end_to_end(Path(tmp))}
        for name in args.sections:
            print(f"{name}:", flush=True)
            t0 = time.perf_counter()
            try:
                results[name] = sections[name]()
            except Exception:  # one section's failure must not cost the others' figures
                results[name] = {"error": traceback.format_exc()[-3000:]}
                print(results[name]["error"], flush=True)
            results[f"{name}_s"] = round(time.perf_counter() - t0, 1)
            args.json.write_text(json.dumps(results, indent=2) + "\n")  # after every section: a kill keeps the rest
    print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
