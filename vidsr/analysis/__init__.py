"""Degrade-analysis's algorithms: cheap per-frame degradation estimates, scene cuts, and per-scene summaries
(the stage is ``vidsr.stages.analysis``)."""

from vidsr.analysis.estimators import (
    ANALYSIS_FIELDS,
    DEGRADATION_FIELDS,
    EstimatorParams,
    analysis_vector,
    degradation_vector,
)
from vidsr.analysis.file import analyze_file
from vidsr.analysis.scenecut import SceneCutDetector, SceneCutParams
from vidsr.analysis.scenes import SceneAnalyzer, SceneSummary

__all__ = [
    "ANALYSIS_FIELDS",
    "DEGRADATION_FIELDS",
    "EstimatorParams",
    "analysis_vector",
    "degradation_vector",
    "analyze_file",
    "SceneCutDetector",
    "SceneCutParams",
    "SceneAnalyzer",
    "SceneSummary",
]
