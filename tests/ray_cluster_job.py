"""The driver side of ``test_ray_cluster.py``, run in a child process of its own.

A simulated multi-node cluster (``ray.cluster_utils.Cluster``: a head with no CPUs, two one-CPU worker
nodes) runs one --ray job while a watcher SIGKILLs the first actor it sees working on a segment. The job's
report and the killed pid go to a JSON file for the test to judge.

Why a child process: Ray is started at most once in the test process. Starting it again there after a
``ray.shutdown()`` can crash the whole process (a segfault in Ray's core worker, ray-project/ray#31145),
and the cluster helper also rewrites Ray's process-wide state.

    python tests/ray_cluster_job.py SRC OUT RESULT_JSON
"""

from __future__ import annotations

import json
import logging
import os
import signal
import sys
import threading
import time
from pathlib import Path

os.environ.setdefault("RAY_AUTH_MODE", "disabled")  # Ray 2.60 would otherwise write a token under $HOME


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


def main(src: Path, out: Path, result: Path) -> None:
    import ray
    from ray.cluster_utils import Cluster

    from vidsr.media.segments import SegmentConfig
    from vidsr.pipeline import configure
    from workers.config import RayConfig
    from workers.executor import run_on_ray

    config = configure("fast", preset="medium")  # medium: slower segments, so the watcher finds one in flight
    config.encode.crf = 0  # lossless, as the single run the test compares with
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 0, "include_dashboard": False})
    try:
        for _ in range(2):
            cluster.add_node(num_cpus=1)
        cluster.wait_for_nodes()
        ray.init(address=cluster.address, logging_level=logging.WARNING)
        done, killed = threading.Event(), []
        watcher = threading.Thread(target=kill_first_busy_actor, args=(done, killed), daemon=True)
        watcher.start()
        rc = RayConfig(segment=SegmentConfig(seconds=0.4, min_seconds=0.3, max_seconds=0.6), ship_input="always")
        try:
            (report,) = run_on_ray([(src, out)], pipeline=config, ray_config=rc)
        finally:
            done.set()
            watcher.join()
    finally:
        ray.shutdown()
        cluster.shutdown()
    result.write_text(json.dumps({"report": report, "killed": killed}, default=str))


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3]))
