"""Where pipelines come from: ``pipelines/NAME.yaml`` (or a path), loaded into a typed :class:`PipelineConfig`.

Loading is the one place a YAML file becomes typed config: the file's keys are checked against the config
dataclasses (``vidsr.config``), then each stage's params against its stage's dataclass
(``vidsr.stages.typed_stages``), so a wrong key or value in any part is one ConfigError naming it, and every
later reader sees typed values. This module sits above both ``config`` and ``stages``; neither imports it.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import yaml

from vidsr.config import PipelineConfig, from_dict
from vidsr.errors import ConfigError, UsageError
from vidsr.stages import typed_stages

__all__ = ["load_pipeline", "pipeline_dirs", "available_pipelines"]


def pipeline_dirs() -> list[Path]:
    """Where ``--pipeline NAME`` is looked up: $VIDSR_PIPELINES, the source checkout, the installed copy."""
    dirs = [Path(p) for p in os.environ.get("VIDSR_PIPELINES", "").split(os.pathsep) if p]
    dirs.append(Path(__file__).resolve().parent.parent / "pipelines")
    dirs.append(Path(sys.prefix) / "share" / "vidsr" / "pipelines")
    return [d for d in dirs if d.is_dir()]


def available_pipelines() -> list[str]:
    return sorted({p.stem for d in pipeline_dirs() for p in d.glob("*.yaml")})


def _resolve_pipeline(name_or_path: str) -> Path:
    path = Path(name_or_path)
    if path.suffix in (".yaml", ".yml") or path.exists():
        if not path.is_file():
            raise UsageError(f"pipeline file not found: {name_or_path}")
        return path
    for d in pipeline_dirs():
        candidate = d / f"{name_or_path}.yaml"
        if candidate.is_file():
            return candidate
    known = ", ".join(available_pipelines()) or "none found"
    raise UsageError(f"unknown pipeline '{name_or_path}' (available: {known})")


def load_pipeline(name_or_path: str = "default") -> PipelineConfig:
    """Load and validate a pipeline by name (``pipelines/NAME.yaml``) or by path."""
    path = _resolve_pipeline(name_or_path)
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        at = f" at line {mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"{path}: malformed YAML{at}: {getattr(err, 'problem', err)}") from None
    except (OSError, UnicodeDecodeError) as err:
        raise ConfigError(f"{path}: cannot read pipeline: {err}") from None
    return typed_stages(from_dict(PipelineConfig, data, where=path.name), where=path.name)
