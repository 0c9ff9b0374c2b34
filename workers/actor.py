"""The Ray actor: holds one built pipeline (the model loaded once) and enhances one segment per call.

A call decodes its segment's frame range, runs the stages, encodes video only (closed GOPs: the
encoder starts fresh with an IDR frame) and returns the encoded bytes through the object store,
never decoded frames, so what crosses the network is about the size of the output.

Lossy output equal to a local run's: where a segment starts on a scene cut and the pipeline's encoder
restarts at scene cuts (``EncodeConfig.restart_at_scene_cuts``, the default pipeline's setting), the local
run's encoder also starts afresh on that frame and stops before the next segment's, so the segment's encode
is the local one, byte for byte; the Remuxer restarts inside the segment at the same cuts as the local run.
Two causes remain elsewhere. x264 codes differently with another thread count, and a local run's default
(``encode.threads: 0``) lets x264 pick from the machine's cores while an actor encodes on the CPUs it was
given: set ``encode.threads`` in the pipeline. And a segment cut off a scene cut (keyframe or forced cuts)
has a fresh encoder where the local run has none, so the frames after it are coded differently, at the same
quality (mean per-frame PSNR 44-48 dB against the local run on ``examples/sample.mp4``).
``RayConfig.encode_overlap_frames`` (``VIDSR_RAY_ENCODE_OVERLAP_FRAMES``) narrows that: each encoder also
codes, then drops, that many enhanced frames before and after such a cut (they cost model time); with 50
the mean is 55.1 dB, pooled 44.6 dB (``bench/results_ray_scaling.json``).
"""

from __future__ import annotations

import copy
import itertools
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import ray
import torch

from vidsr.analysis.scenecut import SceneCutDetector
from vidsr.config import PipelineConfig
from vidsr.errors import InputError
from vidsr.frame import Frame
from vidsr.media.demux import Demuxer
from vidsr.media.probe import MediaInfo
from vidsr.media.remux import Remuxer
from vidsr.media.segments import Segment
from vidsr.pipeline import Enhancer
from vidsr.stages import stage_params
from vidsr.stages.analysis import DegradeAnalysisParams
from vidsr.stages.sr import SRStage
from workers.inputs import fingerprint, materialize

__all__ = ["SegmentTask", "SegmentResult", "SegmentWorker", "PROGRESS_EVERY_S", "SCRATCH_PREFIX"]

PROGRESS_EVERY_S = 1.0
SCRATCH_PREFIX = "vidsr-actor-"  # + the actor's pid: a killed actor's copy of a shipped input is found


def _sweep_dead_scratch() -> None:
    """Remove scratch folders of actors whose process is gone: a killed actor (a lost node's, a retried
    segment's) cannot clean up, and its folder may hold a whole copy of a shipped input."""
    for folder in Path(tempfile.gettempdir()).glob(f"{SCRATCH_PREFIX}*-*"):
        pid = folder.name[len(SCRATCH_PREFIX):].split("-", 1)[0]
        if not pid.isdigit():
            continue
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            shutil.rmtree(folder, ignore_errors=True)
        except PermissionError:
            pass  # alive, another user's


@dataclass
class SegmentTask:
    """One unit of work. ``input_chunks`` (set when the input is shipped) are refs nested in the task,
    so Ray does not fetch them unless the actor lacks the file."""

    job: int
    src: str
    fingerprint: str
    info: MediaInfo
    segment: Segment
    suffix: str
    input_chunks: list[ray.ObjectRef] | None = None
    prefer_local: bool = True
    attempt: int = 0
    failures: list[str] = field(default_factory=list)
    fetch_s: float = 0.0  # driver time spent receiving the result (object store transfer)
    frames_done: int = 0  # progress reported by the current attempt

    @property
    def key(self) -> tuple[int, int]:
        return self.job, self.segment.index


