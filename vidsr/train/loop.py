"""The parts every training loop shares: the run folder, the step/time budget, the cosine schedule, log means.

Each trainer writes its own loop with them, nanoGPT-style, so its ``main()`` reads top to bottom::

    run = Run(args.out, threads=args.threads, seed=args.seed)   # OUT/train.log, OUT/ckpt.pt, OUT/threads
    budget = Budget(args.steps, args.minutes)
    if (ck := run.load()) is not None:                           # resume: the same command picks it up
        model.load_state_dict(ck["model"])
        opt.load_state_dict(ck["opt"])
        budget.load_state_dict(ck)
    mean = Mean()
    budget.start_clock()
    while not budget.done():
        lr = cosine_lr(opt, args.lr, budget.progress())
        loss = ...one step...
        mean.add(loss=loss.item())
        budget.tick()
        if budget.step % 25 == 0:
            run.log({"step": budget.step, **mean.pop(), "lr": lr})
            run.poll_threads(budget.step)
        if budget.every(args.ckpt_every):
            run.save({"model": model.state_dict(), "opt": opt.state_dict(), **budget.state_dict()})
        if budget.every(args.eval_every):
            run.log({"step": budget.step, "held_out": ...})
            budget.start_clock()                                 # evaluation is not training time

Why a budget in time as well as in steps: the CPU is shared, so the same number of steps takes minutes on
a quiet machine and hours on a busy one; a schedule that follows ``max(step / steps, time / budget)``
always ends annealed, whichever limit comes first. Checkpoints hold only tensors and plain Python values
(no dataclasses or other pickled objects), so :meth:`Run.load` reads them with ``weights_only=True``.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

__all__ = ["Run", "Budget", "Mean", "cosine_lr"]


class Run:
    """A training run's folder: ``train.log`` (one JSON record a line, echoed to stdout), ``ckpt.pt`` (written
    atomically) and ``threads`` (write a number there to change a running job's torch thread count, e.g. when
    a neighbour's job ends). Making one creates the folder and sets the thread count and, if given, the seed."""

    def __init__(self, out: Path, threads: int, seed: int | None = None) -> None:
        torch.set_num_threads(threads)
        if seed is not None:
            torch.manual_seed(seed)
        out.mkdir(parents=True, exist_ok=True)
        self.out = out
        self.log_path, self.ckpt_path, self.threads_path = out / "train.log", out / "ckpt.pt", out / "threads"

    def log(self, record: dict[str, Any]) -> None:
        line = json.dumps(record)
        print(line, flush=True)
        with open(self.log_path, "a") as f:
            f.write(line + "\n")

    def load(self, path: Path | None = None) -> dict[str, Any] | None:
        """The checkpoint at ``path`` (``OUT/ckpt.pt`` by default), or None when there is none (a fresh run)."""
        path = path or self.ckpt_path
        return torch.load(path, map_location="cpu", weights_only=True) if path.exists() else None

    def save(self, ckpt: dict[str, Any], path: Path | None = None) -> None:
        """Write to a temporary file, then rename it: a run killed mid-write keeps its last good checkpoint."""
        path = path or self.ckpt_path
        tmp = path.with_suffix(".tmp")
        torch.save(ckpt, tmp)
        tmp.replace(path)

    def poll_threads(self, step: int) -> None:
        """Take the thread count from ``OUT/threads`` if it holds a new one; anything else there is ignored."""
        if not self.threads_path.exists():
            return
        try:
            n = int(self.threads_path.read_text().strip())
        except ValueError:
            return
        if n > 0 and n != torch.get_num_threads():
            torch.set_num_threads(n)
            self.log({"event": "threads", "n": n, "step": step})


@dataclass
class Budget:
    """How far a run is: ``step`` steps and ``elapsed`` seconds of training (evaluation excluded), against at
    most ``steps`` steps and ``minutes`` of training time (0: steps only)."""

    steps: int
    minutes: float = 0.0
    step: int = 0
    elapsed: float = 0.0
    _t_last: float = field(default=0.0, init=False, repr=False)

    def progress(self) -> float:
        """Where the schedule is, in [0, 1]: by steps on a quiet machine, by time on a shared one."""
        by_time = self.elapsed / (self.minutes * 60) if self.minutes else 0.0
        return min(max(self.step / self.steps, by_time), 1.0)

    def done(self) -> bool:
        return self.progress() >= 1.0

    def every(self, n: int) -> bool:
        """True every ``n`` steps and at the last one (so the run ends checkpointed and evaluated)."""
        return self.step % n == 0 or self.done()

    def start_clock(self) -> None:
        """(Re)start the training clock: before the loop, and after anything that is not training time."""
        self._t_last = time.time()

    def tick(self) -> None:
        """One step done: count it and the time since the clock last started or ticked."""
        now = time.time()
        self.step += 1
        self.elapsed, self._t_last = self.elapsed + (now - self._t_last), now

    def state_dict(self) -> dict[str, Any]:
        return {"step": self.step, "elapsed": self.elapsed}

    def load_state_dict(self, d: dict[str, Any]) -> None:
        """Resume from a checkpoint (or its ``state`` entry) that holds ``step`` and ``elapsed``."""
        self.step, self.elapsed = d["step"], d["elapsed"]


class Mean:
    """Running means of named loss terms between two log lines."""

    def __init__(self) -> None:
        self._sums: dict[str, float] = {}
        self._n = 0

    def add(self, **terms: float) -> None:
        for k, v in terms.items():
            self._sums[k] = self._sums.get(k, 0.0) + v
        self._n += 1

    def pop(self) -> dict[str, float]:
        """The means since the last pop, then start again."""
        means = {k: v / self._n for k, v in self._sums.items()}
        self._sums, self._n = {}, 0
        return means


def cosine_lr(opt: torch.optim.Optimizer, base: float, progress: float, warmup: int = 0, step: int = 0) -> float:
    """Set every group's learning rate to ``base`` on a half cosine from 1 to 0 over ``progress`` (ramped up
    linearly over the first ``warmup`` steps, if any), and return it for the log."""
    ramp = min(1.0, (step + 1) / warmup) if warmup else 1.0
    lr = base * ramp * 0.5 * (1 + math.cos(math.pi * progress))
    for g in opt.param_groups:
        g["lr"] = lr
    return lr
