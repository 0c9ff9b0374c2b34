"""The SR model interface (the call, the capabilities) and the registry that picks a model by name."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import torch

from vidsr.errors import UsageError

if TYPE_CHECKING:
    from vidsr.sr.batch import SRBatch
    from vidsr.sr.token_cache import TokenCacheParams

__all__ = [
    "SuperResolver",
    "Capabilities",
    "TokenCaching",
    "register_model",
    "build_model",
    "available_models",
    "resolve_auto",
    "AUTO",
]


@dataclass(frozen=True)
class Capabilities:
    """What a model declares once, so callers read it instead of probing for attributes.

    ``accepts_uint8``: takes ``uint8`` batches (0-255) and returns ``uint8``, skipping the float
    conversion where it has a faster integer path. ``tiles_itself``: cuts its own windows and bounds its
    own memory, so the tiler hands it whole frames. ``conditioned``: uses degrade-analysis's vectors (the
    tiler measures whole frames for it when a batch has none, so every tile gets its frame's vector).
    ``token_cache``: has a scene-level cache (:class:`TokenCaching`: ``configure_cache``/``cache_summary``).
    ``detail``: adds a change on top of a base output whose strength the ``detail`` setting scales (0: the
    base exactly); set once when the model is built, never between calls.
    """

    accepts_uint8: bool = False
    tiles_itself: bool = False
    conditioned: bool = False
    token_cache: bool = False
    detail: bool = False


@runtime_checkable
class SuperResolver(Protocol):
    """Batch in, batch out: ``model(SRBatch(x_BCHW, degradation_B4, scene_ids))`` with ``x_BCHW`` float
    RGB in [0, 1] on ``device`` -> ``B x C x sH x sW``. A bare tensor is taken as a batch with no vectors
    and no scene ids (``vidsr.sr.batch.as_batch``). A call reads nothing set on the model between calls.

    ``context`` is how many low-resolution pixels around a tile the model needs to give the same
    result as on the whole frame (the tiler's overlap is at least this).
    """

    name: str
    scale: int
    device: torch.device
    context: int
    capabilities: Capabilities

    def __call__(self, batch: SRBatch | torch.Tensor) -> torch.Tensor: ...


@runtime_checkable
class TokenCaching(Protocol):
    """The extra methods of a model whose ``capabilities.token_cache`` is set."""

    def configure_cache(self, params: TokenCacheParams | None) -> None: ...

    def cache_summary(self) -> dict[str, Any] | None: ...


ModelFactory = Callable[[int, torch.device], SuperResolver]
_REGISTRY: dict[str, tuple[ModelFactory, tuple[int, ...]]] = {}


def register_model(name: str, scales: tuple[int, ...]) -> Callable[[ModelFactory], ModelFactory]:
    """Register a factory ``(scale, device) -> SuperResolver`` under ``name`` for the given scales."""

    def deco(factory: ModelFactory) -> ModelFactory:
        _REGISTRY[name] = (factory, scales)
        return factory

    return deco


def available_models() -> dict[str, tuple[int, ...]]:
    """Model names with the scales each supports."""
    _load_builtin_models()
    return {name: scales for name, (_, scales) in sorted(_REGISTRY.items())}


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
    factory, scales = _REGISTRY[name]
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
