"""Scale-out on Ray: segments of long videos on model-holding actors, joined losslessly by the driver.

``run_on_ray`` is the driver (the ``--ray`` path of ``vidsr run``); ``SegmentWorker`` is the actor;
``workers.submit`` is ``vidsr submit`` through Ray's Job Submission API. Names load lazily, so the
CLI can declare its Ray options without importing Ray.
"""

from __future__ import annotations

from typing import Any

__all__ = ["RayConfig", "Job", "run_on_ray"]


def __getattr__(name: str) -> Any:
    if name == "RayConfig":
        from workers.config import RayConfig

        return RayConfig
    if name in ("Job", "run_on_ray"):
        from workers import executor

        return getattr(executor, name)
    raise AttributeError(f"module 'workers' has no attribute {name!r}")
