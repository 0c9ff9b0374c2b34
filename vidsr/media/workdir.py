"""The work directory next to an output: finished segments survive a stopped or failed job, for resume.

``.NAME.vidsr-segments/`` holds ``plan.json`` (what the segments were cut from and with which
settings) and, per finished segment, its encoded file and a small JSON record. A restarted job
whose plan matches reuses every finished segment; any change (input, pipeline, segment lengths,
output container) starts afresh, so a resumed output is never a mix of two settings. A --ray job's
segments and a long local run's chunks (:mod:`vidsr.media.chunks`) are kept the same way.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import shutil
from pathlib import Path
from typing import Any

import vidsr
from vidsr.config import PipelineConfig
from vidsr.errors import UsageError
from vidsr.media.output import workdir_for

__all__ = ["WorkDir", "workdir_for", "fingerprint"]

_EDGE = 1 << 20  # bytes hashed at each end of the file


def fingerprint(path: str | Path) -> str:
    """Size plus a hash of both ends: cheap on a 50 GB file, and it changes when the file is replaced."""
    p = Path(path)
    size = p.stat().st_size
    h = hashlib.sha256(str(size).encode())
    with p.open("rb") as f:
        h.update(f.read(_EDGE))
        if size > 2 * _EDGE:
            f.seek(size - _EDGE)
            h.update(f.read(_EDGE))
    return f"{size}-{h.hexdigest()[:24]}"


class WorkDir:
    def __init__(self, dst: Path, suffix: str) -> None:
        self.path = workdir_for(dst)
        self.suffix = suffix

    @staticmethod
    def plan_key(fingerprint: str, config: PipelineConfig, cuts: Any, suffix: str) -> str:
        """``cuts``: how the video is cut (a --ray job's segment bounds, a local run's chunk rule), as JSON."""
        plan = {
            "vidsr": vidsr.__version__,
            "input": fingerprint,
            "pipeline": dataclasses.asdict(config),
            "cuts": cuts,
            "suffix": suffix,
        }
        return hashlib.sha256(json.dumps(plan, sort_keys=True, default=str).encode()).hexdigest()

    def open(self, key: str) -> dict[int, dict[str, Any]]:
        """Start or resume: return the records of segments already finished under the same plan."""
        if self.path.is_symlink() or (self.path.exists() and not self.path.is_dir()):
            raise UsageError(f"{self.path} is not a folder vidsr made (a symlink or a file): remove it or choose "
                             "another output name")
        plan = self.path / "plan.json"
        if plan.is_file():
            try:
                same = json.loads(plan.read_text()).get("key") == key
            except (OSError, ValueError):
                same = False
            if same:
                return {i: r for i, r in self._records().items() if self.part(i).is_file()}
            shutil.rmtree(self.path)
        self.path.mkdir(parents=True, exist_ok=True)
        plan.write_text(json.dumps({"key": key}) + "\n")
        return {}

    def load_scenes(self, fingerprint: str) -> list[int] | None:
        """Scene cuts found by an earlier, stopped run on the same input (the scan is not redone)."""
        try:
            data = json.loads((self.path / "scenes.json").read_text())
        except (OSError, ValueError):
            return None
        return [int(p) for p in data["cuts"]] if data.get("input") == fingerprint else None

    def save_scenes(self, fingerprint: str, cuts: list[int]) -> None:
        tmp = self.path / "scenes.json.tmp"
        tmp.write_text(json.dumps({"input": fingerprint, "cuts": cuts}) + "\n")
        tmp.replace(self.path / "scenes.json")

    def _records(self) -> dict[int, dict[str, Any]]:
        records = {}
        for f in self.path.glob("seg-*.json"):
            try:
                record = json.loads(f.read_text())
                records[int(record["index"])] = record
            except (OSError, ValueError, KeyError):
                continue  # a record cut short by a crash: that segment is simply redone
        return records

    def part(self, index: int) -> Path:
        return self.path / f"seg-{index:05d}{self.suffix}"

    def save(self, index: int, data: bytes, record: dict[str, Any]) -> None:
        """Segment file first, record second, each by rename: a record always means a complete file."""
        tmp = self.scratch(index)
        tmp.write_bytes(data)
        self.commit(index, tmp, record)

    def scratch(self, index: int) -> Path:
        """Where a segment is written before it is complete (same extension: the muxer goes by it); whatever
        is there (a dead run's leftover, a planted link) is removed, so the muxer never writes through it."""
        tmp = self.path / f"seg-{index:05d}.tmp{self.suffix}"
        tmp.unlink(missing_ok=True)
        return tmp

    def commit(self, index: int, written: Path, record: dict[str, Any]) -> None:
        """Take a complete segment file (renamed into place) and then its record."""
        written.replace(self.part(index))
        rec = self.path / f"seg-{index:05d}.json"
        tmp_rec = rec.with_name(rec.name + ".tmp")
        tmp_rec.write_text(json.dumps(record, default=str) + "\n")
        tmp_rec.replace(rec)

    def remove(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)
