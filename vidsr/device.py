"""Pick the torch device a model runs on, refusing CUDA where there is none."""

from __future__ import annotations

from typing import TYPE_CHECKING

from vidsr.errors import UsageError

if TYPE_CHECKING:
    import torch

__all__ = ["resolve_device", "DEVICE_CHOICES"]

DEVICE_CHOICES = ("auto", "cpu", "cuda")


def resolve_device(name: str) -> torch.device:
    """``auto`` is CUDA when present, else CPU; ``cuda`` without CUDA is a usage error, not a fallback.

    torch is imported here, not at the top: the CLI reads DEVICE_CHOICES and ``vidsr --help`` stays instant."""
    import torch

    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cpu":
        return torch.device("cpu")
    if name == "cuda" or name.startswith("cuda:"):
        if not torch.cuda.is_available():
            raise UsageError("--device cuda was asked for but CUDA is not available on this machine")
        return torch.device(name)
    raise UsageError(f"unknown device '{name}' (choose from {', '.join(DEVICE_CHOICES)})")
