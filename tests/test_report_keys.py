"""One report, one set of keys: the same short clip through a local whole-file run, a local chunked run and a
--ray job (a real local Ray) gives reports with the same keys, nested dicts included (``vidsr.report.build_report``
builds all three; a key one kind of run does not fill is there as None)."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import pytest

from vidsr.config import PipelineConfig
from vidsr.media.segments import SegmentConfig
from vidsr.pipeline import configure, enhance
from workers.config import RayConfig
from workers.executor import run_on_ray

os.environ.setdefault("RAY_AUTH_MODE", "disabled")  # Ray 2.60 would otherwise write a token under $HOME

ray = pytest.importorskip("ray")


@pytest.fixture(scope="module")
def local_ray():
    ray.init(num_cpus=2, include_dashboard=False, logging_level=logging.WARNING)
    try:
        yield
    finally:
        ray.shutdown()


def config(chunk_seconds: float = 0.0) -> PipelineConfig:
    c = configure("default", model="bicubic", device="cpu", preset="ultrafast")
    c.encode.chunk_seconds = chunk_seconds
    return c


def key_paths(value: Any, prefix: str = "") -> set[str]:
    """Every key of a report, dotted for nested dicts (lists and None values are leaves)."""
    if not isinstance(value, dict):
        return set()
    paths = set()
    for k, v in value.items():
        paths.add(prefix + k)
        paths |= key_paths(v, f"{prefix}{k}.")
    return paths


def shared_dict_paths(a: Any, b: Any, prefix: str = "") -> tuple[set[str], set[str]]:
    """The keys of ``a`` and ``b`` where both are dicts (a key filled in one report and None in the other is
    compared at its own level only)."""
    if not (isinstance(a, dict) and isinstance(b, dict)):
        return set(), set()
    ka, kb = {prefix + k for k in a}, {prefix + k for k in b}
    for k in a.keys() & b.keys():
        sa, sb = shared_dict_paths(a[k], b[k], f"{prefix}{k}.")
        ka |= sa
        kb |= sb
    return ka, kb


def test_local_and_ray_reports_have_the_same_keys(local_ray, clip, tmp_path: Path) -> None:
    src = clip("in.mp4", frames=30, options={"g": "10"})  # 1.2 s
    whole = enhance(src, tmp_path / "whole.mp4", pipeline=config())
    chunked = enhance(src, tmp_path / "chunked.mp4", pipeline=config(chunk_seconds=0.4))
    assert chunked["chunks"] and chunked["chunks"]["chunks"] > 1 and whole["chunks"] is None
    rc = RayConfig(segment=SegmentConfig(seconds=0.4, min_seconds=0.3, max_seconds=0.6))
    (on_ray,) = run_on_ray([(src, tmp_path / "ray.mp4")], pipeline=config(), ray_config=rc)
    assert on_ray["ray"]["segments_total"] > 1 and whole["ray"] is None and whole["segments"] is None

    for local in (whole, chunked):
        ka, kb = shared_dict_paths(local, on_ray)
        assert ka == kb, (sorted(ka - kb), sorted(kb - ka))
    assert whole.keys() == on_ray.keys() == chunked.keys()
    # the facts the Ray report used to lack are there and agree with the local run's
    for key in ("frames", "frames_lost", "frames_damaged"):
        assert on_ray[key] == whole[key], key
    assert on_ray["output_video"]["pix_fmt"] == whole["output_video"]["pix_fmt"]
    assert on_ray["stages"].keys() == whole["stages"].keys()
    assert on_ray["stage_summaries"].keys() == whole["stage_summaries"].keys()
    assert on_ray["cache"] == whole["cache"]
    assert {k: v["frames"] for k, v in on_ray["stages"].items()} == {k: v["frames"] for k, v in whole["stages"].items()}
    assert key_paths(whole["stage_summaries"]) == key_paths(on_ray["stage_summaries"])
