"""Output paths that are safe: checked before any work, locked against a second run, written to a temporary
file and renamed when complete, never over a file that appeared meanwhile (unless --overwrite)."""

from __future__ import annotations

import contextlib
import errno
import os
import re
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import av

from vidsr.errors import OutputError, UsageError

__all__ = ["check_paths", "check_report_path", "atomic_output", "temp_path_for", "lock_path_for", "output_lock",
           "workdir_for", "check_work_paths"]


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
    check_work_paths(src_p, dst_p)
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


def workdir_for(dst: str | os.PathLike[str]) -> Path:
    """The folder beside ``dst`` that keeps a chunked run's finished chunks (:mod:`vidsr.media.workdir`)."""
    d = Path(dst)
    return d.with_name(f".{d.name}.vidsr-segments")


def temp_path_for(dst: str | os.PathLike[str], pid: int | None = None) -> Path:
    """A hidden sibling of ``dst`` with the same extension, so the muxer is chosen the same way."""
    d = Path(dst)
    return d.with_name(f".{d.stem}.vidsr-tmp-{os.getpid() if pid is None else pid}{d.suffix}")


def lock_path_for(dst: str | os.PathLike[str]) -> Path:
    d = Path(dst)
    return d.with_name(f".{d.name}.vidsr-lock")


def _work_paths(dst: Path) -> list[Path]:
    """What a run to ``dst`` writes besides ``dst`` itself: its temporary file, lock and work folder."""
    return [temp_path_for(dst), lock_path_for(dst), workdir_for(dst)]


def _same(a: Path, b: Path) -> bool:
    if a.resolve() == b.resolve():
        return True
    with contextlib.suppress(OSError):
        return os.path.samefile(a, b)
    return False


def _inside(path: Path, folder: Path) -> bool:
    return folder.resolve() in path.resolve().parents


def check_work_paths(src: Path, dst: Path) -> None:
    """The temporary file, lock and work folder of ``dst`` are not the input, nor a link that a run would
    follow into another folder (a planted ``.o.mp4.vidsr-segments`` symlink is refused, not written through)."""
    for path in _work_paths(dst):
        if _same(src, path) or _inside(src, path):
            raise UsageError(f"the input {src} is a work file of the output {dst.name} (which the run replaces "
                             "or removes); copy it elsewhere first")
    work = workdir_for(dst)
    if work.is_symlink() or (work.exists() and not work.is_dir()):
        raise UsageError(f"{work} is not a folder vidsr made (a symlink or a file): remove it or choose another "
                         "output name")


def check_report_path(report: str | os.PathLike[str], pairs: list[tuple[Path, Path]]) -> None:
    """``--report`` may not name any input or output of the run, nor their work files, and its folder must
    exist and take files: found before any work instead of after the whole run."""
    rep = Path(report)
    for src, dst in pairs:
        if _same(rep, src):
            raise UsageError(f"--report {rep} would overwrite the input")
        if _same(rep, dst):
            raise UsageError(f"--report {rep} would overwrite the output")
        if any(_same(rep, w) or _inside(rep, w) for w in _work_paths(dst)):
            raise UsageError(f"--report {rep} names a work file of the output {dst.name}")
    if rep.is_dir():
        raise UsageError(f"--report {rep} is a directory (name a file, e.g. {rep / 'report.json'})")
    parent = rep.resolve().parent
    if not parent.is_dir():
        raise UsageError(f"--report folder does not exist: {parent}")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise UsageError(f"--report folder is not writable: {parent}")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process
    return True


def _remove_dead_temps(dst: Path) -> None:
    """Temporary files of earlier runs to ``dst`` that were killed (SIGKILL, OOM, SIGHUP) with no chance to
    clean up: their pid is gone, so nobody writes them; a live pid's file is left alone."""
    pattern = re.compile(re.escape(f".{dst.stem}.vidsr-tmp-") + r"(\d+)" + re.escape(dst.suffix) + "$")
    with contextlib.suppress(OSError):
        for p in dst.parent.iterdir():
            m = pattern.match(p.name)
            if m and int(m.group(1)) != os.getpid() and not _alive(int(m.group(1))):
                with contextlib.suppress(OSError):
                    p.unlink()


