"""The SR model interface: the call and the capabilities (the registry that picks a model by name is
:mod:`vidsr.sr.registry`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import torch

if TYPE_CHECKING:
    from vidsr.sr.batch import SRBatch
    from vidsr.sr.token_cache import TokenCacheParams

__all__ = ["SuperResolver", "Capabilities", "TokenCaching"]


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
    """Batch in, batch out: ``model(SRBatch(x_BCHW, degradation_BF, scene_ids))`` with ``x_BCHW`` float
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
