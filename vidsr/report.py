"""The run report (`--report PATH`): what was done, how long each stage took, and with what versions."""

from __future__ import annotations

import json
import platform
from pathlib import Path
from typing import Any

__all__ = ["versions", "write_report"]


def versions() -> dict[str, Any]:
    import av
    import numpy
    import torch

    import vidsr

    return {
        "vidsr": vidsr.__version__,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "av": av.__version__,
        "ffmpeg": {k: ".".join(map(str, v)) for k, v in av.library_versions.items()},
        "numpy": numpy.__version__,
        "cuda": torch.version.cuda if torch.cuda.is_available() else None,
    }


def write_report(report: dict[str, Any], path: str | Path) -> None:
    """Write the report as JSON next to the output (atomically, like the video)."""
    p = Path(path)
    tmp = p.with_name(f".{p.name}.tmp")
    tmp.write_text(json.dumps(report, indent=2, default=str) + "\n")
    tmp.replace(p)
