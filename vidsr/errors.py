"""Typed errors with one-line messages: the API raises them, only the CLI turns them into exit codes."""

from __future__ import annotations

__all__ = [
    "VidsrError",
    "UsageError",
    "ConfigError",
    "FrameError",
    "InputError",
    "InputPathError",
    "OutputError",
    "ProcessingError",
    "CorruptInputError",
    "Interrupted",
    "EXIT_OK",
    "EXIT_PROCESSING",
    "EXIT_USAGE",
    "EXIT_INTERRUPTED",
]

EXIT_OK = 0
EXIT_PROCESSING = 1  # the input or the run failed (bad media, write error, damaged frames)
EXIT_USAGE = 2  # the command line or the config is wrong (nothing was read or written)
EXIT_INTERRUPTED = 130  # Ctrl-C or SIGTERM; partial output removed


class VidsrError(Exception):
    """Base of every error vidsr reports to a user; ``str(err)`` is a complete one-line message."""

    exit_code = EXIT_PROCESSING

    def __init__(self, message: str) -> None:
        super().__init__(" ".join(str(message).split()))


class UsageError(VidsrError):
    """A wrong option, an unknown name, a path that cannot be used as asked."""

    exit_code = EXIT_USAGE


class ConfigError(UsageError):
    """A pipeline YAML that does not parse or does not match the typed config."""


class FrameError(UsageError, ValueError):
    """A frame handed to the frames API that cannot be enhanced as given (shape, type, values outside [0, 1],
    NaN); a ValueError too, so a caller that already catches bad values catches it."""


class InputError(VidsrError):
    """The input file is missing, unreadable, not a video, or has no video stream."""


class InputPathError(InputError):
    """The input path itself is wrong (missing, a folder, unreadable): a usage error like any other path the
    user typed (exit 2), while a file that exists but is not usable video stays an :class:`InputError` (exit 1)."""

    exit_code = EXIT_USAGE


class OutputError(VidsrError):
    """The output cannot be written (missing folder, permissions, disk full)."""


class ProcessingError(VidsrError):
    """A stage failed while frames were flowing."""


class CorruptInputError(ProcessingError):
    """Frames were lost to damaged packets; the output holds every frame that decoded."""

    def __init__(self, message: str, frames_lost: int) -> None:
        super().__init__(message)
        self.frames_lost = frames_lost


class Interrupted(VidsrError):
    """The run was stopped by Ctrl-C or SIGTERM."""

    exit_code = EXIT_INTERRUPTED

    def __init__(self, message: str = "interrupted: stopped before the end, no output written") -> None:
        super().__init__(message)
