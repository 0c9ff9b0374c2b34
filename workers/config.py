"""The scale-out settings: a typed dataclass, overridable from ``VIDSR_RAY_*`` environment variables.

Environment variables reach every way a job starts (a shell, ``ray job submit``'s runtime env, a
cluster's setup commands) without adding options to ``vidsr run``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields

from vidsr.errors import UsageError
from vidsr.media.segments import SegmentConfig

__all__ = ["RayConfig", "ENV_PREFIX"]

ENV_PREFIX = "VIDSR_RAY_"


@dataclass
class RayConfig:
    """How the driver connects, sizes its actor pool and handles faults.

    ``address``: None starts a local Ray, ``auto`` joins the running cluster, or any ``ray.init`` address.
    ``actors``: 0 sizes the pool from the cluster (one actor per GPU, else one per ``cpus_per_actor`` CPUs).
    A GPU actor's CPUs feed its GPU (decode, analysis, encode); a CPU actor's run the model too.
    ``ship_input``: ``auto`` sends the input through the object store when the cluster has more than one
    node (workers may not share the driver's disk), ``always`` forces that, ``never`` relies on a shared path.
    """

    address: str | None = None
    segment: SegmentConfig = field(default_factory=SegmentConfig)
    actors: int = 0
    cpus_per_actor: int = 0  # 0: 1 on CPU-only clusters, the node's CPUs divided among its GPUs on GPU ones
    gpus_per_actor: float = 1.0
    # a GPU actor's CPUs while no GPU node is up to measure (an autoscaler starts it for the actors asked for)
    gpu_actor_cpus: int = 4
    grow_into_gpus: bool = True  # a pool that started on CPUs adds GPU actors when GPU nodes join
    scene_scan: bool = True  # with a degrade-analysis stage: find scene cuts first (a decode pass), cut there
    max_retries: int = 2  # attempts after the first, per segment, when its actor or node dies
    ship_input: str = "auto"
    ship_chunk_mb: int = 64  # the input travels in chunks this size, so the driver never holds it whole
    actor_start_timeout_s: float = 600.0  # no actor ready and nothing running for this long: give up
    keep_workdir: bool = False  # keep finished segments after a successful join (for debugging)
    # > 0: each segment's encoder also codes up to this many frames before and after it and drops them, so
    # a lossy encode comes close to one continuous encode (those frames are enhanced too: extra model work)
    encode_overlap_frames: int = 0

    def __post_init__(self) -> None:
        if self.ship_input not in ("auto", "always", "never"):
            raise UsageError(f"{ENV_PREFIX}SHIP_INPUT must be auto, always or never, not '{self.ship_input}'")
        if min(self.cpus_per_actor, self.actors, self.max_retries, self.encode_overlap_frames) < 0:
            raise UsageError("Ray settings: cpus_per_actor, actors, max_retries and encode_overlap_frames "
                             "must not be negative")

    @classmethod
    def from_env(cls, address: str | None = None, environ: dict[str, str] | None = None) -> RayConfig:
        """Defaults, then ``VIDSR_RAY_ACTORS=4``-style overrides; segment lengths are
        ``VIDSR_RAY_SEGMENT_SECONDS``, ``..._SEGMENT_MIN_SECONDS``, ``..._SEGMENT_MAX_SECONDS``."""
        env = os.environ if environ is None else environ
        kwargs: dict[str, object] = {"address": address}
        for f in fields(cls):
            key = ENV_PREFIX + f.name.upper()
            if f.name in ("address", "segment") or key not in env:
                continue
            kwargs[f.name] = _parse(key, env[key], type(getattr(cls(), f.name)))
        seg: dict[str, float] = {}
        for name, key in (("seconds", "SEGMENT_SECONDS"), ("min_seconds", "SEGMENT_MIN_SECONDS"),
                          ("max_seconds", "SEGMENT_MAX_SECONDS")):
            if ENV_PREFIX + key in env:
                seg[name] = float(_parse(ENV_PREFIX + key, env[ENV_PREFIX + key], float))
        if seg:
            base = SegmentConfig()
            seconds = seg.get("seconds", base.seconds)
            seg.setdefault("min_seconds", min(base.min_seconds, seconds))
            seg.setdefault("max_seconds", max(base.max_seconds, seconds))
            try:
                kwargs["segment"] = SegmentConfig(seconds=seconds, min_seconds=seg["min_seconds"],
                                                  max_seconds=seg["max_seconds"])
            except ValueError as err:
                raise UsageError(str(err)) from None
        return cls(**kwargs)  # type: ignore[arg-type]


def _parse(key: str, value: str, tp: type) -> object:
    try:
        if tp is bool:
            if value.lower() not in ("1", "0", "true", "false", "yes", "no"):
                raise ValueError(value)
            return value.lower() in ("1", "true", "yes")
        return tp(value)
    except ValueError:
        raise UsageError(f"{key}={value!r} is not a valid {tp.__name__}") from None
