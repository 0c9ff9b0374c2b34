"""Getting a job's input to a worker node: by shared path when the file is there, else through the object store.

The driver puts the file in fixed-size chunks (so it never holds the whole file) once per input; each
actor that needs it writes the chunks to a local file once and reuses it for every segment of that input.
"""

from __future__ import annotations

from pathlib import Path

import ray

from vidsr.media.workdir import fingerprint

__all__ = ["fingerprint", "ship", "materialize"]


def ship(path: str | Path, chunk_mb: int) -> list[ray.ObjectRef]:
    """Put the file into the object store chunk by chunk; the refs travel inside each segment's task."""
    refs = []
    with Path(path).open("rb") as f:
        while chunk := f.read(chunk_mb << 20):
            refs.append(ray.put(chunk))
    return refs


def materialize(chunks: list[ray.ObjectRef], dest: Path) -> Path:
    """Write shipped chunks to ``dest`` one at a time (a worker holds one chunk in memory, not the file)."""
    tmp = dest.with_name(dest.name + ".part")
    with tmp.open("wb") as f:
        for ref in chunks:
            f.write(ray.get(ref))
    tmp.replace(dest)
    return dest
