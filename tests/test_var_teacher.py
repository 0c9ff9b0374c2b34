"""The VAR teacher: block-causal mask, scale-aligned RoPE, KV-cached generation, guidance, the dynamic
sampling scheduler, training, and the shipped weights.

Models here are small and random unless a test is about the shipped file; the tokenizer is the shipped
one (its quantizer defines the token space). One CPU thread, a few seconds each.
"""

from __future__ import annotations

import socket

import numpy as np
import pytest
import torch

from vidsr.data import eval_images
from vidsr.models.basic_var import RoPE2D, grid_positions
from vidsr.models.var import (
    QUALITY_HQ,
    VARConfig,
    VARTeacher,
    block_causal_mask,
    guide,
    load_var,
    next_scale_inputs,
    save_var,
)
from vidsr.sr.var_sr import TEACHER_PATH
from vidsr.sr.vq_lq import load_shipped
from vidsr.train.teacher import CountBook, codebook_neighbours, forced_walk, teacher_batch
from vidsr.train.var_data import build_samples

SMALL = VARConfig(dim=32, depth=2, heads=2)


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _small(seed: int = 0) -> VARTeacher:
    torch.manual_seed(seed)
    m = VARTeacher(SMALL).eval()
    m.codebook_VC.copy_(load_shipped()[0].quantize.codebook.weight)
    for blk in m.blocks:  # random gates, so that every block matters in the comparisons below
        torch.nn.init.normal_(blk.ada[-1].weight, std=0.2)
    return m


def _lq_inputs(x: torch.Tensor):
    vq, lq = load_shipped()
    feat = lq.frame_to_prefix_features(x)
    lq_idx = vq.quantize.f_to_tokens(lq.encoder.conv_out(feat))
    return vq, feat, lq_idx


def test_mask_never_sees_a_finer_scale_and_everyone_sees_the_prefix() -> None:
    m = _small()
    hws, _, group_L = m.layout(16, 16, torch.device("cpu"))
    mask = block_causal_mask(group_L)
    n_prefix = 16 * 16
    assert mask[:, :n_prefix].all(), "every position sees the prefix"
    assert not mask[:n_prefix, n_prefix:].any(), "the prefix sees no scale"
    # a query of scale k sees keys of scales <= k, never k + 1
    for q in range(mask.shape[0]):
        assert (mask[q] == (group_L <= group_L[q])).all()
    assert int(group_L.max()) == len(hws)


