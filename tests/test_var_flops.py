"""The VAR FLOP count includes attention (``bench/var_speed.py``).

torch's FLOP counter has no formula for the CPU attention kernel and counts it as 0, which once made
the one-step student and its KV-cached teacher look equally costly. On tiny models: the bench's two
counter routes (SDPA formula registered; attention as explicit products) must find non-zero attention
equal to the closed form, for the student's one bidirectional pass, the teacher's cached generation and
the teacher with classifier-free guidance, and the linear layers must match their closed form too.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import torch

from vidsr.models.quant import MultiScaleQuantizer
from vidsr.models.var import VARConfig, VARTeacher
from vidsr.models.var_student import StudentConfig, VARStudent

_spec = importlib.util.spec_from_file_location("var_speed", Path(__file__).parents[1] / "bench" / "var_speed.py")
vs = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(vs)

CFG = VARConfig(dim=32, depth=2, heads=2, mlp_ratio=2.0, vocab=64, code_dim=8, prefix_dim=16, schedule=(1, 2, 4))
H = W = 4  # latent: 16 prefix tokens + 1 + 4 + 16 scale tokens = 37
ROUTES = ("sdpa_registered", "math_attention")


@pytest.fixture(scope="module")
def parts():
    torch.manual_seed(0)
    quant = MultiScaleQuantizer(CFG.vocab, CFG.code_dim, CFG.schedule, phi_count=2, phi_ratio=0.5, beta=0.25)
    teacher = VARTeacher(CFG).eval()
    student = VARStudent(StudentConfig(teacher=CFG, refiner_width=8, refiner_blocks=1), teacher)
    student.merge_adapters().eval()
    prefix = torch.randn(1, CFG.prefix_dim, H, W)
    with torch.no_grad():
        lq_idx = quant.f_to_tokens(torch.randn(1, CFG.code_dim, H, W))
        pyr, lq_hat = student.pyramid_inputs(quant, lq_idx), quant.tokens_to_fhat(lq_idx)
    runs = {
        "student": lambda: student(prefix, pyr, lq_hat, None, (16, 16)),
        "teacher": lambda: teacher.generate(quant, prefix, lq_idx, None, (16, 16)),
        "teacher_cfg": lambda: teacher.generate(quant, prefix, lq_idx, None, (16, 16), cfg_scale=2.0),
        "quantizer": lambda: quant.f_to_tokens(torch.randn(1, CFG.code_dim, H, W)),
    }
    with torch.no_grad():
        return {name: {r: vs.counter_parts(fn, r) for r in (*ROUTES, "plain")} for name, fn in runs.items()}


def test_closed_form_by_hand():
    L = 16 + 1 + 4 + 16
    assert vs.attention_flops(CFG, H, W, one_pass=True) == 4 * L * L * CFG.dim * CFG.depth
    pairs = 16 * 16 + 1 * 17 + 4 * 21 + 16 * 37  # prefix pass, then each scale against the cache
    assert vs.attention_flops(CFG, H, W, one_pass=False) == 4 * pairs * CFG.dim * CFG.depth


@pytest.mark.parametrize("name,one_pass,batch", [("student", True, 1), ("teacher", False, 1),
                                                  ("teacher_cfg", False, 2)])
def test_attention_counted_and_matches_closed_form(parts, name, one_pass, batch):
    expected = vs.attention_flops(CFG, H, W, one_pass=one_pass, batch=batch)
    assert expected > 0
    for route in ROUTES:
        assert parts[name][route]["attention"] == expected, route
        linear = vs.transformer_linear_flops(CFG, H, W, one_pass=one_pass, with_deg=False) * batch
        assert parts[name][route]["linear"] == linear, route
    # the plain counter (torch 2.13: CPU attention is 0) sees the same linear layers and nothing more
    plain = parts[name]["plain"]
    assert plain["linear"] == parts[name]["sdpa_registered"]["linear"]
    assert plain["attention"] in (0, expected)


def test_one_pass_costs_more_attention_than_cached_steps(parts):
    s, t = parts["student"]["sdpa_registered"], parts["teacher"]["sdpa_registered"]
    assert s["attention"] > t["attention"] > 0


def test_quantizer_walk_counted(parts):
    """The codebook distances are an in-place addmm_, which the counter has no entry for either."""
    for route in ROUTES:
        assert parts["quantizer"][route]["linear"] == vs.quantizer_flops(CFG, H, W) > 0
