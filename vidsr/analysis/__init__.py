"""Degrade-analysis: cheap per-frame degradation estimates, scene cuts, and per-scene summaries."""

from vidsr.analysis.estimators import DEGRADATION_FIELDS, EstimatorParams, degradation_vector
from vidsr.analysis.file import analyze_file
from vidsr.analysis.scenecut import SceneCutDetector, SceneCutParams
from vidsr.analysis.stage import DegradeAnalysis, DegradeAnalysisParams, SceneSummary

__all__ = [
    "DEGRADATION_FIELDS",
    "EstimatorParams",
    "degradation_vector",
    "analyze_file",
    "SceneCutDetector",
    "SceneCutParams",
    "DegradeAnalysis",
    "DegradeAnalysisParams",
    "SceneSummary",
]
