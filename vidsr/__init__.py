"""vidsr: video super-resolution and enhancement that keeps audio, timing, depth and colour intact."""

from __future__ import annotations

from typing import TYPE_CHECKING

__version__ = "0.1.0"

from vidsr.errors import (  # noqa: E402
    ConfigError,
    CorruptInputError,
    FrameError,
    InputError,
    InputPathError,
    Interrupted,
    OutputError,
    ProcessingError,
    UsageError,
    VidsrError,
)

if TYPE_CHECKING:  # what the lazy names are, for type checkers and editors
    from vidsr.frame import Frame
    from vidsr.options import RunOptions
    from vidsr.pipeline import Enhancer, configure, enhance

_LAZY = {"enhance": "vidsr.pipeline", "Enhancer": "vidsr.pipeline", "configure": "vidsr.pipeline",
         "Frame": "vidsr.frame", "RunOptions": "vidsr.options"}


def __getattr__(name: str) -> object:
    """The pipeline (numpy, torch, PyAV, the models) loads on first use, so ``vidsr`` itself imports in
    milliseconds and the command can take Ctrl-C from its first moment (see ``vidsr.entry``)."""
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'vidsr' has no attribute '{name}'")


__all__ = [
    "__version__",
    "enhance",
    "Enhancer",
    "configure",
    "RunOptions",
    "Frame",
    "VidsrError",
    "UsageError",
    "ConfigError",
    "FrameError",
    "InputError",
    "InputPathError",
    "OutputError",
    "ProcessingError",
    "CorruptInputError",
    "Interrupted",
]
