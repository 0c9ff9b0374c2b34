"""What one SR model call receives: the pixels and, per item, the vector and scene id they came with.

Everything a call needs is an argument, never an attribute set on the model beforehand: a model holds
no per-call state, so the order of calls and the thread they run on cannot change what it computes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import torch

__all__ = ["SRBatch", "as_batch"]


@dataclass(frozen=True, eq=False)
class SRBatch:
    """``x_BCHW`` (float RGB in [0, 1], or uint8 for a model that accepts it) with, for item ``i``,
    ``degradation_BF[i]`` (degrade-analysis's vector, float32 on the CPU) and ``scene_ids[i]``.

    Either may be None: unknown. A conditioned model then measures its items itself, and a scene-level
    cache treats the items as one scene. Items are whole frames or tiles of them; a tile carries its own
    frame's vector and scene id (:meth:`stacked`), so no model needs to know how a batch was stacked.
    """

    x_BCHW: torch.Tensor
    degradation_BF: torch.Tensor | None = None
    scene_ids: tuple[int, ...] | None = None

    def __post_init__(self) -> None:
        B = self.x_BCHW.shape[0]
        if self.degradation_BF is not None and self.degradation_BF.shape[0] != B:
            raise ValueError(f"{self.degradation_BF.shape[0]} degradation vectors for a batch of {B}")
        if self.scene_ids is not None and len(self.scene_ids) != B:
            raise ValueError(f"{len(self.scene_ids)} scene ids for a batch of {B}")

    def select(self, items: slice | Sequence[int]) -> SRBatch:
        """Items ``items`` (a slice or indices), each with its own vector and scene id."""
        index = items if isinstance(items, slice) else list(items)
        vectors = None if self.degradation_BF is None else self.degradation_BF[index]
        if self.scene_ids is None:
            scenes = None
        elif isinstance(items, slice):
            scenes = self.scene_ids[items]
        else:
            scenes = tuple(self.scene_ids[i] for i in items)
        return SRBatch(self.x_BCHW[index], vectors, scenes)

    def stacked(self, crops_BCHW: Sequence[torch.Tensor]) -> SRBatch:
        """One batch of several crops of these frames (each ``B x C x h x w``, concatenated crop after
        crop, as the tiler stacks tiles): item ``k * B + b`` carries frame ``b``'s vector and scene id."""
        n = len(crops_BCHW)
        vectors = None if self.degradation_BF is None else self.degradation_BF.repeat(n, 1)
        scenes = None if self.scene_ids is None else self.scene_ids * n
        return SRBatch(torch.cat(list(crops_BCHW), dim=0), vectors, scenes)

    def with_degradation(self, degradation_BF: torch.Tensor | None) -> SRBatch:
        """The same items with these vectors (measured by the caller, or dropped)."""
        return replace(self, degradation_BF=degradation_BF)


def as_batch(x: SRBatch | torch.Tensor) -> SRBatch:
    """A bare tensor (a direct caller: tests, benchmarks, the quality harness) as a batch with no vectors
    and no scene ids: a model that wants vectors then measures its input itself."""
    return x if isinstance(x, SRBatch) else SRBatch(x)
