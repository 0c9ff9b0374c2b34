"""The SR model call is explicit: ``model(SRBatch(x, degradation_BF, scene_ids))``, nothing set on the model.

Issue 19: the SR stage and the tiler used to set ``model.degradation`` / ``model.scenes`` before a call and
clear them after, and the CNN assumed the tiler's stacking order (item i belongs to frame i mod B). Now a
tile carries its own frame's vector, and a model's attributes are the same before and after any call.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any

import numpy as np
import pytest
import torch

from vidsr.data import eval_images
from vidsr.frame import Frame
from vidsr.sr.base import SuperResolver
from vidsr.sr.batch import SRBatch
from vidsr.sr.registry import build_model
from vidsr.sr.tiling import upscale_tiled
from vidsr.sr.var_sr import STUDENT_PATH
from vidsr.sr.vq_lq import TOKENIZER_PATH
from vidsr.stages.sr import SRParams, SRStage
from vidsr.train.evaluate import to_tensor

CPU = torch.device("cpu")
# two frames of one batch with very different vectors (light vs heavy noise and blur)
VECS = torch.tensor([[0.3, 0.8, 0.05, 0.1, 0.27], [2.5, 2.0, 0.5, 0.9, 0.45]])  # DEGRADATION_FIELDS order


def _two_frames() -> torch.Tensor:
    img = dict(eval_images())["skimage__chelsea"]
    return torch.cat([to_tensor(img[:64, :96]), to_tensor(img[100:164, 200:296])])


def test_each_tile_is_run_with_its_own_frames_vector() -> None:
    """Two frames with different vectors, tiled in one batch (tile k of both frames in one call), give
    what each frame gives tiled alone with its vector: no tile gets its neighbour frame's vector."""
    model = build_model("cnn", 2, CPU)
    assert model.capabilities.conditioned
    x = _two_frames()
    together = upscale_tiled(model, SRBatch(x, VECS), tile=32, overlap=8)
    alone = torch.cat([upscale_tiled(model, SRBatch(x[b : b + 1], VECS[b : b + 1]), tile=32, overlap=8)
                       for b in range(2)])
    swapped = upscale_tiled(model, SRBatch(x, VECS.flip(0)), tile=32, overlap=8)
    assert (together - alone).abs().max() < 1e-5  # batch composition changes float sums only in the last bits
    assert (swapped - together).abs().max() > 1e-2  # the vectors matter, so the check above means something


def _frames() -> list[Frame]:
    """Three analysed frames: each with its vector, the last one after a cut (scene 1)."""
    x = _two_frames()
    images = [(x[b].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8) for b in (0, 1, 0)]
    vecs = [VECS[0].numpy(), VECS[1].numpy(), VECS[1].numpy()]
    return [Frame(image=im, pts=i, time_base=Fraction(1, 25), index=i, scene_id=(0, 0, 1)[i], degradation=v)
            for i, (im, v) in enumerate(zip(images, vecs))]


def _state(models: list[Any]) -> list[dict[str, int]]:
    """The models' attributes, by identity: a call may update what an attribute holds (a cache's entries)
    but must neither add, drop nor rebind one."""
    return [{k: id(v) for k, v in vars(m).items()} for m in models]


def _check_no_attribute_changes(models: list[Any], nets: list[torch.nn.Module], tile_mp: float | None) -> None:
    """Through the SR stage and a direct call, the attributes of ``models`` (the model and the models it
    runs inside) are what they were before, also while its ``nets`` run (where a vector set on a model
    beforehand would be read)."""
    model: SuperResolver = models[0]
    params = SRParams(model=model.name, scale=2, device="cpu", tile=32, tile_overlap=8, batch_frames=3,
                      tile_above_megapixels=tile_mp, token_cache=model.capabilities.token_cache)
    stage = SRStage("sr", params, model=model)
    before = _state(models)
    during: list[list[dict[str, int]]] = []
    hooks = [net.register_forward_pre_hook(lambda *_: during.append(_state(models))) for net in nets]
    try:
        out = list(stage.process(iter(_frames())))
        model(SRBatch(_two_frames(), VECS, (0, 1)))
    finally:
        for h in hooks:
            h.remove()
    assert len(out) == 3 and during
    assert all(state == before for state in during) and _state(models) == before


@pytest.mark.parametrize("tile_mp", [None, 0.002])  # whole frames; tiles of 32 px
def test_the_cnn_keeps_its_attributes_across_calls(tile_mp: float | None) -> None:
    model = build_model("cnn", 2, CPU)
    _check_no_attribute_changes([model], [model.net], tile_mp)


@pytest.mark.skipif(not (STUDENT_PATH.exists() and TOKENIZER_PATH.exists()), reason="no shipped var")
def test_var_keeps_its_attributes_across_calls() -> None:
    """``var`` with its token cache on: vectors reach its base CNN and scene ids its cache as arguments."""
    model = build_model("var", 2, CPU)
    _check_no_attribute_changes([model, model.base], [model.base.net, model.decoder], None)
