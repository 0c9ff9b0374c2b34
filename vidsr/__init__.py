"""vidsr: video super-resolution and enhancement that keeps audio, timing, depth and colour intact."""

from __future__ import annotations

__version__ = "0.1.0"

from vidsr.errors import (  # noqa: E402
    ConfigError,
    CorruptInputError,
    InputError,
    Interrupted,
    OutputError,
    ProcessingError,
    UsageError,
    VidsrError,
)
from vidsr.frame import Frame  # noqa: E402
from vidsr.pipeline import Enhancer, configure, enhance  # noqa: E402

__all__ = [
    "__version__",
    "enhance",
    "Enhancer",
    "configure",
    "Frame",
    "VidsrError",
    "UsageError",
    "ConfigError",
    "InputError",
    "OutputError",
    "ProcessingError",
    "CorruptInputError",
    "Interrupted",
]
