"""The model registry: a model name and its scales map to a factory ``(scale, device) -> SuperResolver``;
``auto`` picks the model that measures best. The shipped models register themselves (``register.py``)
when :func:`available_models` first imports them (lazily, so importing vidsr stays light)."""

from __future__ import annotations

import torch

from vidsr.errors import UsageError
from vidsr.sr.base import SuperResolver
from vidsr.sr.register import REGISTRY, register_model

__all__ = ["register_model", "build_model", "available_models", "resolve_auto", "AUTO"]


def available_models() -> dict[str, tuple[int, ...]]:
    """Model names with the scales each supports."""
    _load_builtin_models()
    return {name: scales for name, (_, scales) in sorted(REGISTRY.items())}


AUTO = "auto"


def resolve_auto(scale: int, device: torch.device) -> str:
    """``auto``: the model that measures best on real sources.

    On CUDA ``var`` (the CNN base plus the VAR detail stage) when the real-source suite showed it within
    0.2 dB PSNR-Y of the base with a better NIQE (``vidsr.sr.var_sr.earns_auto``: the figures travel in
    the weights file's header, written at export from ``bench/detail_suite.py``); otherwise, and on every
    CPU (the detail stage costs seconds per frame there), the compact CNN.
    """
    models = available_models()
    if device.type == "cuda" and scale in models.get("var", ()):
        from vidsr.sr.var_sr import earns_auto

        if earns_auto():
            return "var"
    for name in ("cnn", "bicubic"):
        if scale in models.get(name, ()):
            return name
    return "bicubic"


def build_model(name: str, scale: int, device: torch.device) -> SuperResolver:
    """Build a registered model (or ``auto``: see :func:`resolve_auto`); an unknown name or an
    unsupported scale is a usage error."""
    if name == AUTO:
        name = resolve_auto(scale, device)
    models = available_models()
    if name not in models:
        raise UsageError(f"unknown model '{name}' (available: {', '.join(models)})")
    factory, scales = REGISTRY[name]
    if scale not in scales:
        raise UsageError(
            f"model '{name}' has no x{scale} (supported scales: {', '.join(f'x{s}' for s in scales)})"
        )
    return factory(scale, device)


def _load_builtin_models() -> None:
    """Import the modules that register the shipped models (kept lazy so importing vidsr stays light)."""
    import vidsr.sr.classical  # noqa: F401
    import vidsr.sr.cnn  # noqa: F401
    import vidsr.sr.lanczos  # noqa: F401
    import vidsr.sr.var_sr  # noqa: F401
    import vidsr.sr.vq_lq  # noqa: F401
