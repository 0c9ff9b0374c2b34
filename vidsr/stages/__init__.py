"""The stage registry: a stage type names its class and its typed parameters."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from vidsr.analysis.stage import DegradeAnalysis, DegradeAnalysisParams
from vidsr.config import StageConfig, from_dict
from vidsr.errors import ConfigError
from vidsr.stages.base import Stage
from vidsr.stages.passthrough import PassThrough, PassThroughParams
from vidsr.stages.resize import ResizeParams, ResizeStage
from vidsr.stages.sr import SRParams, SRStage
from vidsr.temporal.smoothing import TemporalSmoothing, TemporalSmoothingParams

__all__ = ["Stage", "register_stage", "validate_stage", "build_stage", "stage_params", "STAGE_TYPES"]

STAGE_TYPES: dict[str, tuple[Callable[[str, Any], Stage], type]] = {}


def register_stage(type_: str, cls: Callable[[str, Any], Stage], params_cls: type) -> None:
    STAGE_TYPES[type_] = (cls, params_cls)


register_stage("passthrough", PassThrough, PassThroughParams)
register_stage("sr", SRStage, SRParams)
register_stage("degrade-analysis", DegradeAnalysis, DegradeAnalysisParams)
register_stage("temporal-smoothing", TemporalSmoothing, TemporalSmoothingParams)
register_stage("resize", ResizeStage, ResizeParams)


def stage_params(config: StageConfig, where: str = "stage") -> Any:
    """The stage's typed parameters, checked against its dataclass."""
    if config.type not in STAGE_TYPES:
        raise ConfigError(f"{where}.type: unknown stage type '{config.type}' (known: {', '.join(STAGE_TYPES)})")
    return from_dict(STAGE_TYPES[config.type][1], config.params, where=f"{where}.params")


def validate_stage(config: StageConfig, where: str = "stage") -> None:
    stage_params(config, where)


def build_stage(config: StageConfig) -> Stage:
    cls, _ = STAGE_TYPES[config.type]
    return cls(config.name, stage_params(config, where=config.name))