@pytest.mark.parametrize("h,w", [(16, 16), (12, 36), (36, 12), (13, 21)])
def test_rope_gives_a_spot_the_same_rotation_at_every_scale(h: int, w: int) -> None:
    """The centre cell of odd grids covers the same normalised spot: equal angles at 1x1, 3x3 and 5x5."""
    rope = RoPE2D(32)
    centres = []
    for g in (1, 3, 5):
        pos = grid_positions(g, g, h, w)
        centres.append(pos[(g * g) // 2])
    cos, sin = rope.angles(torch.stack(centres))
    torch.testing.assert_close(cos[0].expand_as(cos), cos, atol=1e-6, rtol=0)
    torch.testing.assert_close(sin[0].expand_as(sin), sin, atol=1e-6, rtol=0)
    # and the same fraction of the frame has the same position at two frame sizes of one aspect ratio
    torch.testing.assert_close(grid_positions(4, 4, h, w), grid_positions(4, 4, 2 * h, 2 * w))


@pytest.mark.parametrize("H,W", [(64, 64), (48, 144), (144, 48), (52, 70)])
def test_kv_cached_generation_equals_the_uncached_forward(H: int, W: int) -> None:
    """Tokens generated one scale at a time with the cache, fed back teacher-forced through the masked
    full-sequence forward, give the same logits (any size and aspect ratio from 1:3 to 3:1)."""
    m = _small()
    vq, feat, lq_idx = _lq_inputs(torch.rand(2, 3, H, W, generator=torch.Generator().manual_seed(1)))
    deg = torch.rand(2, 4)
    logits_gen: list[torch.Tensor] = []
    idx, fhat = m.generate(vq.quantize, feat, lq_idx, deg, (H, W), logits_out=logits_gen)
    assert [tuple(i.shape[-2:]) for i in idx] == [tuple(i.shape[-2:]) for i in lq_idx]
    start = vq.quantize.codebook(lq_idx[0]).permute(0, 3, 1, 2)
    with torch.no_grad():
        cond = m.condition(deg, torch.full((2,), QUALITY_HQ), (H, W))
        logits_tf = m(feat, next_scale_inputs(vq.quantize, idx, start), cond, vq.quantize.tokens_to_fhat(lq_idx))
    torch.testing.assert_close(logits_tf, torch.cat(logits_gen, 1), atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(fhat, vq.quantize.tokens_to_fhat(idx), atol=1e-5, rtol=0)


def test_guidance_scale_one_is_the_conditional_model_and_three_is_not() -> None:
    m = _small()
    vq, feat, lq_idx = _lq_inputs(torch.rand(2, 3, 32, 48, generator=torch.Generator().manual_seed(2)))
    pos, neg = torch.randn(2, 5, 7), torch.randn(2, 5, 7)
    assert torch.equal(guide(pos, neg, 1.0), pos)
    plain: list[torch.Tensor] = []
    idx1, _ = m.generate(vq.quantize, feat, lq_idx, None, (32, 48), cfg_scale=1.0, logits_out=plain)
    start = vq.quantize.codebook(lq_idx[0]).permute(0, 3, 1, 2)
    with torch.no_grad():
        cond = m.condition(None, torch.full((2,), QUALITY_HQ), (32, 48))
        cond_logits = m(feat, next_scale_inputs(vq.quantize, idx1, start), cond, vq.quantize.tokens_to_fhat(lq_idx))
    torch.testing.assert_close(torch.cat(plain, 1), cond_logits, atol=1e-4, rtol=1e-4)
    guided: list[torch.Tensor] = []
    m.generate(vq.quantize, feat, lq_idx, None, (32, 48), cfg_scale=3.0, logits_out=guided)
    assert not torch.allclose(guided[0], plain[0], atol=1e-3)


def test_sampling_is_seeded_and_deterministic() -> None:
    m = _small()
    vq, feat, lq_idx = _lq_inputs(torch.rand(1, 3, 32, 32, generator=torch.Generator().manual_seed(3)))

    def run(seed: int) -> list[torch.Tensor]:
        g = torch.Generator().manual_seed(seed)
        return m.generate(vq.quantize, feat, lq_idx, None, (32, 32), temperature=1.0, top_k=50, generator=g)[0]

    a, b, c = run(5), run(5), run(6)
    assert all(torch.equal(x, y) for x, y in zip(a, b))
    assert not all(torch.equal(x, y) for x, y in zip(a, c))


def test_dynamic_sampling_swaps_for_neighbours_and_requantizes_the_targets() -> None:
    """With p = 1 and a count book that says "the model always picks the 1st neighbour", every token that
    feeds a finer scale is the truth's nearest other code, and the finer targets follow the residual."""
    vq, _ = load_shipped()
    quant = vq.quantize
    knn = codebook_neighbours(quant, 4)
    assert torch.equal(knn[:, 0], torch.arange(knn.shape[0])), "a code is its own nearest neighbour"
    f = vq.frame_to_latent(torch.rand(2, 3, 64, 64, generator=torch.Generator().manual_seed(4)))
    start = torch.zeros(2, quant.C, 1, 1)
    clean_targets, clean_inputs = forced_walk(quant, f, start)
    book = CountBook(quant.K, 4)
    book.counts_Kk[:] = torch.tensor([0.0, 1.0, 0.0, 0.0])
    targets, inputs = forced_walk(quant, f, start, knn, book, p=1.0, generator=torch.Generator().manual_seed(0))
    assert torch.equal(targets[0], clean_targets[0])  # the first scale's truth is unaffected
    # the second scale's input is built from the swapped first-scale tokens, not the true ones
    swapped = knn[clean_targets[0], 1]
    expect = torch.nn.functional.interpolate(
        quant._code_map_to_latent(0, swapped, tuple(f.shape[-2:])), size=inputs[1].shape[-2:], mode="area"
    )
    torch.testing.assert_close(inputs[1], expect)
    assert not torch.equal(targets[1], clean_targets[1]), "finer targets correct the coarser error"


def test_count_book_follows_the_models_picks() -> None:
    knn = torch.tensor([[0, 1, 2], [1, 0, 2], [2, 1, 0]])
    book = CountBook(1, 3, momentum=0.0)
    true = torch.tensor([0, 0, 1, 2])
    pred = torch.tensor([0, 1, 2, 0])  # ranks 0, 1, 2, 2
    book.update(0, pred, true, knn)
    torch.testing.assert_close(book.counts_Kk[0], torch.tensor([0.25, 0.25, 0.5]))


def test_a_tiny_training_run_on_real_pictures_lowers_the_loss() -> None:
    """40 steps on tiles of two real photographs (teacher forcing, CFG labels, DSS on for the second
    half): the cross-entropy falls by at least a tenth."""
    vq, lq = load_shipped()
    images = [img for name, img in eval_images() if name in ("skimage__astronaut", "skimage__coffee")]
    data = build_samples(vq, lq, images, regions=2, seed=0)
    torch.manual_seed(0)
    m = VARTeacher(SMALL).train()
    m.codebook_VC.copy_(vq.quantize.codebook.weight)
    opt = torch.optim.AdamW(m.parameters(), lr=3e-3)
    knn, book = codebook_neighbours(vq.quantize, 4), CountBook(vq.quantize.K, 4)
    losses = []
    for step in range(40):
        rng = np.random.default_rng(step)
        b = data.take(torch.from_numpy(rng.choice(len(data), 8, replace=False)))
        f, quality, deg, start, lq_hat = teacher_batch(vq, b, rng, 0.15, 0.1, 0.1)
        targets, inputs = forced_walk(vq.quantize, f, start, knn, book, 0.5 if step >= 20 else 0.0)
        logits = m(b["lq_feat"], inputs, m.condition(deg, quality, (64, 64)), lq_hat)
        loss = torch.nn.functional.cross_entropy(
            logits.reshape(-1, SMALL.vocab), torch.cat([t.flatten(1) for t in targets], 1).reshape(-1)
        )
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert np.mean(losses[-5:]) < 0.9 * np.mean(losses[:5]), losses


def test_a_fresh_teacher_starts_from_the_lq_frames_own_tokens() -> None:
    """The nearest-code prior: with the transformer's logits near zero, greedy generation re-quantizes
    the LQ latent, so its decode is close to ``vq-lq``'s (measured 32.8 dB apart; tokens may differ, as
    a residual walk over an already quantized latent can take other codes to the same sum)."""
    torch.manual_seed(0)
    m = VARTeacher(SMALL).eval()
    vq, feat, lq_idx = _lq_inputs(torch.rand(2, 3, 64, 64, generator=torch.Generator().manual_seed(5)))
    m.codebook_VC.copy_(vq.quantize.codebook.weight)
    idx, fhat = m.generate(vq.quantize, feat, lq_idx, None, (64, 64))
    ours, vq_lq = vq.fhat_to_frame(fhat), vq.fhat_to_frame(vq.quantize.tokens_to_fhat(lq_idx))
    psnr = float(10 * torch.log10(1 / (ours - vq_lq).square().mean()))
    assert psnr > 28.0, psnr


def test_weights_round_trip_fp16(tmp_path) -> None:
    m = _small()
    save_var(m, tmp_path / "t.safetensors", meta={"steps": 1})
    back = load_var(tmp_path / "t.safetensors")
    assert back.cfg == m.cfg
    for (k, a), (_, b) in zip(m.state_dict().items(), back.state_dict().items()):
        torch.testing.assert_close(a.half().float(), b, msg=k)


@pytest.mark.skipif(not TEACHER_PATH.exists(), reason="no teacher weights in the package")
def test_shipped_teacher_loads_without_network(monkeypatch) -> None:
    def refuse(*a, **k):
        raise AssertionError("the teacher tried to reach the network")

    monkeypatch.setattr(socket, "socket", refuse)
    m = load_var(TEACHER_PATH)
    assert TEACHER_PATH.stat().st_size < 20e6
    assert not any(p.requires_grad for p in m.parameters())
    from vidsr.sr.base import build_model

    sr = build_model("var-teacher", 2, torch.device("cpu"))
    y = sr(torch.rand(1, 3, 20, 30))
    assert y.shape == (1, 3, 40, 60) and 0.0 <= float(y.min()) and float(y.max()) <= 1.0
