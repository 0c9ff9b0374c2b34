"""The driver: plan segments for every input, fill the actor pool, keep finished segments, join each output.

Inputs are checked and probed before Ray starts, so a bad input fails with the same one-line error
as a local run. Only encoded bytes come back to the driver, one segment at a time, and go straight
to disk, so the driver's memory does not grow with the video's length or the number of inputs.
"""

from __future__ import annotations

import copy
import dataclasses
import logging
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import ray
import torch

from vidsr.backlog import check_jobs
from vidsr.config import PipelineConfig
from vidsr.errors import Interrupted, UsageError
from vidsr.media.deinterlace import field_order_name
from vidsr.media.limits import check_sizes
from vidsr.media.output import atomic_output
from vidsr.media.probe import MediaInfo
from vidsr.media.remux import check_codec
from vidsr.media.segments import Segment, join_segments, plan_segments, scan_chunks, segment_file_suffix
from vidsr.media.streams import SidePlan, plan_side_streams
from vidsr.media.workdir import WorkDir
from vidsr.options import RunOptions
from vidsr.pipeline import configure, for_output
from vidsr.progress import Progress
from vidsr.report import build_report, check_damage, deinterlace_report, write_report
from vidsr.sr.registry import AUTO, resolve_auto
from workers.actor import SegmentResult, SegmentTask, SegmentWorker
from workers.config import RayConfig
from workers.inputs import fingerprint, ship
from workers.pool import SegmentPool

__all__ = ["Job", "run_on_ray"]

log = logging.getLogger("vidsr")


@dataclass
class Job:
    """One input and its output; the rest is filled in while planning."""

    src: Path
    dst: Path
    info: MediaInfo | None = None
    side: list[SidePlan] = field(default_factory=list)
    segments: list[Segment] = field(default_factory=list)
    fingerprint: str = ""
    scene_cuts: list[int] | None = None  # pts of the frames that start a scene (None: not scanned)
    chunks: list[ray.ObjectRef] | None = None  # the input in the object store, when shipped
    workdir: WorkDir | None = None
    records: dict[int, dict[str, Any]] = field(default_factory=dict)
    resumed: set[int] = field(default_factory=set)
    report: dict[str, Any] | None = None

    @property
    def done(self) -> bool:
        return len(self.records) == len(self.segments)


