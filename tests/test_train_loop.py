"""The shared training loop's parts: a schedule that always ends annealed, and checkpoints a resumed run reads
with ``weights_only=True`` (what makes resuming a run safe)."""

from __future__ import annotations

import json
from pathlib import Path

import torch

from vidsr.train.loop import Budget, Mean, Run, cosine_lr


def test_the_budget_ends_at_whichever_limit_comes_first() -> None:
    by_steps = Budget(steps=10, minutes=0, step=5, elapsed=1e6)  # no time limit: steps alone
    by_time = Budget(steps=10, minutes=1, step=2, elapsed=45.0)  # 45 s of a minute: ahead of the steps
    assert by_steps.progress() == 0.5 and by_time.progress() == 0.75
    assert Budget(steps=10, minutes=1, step=3, elapsed=61.0).done()
    ending = Budget(steps=10, step=10)
    assert ending.every(7) and not Budget(steps=10, step=6).every(7)  # the last step checkpoints and evaluates


def test_cosine_lr_starts_at_base_and_ends_at_zero() -> None:
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    assert cosine_lr(opt, 0.1, 0.0) == 0.1 and opt.param_groups[0]["lr"] == 0.1
    assert abs(cosine_lr(opt, 0.1, 1.0)) < 1e-12
    assert cosine_lr(opt, 0.1, 0.0, warmup=10, step=0) == 0.1 * 0.1 * 0.5 * 2  # ramped over the first steps


def test_a_checkpoint_round_trips_with_weights_only(tmp_path: Path) -> None:
    net = torch.nn.Linear(3, 2)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3, betas=(0.9, 0.99))
    net(torch.ones(1, 3)).sum().backward()
    opt.step()
    run = Run(tmp_path / "run", threads=torch.get_num_threads())
    assert run.load() is None  # a fresh run
    budget = Budget(steps=100, step=7, elapsed=3.5)
    run.save({"model": net.state_dict(), "opt": opt.state_dict(), "state": {"stage": "vq", **budget.state_dict()}})
    ck = run.load()
    resumed = Budget(steps=100)
    resumed.load_state_dict(ck["state"])
    assert (resumed.step, resumed.elapsed) == (7, 3.5)
    assert torch.equal(ck["model"]["weight"], net.weight)
    assert ck["opt"]["param_groups"][0]["betas"] == (0.9, 0.99)
    assert not (tmp_path / "run" / "ckpt.tmp").exists()


def test_log_lines_are_json_and_junk_in_the_threads_file_is_ignored(tmp_path: Path) -> None:
    run = Run(tmp_path, threads=torch.get_num_threads())
    mean = Mean()
    mean.add(loss=1.0)
    mean.add(loss=3.0)
    run.log({"step": 2, **mean.pop()})
    (tmp_path / "threads").write_text("two\n")
    run.poll_threads(2)
    assert [json.loads(line) for line in run.log_path.read_text().splitlines()] == [{"step": 2, "loss": 2.0}]