@dataclass
class SegmentResult:
    job: int
    index: int
    data: bytes
    frames: int
    frames_lost: int
    frames_damaged: int  # decoded with errors (the demuxer's corrupt-frame count)
    packets: int
    wall_s: float
    cpu_s: float  # the actor process's CPU time on this segment: its cost when it does not share cores
    actor: str
    node: str
    output_size: tuple[int, int] | None
    restarts: int  # the encoder's restarts at scene cuts inside the segment
    stages: dict[str, Any]
    input_via: str  # "path" or "object store"
    summaries: dict[str, Any]  # each stage's summary for this segment (scenes, degradation, model)
    field_order: int = 0  # the stream's field order as the demuxer read it (vidsr.media.deinterlace)
    deinterlaced: int = 0  # frames bwdif rebuilt
    deinterlace_filter: bool = False  # the segment's demuxer ran bwdif
    # what encode.max_megabytes estimated and lowered (MemoryPlan.as_report), and its one line when it lowered
    # something: the driver reports and says it once per job (vidsr.media.encoder_memory)
    encoder_memory: dict[str, Any] | None = None
    encoder_notice: str | None = None


class SegmentWorker:
    """``ray.remote(SegmentWorker).options(num_gpus=1)`` on GPU clusters, ``num_cpus=N`` on CPU ones."""

    def __init__(self, config: PipelineConfig, cpus: int) -> None:
        # Ray sets OMP_NUM_THREADS=1 in a one-CPU actor; size torch and FFmpeg to what the actor was given.
        # An explicit encode.threads is kept: x264's output depends on its thread count, so a pipeline that
        # sets it encodes each segment as a local run with the same setting would (see the module doc)
        torch.set_num_threads(max(1, cpus))
        cv2.setNumThreads(max(1, cpus))  # OpenCV (analysis, flow) would take every core of the node per actor
        config = copy.deepcopy(config)
        config.decode.threads = config.decode.threads or cpus
        config.encode.threads = config.encode.threads or cpus
        self.enhancer = Enhancer(config)
        ctx = ray.get_runtime_context()
        self.node = ctx.get_node_id()
        self.name = f"actor-{ctx.get_actor_id()[:8]}@{ray.util.get_node_ip_address()}:{os.getpid()}"
        _sweep_dead_scratch()
        self.scratch = Path(tempfile.mkdtemp(prefix=f"{SCRATCH_PREFIX}{os.getpid()}-"))
        self.inputs: dict[str, Path] = {}

    def ready(self) -> dict[str, Any]:
        """Returns once ``__init__`` (the model load) is done: the driver hands out work only after this."""
        sr = self.enhancer.config.stage("sr")
        stage = next((st for st in self.enhancer.stages if isinstance(st, SRStage)), None) if sr else None
        return {"actor": self.name, "node": self.node, "pid": os.getpid(), "threads": torch.get_num_threads(),
                "encode_threads": self.enhancer.config.encode.threads,
                "device": str(stage.device) if stage else None, "model": stage.model.name if stage else None,
                "gpus": ray.get_runtime_context().get_accelerator_ids().get("GPU", [])}

    def process(self, task: SegmentTask) -> Iterator[int | SegmentResult]:
        """A Ray streaming generator: frames newly written, every ``PROGRESS_EVERY_S`` (the driver's bar
        moves within a segment), then the :class:`SegmentResult` last."""
        t0, c0 = time.perf_counter(), time.process_time()
        src, via = self._input(task)
        config = self.enhancer.config
        out = self.scratch / f"job{task.job}-seg{task.segment.index:05d}{task.suffix}"
        seg = task.segment
        demuxer = Demuxer(src, task.info, config.decode, seg.start_pts, seg.end_pts)
        keep = (seg.start_pts, seg.end_pts) if seg.warmup_frames or seg.runout_frames else None
        remuxer = Remuxer(out, src, task.info, config.encode, [], keep=keep)  # video only: the join copies audio
        graph = self.enhancer.graph(demuxer)
        failed: list[BaseException] = []

        def extra(start: int | None, end: int | None) -> Iterator[Frame]:
            """Warm-up or run-out frames for the encoder, through their own fresh stages, so the segment's
            stages still start at its first frame as a single run's do at a scene's."""
            source = Demuxer(src, task.info, config.decode, start, end)
            return self.enhancer.graph(source).iterate()

        def sink(frames: Iterator[Frame]) -> None:
            parts = [frames]
            if seg.warmup_frames:
                parts.insert(0, extra(seg.warmup_start_pts, seg.start_pts))
            if seg.runout_frames:
                parts.append(extra(seg.end_pts, seg.runout_end_pts))
            remuxer(itertools.chain(*parts))

        def work() -> None:
            try:
                graph.run(sink)
            except BaseException as err:  # noqa: BLE001 - re-raised below, in the method's own thread
                failed.append(err)

        worker = threading.Thread(target=work, name="vidsr-segment", daemon=True)
        worker.start()
        sent = 0
        try:
            while worker.is_alive():
                worker.join(PROGRESS_EVERY_S)
                if remuxer.frames_written > sent:
                    yield remuxer.frames_written - sent
                    sent = remuxer.frames_written
            if failed:
                raise failed[0]
            data = out.read_bytes()
        finally:
            out.unlink(missing_ok=True)
        plan = remuxer.encoder_memory
        yield SegmentResult(
            job=task.job, index=task.segment.index, data=data, frames=remuxer.frames_written,
            frames_lost=demuxer.frames_lost, frames_damaged=demuxer.frames_corrupt, packets=demuxer.packets,
            wall_s=time.perf_counter() - t0,
            cpu_s=time.process_time() - c0, actor=self.name, node=self.node, output_size=remuxer.output_size,
            restarts=remuxer.restarts,
            stages={name: t.as_dict() for name, t in graph.timings.items()}, input_via=via,
            summaries={s.name: s.summary() for s in graph.stages}, field_order=demuxer.field_order,
            deinterlaced=demuxer.deinterlaced, deinterlace_filter=demuxer.deinterlacer is not None,
            encoder_memory=plan.as_report() if plan else None,
            encoder_notice=plan.notice() if plan and plan.changes else None,
        )

    def scan(self, task: SegmentTask) -> Iterator[int | list[int]]:
        """A Ray streaming generator: frames scanned as it goes, then the pts of the frames in the task's range
        that start a scene, by the pipeline's own scene-cut detector (so cuts land where a single run's
        degrade-analysis puts them). Decoding and thumbnails only: no model, no encode."""
        src, _ = self._input(task)
        config = self.enhancer.config
        analysis = config.stage("degrade-analysis")
        params = stage_params(analysis) if analysis else DegradeAnalysisParams()
        detector = SceneCutDetector(params.scene_cut())
        demuxer = Demuxer(src, task.info, config.decode, task.segment.start_pts, task.segment.end_pts)
        cuts: list[int] = []
        unreported, last = 0, time.monotonic()
        for frame in demuxer():
            if detector.update(frame.image)[1] and frame.pts is not None:
                cuts.append(frame.pts)
            unreported += 1
            if time.monotonic() - last >= PROGRESS_EVERY_S:
                yield unreported
                unreported, last = 0, time.monotonic()
        if unreported:
            yield unreported
        yield cuts

    def _input(self, task: SegmentTask) -> tuple[Path, str]:
        """The driver's path when this node has the same file, else a local copy of the shipped chunks."""
        if task.fingerprint in self.inputs:
            return self.inputs[task.fingerprint], "object store"
        path = Path(task.src)
        local_ok = task.prefer_local or task.input_chunks is None
        if local_ok and path.is_file() and fingerprint(path) == task.fingerprint:
            return path, "path"
        if task.input_chunks is None:
            raise InputError(
                f"{task.src} is not on worker node {ray.util.get_node_ip_address()} (or differs from the driver's); "
                "put inputs on shared storage or set VIDSR_RAY_SHIP_INPUT=always"
            )
        local = materialize(task.input_chunks, self.scratch / f"input-{task.fingerprint}{path.suffix}")
        self.inputs[task.fingerprint] = local
        return local, "object store"

    def close(self) -> None:
        """Remove this actor's scratch files (the driver calls it before letting the actor go)."""
        shutil.rmtree(self.scratch, ignore_errors=True)
