"""Faults on a simulated multi-node cluster (a head with no CPUs and two one-CPU worker nodes): an actor
process killed while its segment is in flight costs only that segment, which is retried on another actor;
the output is complete and equal to the single run. The input is shipped through the object store, as for
worker nodes without the driver's disk.

The cluster and its driver run in a child process (``ray_cluster_job.py`` says why); this process makes the
clip, runs the single-process reference and judges the job's report.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from test_ray import assert_same_video, lossless

from vidsr.pipeline import enhance

pytest.importorskip("ray.cluster_utils")


def test_killed_actor_costs_one_retry_and_nothing_else(clip, tmp_path: Path) -> None:
    src = clip(frames=80, width=192, height=128, options={"g": "10"})
    single, joined, result = tmp_path / "single.mp4", tmp_path / "ray.mp4", tmp_path / "result.json"
    config = lossless()
    config.encode.preset = "medium"  # as the job's: slower segments, so the killer finds one in flight
    enhance(src, single, pipeline=config)
    job = subprocess.run([sys.executable, str(Path(__file__).with_name("ray_cluster_job.py")), str(src), str(joined),
                          str(result)], capture_output=True, text=True, timeout=600)
    assert job.returncode == 0, job.stderr[-3000:]
    res = json.loads(result.read_text())
    report, killed = res["report"], res["killed"]
    assert killed, "no segment was seen in flight"
    assert_same_video(single, joined)
    retried = [s for s in report["segments"] if s["retries"]]
    assert report["ray"]["retries"] == len(retried) == 1
    assert "ActorDiedError" in retried[0]["failures"][0] or "Actor" in retried[0]["failures"][0]
    assert not retried[0]["actor"].endswith(f":{killed[0]}")  # finished by another actor
    assert len({a["node"] for a in report["ray"]["actors"]}) == 2  # the pool spread over both nodes
    assert {s["input_via"] for s in report["segments"]} == {"object store"}
