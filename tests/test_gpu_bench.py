"""bench/gpu.py on a machine without CUDA: one line saying so, exit 0, no JSON written (CI has no GPU;
the lent GPU machine runs the real thing)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA: the bench would run for real")
def test_gpu_bench_without_cuda_says_so_in_one_line(tmp_path: Path) -> None:
    out = tmp_path / "gpu.json"
    r = subprocess.run([sys.executable, str(ROOT / "bench" / "gpu.py"), "--json", str(out)],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip().splitlines() == ["bench/gpu.py: no CUDA device on this machine; nothing measured"]
    assert not out.exists()
