"""NIQE: a no-reference naturalness score (lower is more natural), with its pristine model fitted here.

Natural photographs, once each pixel is normalised by its neighbourhood's mean and contrast (MSCN
coefficients), have statistics that blur, noise, ringing and blocking all disturb. NIQE (Mittal,
Soundararajan and Bovik, 2013) summarises every 96x96 patch by 18 numbers at two scales: the shape
and spread of a generalised Gaussian fitted to the MSCN coefficients, and the shape, mean and
left/right spreads of asymmetric generalised Gaussians fitted to the products of horizontal, vertical
and both diagonal neighbours. A multivariate Gaussian fitted to the sharpest patches of pristine
photographs is the model of "natural"; an image's score is the distance between that Gaussian and
the one fitted to its own patches.

The shipped model (``niqe_pristine.json``, package data, read on the first score) is fitted by
``python -m vidsr.metrics.niqe fit`` on the training photographs of ``vidsr.data`` (never on the
evaluation set); its ``info`` records how.
"""

from __future__ import annotations

import argparse
import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

__all__ = ["NIQEModel", "niqe_features", "fit_pristine", "load_pristine", "niqe", "MODEL_PATH"]

MODEL_PATH = Path(__file__).with_name("niqe_pristine.json")
PATCH = 96
SHARP_FRACTION = 0.75  # pristine patches: local contrast at least this fraction of the image's sharpest

# shape parameter grid for the moment-matching fits: r(a) is monotone in a on this range
_ALPHA = np.arange(0.2, 10.0, 0.001)
_LG1, _LG2, _LG3 = (np.array([math.lgamma(k / a) for a in _ALPHA]) for k in (1.0, 2.0, 3.0))
_GGD_RATIO = np.exp(_LG1 + _LG3 - 2 * _LG2)  # E[x^2] / E[|x|]^2 of a GGD of shape a (decreasing)
_AGGD_RATIO = np.exp(2 * _LG2 - _LG1 - _LG3)  # its inverse (increasing), as the AGGD fit uses it


@dataclass
class NIQEModel:
    """The pristine multivariate Gaussian over patch features (mean ``mu_D``, covariance ``cov_DD``)."""

    mu_D: np.ndarray
    cov_DD: np.ndarray
    info: dict


def _gaussian_window(sigma: float = 7.0 / 6.0, radius: int = 3) -> torch.Tensor:
    t = torch.arange(-radius, radius + 1, dtype=torch.float64)
    g = torch.exp(-0.5 * (t / sigma) ** 2)
    return g / g.sum()


