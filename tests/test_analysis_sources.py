"""The analysis vector orders real source kinds as the truth does (issue 17, item 4).

scikit-image's bundled photographs (held out, never trained on) are made into short pan clips and then
into real sources with ``vidsr.degrade.sources`` (a real scaler, 4:2:0, a real encoder through PyAV);
the vector is read on the last, predicted frame, as the analysis stage reads a frame.

- ``detail_loss`` orders clean < x264 CRF 23 < x264 CRF 28 on every picture (none of the four
  conditioning fields does: blockiness, the old compression field, gets the order on 2 of the 5).
- ``noise`` reads camera-like sensor noise (sigma 4, area downscale) above the clean source on every
  picture where the encode leaves the noise in the pixels (x264 CRF 16). The evaluation's ``camera``
  kind encodes at CRF 24, which removes the noise (``bench/analysis_sources.py``: the frame's fine-band
  energy is that of the same source encoded without it), so it is not asked of that kind.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from vidsr.analysis import ANALYSIS_FIELDS, analysis_vector
from vidsr.data import eval_images
from vidsr.degrade.sources import make_source, pan_clip, source_kind

KINDS = ("clean", "x264-crf23", "x264-crf28", "camera-crf16")


def _params(kind: str, seed: int):
    if kind == "camera-crf16":  # the camera kind (area down, noise sigma 4) under a light encode
        return dataclasses.replace(source_kind("camera", 2, seed=seed), crf=16, name=kind)
    return source_kind(kind, 2, seed=seed)


def _vectors() -> dict[str, np.ndarray]:
    """``{kind: pictures x fields}``: 256 x 384 HQ pans made into x2 sources (128 x 192 LQ, 6 tiles)."""
    photos = [img for _, img in eval_images(max_side=512)]
    out: dict[str, list[np.ndarray]] = {k: [] for k in KINDS}
    for i, img in enumerate(photos):
        clip = pan_clip(img, (256, 384), 3, np.random.default_rng(i))
        for kind in KINDS:
            out[kind].append(analysis_vector(make_source(clip, _params(kind, i))[-1]))
    return {k: np.array(v) for k, v in out.items()}


def test_the_analysis_vector_orders_source_kinds_as_the_truth_does(one_torch_thread: None) -> None:
    vectors = _vectors()
    loss = {k: v[:, ANALYSIS_FIELDS.index("detail_loss")] for k, v in vectors.items()}
    noise = {k: v[:, ANALYSIS_FIELDS.index("noise")] for k, v in vectors.items()}
    print("\ndetail_loss", {k: np.round(v.astype(float), 3).tolist() for k, v in loss.items()})
    print("noise", {k: np.round(v.astype(float), 2).tolist() for k, v in noise.items()})
    assert len(loss["clean"]) >= 5
    # compression: on every picture, more of the finest detail is gone the harder the encode
    assert np.all(loss["clean"] < loss["x264-crf23"])
    assert np.all(loss["x264-crf23"] < loss["x264-crf28"])
    # noise: sensor noise the encode leaves reads above the clean source on every picture
    assert np.all(noise["camera-crf16"] > noise["clean"] + 0.3)
