"""The ``vidsr`` command's entry point: Ctrl-C while the libraries load (torch, PyAV, Ray: seconds on a cold
start) ends with the same one line and exit code as Ctrl-C during a run, not an import traceback."""

from __future__ import annotations

import sys

from vidsr.errors import EXIT_INTERRUPTED


def console() -> int:
    try:
        from vidsr.cli import main
    except KeyboardInterrupt:
        print("vidsr: interrupted: stopped before the end, no output written", file=sys.stderr)
        return EXIT_INTERRUPTED
    return main()
