"""The CNN peer: exact shapes, an honest receptive field (so tiles are seamless), and shipped weights
that beat bicubic on a held-out photograph under the medium degradation."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from vidsr.data import eval_images
from vidsr.degrade import degrade
from vidsr.models.cnn import CNNConfig, CompactSR, load_weights, save_weights
from vidsr.sr.batch import SRBatch
from vidsr.sr.cnn import shipped_scales
from vidsr.sr.registry import available_models, build_model
from vidsr.sr.tiling import upscale_tiled
from vidsr.train.evaluate import bicubic_up, psnr_y, to_tensor

CPU = torch.device("cpu")


def _randomised(cfg: CNNConfig) -> CompactSR:
    """An untrained net whose tail is not zero, so every layer shows in the output."""
    torch.manual_seed(0)
    net = CompactSR(cfg).eval()
    torch.nn.init.normal_(net.tail.weight, std=0.05)
    return net


@pytest.mark.parametrize("scale", [2, 4])
def test_fresh_model_is_exact_bicubic_and_keeps_odd_shapes(scale: int) -> None:
    """The zero-initialised tail makes training start from bicubic, not from noise."""
    x = torch.rand(2, 3, 37, 51)
    with torch.inference_mode():
        y = CompactSR(CNNConfig(scale=scale)).eval()(x)
    assert y.shape == (2, 3, 37 * scale, 51 * scale)
    assert torch.equal(y, F.interpolate(x, scale_factor=scale, mode="bicubic", align_corners=False))


def test_receptive_radius_bounds_the_influence_of_a_pixel() -> None:
    cfg = CNNConfig(scale=2)
    net, r = _randomised(cfg), cfg.receptive_radius
    x = torch.rand(1, 3, 96, 96)
    x2 = x.clone()
    x2[..., 48, 48] += 0.5
    with torch.inference_mode():
        diff = (net(x2) - net(x)).abs().amax(dim=(0, 1))
    ys, xs = torch.nonzero(diff > 0, as_tuple=True)
    assert len(ys) > 0
    reach = max((ys // 2 - 48).abs().max().item(), (xs // 2 - 48).abs().max().item())
    assert r - 6 <= reach <= r  # a bound, and not a loose one


def test_weights_roundtrip_in_fp16(tmp_path) -> None:
    net = _randomised(CNNConfig(scale=4, channels=16, blocks=2))
    save_weights(net, tmp_path / "w.safetensors", meta={"steps": 1})
    back = load_weights(tmp_path / "w.safetensors")
    assert back.cfg == net.cfg
    x = torch.rand(1, 3, 20, 24)
    with torch.inference_mode():
        assert (back(x) - net(x)).abs().max() < 2e-3  # fp16 storage, fp32 compute


def test_cnn_is_registered_with_its_shipped_scales() -> None:
    assert 2 in shipped_scales()
    assert available_models()["cnn"] == shipped_scales()


def test_tiled_output_matches_the_whole_frame() -> None:
    """``context`` covers the receptive field, so tiles give the whole-frame result (even frame sizes)."""
    model = build_model("cnn", 2, CPU)
    img = dict(eval_images())["skimage__chelsea"][:96, :176]
    x = to_tensor(img)
    whole = model(x)
    tiled = upscale_tiled(model, x, tile=48, overlap=8)
    assert (tiled - whole).abs().max() < 1e-4


def _conditioned(cfg: CNNConfig) -> CompactSR:
    """A randomised conditioned net whose FiLM output is not zero, so the vector shows in the output."""
    net = _randomised(cfg)
    torch.nn.init.normal_(net.film[-1].weight, std=0.3)
    return net


def test_a_conditioned_net_starts_as_its_blind_parent() -> None:
    """The FiLM layer starts at zero: fine-tuning a blind net with conditioning starts from that net."""
    blind = _randomised(CNNConfig(scale=2, channels=16, blocks=2))
    cond = CompactSR(CNNConfig(scale=2, channels=16, blocks=2, cond_dim=4)).eval()
    missing, unexpected = cond.load_state_dict(blind.state_dict(), strict=False)
    assert all(k.startswith("film.") for k in missing) and not unexpected
    x = torch.rand(2, 3, 20, 24)
    with torch.inference_mode():
        torch.testing.assert_close(cond(x, torch.rand(2, 4) * 3), blind(x))
        with pytest.raises(ValueError, match="degradation vector"):
            cond(x)


def test_conditioned_tiles_get_their_own_frames_vectors() -> None:
    """The SR stage hands one vector per frame; the tiler stacks tile k of every frame, so each tile must
    be run with its own frame's vector: tiled output equals each frame run whole with its vector."""
    model = build_model("cnn", 2, CPU)
    model.net = _conditioned(CNNConfig(scale=2, channels=16, blocks=2, cond_dim=4))
    model.context = model.net.cfg.receptive_radius + model.net.cfg.receptive_radius % 2
    img = dict(eval_images())["skimage__chelsea"]
    x = torch.cat([to_tensor(img[:64, :96]), to_tensor(img[100:164, 200:296])])
    vecs = torch.tensor([[0.3, 0.8, 0.05, 0.1], [2.5, 2.0, 0.5, 0.9]])
    tiled = upscale_tiled(model, SRBatch(x, vecs), tile=32, overlap=8)
    with torch.inference_mode():
        whole = torch.cat([model.net(x[b : b + 1], vecs[b : b + 1]) for b in range(2)]).clamp(0, 1)
        swapped = torch.cat([model.net(x[b : b + 1], vecs[1 - b : 2 - b]) for b in range(2)]).clamp(0, 1)
    assert (tiled - whole).abs().max() < 1e-4
    assert (swapped - whole).abs().max() > 1e-2  # the vectors matter, so the check above means something
    # called directly without vectors, the model measures its input itself
    from vidsr.analysis.batch import batch_degradations

    with torch.inference_mode():
        torch.testing.assert_close(model(x), model.net(x, batch_degradations(x)).clamp(0, 1))


# Measured (model card): the shipped weights are trained on real sources first (90% of pairs: a real scaler
# and a real codec; 10% the synthetic chain), so the synthetic `medium` preset is now a secondary check.
# On this 256x384 crop of motorcycle_left at medium (seed 0) the x2 weights gain +0.54 dB over bicubic
# (the earlier, synthetic-only weights gained +0.95 here) and the x4 weights +0.53 (earlier +0.36). The
# floors still fail weights that only match bicubic (a zero or lost tail); real-source fidelity is
# guarded in tests/test_cnn_reference.py.
MIN_GAIN_DB = {2: 0.35, 4: 0.2}


@pytest.mark.parametrize("scale", [2, 4])
def test_cnn_beats_bicubic_on_a_held_out_photograph(scale: int) -> None:
    if scale not in shipped_scales():
        pytest.skip(f"no x{scale} weights shipped")
    model = build_model("cnn", scale, CPU)
    img = dict(eval_images())["skimage__motorcycle_left"][:256, :384]
    hq = to_tensor(img)
    lq, _ = degrade(hq, scale, "medium", seed=0)
    out = model(lq)
    assert out.shape == hq.shape and out.dtype == torch.float32
    gain = psnr_y(out, hq, scale) - psnr_y(bicubic_up(lq, scale), hq, scale)
    assert gain >= MIN_GAIN_DB[scale], f"x{scale} medium: cnn beats bicubic by only {gain:.2f} dB"
