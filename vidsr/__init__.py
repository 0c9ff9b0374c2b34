"""vidsr: video super-resolution and enhancement that keeps audio, timing, depth and colour intact."""

from __future__ import annotations

__version__ = "0.1.0"