def _read_lock(lock: Path) -> tuple[str, int] | None:
    try:
        host, pid = lock.read_text().split()[:2]
        return host, int(pid)
    except (OSError, ValueError):
        return None


@contextlib.contextmanager
def output_lock(dst: str | os.PathLike[str]) -> Iterator[None]:
    """Hold ``.NAME.vidsr-lock`` beside ``dst`` (created with O_EXCL) for the whole run, so a second run to the
    same output stops at once with one line and touches nothing of the first (its chunks, temporary file or
    result). A lock left by a run that died (its pid is gone, same host) is taken over, as are that run's
    temporary files."""
    d = Path(dst)
    lock = lock_path_for(d)
    me = f"{socket.gethostname()} {os.getpid()}\n"
    for attempt in range(2):
        try:
            fd = os.open(lock, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o644)
        except FileExistsError:
            holder = _read_lock(lock)
            stale = holder is not None and holder[0] == socket.gethostname() and not _alive(holder[1])
            if attempt == 0 and (stale or holder is None and _older_than(lock, 60)):
                with contextlib.suppress(FileNotFoundError):
                    lock.unlink()
                continue
            who = f"pid {holder[1]} on {holder[0]}" if holder else "another process"
            raise UsageError(f"another vidsr run ({who}) is writing {d.name}; wait for it, or remove {lock} "
                             "if no run is going") from None
        except OSError as err:
            if err.errno == errno.ENOENT:
                raise UsageError(f"output folder does not exist: {d.parent}") from None
            raise OutputError(f"cannot create {lock}: {err.strerror or err}") from None
        with os.fdopen(fd, "w") as f:
            f.write(me)
        break
    try:
        _remove_dead_temps(d)
        yield
    finally:
        if _read_lock(lock) == (socket.gethostname(), os.getpid()):  # still ours: not taken over as stale
            with contextlib.suppress(OSError):
                lock.unlink()


def _older_than(path: Path, seconds: float) -> bool:
    """A lock without a readable holder: a run killed between creating and writing it (it takes microseconds)."""
    try:
        return time.time() - path.stat().st_mtime > seconds
    except OSError:
        return False


def _place(tmp: Path, dst: Path, overwrite: bool) -> None:
    """Rename the finished ``tmp`` to ``dst``; without ``overwrite`` never over a file that appeared since the
    start (another program, or a run to the same name without the lock): a hard link fails if ``dst`` exists."""
    try:
        if overwrite:
            os.replace(tmp, dst)
            return
        try:
            os.link(tmp, dst)
        except FileExistsError:
            raise OutputError(f"{dst} appeared while this run was writing it; it is left as it is (pass "
                              "--overwrite to replace it)") from None
        except OSError as err:
            if err.errno not in (errno.EPERM, errno.EOPNOTSUPP, errno.EXDEV, errno.EMLINK, errno.ENOSYS):
                raise
            if dst.exists() or dst.is_symlink():  # no hard links on this file system: check, then rename
                raise OutputError(f"{dst} appeared while this run was writing it; it is left as it is (pass "
                                  "--overwrite to replace it)") from None
            os.replace(tmp, dst)
            return
        tmp.unlink()
    except FileNotFoundError:
        if not dst.parent.is_dir():
            raise OutputError(f"the output folder {dst.parent} was removed during the run; nothing written") from None
        raise


@contextlib.contextmanager
def atomic_output(dst: str | os.PathLike[str], overwrite: bool = True) -> Iterator[Path]:
    """Yield a temporary path; on success rename it to ``dst``, on any failure (Ctrl-C included) delete it.
    A file already at the temporary name (a planted symlink, a dead run's leftover) is removed first, so the
    muxer never writes through it."""
    d = Path(dst)
    tmp = temp_path_for(d)
    with contextlib.suppress(FileNotFoundError):
        tmp.unlink()
    try:
        yield tmp
        _place(tmp, d, overwrite)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise
