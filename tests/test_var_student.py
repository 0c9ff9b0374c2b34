"""The one-step student (``var``): adapters only, one bidirectional pass, distillation, refiner, colour,
the shipped weights and the ``var`` stage end to end on a real clip.

Architecture tests use a small random teacher; the shipped-weight tests skip when the package has none.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from clipmaker import decoded_times, packet_bytes

import vidsr
from vidsr.data import eval_images
from vidsr.degrade import degrade
from vidsr.metrics.colour import colour_shift
from vidsr.models.var import VARConfig, VARTeacher
from vidsr.models.var_student import StudentConfig, VARStudent, load_student, save_student
from vidsr.sr.var_sr import STUDENT_PATH
from vidsr.sr.vq_lq import load_shipped
from vidsr.train.evaluate import to_tensor
from vidsr.train.student import distill_losses
from vidsr.train.var_data import build_samples

SMALL = VARConfig(dim=32, depth=2, heads=2)
shipped = pytest.mark.skipif(not STUDENT_PATH.exists(), reason="no var weights in the package")


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _pair(seed: int = 0) -> tuple[VARTeacher, VARStudent]:
    """A small random teacher with peaked token distributions (a trained one's are) and its student."""
    torch.manual_seed(seed)
    teacher = VARTeacher(SMALL).eval()
    teacher.codebook_VC.copy_(load_shipped()[0].quantize.codebook.weight)
    torch.nn.init.normal_(teacher.head.out.weight, std=0.5)
    for blk in teacher.blocks:
        torch.nn.init.normal_(blk.ada[-1].weight, std=0.2)
    for p in teacher.parameters():
        p.requires_grad_(False)
    return teacher, VARStudent(StudentConfig(teacher=SMALL), teacher)


def test_the_adapters_are_the_only_trainable_transformer_parameters() -> None:
    _, student = _pair()
    trainable = {n for n, p in student.var.named_parameters() if p.requires_grad}
    assert trainable and all(".down." in n or ".up." in n for n in trainable)
    assert {id(p) for p in student.adapter_parameters()} == {
        id(p) for p in student.var.parameters() if p.requires_grad
    }


def test_the_shipped_student_adapter_share_is_one_to_two_percent() -> None:
    """At the shipped width (dim 128, depth 6, rank 2) the adapters are 1-2% of the transformer."""
    student = VARStudent(StudentConfig())
    share = sum(p.numel() for p in student.adapter_parameters()) / sum(p.numel() for p in student.var.parameters())
    assert 0.01 <= share <= 0.02, share


def test_a_fresh_student_is_the_teacher_run_bidirectionally() -> None:
    """Up-projections start at zero and the refiner's output conv too: nothing changes until training."""
    teacher, student = _pair()
    vq, lq = load_shipped()
    x = torch.rand(2, 3, 32, 48, generator=torch.Generator().manual_seed(1))
    feat = lq.frame_to_prefix_features(x)
    lq_idx = vq.quantize.f_to_tokens(lq.encoder.conv_out(feat))
    lq_hat = vq.quantize.tokens_to_fhat(lq_idx)
    with torch.no_grad():
        got = student(feat, student.pyramid_inputs(vq.quantize, lq_idx), lq_hat, None, (32, 48))
        cond = teacher.condition(None, torch.ones(2, dtype=torch.long), (32, 48))
        want = teacher(feat, student.pyramid_inputs(vq.quantize, lq_idx), cond, lq_hat, causal=False)
    torch.testing.assert_close(got, want)
    _, plain = student.predict(vq.quantize, feat, lq_idx, None, (32, 48), refine=False)
    _, refined = student.predict(vq.quantize, feat, lq_idx, None, (32, 48), refine=True)
    torch.testing.assert_close(plain, refined)


def test_merged_adapters_give_the_same_logits_with_plain_layers() -> None:
    """Serving folds each adapter into its frozen layer: same logits, and no low-rank matmul is left."""
    from vidsr.models.var_student import LoRALinear

    _, student = _pair()
    for p in student.adapter_parameters():
        torch.nn.init.normal_(p, std=0.05)  # trained-looking adapters, so the fold has work to do
    vq, lq = load_shipped()
    x = torch.rand(2, 3, 32, 48, generator=torch.Generator().manual_seed(3))
    feat = lq.frame_to_prefix_features(x)
    lq_idx = vq.quantize.f_to_tokens(lq.encoder.conv_out(feat))
    lq_hat = vq.quantize.tokens_to_fhat(lq_idx)
    pyramid = student.pyramid_inputs(vq.quantize, lq_idx)
    with torch.no_grad():
        before = student(feat, pyramid, lq_hat, None, (32, 48))
        student.merge_adapters()
        after = student(feat, pyramid, lq_hat, None, (32, 48))
    assert not any(isinstance(m, LoRALinear) for m in student.modules())
    torch.testing.assert_close(after, before, rtol=1e-4, atol=1e-4)


def test_the_forward_has_no_per_scale_loop() -> None:
    """Every transformer block runs exactly once per student forward (the teacher's generation runs each
    block once for the prefix and once per scale)."""
    teacher, student = _pair()
    vq, lq = load_shipped()
    x = torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(2))
    feat = lq.frame_to_prefix_features(x)
    lq_idx = vq.quantize.f_to_tokens(lq.encoder.conv_out(feat))
    calls = {"student": 0, "teacher": 0}

    def counter(key: str):
        def hook(*_: object) -> None:
            calls[key] += 1

        return hook

    hs = [b.register_forward_hook(counter("student")) for b in student.var.blocks]
    student.predict(vq.quantize, feat, lq_idx, None, (64, 64))
    hs += [b.register_forward_hook(counter("teacher")) for b in teacher.blocks]
    teacher.generate(vq.quantize, feat, lq_idx, None, (64, 64))
    for h in hs:
        h.remove()
    assert calls["student"] == SMALL.depth
    assert calls["teacher"] == SMALL.depth * (SMALL.K + 1)


def test_hysteresis_keeps_the_previous_token_near_a_tie() -> None:
    _, student = _pair()
    vq, lq = load_shipped()
    x = torch.rand(1, 3, 32, 32, generator=torch.Generator().manual_seed(3))
    feat = lq.frame_to_prefix_features(x)
    lq_idx = vq.quantize.f_to_tokens(lq.encoder.conv_out(feat))
    best, _ = student.predict(vq.quantize, feat, lq_idx, None, (32, 32))
    other = [(b + 1) % SMALL.vocab for b in best]
    kept, _ = student.predict(vq.quantize, feat, lq_idx, None, (32, 32), keep=other, margin=1e9)
    assert all(torch.equal(k, o) for k, o in zip(kept, other)), "a huge margin keeps every previous token"
    fresh, _ = student.predict(vq.quantize, feat, lq_idx, None, (32, 32), keep=other, margin=0.0)
    changed = sum(int((f != o).sum()) for f, o in zip(fresh, other))
    assert changed > 0, "margin 0 keeps only exact ties"


@pytest.mark.parametrize("teacher_inputs", ["gt", "self"])
def test_a_tiny_distillation_run_lowers_the_distillation_loss(teacher_inputs: str) -> None:
    """Adapters pushed away from the teacher (random up-projections), then 30 distillation steps on six
    tiles of a real photograph: the KL to the teacher falls by half (measured: 2.97 -> 0.12 with the
    teacher on ground-truth tokens, 5.3 -> 1.0 on the student's own), and only adapters got gradients.
    The nearest-code prior is softened (beta = 1) so that the transformer's part of the logits counts."""
    teacher, student = _pair()
    teacher.prior_log_beta.data.zero_()
    student.var.prior_log_beta.data.zero_()
    for blk in student.var.blocks:
        for lin in (blk.attn.qkv, blk.attn.proj, blk.ffn[0], blk.ffn[2]):
            torch.nn.init.normal_(lin.up.weight, std=0.3)
    vq, lq = load_shipped()
    images = [img for name, img in eval_images() if name == "skimage__astronaut"]
    data = build_samples(vq, lq, images, regions=1, seed=0)
    opt = torch.optim.AdamW(student.adapter_parameters(), lr=1e-2)
    student.train()
    b = data.take(torch.from_numpy(np.random.default_rng(0).choice(len(data), 6, replace=False)))
    kls = []
    for _ in range(30):
        loss, terms = distill_losses(student, teacher, vq, b, teacher_inputs, 0.0)
        opt.zero_grad()
        loss.backward()
        opt.step()
        kls.append(terms["kl"])
    assert np.mean(kls[-3:]) < 0.5 * kls[0], kls
    assert all(p.grad is None for n, p in student.var.named_parameters() if ".down." not in n and ".up." not in n)


def test_weights_round_trip_fp16(tmp_path: Path) -> None:
    _, student = _pair()
    torch.nn.init.normal_(student.var.blocks[0].attn.qkv.up.weight)
    save_student(student, tmp_path / "s.safetensors")
    back = load_student(tmp_path / "s.safetensors")
    assert back.cfg == student.cfg
    for (k, a), (_, b) in zip(student.state_dict().items(), back.state_dict().items()):
        torch.testing.assert_close(a.half().float(), b, msg=k)


# ---- the shipped weights ----
def _astronaut_lq(scale: int) -> tuple[torch.Tensor, torch.Tensor]:
    img = dict(eval_images())["skimage__astronaut"]
    hq = to_tensor(img[160:224, 192:288])
    lq, _ = degrade(hq, scale, "medium", seed=0)
    return lq, hq


@shipped
def test_shipped_var_is_small_and_loads_without_network(monkeypatch) -> None:
    import socket

    def refuse(*a: object, **k: object) -> None:
        raise AssertionError("var tried to reach the network")

    monkeypatch.setattr(socket, "socket", refuse)
    assert STUDENT_PATH.stat().st_size < 20e6
    student = load_student(STUDENT_PATH)
    assert not any(p.requires_grad for p in student.parameters())


def _lab_cast(out_BCHW: torch.Tensor, lq_BCHW: torch.Tensor) -> torch.Tensor:
    """Mean signed CIELAB difference (L, a, b) of the downscaled output against the input: a colour or
    brightness cast. Noise and detail average out of a signed mean; a cast does not."""
    import kornia

    from vidsr.metrics.colour import downscale_to

    small = downscale_to(out_BCHW.clamp(0, 1), tuple(lq_BCHW.shape[-2:]))
    return (kornia.color.rgb_to_lab(small) - kornia.color.rgb_to_lab(lq_BCHW.clamp(0, 1))).mean((0, 2, 3))


@shipped
@pytest.mark.parametrize("scale", [2, 4])
def test_var_does_not_shift_colour(scale: int) -> None:
    """Two bounds on a held-out crop, x2/x4 medium.

    - The cast (mean signed Lab difference, downscaled output against the input) is under 0.5 Lab units
      per channel, below a just-noticeable difference. Measured: var at most 0.16; the ground truth's
      own is up to 0.65, from the noise and compression the input carries.
    - The mean CIEDE2000 against the input is within 10% of the ground truth's own. That metric also
      counts the noise the model removed, so a perfect restoration scores the truth's value, not zero.
      Measured: x2 2.66 vs truth 2.62, x4 2.35 vs 2.96.

    Until session 4 the second bound was "below the truth's own", which a perfect restoration fails by
    construction. It failed (2.66 vs 2.62) when the tokenizer's decoder was fine-tuned. Over the
    harness's 10 photographs var's CIEDE2000 did not rise (2.21 -> 2.20 at x2). The cast check was added
    then. A +2 L cast fails the cast bound and a +5 L cast the CIEDE2000 one (checked below), so both
    still catch a real shift.
    """
    from vidsr.sr.base import build_model

    lq, hq = _astronaut_lq(scale)
    out = build_model("var", scale, torch.device("cpu"))(lq)
    assert out.shape[-2:] == (lq.shape[-2] * scale, lq.shape[-1] * scale)
    truth = float(colour_shift(hq, lq).delta_e2000.mean())
    cast = _lab_cast(out, lq)
    assert float(cast.abs().max()) < 0.5, cast
    assert float(colour_shift(out, lq).delta_e2000.mean()) < 1.1 * truth
    assert float(_lab_cast((out + 0.02).clamp(0, 1), lq).abs().max()) >= 0.5  # about +2 L in mid-tones
    assert float(colour_shift((out + 0.05).clamp(0, 1), lq).delta_e2000.mean()) >= 1.1 * truth  # about +5 L


@shipped
def test_var_stage_end_to_end_on_a_real_clip(clip, tmp_path: Path) -> None:
    """`var` in the pipeline: every frame once with its source timestamp, audio bytes copied, 2x size."""
    src = clip("in.mp4", frames=4, width=48, height=32)
    dst = tmp_path / "out.mp4"
    report = vidsr.enhance(src, dst, model="var", scale=2, preset="ultrafast")
    assert report["frames"] == 4
    assert decoded_times(dst) == decoded_times(src)
    assert packet_bytes(dst, "audio") == packet_bytes(src, "audio")
    import av

    with av.open(str(dst)) as c:
        assert (c.streams.video[0].width, c.streams.video[0].height) == (96, 64)


REFERENCE = Path(__file__).parent / "data" / "var_reference_x2.npz"


def _run_shipped_var(lq_HW3: np.ndarray) -> np.ndarray:
    """The shipped ``var`` on one stored 8-bit input, as 8-bit output (what the encoder would be given)."""
    from vidsr.sr.base import build_model

    x = torch.from_numpy(lq_HW3).permute(2, 0, 1)[None].float() / 255.0
    out = build_model("var", 2, torch.device("cpu"))(x)
    return (out[0].clamp(0, 1).permute(1, 2, 0) * 255.0).round().to(torch.uint8).numpy()


def write_reference() -> None:
    """Regenerate the stored reference (only when the model or its serving path is changed on purpose):
    ``python tests/test_var_student.py``."""
    lq, _ = _astronaut_lq(2)
    lq8 = (lq[0].permute(1, 2, 0) * 255.0).round().to(torch.uint8).numpy()
    REFERENCE.parent.mkdir(exist_ok=True)
    np.savez_compressed(REFERENCE, lq=lq8, out=_run_shipped_var(lq8))


@shipped
def test_one_step_output_equals_the_stored_reference() -> None:
    """Regression: the shipped student on a stored held-out input gives the stored output. Float kernels may
    differ across CPUs and flip a near-tie token (a 4 x 4 HQ patch), so a few pixels may move; any real
    change (weights, serving path, colour fix, tiling) moves far more than this allows."""
    ref = np.load(REFERENCE)
    out = _run_shipped_var(ref["lq"]).astype(np.int16)
    diff = np.abs(out - ref["out"].astype(np.int16))
    assert out.shape == ref["out"].shape
    assert diff.mean() <= 0.25, diff.mean()
    assert (diff > 2).mean() <= 0.02, (diff > 2).mean()


if __name__ == "__main__":
    write_reference()


def test_the_nearest_code_prior_stays_fp32_under_bf16_autocast() -> None:
    """beta (about 148 when trained) scales the prior's matrix product: in bf16 its rounding flips near
    ties between codes, so it runs in fp32 whatever autocast says (CUDA serves ``var`` under bf16; CPU
    autocast exercises the same rule here)."""
    teacher, _ = _pair()
    torch.manual_seed(1)
    C = teacher.cfg.code_dim
    lq_hat, inp = torch.randn(2, C, 8, 8), torch.randn(2, C, 4, 4)
    ref = teacher.prior_logits(1, lq_hat, inp)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        got = teacher.prior_logits(1, lq_hat, inp)
        got_bf16_inputs = teacher.prior_logits(1, lq_hat.bfloat16(), inp.bfloat16())
    assert got.dtype == torch.float32 and torch.equal(got, ref)
    assert got_bf16_inputs.dtype == torch.float32