def run_on_ray(
    jobs: list[Job] | list[tuple[str | Path, str | Path]],
    *,
    ray_config: RayConfig | None = None,
    pipeline: str | PipelineConfig = "default",
    options: RunOptions | None = None,
    overwrite: bool = False,
    ignore_errors: bool = False,
    progress: bool | None = False,
    report_path: str | Path | None = None,
    warn: Callable[[str], None] | None = None,
    stop: threading.Event | None = None,
    **overrides: Any,
) -> list[dict[str, Any]]:
    """Enhance every ``(src, dst)`` on Ray and return one report per job (the keys of
    :func:`vidsr.pipeline.enhance`, both built by :func:`vidsr.report.build_report`; ``segments`` and ``ray``
    filled here, ``window`` and ``chunks`` None). Each output appears, atomically, as
    soon as its own segments are done. ``stop`` ends the run early, keeping finished segments for resume.
    ``options`` (or its fields as keywords) override the pipeline as :func:`vidsr.pipeline.enhance`'s do.
    """
    t_start = time.perf_counter()
    warn = warn or log.warning
    rc = ray_config or RayConfig()
    config = configure(pipeline, options, **overrides)
    check_codec(config.encode.codec)
    todo = [j if isinstance(j, Job) else Job(Path(j[0]), Path(j[1])) for j in jobs]
    _check(todo, config, overwrite, warn)
    scan = rc.scene_scan and config.stage("degrade-analysis") is not None
    if scan:
        for job in todo:
            job.scene_cuts = WorkDir(job.dst, segment_file_suffix(job.dst)).load_scenes(job.fingerprint)

    started_ray = _connect(rc.address)
    pool: SegmentPool | None = None
    bar: Progress | None = None
    state = _RunState(t_start=t_start)
    try:
        config = resolve_sr(config, ray.cluster_resources(), rc)
        state.shipped = _ship(todo, rc)
        to_scan = [j for j in todo if scan and j.scene_cuts is None]
        if to_scan:
            pool = _make_pool(config, rc, sum(len(j.segments) for j in to_scan), state)
            _scan_scenes(to_scan, todo, pool, rc, progress, state)
        _plan(todo, config, rc)
        total = sum(s.frames for j in todo for s in j.segments)
        bar = Progress(total, enabled=progress, desc="vidsr ray")
        bar.update(sum(j.segments[i].frames for j in todo for i in j.resumed))
        for job in todo:
            if job.done:
                _finish(job, config, state, rc, warn)
        tasks = _tasks(todo, rc)
        if tasks:
            pool = pool or _make_pool(config, rc, len(tasks), state)
            pool.on_progress = bar.update
            for task, result in pool.run(tasks):
                t0 = time.perf_counter()
                job = todo[task.job]
                record = _record(task, result)
                job.workdir.save(task.segment.index, result.data, record)
                job.records[task.segment.index] = record
                bar.update(task.segment.frames - task.frames_done)  # what the progress reports missed
                state.driver_s += time.perf_counter() - t0 + task.fetch_s
                state.computed += 1
                if job.done:
                    _finish(job, config, state, rc, warn)
                if stop is not None and stop.is_set() and not all(j.done for j in todo):
                    raise Interrupted("stopped before the end; finished segments are kept for resume")
    finally:
        if bar is not None:
            bar.close()
        if pool is not None:
            pool.shutdown()
        if started_ray:
            ray.shutdown()
    reports = [j.report for j in todo if j.report is not None]
    for report in reports:
        report["ray"]["driver_overhead_s_per_segment"] = (
            round(state.driver_s / state.computed, 4) if state.computed else None)
    if report_path:
        write_report(reports[0] if len(reports) == 1 else {"jobs": reports}, report_path)
    for report in reports:
        check_damage(report, ignore_errors, packets=sum(r.get("packets", 0) for r in report["segments"]))
    return reports


@dataclass
class _RunState:
    t_start: float
    actors: list[dict[str, Any]] = field(default_factory=list)
    pool_size: int = 0
    retired: int = 0
    resources: dict[str, float] = field(default_factory=dict)
    shipped: bool = False
    driver_s: float = 0.0
    computed: int = 0
    scan_s: float | None = None


def _check(jobs: list[Job], config: PipelineConfig, overwrite: bool, warn: Callable[[str], None]) -> None:
    """Check every path and probe every input before any Ray work, so errors read as a local run's."""
    for job, info in zip(jobs, check_jobs([(j.src, j.dst) for j in jobs], overwrite)):
        check_sizes(job.src, info, for_output(config, job.dst, codec_chosen=False))  # frames the encoder takes
        job.info = info
        job.side = plan_side_streams(job.src, job.info.video.index, job.dst.name, config.encode.audio_fallback_codec)
        for plan in job.side:
            if plan.action != "copy":
                warn(plan.describe())
        job.fingerprint = fingerprint(job.src)


def _plan(jobs: list[Job], config: PipelineConfig, rc: RayConfig) -> None:
    """Cut each input (on its scene cuts where known) and open its work directory, resuming what matches."""
    for job in jobs:
        job.segments = plan_segments(job.src, job.info, rc.segment, job.scene_cuts or (), rc.encode_overlap_frames,
                                     restarts_at_cuts=config.encode.restart_at_scene_cuts)
        suffix = segment_file_suffix(job.dst)
        job.workdir = WorkDir(job.dst, suffix)
        job.records = job.workdir.open(WorkDir.plan_key(
            job.fingerprint, config, [(s.start_pts, s.end_pts, s.warmup_frames, s.runout_frames) for s in job.segments],
            suffix))
        job.resumed = set(job.records)
        if job.scene_cuts is not None:
            job.workdir.save_scenes(job.fingerprint, job.scene_cuts)


