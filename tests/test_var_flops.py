"""The detail stage's FLOP count (``bench/var_speed.py``) by hand equals torch's counter with attention
registered, for the student's one pass and the guided teacher's KV-cached steps; the plain counter
would miss attention (it records 0 for the CPU kernel), so the test also checks attention is non-zero."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import torch

from vidsr.models.detail import DetailConfig, DetailStudent, DetailTeacher, Fusion, tiny_decoder
from vidsr.sr.var_sr import window_changes
from vidsr.sr.vq_lq import load_shipped

_spec = importlib.util.spec_from_file_location("var_speed", Path(__file__).parent.parent / "bench" / "var_speed.py")
assert _spec and _spec.loader
var_speed = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(var_speed)

CFG = DetailConfig(dim=32, depth=3, heads=2, student_depth=2, decoder_width=8, decoder_fine=4)


@pytest.mark.parametrize("student,cfg_scale", [(True, 1.0), (False, 1.0), (False, 1.5)])
def test_hand_count_equals_the_counter(student: bool, cfg_scale: float) -> None:
    vq, _ = load_shipped()
    torch.manual_seed(0)
    teacher = DetailTeacher(CFG)
    teacher.set_codebook(vq.quantize)
    net = DetailStudent.from_teacher(teacher) if student else teacher
    decoder = tiny_decoder(CFG) if student else Fusion(8, 1)
    base = torch.rand(2, 3, 64, 64)
    h = w = 16
    batch = 1 if student else (2 if cfg_scale != 1.0 else 1)

    def run() -> None:
        window_changes(vq, net.eval(), decoder, base, cfg_scale)

    with torch.inference_mode():
        conv = var_speed.conv_flops([vq, decoder, net], run)
        counted = var_speed.counted_flops(run)
    attention = var_speed.attention_flops(CFG, h, w, student, batch) * 2
    hand = attention + 2 * (var_speed.linear_flops(CFG, h, w, student, batch) + var_speed.quantizer_flops(CFG, h, w))
    assert attention > 0
    assert counted == hand + conv


def test_the_student_attends_over_fewer_pairs_than_the_guided_teacher() -> None:
    assert var_speed.attention_flops(CFG, 16, 16, True, 1) < var_speed.attention_flops(CFG, 16, 16, False, 2)
