"""Units under the pipeline: tiling is seamless, config is typed and strict, the graph keeps order."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
import torch

from vidsr.config import DecodeConfig, EncodeConfig, PipelineConfig, from_dict
from vidsr.errors import ConfigError
from vidsr.frame import Frame
from vidsr.graph import Graph
from vidsr.pipeline_files import load_pipeline
from vidsr.sr.registry import available_models, build_model
from vidsr.sr.tiling import tile_starts, upscale_tiled


@pytest.mark.parametrize(("scale", "tile", "overlap", "size"), [(2, 64, 8, (150, 211)), (4, 48, 16, (97, 130)),
                                                                (2, 100, 0, (100, 333))])
def test_tiled_bicubic_equals_whole_frame(scale: int, tile: int, overlap: int, size: tuple[int, int]) -> None:
    model = build_model("bicubic", scale, torch.device("cpu"))
    x = torch.rand(2, 3, *size, generator=torch.Generator().manual_seed(0))
    whole = model(x)
    tiled = upscale_tiled(model, x, tile, overlap, max_batch=5)
    assert tiled.shape == whole.shape
    assert (tiled - whole).abs().max().item() < 1e-4


def test_tile_starts_cover_and_share_size() -> None:
    starts = tile_starts(211, 64, 8)
    assert starts[0] == 0 and starts[-1] + 64 == 211
    assert all(b - a <= 64 - 8 for a, b in zip(starts, starts[1:]))


def test_models_registry_lists_scales() -> None:
    assert available_models()["bicubic"] == (2, 4)


def test_shipped_pipelines_load() -> None:
    for name in ("default", "fast"):
        config = load_pipeline(name)
        assert isinstance(config, PipelineConfig) and config.stage("sr") is not None


def test_config_is_strict() -> None:
    assert from_dict(EncodeConfig, {"crf": 20}).crf == 20
    assert from_dict(DecodeConfig, {}).threads == 0
    with pytest.raises(ConfigError, match="unknown key 'crff'"):
        from_dict(EncodeConfig, {"crff": 20})
    with pytest.raises(ConfigError, match="crf: expected int"):
        from_dict(EncodeConfig, {"crf": "20"})
    with pytest.raises(ConfigError, match="missing key 'name'"):
        from_dict(PipelineConfig, {})


class _Shuffle:
    """A stage that holds frames back and releases them in bursts: order must still hold downstream."""

    def __init__(self, name: str) -> None:
        self.name = name

    def process(self, frames):
        held = []
        for f in frames:
            held.append(f)
            if len(held) == 3:
                yield from held
                held = []
        yield from held

    def summary(self):
        return {}


def test_graph_keeps_order_and_counts_every_frame() -> None:
    frames = [Frame(image=np.zeros((2, 2, 3), np.uint8), pts=i, time_base=Fraction(1, 25), index=i)
              for i in range(50)]
    graph = Graph(source=lambda: iter(frames), stages=[_Shuffle("a"), _Shuffle("b")], queue_size=2)
    seen: list[int] = []
    graph.run(lambda it: seen.extend(f.pts for f in it))
    assert seen == list(range(50))
    assert graph.timings["a"].frames == graph.timings["b"].frames == 50 and graph.timings["remux"].frames == 50