def _scan_scenes(to_scan: list[Job], jobs: list[Job], pool: SegmentPool, rc: RayConfig, progress: bool | None,
                 state: _RunState) -> None:
    """Find every scene cut with the pipeline's detector, in parallel over keyframe-cut chunks on the actors.

    A cut on a chunk's first frame cannot be seen (the detector needs the frame before); chunks start one
    frame after a keyframe, so the likeliest cuts, on keyframes, are seen (see :func:`scan_chunks`).
    """
    t0 = time.perf_counter()
    tasks = []
    for job in to_scan:
        job.segments = scan_chunks(job.src, job.info, rc.segment)
        job.scene_cuts = []
        tasks += [SegmentTask(job=jobs.index(job), src=str(job.src), fingerprint=job.fingerprint, info=job.info,
                              segment=seg, suffix="", input_chunks=job.chunks,
                              prefer_local=rc.ship_input != "always") for seg in job.segments]
    bar = Progress(sum(s.frames for j in to_scan for s in j.segments), enabled=progress, desc="vidsr scenes")
    pool.on_progress = bar.update
    try:
        for task, cuts in pool.run(tasks, method="scan"):
            jobs[task.job].scene_cuts += cuts
            bar.update(task.segment.frames - task.frames_done)
    finally:
        bar.close()
    for job in to_scan:
        job.scene_cuts.sort()
    state.scan_s = time.perf_counter() - t0


def _connect(address: str | None) -> bool:
    """Join or start Ray; return True when this call started it (and so must shut it down)."""
    if ray.is_initialized():
        return False
    handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        ray.init(address=address, logging_level=logging.WARNING, log_to_driver=True)
    except (ConnectionError, RuntimeError, ValueError) as err:
        where = f"the Ray cluster at {address}" if address else "a local Ray instance"
        detail = " ".join(str(err).split())[:300]
        raise UsageError(f"cannot start or join {where}: {detail}") from None
    finally:
        # Ray's core worker installs a crash handler that aborts on SIGTERM; put back the caller's, so
        # SIGTERM (Ctrl-C, `ray job stop`) stops the run cleanly and keeps finished segments for resume
        if threading.current_thread() is threading.main_thread():
            for sig, handler in handlers.items():
                if handler is not None:
                    signal.signal(sig, handler)
    return True


def _ship(jobs: list[Job], rc: RayConfig) -> bool:
    """Put each input in the object store when workers may not share the driver's disk."""
    multi_node = sum(1 for n in ray.nodes() if n.get("Alive")) > 1
    if not (rc.ship_input == "always" or (rc.ship_input == "auto" and multi_node)):
        return False
    for job in jobs:
        job.chunks = ship(job.src, rc.ship_chunk_mb)
    return True


def _tasks(jobs: list[Job], rc: RayConfig) -> list[SegmentTask]:
    tasks = []
    for j, job in enumerate(jobs):
        for seg in job.segments:
            if seg.index not in job.records:
                tasks.append(SegmentTask(job=j, src=str(job.src), fingerprint=job.fingerprint, info=job.info,
                                         segment=seg, suffix=job.workdir.suffix, input_chunks=job.chunks,
                                         prefer_local=rc.ship_input != "always"))
    return tasks


def resolve_sr(config: PipelineConfig, resources: dict[str, float], rc: RayConfig) -> PipelineConfig:
    """``config`` with the SR stage's ``auto`` device and model resolved for the cluster as it is now.

    Every actor then runs the same model, and the resume key (built from the config) records what ran:
    with ``auto`` there, a resumed run could mix CPU ``cnn`` and GPU ``var`` segments in one output."""
    sr = config.stage("sr")
    if sr is None:
        return config
    device = sr.params.device
    if device == "auto":
        device = "cuda" if resources.get("GPU", 0.0) >= rc.gpus_per_actor else "cpu"
    model = sr.params.model
    if model == AUTO:
        model = resolve_auto(sr.params.scale, torch.device(device))
    config = copy.deepcopy(config)
    resolved = config.stage("sr")
    assert resolved is not None
    resolved.params = dataclasses.replace(resolved.params, device=device, model=model)
    return config


