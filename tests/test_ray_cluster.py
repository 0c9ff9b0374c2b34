"""Faults on a simulated multi-node cluster (``ray.cluster_utils.Cluster``: a head with no CPUs and two
one-CPU worker nodes, shared by the module): an actor process killed while its segment is in flight
costs only that segment, which is retried on another actor; the output is complete and equal to the
single run. The input is shipped through the object store, as for worker nodes without the driver's disk.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from pathlib import Path

import pytest
from test_ray import assert_same_video, lossless

from vidsr.media.segments import SegmentConfig
from vidsr.pipeline import enhance
from workers.config import RayConfig
from workers.executor import run_on_ray

os.environ.setdefault("RAY_AUTH_MODE", "disabled")

ray = pytest.importorskip("ray")
cluster_utils = pytest.importorskip("ray.cluster_utils")


@pytest.fixture(scope="module")
def two_nodes():
    cluster = cluster_utils.Cluster(initialize_head=True, head_node_args={"num_cpus": 0, "include_dashboard": False})
    try:
        for _ in range(2):
            cluster.add_node(num_cpus=1)
        cluster.wait_for_nodes()
        ray.init(address=cluster.address, logging_level=logging.WARNING)
        yield cluster
    finally:
        ray.shutdown()
        cluster.shutdown()


def kill_first_busy_actor(done: threading.Event, killed: list[int]) -> None:
    """SIGKILL the first actor process Ray has titled as running a segment (``ray::SegmentWorker.process``)."""
    while not done.is_set():
        for proc in Path("/proc").glob("[0-9]*/cmdline"):
            try:
                title = proc.read_bytes()
            except OSError:
                continue  # the process ended while we looked
            if b"SegmentWorker.process" in title:
                pid = int(proc.parent.name)
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)
                return
        time.sleep(0.01)


def test_killed_actor_costs_one_retry_and_nothing_else(two_nodes, clip, tmp_path: Path) -> None:
    src = clip(frames=80, width=192, height=128, options={"g": "10"})
    single, joined = tmp_path / "single.mp4", tmp_path / "ray.mp4"
    config = lossless()
    config.encode.preset = "medium"  # slower segments: the killer finds one in flight
    enhance(src, single, pipeline=config)
    done, killed = threading.Event(), []
    killer = threading.Thread(target=kill_first_busy_actor, args=(done, killed), daemon=True)
    killer.start()
    rc = RayConfig(segment=SegmentConfig(seconds=0.4, min_seconds=0.3, max_seconds=0.6), ship_input="always")
    try:
        (report,) = run_on_ray([(src, joined)], pipeline=config, ray_config=rc)
    finally:
        done.set()
        killer.join()
    assert killed, "no segment was seen in flight"
    assert_same_video(single, joined)
    retried = [s for s in report["segments"] if s["retries"]]
    assert report["ray"]["retries"] == len(retried) == 1
    assert "ActorDiedError" in retried[0]["failures"][0] or "Actor" in retried[0]["failures"][0]
    assert not retried[0]["actor"].endswith(f":{killed[0]}")  # finished by another actor
    assert len({a["node"] for a in report["ray"]["actors"]}) == 2  # the pool spread over both nodes
    assert {s["input_via"] for s in report["segments"]} == {"object store"}