def _mscn(grey_HW: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean-subtracted contrast-normalised coefficients and the local contrast map (grey in 0..255)."""
    g = _gaussian_window()
    x = torch.from_numpy(grey_HW.astype(np.float64))[None, None]

    def blur(v: torch.Tensor) -> torch.Tensor:
        v = F.conv2d(F.pad(v, (3, 3, 0, 0), mode="replicate"), g.view(1, 1, 1, -1))
        return F.conv2d(F.pad(v, (0, 0, 3, 3), mode="replicate"), g.view(1, 1, -1, 1))

    mu = blur(x)
    sigma = (blur(x * x) - mu * mu).abs().sqrt()
    return ((x - mu) / (sigma + 1.0))[0, 0].numpy(), sigma[0, 0].numpy()


def _fit_ggd(x_NK: np.ndarray) -> np.ndarray:
    """Per row: (shape, variance) of a zero-mean generalised Gaussian, by moment matching."""
    var = (x_NK**2).mean(1)
    rho = var / np.maximum(np.abs(x_NK).mean(1) ** 2, 1e-12)
    idx = np.clip(np.searchsorted(-_GGD_RATIO, -rho), 0, len(_ALPHA) - 1)
    return np.stack([_ALPHA[idx], var], axis=1)


def _fit_aggd(x_NK: np.ndarray) -> np.ndarray:
    """Per row: (shape, mean, left variance, right variance) of an asymmetric generalised Gaussian."""
    neg, pos = np.minimum(x_NK, 0.0), np.maximum(x_NK, 0.0)
    var_l = (neg**2).sum(1) / np.maximum((x_NK < 0).sum(1), 1)
    var_r = (pos**2).sum(1) / np.maximum((x_NK > 0).sum(1), 1)
    sl, sr = np.sqrt(var_l), np.sqrt(var_r)
    gamma = sl / np.maximum(sr, 1e-12)
    r_hat = np.abs(x_NK).mean(1) ** 2 / np.maximum((x_NK**2).mean(1), 1e-12)
    big_r = r_hat * (gamma**3 + 1) * (gamma + 1) / np.maximum((gamma**2 + 1) ** 2, 1e-12)
    idx = np.clip(np.searchsorted(_AGGD_RATIO, big_r), 0, len(_ALPHA) - 1)
    alpha = _ALPHA[idx]
    lg1, lg2, lg3 = _LG1[idx], _LG2[idx], _LG3[idx]
    mean = (sr - sl) * np.exp(lg2 - lg1) * np.exp(0.5 * (lg1 - lg3))
    return np.stack([alpha, mean, var_l, var_r], axis=1)


def _patches(a_HW: np.ndarray, p: int) -> np.ndarray:
    """Non-overlapping ``p x p`` patches as rows (the ragged border is dropped)."""
    h, w = a_HW.shape[0] // p, a_HW.shape[1] // p
    return a_HW[: h * p, : w * p].reshape(h, p, w, p).transpose(0, 2, 1, 3).reshape(h * w, p * p)


def _scale_features(grey_HW: np.ndarray, p: int) -> tuple[np.ndarray, np.ndarray]:
    """18 features per patch at one scale, and each patch's sharpness (mean local contrast)."""
    m, sigma = _mscn(grey_HW)
    shifted = {
        "h": (m[:, :-1], m[:, 1:]),
        "v": (m[:-1, :], m[1:, :]),
        "d1": (m[:-1, :-1], m[1:, 1:]),
        "d2": (m[:-1, 1:], m[1:, :-1]),
    }
    feats = [_fit_ggd(_patches(m, p))]
    for a, b in shifted.values():
        prod = np.zeros_like(m)
        prod[: a.shape[0], : a.shape[1]] = a * b  # pad to the full size so patches line up
        feats.append(_fit_aggd(_patches(prod, p)))
    return np.concatenate(feats, axis=1), _patches(sigma, p).mean(1)


def _grey(image: np.ndarray) -> np.ndarray:
    """Luma in 0..255 (float64) from HxWx3 uint8/uint16 RGB or from HxW grey."""
    a = image.astype(np.float64) * (255.0 / (255.0 if image.dtype == np.uint8 else 65535.0))
    return a if a.ndim == 2 else a @ np.array([0.299, 0.587, 0.114])


def niqe_features(image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(features_N36, sharpness_N)`` over the 96x96 patches of an image (second scale at half size)."""
    grey = _grey(image)
    if min(grey.shape) < PATCH:
        raise ValueError(f"NIQE needs at least {PATCH}x{PATCH} pixels, got {grey.shape[1]}x{grey.shape[0]}")
    f1, sharp = _scale_features(grey, PATCH)
    half = F.interpolate(torch.from_numpy(grey)[None, None], scale_factor=0.5, mode="bicubic",
                         antialias=True, align_corners=False)[0, 0].numpy()
    f2, _ = _scale_features(half, PATCH // 2)
    n = min(len(f1), len(f2))
    return np.concatenate([f1[:n], f2[:n]], axis=1), sharp[:n]


def fit_pristine(images: list[np.ndarray], info: dict | None = None) -> NIQEModel:
    """Fit the pristine Gaussian on the sharpest patches of each image (the NIQE recipe)."""
    chosen = []
    for img in images:
        feats, sharp = niqe_features(img)
        chosen.append(feats[sharp >= SHARP_FRACTION * sharp.max()])
    x = np.concatenate(chosen)
    return NIQEModel(x.mean(0), np.cov(x, rowvar=False), dict(info or {}, patches=len(x), images=len(images)))


def save_pristine(model: NIQEModel, path: Path = MODEL_PATH) -> None:
    """Write the model as JSON (``info``, ``mu``, ``cov``), numbers to 7 significant digits."""

    def short(a: np.ndarray) -> list:
        return [float(f"{v:.7g}") for v in a] if a.ndim == 1 else [short(r) for r in a]

    doc = {"info": model.info, "mu": short(model.mu_D), "cov": short(model.cov_DD)}
    path.write_text(json.dumps(doc, indent=1) + "\n")


_CACHE: dict[str, NIQEModel] = {}


def load_pristine(path: Path | None = None) -> NIQEModel:
    """The shipped pristine model, or one saved at ``path`` by :func:`save_pristine`; read once per path.

    Read lazily, so importing the metrics costs nothing. A model saved by an older version as a Python
    module (``MODEL = {...}``, the same JSON after the assignment) still loads."""
    key = str(path)
    if key not in _CACHE:
        text = Path(path or MODEL_PATH).read_text()
        if not text.lstrip().startswith("{"):
            text = text[text.index("MODEL = ") + len("MODEL = ") :]
        d = json.loads(text)
        _CACHE[key] = NIQEModel(np.array(d["mu"]), np.array(d["cov"]), d["info"])
    return _CACHE[key]


def niqe(image: np.ndarray, model: NIQEModel | None = None) -> float:
    """NIQE of an HxWx3 RGB (or HxW grey) image of at least 96x96 pixels; lower is more natural."""
    m = model or load_pristine()
    feats, _ = niqe_features(image)
    if len(feats) < 2:
        raise ValueError("NIQE needs at least two 96x96 patches")
    mu, cov = feats.mean(0), np.cov(feats, rowvar=False)
    d = m.mu_D - mu
    return float(math.sqrt(max(float(d @ np.linalg.pinv((m.cov_DD + cov) / 2.0) @ d), 0.0)))


def _main() -> None:
    ap = argparse.ArgumentParser(prog="python -m vidsr.metrics.niqe", description="Fit the NIQE pristine model.")
    ap.add_argument("command", choices=["fit"])
    ap.add_argument("--data", default="data", help="dataset root built by `python -m vidsr.data build`")
    ap.add_argument("--max-side", type=int, default=1024, help="shrink photographs to this longer side first")
    ap.add_argument("--out", type=Path, default=MODEL_PATH)
    args = ap.parse_args()
    from vidsr.data import load_manifest, train_images

    manifest = load_manifest(args.data)
    photos = train_images(args.data, max_side=args.max_side)
    names = [n for n, _ in photos]
    sha = {e["name"]: e["sha256"] for e in manifest["entries"]}
    info = {
        "how": "python -m vidsr.metrics.niqe fit --data DATA --max-side "
        f"{args.max_side}: the sharpest 96x96 patches (local contrast >= {SHARP_FRACTION} of each "
        "photo's maximum) of the vidsr.data training photographs, shrunk to the given longer side "
        "(bicubic, antialiased) so that their own compression and noise are below a pixel",
        "features": "18 per scale (GGD of MSCN; AGGD of H, V, D1, D2 neighbour products), 2 scales",
        "max_side": args.max_side,
        "photographs": {n: sha.get(n, "") for n in names},
    }
    model = fit_pristine([img for _, img in photos], info)
    save_pristine(model, args.out)
    print(f"fitted on {model.info['patches']} patches of {model.info['images']} photographs -> {args.out}")


if __name__ == "__main__":
    _main()
