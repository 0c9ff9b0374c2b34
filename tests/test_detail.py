"""The VAR detail stage (``vidsr.models.detail``, SR models ``var`` and ``var-teacher``): it starts from
the restored frame, its prefix matters, training and serving prepare windows with one function,
``detail`` = 0 is the base, the student's forward has no per-scale loop, and the shipped weights give
the stored output.

Regenerate the stored output after retraining: ``python tests/test_detail.py --write``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from vidsr.data import eval_images
from vidsr.models.detail import (
    QUALITY_HQ,
    DetailConfig,
    DetailStudent,
    DetailTeacher,
    Fusion,
    hq_targets,
    load_detail,
    prepare_windows,
    proposal,
    save_detail,
    student_change,
    student_layers,
    tiny_decoder,
)
from vidsr.sr.var_sr import STUDENT_PATH, VarSR, window_changes
from vidsr.sr.vq_lq import TOKENIZER_PATH, load_shipped
from vidsr.train.evaluate import psnr_y, to_tensor

CPU = torch.device("cpu")
REFERENCE = Path(__file__).parent / "data" / "var_reference_x2.npz"
needs_weights = pytest.mark.skipif(not (STUDENT_PATH.exists() and TOKENIZER_PATH.exists()), reason="no shipped var")
TINY = DetailConfig(dim=32, depth=4, heads=2, student_depth=2, decoder_width=8, decoder_fine=4)


def _windows(n: int, seed: int = 0) -> torch.Tensor:
    """``n`` 64 x 64 crops of held-out photographs (scikit-image's, always available)."""
    rng = np.random.default_rng(seed)
    imgs = [im for _, im in eval_images(None)]
    out = []
    for i in range(n):
        im = imgs[i % len(imgs)]
        y, x = rng.integers(0, im.shape[0] - 64), rng.integers(0, im.shape[1] - 64)
        out.append(to_tensor(im[y : y + 64, x : x + 64]))
    return torch.cat(out)


def _tiny(vq) -> DetailTeacher:
    torch.manual_seed(0)
    net = DetailTeacher(TINY)
    net.set_codebook(vq.quantize)
    return net.eval()


def test_a_fresh_stage_is_the_base() -> None:
    """Zero-initialised head, fusion and decoder: teacher and student regenerate the base's own tokens, the
    change is 0."""
    vq, _ = load_shipped()
    bt = prepare_windows(vq, _windows(4), TINY.predicted)
    teacher = _tiny(vq)
    idx, fhat, soft = teacher.generate(bt, vq.quantize, cfg_scale=1.0)
    for got, own in zip(idx, bt.idx_list[-TINY.predicted :]):
        assert torch.equal(got, own)
    assert torch.allclose(fhat, bt.fhat_list[-1], atol=1e-5)
    change = Fusion(8, 1)(bt.base_BCHW, proposal(vq, bt, fhat, soft))
    assert float(change.detach().abs().max()) == 0.0
    out = DetailStudent.from_teacher(teacher).eval().predict(bt, vq.quantize)
    for got, own in zip(out.idx, bt.idx_list[-TINY.predicted :]):
        assert torch.equal(got, own)
    assert float(student_change(tiny_decoder(TINY), bt, out).detach().abs().max()) == 0.0


def test_the_student_starts_from_evenly_spaced_teacher_blocks() -> None:
    vq, _ = load_shipped()
    teacher = _tiny(vq)
    torch.nn.init.normal_(teacher.blocks[3].attn.qkv.weight)
    student = DetailStudent.from_teacher(teacher)
    assert student_layers(6, 3) == [0, 2, 5] and student_layers(4, 2) == [0, 3]
    assert student_layers(6, 6) == list(range(6)) and student_layers(6, 1) == [5]
    assert len(student.blocks) == TINY.student_depth
    for i, j in enumerate(student_layers(TINY.depth, TINY.student_depth)):
        for (k, a), b in zip(student.blocks[i].state_dict().items(), teacher.blocks[j].state_dict().values()):
            assert torch.equal(a, b), k
    assert torch.equal(student.head.out.weight, teacher.head.out.weight)
    with pytest.raises(ValueError, match="student_depth"):
        DetailConfig(depth=2, student_depth=3)


def test_hq_targets_of_the_base_itself_are_its_own_tokens() -> None:
    vq, _ = load_shipped()
    base = _windows(3, seed=1)
    bt = prepare_windows(vq, base, 2)
    tgt = hq_targets(vq.quantize, bt, bt.f_BChw)
    for got, own in zip(tgt, bt.idx_list[-2:]):
        assert torch.equal(got, own)


def test_kv_cached_generation_equals_the_teacher_forced_forward() -> None:
    """Each generated scale is the argmax of the block-causal forward fed the generated tokens."""
    vq, _ = load_shipped()
    torch.manual_seed(3)
    teacher = _tiny(vq)
    torch.nn.init.normal_(teacher.head.out.weight, std=0.5)  # non-trivial logits
    bt = prepare_windows(vq, _windows(2, seed=2), TINY.predicted)
    idx, _, _ = teacher.generate(bt, vq.quantize, cfg_scale=1.0)
    logits = teacher(bt, vq.quantize, idx, torch.full((2,), QUALITY_HQ))
    for lg, got in zip(logits, idx):
        assert torch.equal(lg.argmax(-1).view_as(got), got)


def test_guidance_scale_one_is_the_conditional_model_and_two_is_not() -> None:
    vq, _ = load_shipped()
    torch.manual_seed(4)
    teacher = _tiny(vq)
    torch.nn.init.normal_(teacher.head.out.weight, std=0.5)
    torch.nn.init.normal_(teacher.quality_embed.weight, std=1.0)
    bt = prepare_windows(vq, _windows(2, seed=3), TINY.predicted)
    plain = teacher.generate(bt, vq.quantize, cfg_scale=1.0)[0]
    forced = [lg.argmax(-1).view_as(p) for lg, p in zip(teacher(bt, vq.quantize, plain, torch.zeros(2).long()), plain)]
    guided = teacher.generate(bt, vq.quantize, cfg_scale=3.0)[0]
    assert all(torch.equal(a, b) for a, b in zip(plain, forced))
    assert any(not torch.equal(a, b) for a, b in zip(plain, guided))


def test_the_student_forward_has_no_per_scale_loop() -> None:
    """Every block runs once per student forward (one pass over the finest grid); the teacher's
    generation runs each block once per predicted scale."""
    vq, _ = load_shipped()
    teacher = _tiny(vq)
    student = DetailStudent.from_teacher(teacher).eval()
    calls = {"n": 0}
    hooks = [b.register_forward_hook(lambda *_: calls.__setitem__("n", calls["n"] + 1)) for b in student.blocks]
    bt = prepare_windows(vq, _windows(2), TINY.predicted)
    logits = student(bt, vq.quantize)
    assert calls["n"] == TINY.student_depth
    assert [lg.shape[1] for lg in logits] == [h * w for h, w in bt.predicted_hws]
    for h in hooks:
        h.remove()
    calls["n"] = 0
    hooks = [b.register_forward_hook(lambda *_: calls.__setitem__("n", calls["n"] + 1)) for b in teacher.blocks]
    teacher.generate(bt, vq.quantize, cfg_scale=1.0)
    assert calls["n"] == TINY.depth * TINY.predicted
    for h in hooks:
        h.remove()


def test_hysteresis_keeps_the_previous_token_near_a_tie() -> None:
    vq, _ = load_shipped()
    torch.manual_seed(5)
    student = DetailStudent.from_teacher(_tiny(vq)).eval()
    torch.nn.init.normal_(student.head.out.weight, std=0.5)
    bt = prepare_windows(vq, _windows(2, seed=4), TINY.predicted)
    fresh = student.predict(bt, vq.quantize).idx
    other = [(t + 1) % TINY.vocab for t in fresh]
    kept = student.predict(bt, vq.quantize, keep=other, margin=1e9).idx
    free = student.predict(bt, vq.quantize, keep=other, margin=0.0).idx
    assert all(torch.equal(a, b) for a, b in zip(kept, other))
    assert all(torch.equal(a, b) for a, b in zip(free, fresh))


def test_logits_fold_the_nearest_code_prior_in_and_stay_fp32_under_bf16_autocast() -> None:
    """One matrix product gives the head's logits plus ``-beta |r - e|^2`` up to a per-position constant
    (checked against the two computed apart), in fp32 under bf16 autocast."""
    vq, _ = load_shipped()
    teacher = _tiny(vq)
    torch.manual_seed(6)
    torch.nn.init.normal_(teacher.head.out.weight, std=0.5)
    x, r = torch.randn(2, 16, TINY.dim), torch.randn(2, 16, 4, 4)
    cond = teacher.cond(torch.zeros(2, dtype=torch.long))
    got = teacher.logits(1, x, cond, r)
    e = teacher.codebook_VC
    dist = (r.flatten(2).transpose(1, 2)[:, :, None, :] - e).square().sum(-1)  # B x l x V
    want = teacher.head(x, cond) - teacher.prior_log_beta[1].exp() * dist
    shift = (got - want)[..., :1]  # the per-position constant: beta |r|^2
    assert torch.allclose(got, want + shift, atol=1e-3)
    r_sq = r.flatten(2).transpose(1, 2).square().sum(-1)
    assert torch.allclose(shift[..., 0], teacher.prior_log_beta[1].exp() * r_sq, atol=1e-3)
    torch.nn.init.zeros_(teacher.head.out.weight)  # what is left is the prior: bf16 would round it by ~1
    ref = teacher.logits(1, x, cond, r)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        low = teacher.logits(1, x, cond, r)
    assert low.dtype == torch.float32
    assert float(ref.detach().abs().max()) > 50 and torch.allclose(low, ref, atol=1e-3)


def test_weights_round_trip_fp16(tmp_path: Path) -> None:
    vq, _ = load_shipped()
    teacher = _tiny(vq)
    student = DetailStudent.from_teacher(teacher)
    fusion = Fusion(TINY.fusion_width, TINY.fusion_blocks)
    decoder = tiny_decoder(TINY)
    torch.nn.init.normal_(decoder.out.weight)
    mine = {"teacher": teacher, "student": student, "fusion": fusion, "decoder": decoder}
    path = tmp_path / "d.safetensors"
    save_detail(path, TINY, mine, {"detail": 0.5})
    cfg, nets = load_detail(path)
    assert cfg == TINY
    for name, net in mine.items():
        for k, v in net.state_dict().items():
            assert torch.equal(nets[name].state_dict()[k], v.half().float()), (name, k)


def test_grid_pattern_sees_a_checkerboard_locked_to_the_4px_grid_and_not_texture() -> None:
    """The decoder's checkerboard term: a pattern repeating in every 4 x 4 cell survives the averaging over
    neighbouring cells; photographs' texture (whatever its phase) and flat areas mostly do not."""
    from vidsr.train.detail import grid_pattern

    photo = _windows(4, seed=3)
    cell = torch.tensor([[1.0, -1.0, 1.0, -1.0], [-1.0, 1.0, -1.0, 1.0]] * 2) * 0.02
    checker = cell.repeat(16, 16).expand(4, 3, 64, 64)
    assert float(grid_pattern(torch.full((1, 3, 64, 64), 0.5)).abs().max()) == 0.0
    clean, marked = grid_pattern(photo).abs().mean(), grid_pattern(photo + checker).abs().mean()
    assert marked > 2 * clean
    assert torch.allclose(grid_pattern(photo + checker) - grid_pattern(photo), grid_pattern(checker), atol=1e-6)


def test_a_file_whose_nets_do_not_fit_says_so_in_one_line(tmp_path: Path) -> None:
    """A decoder saved at one size, read under a config that builds another: one line naming the net; a
    config field this version does not know is named too."""
    from dataclasses import replace

    path = tmp_path / "d.safetensors"
    save_detail(path, replace(TINY, decoder_fine=8), {"decoder": tiny_decoder(TINY)})
    with pytest.raises(ValueError, match=r"its decoder does not fit this version's TinyDecoder") as e:
        load_detail(path)
    assert "\n" not in str(e.value)
    with pytest.raises(ValueError, match=r"fields this version does not know: retired_knob"):
        DetailConfig.from_json('{"dim": 32, "retired_knob": 1}')


def _lq_crop(scale: int, side: int = 64) -> torch.Tensor:
    hq = to_tensor(eval_images(None)[0][1][100 : 100 + side, 120 : 120 + side])
    return F.interpolate(hq, scale_factor=1 / scale, mode="bicubic", antialias=True).clamp(0, 1)


@needs_weights
def test_detail_zero_is_the_base_exactly() -> None:
    model = VarSR(STUDENT_PATH, "var", 2, CPU, detail=0.0)
    lq = _lq_crop(2, 96)
    assert torch.equal(model(lq), model.base(lq).clamp(0, 1))


@needs_weights
def test_train_and_serve_prepare_windows_with_one_function() -> None:
    """A frame that is exactly one window: the served output is base + detail x the change that the
    training code path (``prepare_windows`` -> student -> ``student_change`` on the base window, as
    ``vidsr.train.detail``'s decoder stage runs it) gives."""
    model = VarSR(STUDENT_PATH, "var", 2, CPU)
    lq = _lq_crop(2)  # 32 x 32 LQ: one 64 x 64 window
    out = model(lq)
    base = model.base(lq)
    vq = model.vq
    bt = prepare_windows(vq, base, model.predictor.cfg.predicted)
    change = student_change(model.decoder, bt, model.predictor.predict(bt, vq.quantize))
    assert float(change.abs().max()) > 0.0
    assert torch.allclose(out, (base + model.detail * change).clamp(0, 1), atol=1e-6)
    _, served = window_changes(vq, model.predictor, model.decoder, base)
    assert torch.equal(served, change)


@needs_weights
def test_a_shuffled_prefix_scores_lower() -> None:
    """The ablation's sign: the base's features and latent from other windows (the prefix shuffled)
    give worse windows than their own, on held-out crops."""
    _, nets = load_detail(STUDENT_PATH)
    vq, _ = load_shipped()
    student, decoder = nets["student"], nets["decoder"]
    hq = _windows(12, seed=7)
    lq = F.interpolate(hq, scale_factor=0.5, mode="bicubic", antialias=True).clamp(0, 1)
    base = VarSR(STUDENT_PATH, "var", 2, CPU).base(lq).clamp(0, 1)
    bt = prepare_windows(vq, base, student.cfg.predicted)
    perm = torch.roll(torch.arange(len(hq)), 1)

    def score(bt_) -> float:
        return psnr_y((base + student_change(decoder, bt_, student.predict(bt_, vq.quantize))).clamp(0, 1), hq, 4)

    shuffled = bt.with_prefix_of(perm)
    assert torch.equal(shuffled.feat_BFhw[1], bt.feat_BFhw[0]) and shuffled.base_BCHW is bt.base_BCHW
    assert score(bt) > score(shuffled)


@needs_weights
def test_shipped_var_is_small_and_loads_without_network(monkeypatch: pytest.MonkeyPatch) -> None:
    import socket

    def refuse(*a, **k):
        raise OSError("network used")

    monkeypatch.setattr(socket, "socket", refuse)
    assert STUDENT_PATH.stat().st_size < 20 * 1024 * 1024
    _, nets = load_detail(STUDENT_PATH)
    assert set(nets) == {"teacher", "student", "fusion", "decoder"}


def _reference_output() -> np.ndarray:
    torch.set_num_threads(1)
    model = VarSR(STUDENT_PATH, "var", 2, CPU)
    return (model(_lq_crop(2, 96))[0].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)


@needs_weights
def test_one_step_output_equals_the_stored_reference() -> None:
    """The shipped weights on a stored input give the stored output (8-bit, at most 1 level off)."""
    ref = np.load(REFERENCE)["out"]
    got = _reference_output()
    assert got.shape == ref.shape
    assert int(np.abs(got.astype(int) - ref.astype(int)).max()) <= 1


if __name__ == "__main__" and "--write" in sys.argv:
    np.savez_compressed(REFERENCE, out=_reference_output())
    print(f"wrote {REFERENCE}")


def test_auto_serves_var_on_cuda_only_when_the_suite_says_it_earns_it(monkeypatch: pytest.MonkeyPatch) -> None:
    import vidsr.sr.var_sr as var_sr
    from vidsr.sr.registry import available_models, resolve_auto

    if 2 not in available_models().get("var", ()):
        pytest.skip("no shipped var")
    monkeypatch.setattr(var_sr, "earns_auto", lambda path=None: True)
    assert resolve_auto(2, torch.device("cuda")) == "var"
    assert resolve_auto(2, CPU) == "cnn"
    monkeypatch.setattr(var_sr, "earns_auto", lambda path=None: False)
    assert resolve_auto(2, torch.device("cuda")) == "cnn"


def test_earns_auto_reads_the_suite_verdict_from_the_header(tmp_path: Path) -> None:
    from vidsr.sr.var_sr import earns_auto

    vq, _ = load_shipped()
    nets = {"student": DetailStudent.from_teacher(_tiny(vq)), "decoder": tiny_decoder(TINY)}
    for psnr, niqe_, want in ((-0.1, -0.6, True), (-0.3, -0.6, False), (-0.1, 0.2, False)):
        path = tmp_path / f"v{psnr}{niqe_}.safetensors"
        save_detail(path, TINY, nets, {"suite_psnr_vs_base": psnr, "suite_niqe_vs_base": niqe_})
        assert earns_auto(path) is want


@needs_weights
def test_the_sr_stage_sets_detail_once_and_refuses_it_for_a_model_without_one() -> None:
    from vidsr.config import StageConfig
    from vidsr.errors import ConfigError, UsageError
    from vidsr.stages import stage_params
    from vidsr.stages.sr import SRParams, SRStage

    stage = SRStage("sr", SRParams(model="var", scale=2, device="cpu", detail=0.25))
    assert stage.model.detail == 0.25
    with pytest.raises(UsageError, match="detail"):
        SRStage("sr", SRParams(model="cnn", scale=2, device="cpu", detail=0.5))
    with pytest.raises(ConfigError, match="detail"):
        stage_params(StageConfig(name="sr", type="sr", params={"model": "var", "detail": 1.5}))


@needs_weights
def test_cli_detail_zero_writes_the_cnn_run_and_wrong_uses_are_one_line(clip, cli, tmp_path: Path) -> None:
    """End to end: ``--model var --detail 0`` writes the same video as ``--model cnn`` (the base exactly);
    a detail outside 0-1, or on a model without a detail stage, is a one-line usage error."""
    from clipmaker import packet_bytes

    src = clip("in.mp4", frames=3, width=64, height=48, audio=None)
    a, b = tmp_path / "cnn.mp4", tmp_path / "var0.mp4"
    assert cli("run", src, a, "--model", "cnn", "--pipeline", "fast", "--quiet").code == 0
    assert cli("run", src, b, "--model", "var", "--detail", "0", "--pipeline", "fast", "--quiet").code == 0
    assert packet_bytes(a, "video") == packet_bytes(b, "video")
    for args in (("--model", "var", "--detail", "1.5"), ("--model", "cnn", "--detail", "0.5")):
        r = cli("run", src, tmp_path / "x.mp4", *args, "--pipeline", "fast", "--quiet")
        assert r.code == 2 and "detail" in r.stderr and len(r.stderr.strip().splitlines()) == 1, r
        assert not (tmp_path / "x.mp4").exists()
