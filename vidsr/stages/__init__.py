"""The stage registry: a stage type names its class and its typed parameters."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from vidsr.config import PipelineConfig, StageConfig, from_dict
from vidsr.errors import ConfigError
from vidsr.stages.analysis import DegradeAnalysis, DegradeAnalysisParams
from vidsr.stages.base import Stage
from vidsr.stages.passthrough import PassThrough, PassThroughParams
from vidsr.stages.resize import ResizeParams, ResizeStage
from vidsr.stages.sr import SRParams, SRStage
from vidsr.stages.temporal_smoothing import TemporalSmoothing, TemporalSmoothingParams

__all__ = ["Stage", "register_stage", "validate_stage", "build_stage", "stage_params", "typed_stages", "STAGE_TYPES",
           "PARAM_RANGES"]

STAGE_TYPES: dict[str, tuple[Callable[[str, Any], Stage], type]] = {}


def register_stage(type_: str, cls: Callable[[str, Any], Stage], params_cls: type) -> None:
    STAGE_TYPES[type_] = (cls, params_cls)


register_stage("passthrough", PassThrough, PassThroughParams)
register_stage("sr", SRStage, SRParams)
register_stage("degrade-analysis", DegradeAnalysis, DegradeAnalysisParams)
register_stage("temporal-smoothing", TemporalSmoothing, TemporalSmoothingParams)
register_stage("resize", ResizeStage, ResizeParams)


# the ranges of stage numbers whose wrong values would fail deep in a run, or never end (a negative tile or
# overlap, no frames per batch, no tiles per call): refused where the typed params are built, as the YAML loads
PARAM_RANGES: dict[type, dict[str, tuple[float | None, float | None]]] = {
    SRParams: {"scale": (1, 8), "tile": (0, None), "tile_overlap": (0, None), "batch_frames": (1, None),
               "batch_megapixels": (0.001, None), "max_tiles_per_call": (1, None),
               "tile_above_megapixels": (0, None), "detail": (0, 1)},
}


def _check_ranges(params: Any, where: str) -> None:
    for name, (low, high) in PARAM_RANGES.get(type(params), {}).items():
        value = getattr(params, name)
        if value is None or isinstance(value, bool):
            continue
        if not ((low is None or value >= low) and (high is None or value <= high)):  # NaN fails too
            bounds = f"at least {low}" if high is None else f"{low} to {high}"
            raise ConfigError(f"{where}.{name}: {value!r} is out of range (it must be {bounds})")


def stage_params(config: StageConfig, where: str = "stage") -> Any:
    """The stage's typed parameters, checked against its dataclass and :data:`PARAM_RANGES`: parsed from a mapping
    as written, or the typed params a loaded pipeline already holds (checked again: an override may have changed
    them)."""
    if config.type not in STAGE_TYPES:
        raise ConfigError(f"{where}.type: unknown stage type '{config.type}' (known: {', '.join(STAGE_TYPES)})")
    params_cls = STAGE_TYPES[config.type][1]
    if isinstance(config.params, params_cls):
        params = config.params
    elif config.params is None or isinstance(config.params, dict):
        params = from_dict(params_cls, config.params, where=f"{where}.params")
    else:
        raise ConfigError(f"{where}.params: expected a mapping, got {type(config.params).__name__}")
    _check_ranges(params, f"{where}.params")
    return params


def validate_stage(config: StageConfig, where: str = "stage") -> None:
    stage_params(config, where)


def typed_stages(config: PipelineConfig, where: str = "pipeline") -> PipelineConfig:
    """``config`` with every stage's params parsed, once, into its typed dataclass (in place; returned for
    chaining), and the stage names checked: unique, and not the graph's own ends."""
    for i, stage in enumerate(config.stages):
        stage.params = stage_params(stage, where=f"{where}.stages[{i}]")
    names = [s.name for s in config.stages]
    if len(set(names)) != len(names) or {"demux", "remux"} & set(names):
        raise ConfigError(f"{where}.stages: stage names must be unique and not demux/remux, got {names}")
    return config


def build_stage(config: StageConfig) -> Stage:
    cls, _ = STAGE_TYPES[config.type]
    return cls(config.name, stage_params(config, where=config.name))
