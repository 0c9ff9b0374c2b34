"""Where models register: a name and its scales map to a factory ``(scale, device) -> SuperResolver``.

Apart from ``registry.py`` (which loads the built-in models and picks ``auto``) so that an adapter's
``@register_model`` needs only this small module, and the registry can import the adapters without a loop.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from vidsr.sr.base import SuperResolver

__all__ = ["ModelFactory", "REGISTRY", "register_model"]

ModelFactory = Callable[[int, torch.device], SuperResolver]
REGISTRY: dict[str, tuple[ModelFactory, tuple[int, ...]]] = {}


def register_model(name: str, scales: tuple[int, ...]) -> Callable[[ModelFactory], ModelFactory]:
    """Register a factory ``(scale, device) -> SuperResolver`` under ``name`` for the given scales."""

    def deco(factory: ModelFactory) -> ModelFactory:
        REGISTRY[name] = (factory, scales)
        return factory

    return deco
