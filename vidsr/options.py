"""What one run may change on its pipeline, declared once.

The command line's flags (``--scale``, ``--model``, ``--crf``, ...) and the Python API's keywords are the same
set: :class:`RunOptions`. The CLI builds one from its arguments (:meth:`RunOptions.from_args`), the API from its
keywords (:meth:`RunOptions.of`), and :func:`vidsr.pipeline.configure` applies it to a pipeline. ``enhance``,
``enhance_backlog`` and ``run_on_ray`` take either form, so adding an option means adding a field here (and its
effect in ``configure``), not a parameter in every entry point.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, fields, replace
from typing import Any

from vidsr.errors import UsageError

__all__ = ["RunOptions"]


@dataclass(frozen=True)
class RunOptions:
    """Overrides of a pipeline for one run; None leaves the pipeline's own setting. Types and ranges are checked
    where they are applied (``configure``), so a wrong value reads the same from the CLI and from the API."""

    scale: int | None = None  # model scale; 3 is the model's x4 then resized by 0.75
    model: str | None = None  # SR model name, or auto
    device: str | None = None  # cpu, cuda, cuda:N, auto
    detail: float | None = None  # var / var-teacher: share of the detail stage's change kept, 0-1
    codec: str | None = None  # video encoder; None: the pipeline's, or what the output's container takes
    crf: int | None = None
    preset: str | None = None  # encoder speed preset
    pix_fmt: str | None = None  # output pixel format; None keeps the source's depth and chroma
    size: str | tuple[int, int] | None = None  # exact output size, "WxH" or (W, H) (a last resize stage)
    height: int | None = None  # output height of the displayed picture, width in proportion
    deinterlace: str | None = None  # auto, on, tff, bff, off

    @classmethod
    def names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in fields(cls))

    @classmethod
    def of(cls, options: RunOptions | None = None, **overrides: Any) -> RunOptions:
        """``options`` (or none) with the keyword ``overrides`` set on top (a None keyword changes nothing); a
        name that is no option is a UsageError that lists them."""
        if options is not None and not isinstance(options, RunOptions):
            raise UsageError(f"options must be a RunOptions, got {type(options).__name__}")
        unknown = sorted(set(overrides) - set(cls.names()))
        if unknown:
            raise UsageError(f"unknown option {unknown[0]!r}: a run takes {', '.join(cls.names())}")
        return replace(options or cls(), **{k: v for k, v in overrides.items() if v is not None})

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> RunOptions:
        """The options a parsed command line holds (a subcommand without some of the flags leaves them None)."""
        return cls(**{name: getattr(args, name, None) for name in cls.names()})

    def chosen(self, name: str) -> bool:
        """Whether the run sets ``name`` itself (an explicit ``--codec`` is held to the container; a default
        one gives way to it)."""
        return getattr(self, name) is not None
