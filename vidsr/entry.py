"""The ``vidsr`` command's entry point: Ctrl-C while the libraries load (torch, PyAV, Ray: seconds on a cold
start) ends with the same one line and exit code as Ctrl-C during a run, not an import traceback.

While they load, Ctrl-C and SIGTERM are only noted: a KeyboardInterrupt thrown into a library's import can
be swallowed by its own ``except:`` (the run would then go on) or leave an import half done."""

from __future__ import annotations

import signal
import sys

from vidsr.errors import EXIT_INTERRUPTED, Interrupted


def console() -> int:
    noted: list[int] = []
    previous = {sig: signal.signal(sig, lambda signum, frame: noted.append(signum))
                for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        from vidsr.cli import main
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
    if noted:
        print(f"vidsr: {Interrupted()}", file=sys.stderr)
        return EXIT_INTERRUPTED
    return main()
