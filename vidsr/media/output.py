"""Output paths that are safe: checked before any work, written to a temporary file, renamed when complete."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

import av

from vidsr.errors import UsageError

__all__ = ["check_paths", "atomic_output", "temp_path_for"]


def check_paths(src: str | os.PathLike[str], dst: str | os.PathLike[str], overwrite: bool) -> None:
    """Refuse an output that would clobber the input, an existing file, or go nowhere."""
    src_p, dst_p = Path(src), Path(dst)
    if dst_p.exists() or dst_p.is_symlink():
        if dst_p.is_dir():
            raise UsageError(f"output is a directory: {dst_p}")
        with contextlib.suppress(OSError):
            if src_p.exists() and os.path.samefile(src_p, dst_p):
                raise UsageError(f"output would overwrite the input: {dst_p}")
        if not overwrite:
            raise UsageError(f"output exists: {dst_p} (pass --overwrite to replace it)")
    if src_p.resolve() == dst_p.resolve():
        raise UsageError(f"output would overwrite the input: {dst_p}")
    parent = dst_p.resolve().parent
    if not parent.is_dir():
        raise UsageError(f"output folder does not exist: {parent}")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise UsageError(f"output folder is not writable: {parent}")
    try:
        av.format.ContainerFormat(_guess_format(dst_p), "w")
    except (ValueError, av.FFmpegError):
        raise UsageError(f"cannot tell the container format from the output name: {dst_p.name}") from None


def _guess_format(path: Path) -> str:
    """FFmpeg's muxer name for a file extension (opening a throwaway in-memory container would write)."""
    import io

    buf = io.BytesIO()
    buf.name = path.name  # PyAV guesses the format from the name of a file-like object
    with av.open(buf, "w") as c:
        return c.format.name


def temp_path_for(dst: str | os.PathLike[str]) -> Path:
    """A hidden sibling of ``dst`` with the same extension, so the muxer is chosen the same way."""
    d = Path(dst)
    return d.with_name(f".{d.stem}.vidsr-tmp-{os.getpid()}{d.suffix}")


@contextlib.contextmanager
def atomic_output(dst: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path; on success rename it to ``dst``, on any failure (Ctrl-C included) delete it."""
    tmp = temp_path_for(dst)
    try:
        yield tmp
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise
    os.replace(tmp, dst)