def _make_pool(config: PipelineConfig, rc: RayConfig, n_tasks: int, state: _RunState) -> SegmentPool:
    """One actor per GPU (``num_gpus``) where the cluster has GPUs and the model may use them, else one
    per ``cpus_per_actor`` CPUs; never more actors than segments.

    The pool is sized from what the cluster has when the job starts. On an autoscaling cluster with no GPU
    node up yet, ``--device cuda`` with ``VIDSR_RAY_ACTORS=N`` asks for N GPU actors, and the autoscaler
    starts the nodes they need.
    """
    resources = ray.cluster_resources()
    state.resources = {k: v for k, v in resources.items() if k in ("CPU", "GPU", "memory")}
    sr = config.stage("sr")
    device = sr.params.device if sr else "cpu"
    gpus = resources.get("GPU", 0.0)
    if device.startswith("cuda") and gpus < 1 and not rc.actors:
        raise UsageError("--device cuda was asked for but the Ray cluster has no GPUs (on an autoscaling "
                         "cluster, set VIDSR_RAY_ACTORS=N to ask for N GPU actors)")
    if device.startswith("cuda") or (gpus >= rc.gpus_per_actor and device != "cpu"):
        cpus = rc.cpus_per_actor or _cpus_per_gpu(rc.gpus_per_actor, rc.gpu_actor_cpus)
        options = {"num_gpus": rc.gpus_per_actor, "num_cpus": cpus}
        fit = int(gpus // rc.gpus_per_actor)
    else:
        cpus = rc.cpus_per_actor or 1
        options = {"num_cpus": cpus}
        fit = max(1, int(resources.get("CPU", 1) // cpus))
    size = max(1, min(rc.actors or fit, n_tasks))
    state.pool_size = size
    on_cpu = "num_gpus" not in options and sr is not None and sr.params.device != "cpu"
    remote = ray.remote(SegmentWorker).options(max_restarts=0, scheduling_strategy="SPREAD", **options)
    config_ref = ray.put(config)

    def make() -> Any:
        return remote.remote(config_ref, cpus)

    t_pool = time.perf_counter()

    def ready(info: dict[str, Any]) -> None:
        state.actors.append({**info, "ready_after_s": round(time.perf_counter() - t_pool, 3)})

    pool = SegmentPool(make, size, rc.max_retries, rc.actor_start_timeout_s, on_actor=ready)
    if on_cpu and sr is not None and rc.grow_into_gpus:
        pool.grow = _gpu_growth(config, rc, state)

        def retired() -> None:
            state.retired += 1

        pool.on_retire = retired
    return pool


def _gpu_growth(config: PipelineConfig, rc: RayConfig, state: _RunState) -> Callable[[], list[Callable[[], Any]]]:
    """Checked between segments: GPU actors for GPU nodes that joined after the job started (usual right after
    ``ray up``), instead of finishing the job on the CPU actors it started with. They run the job's model
    (the one the resume key records) on CUDA."""
    gpu_config = copy.deepcopy(config)
    sr = gpu_config.stage("sr")
    assert sr is not None
    sr.params = dataclasses.replace(sr.params, device="cuda")
    added = 0

    def grow() -> list[Callable[[], Any]]:
        nonlocal added
        fit = int(ray.cluster_resources().get("GPU", 0.0) // rc.gpus_per_actor) - added
        if fit <= 0:
            return []
        cpus = rc.cpus_per_actor or _cpus_per_gpu(rc.gpus_per_actor, rc.gpu_actor_cpus)
        remote = ray.remote(SegmentWorker).options(max_restarts=0, num_gpus=rc.gpus_per_actor, num_cpus=cpus)
        ref = ray.put(gpu_config)
        added += fit
        state.pool_size += fit
        log.info("%d GPU actor(s) joining the pool: GPU nodes joined the cluster", fit)
        return [lambda: remote.remote(ref, cpus)] * fit

    return grow


def _cpus_per_gpu(gpus_per_actor: float, without_nodes: int = 4) -> int:
    """A GPU actor's share of its node's CPUs (decode, analysis and encode run there), on the leanest GPU node,
    so that every GPU still gets an actor; ``without_nodes`` while no GPU node is up (an autoscaler starts
    them for the actors asked for: one CPU would leave decode and encode on one thread)."""
    shares = [int(n["Resources"].get("CPU", 0) * gpus_per_actor // n["Resources"]["GPU"])
              for n in ray.nodes() if n.get("Alive") and n["Resources"].get("GPU", 0) > 0]
    return max(1, min(shares, default=without_nodes))


def _record(task: SegmentTask, result: SegmentResult) -> dict[str, Any]:
    seg = task.segment
    return {
        "index": seg.index, "start_s": seg.start_s, "end_s": seg.end_s, "frames": result.frames,
        "frames_lost": result.frames_lost, "frames_damaged": result.frames_damaged, "packets": result.packets,
        "wall_s": round(result.wall_s, 4),
        "cpu_s": round(result.cpu_s, 4),
        "fps": round(result.frames / result.wall_s, 3) if result.wall_s > 0 else None,
        "actor": result.actor, "node": result.node, "attempts": task.attempt + 1, "retries": task.attempt,
        "failures": task.failures, "input_via": result.input_via, "bytes": len(result.data),
        "output_size": result.output_size, "at_keyframe": seg.at_keyframe, "on_scene_cut": seg.on_scene_cut,
        "encoder_restarts": result.restarts, "stages": result.stages,
        "stage_summaries": result.summaries, "field_order": result.field_order,
        "frames_deinterlaced": result.deinterlaced, "deinterlace_filter": result.deinterlace_filter,
        "encoder_memory": result.encoder_memory, "encoder_notice": result.encoder_notice,
    }


def _finish(job: Job, config: PipelineConfig, state: _RunState, rc: RayConfig, warn: Callable[[str], None]) -> None:
    """Join the job's segments with its audio into the output (atomically) and build its report; say once what
    the encoder memory budget lowered in its segments (each actor planned it alike)."""
    parts = [job.workdir.part(s.index) for s in job.segments]
    t_join = time.perf_counter()
    with atomic_output(job.dst) as tmp:
        join_segments(parts, job.src, tmp, job.info, job.side)
    join_s = time.perf_counter() - t_join
    records = [dict(job.records[s.index], resumed=s.index in job.resumed) for s in job.segments]
    notice = next((r["encoder_notice"] for r in records if r.get("encoder_notice")), None)
    if notice:
        warn(notice)
    frames = sum(r["frames"] for r in records)
    scenes = _scenes(records, job)
    wall = time.perf_counter() - state.t_start
    size = next((r["output_size"] for r in records if r.get("output_size")), None)
    asked = config.decode.deinterlace
    job.report = build_report(
        src=job.src, dst=job.dst, config=config, info=job.info, plans=job.side, frames=frames,
        frames_lost=sum(r["frames_lost"] for r in records),
        frames_damaged=sum(r.get("frames_damaged", 0) for r in records),
        output_size=size, encoder_restarts=sum(r.get("encoder_restarts", 0) for r in records),
        encoder_memory=next((r["encoder_memory"] for r in records if r.get("encoder_memory")), None),
        wall_s=wall, frames_run=frames,
        deinterlace=deinterlace_report(
            asked=asked, ran_as=asked, why=None,
            field_order=field_order_name(next((r["field_order"] for r in records if "field_order" in r), 0)),
            filtered=any(r.get("deinterlace_filter") for r in records),
            frames=sum(r.get("frames_deinterlaced", 0) for r in records)),
        stages=_timings(records),
        stage_summaries=_summaries(records),
        scenes=scenes,
        segments=records,
        ray={
            "pool_size": state.pool_size,
            "actors": list(state.actors),
            "actors_retired": state.retired,
            "resources": state.resources,
            "segments_total": len(records),
            "segments_resumed": sum(r["resumed"] for r in records),
            "segments_computed": sum(not r["resumed"] for r in records),
            "retries": sum(r["retries"] for r in records if not r["resumed"]),
            "input_shipped": state.shipped,
            "segment_seconds": rc.segment.seconds,
            "join_s": round(join_s, 3),
            "scene_cuts": len(job.scene_cuts) if job.scene_cuts is not None else None,
            "scene_scan_s": round(state.scan_s, 3) if state.scan_s is not None else None,
        },
    )
    if not rc.keep_workdir:
        job.workdir.remove()


def _timings(records: list[dict[str, Any]]) -> dict[str, Any]:
    """Each stage's timings summed over the segments (actor time: segments run side by side)."""
    sums: dict[str, dict[str, float]] = {}
    for r in records:
        for name, t in (r.get("stages") or {}).items():
            into = sums.setdefault(name, {"frames": 0, "busy_s": 0.0, "wait_in_s": 0.0, "wait_out_s": 0.0})
            for k in into:
                into[k] += t.get(k) or 0
    return {name: {"frames": int(t["frames"]), "busy_s": round(t["busy_s"], 4),
                   "fps": round(t["frames"] / t["busy_s"], 3) if t["busy_s"] > 0 else None,
                   "wait_in_s": round(t["wait_in_s"], 4), "wait_out_s": round(t["wait_out_s"], 4)}
            for name, t in sums.items()}


_SUMMED = ("frames", "megapixels_in", "resets")


def _summaries(records: list[dict[str, Any]]) -> dict[str, Any]:
    """Each stage's summary over the segments: counts (frames, megapixels in, resets) summed, every other field
    from the first segment's; ``scenes`` left out, as a local run's report leaves it (see ``scenes``)."""
    merged: dict[str, dict[str, Any]] = {}
    for r in records:
        for name, summary in (r.get("stage_summaries") or {}).items():
            part = {k: v for k, v in summary.items() if k != "scenes"}
            if name not in merged:
                merged[name] = part
                continue
            for k in _SUMMED:
                if isinstance(part.get(k), (int, float)) and isinstance(merged[name].get(k), (int, float)):
                    merged[name][k] = round(merged[name][k] + part[k], 3)
    return merged


def _scenes(records: list[dict[str, Any]], job: Job) -> list[dict[str, Any]] | None:
    """The segments' scene lists as one list over the whole video, ids and frame indices made global.

    Each segment's analysis starts a scene at its first frame; where that frame is not a scene cut (a
    keyframe cut inside a scene) the two parts are merged back into one scene, as a single run lists it.
    """
    scenes: list[dict[str, Any]] = []
    offset, found = 0, False
    cuts = set(job.scene_cuts or ())
    for seg, r in zip(job.segments, records):
        listed = next((x["scenes"] for x in (r.get("stage_summaries") or {}).values()
                       if isinstance(x, dict) and x.get("scenes") is not None), None)
        if listed is not None:
            found = True
            for i, scene in enumerate(listed):
                scene = {**scene, "start_index": scene["start_index"] + offset,
                         "end_index": scene["end_index"] + offset}
                if i == 0 and scenes and seg.start_pts not in cuts:
                    _merge_scene(scenes[-1], scene)
                else:
                    scenes.append({**scene, "scene_id": len(scenes)})
        offset += r["frames"]
    return scenes if found else None


def _merge_scene(into: dict[str, Any], part: dict[str, Any]) -> None:
    n_a, n_b = into["frames"], part["frames"]
    deg_a, deg_b = into.get("degradation") or {}, part.get("degradation") or {}
    into["degradation"] = {k: round((deg_a[k] * n_a + deg_b.get(k, 0.0) * n_b) / max(n_a + n_b, 1), 4)
                           for k in deg_a}
    into.update(frames=n_a + n_b, end_index=part["end_index"], end_time=part["end_time"])
