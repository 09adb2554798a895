"""The entry point. Ctrl-C or SIGTERM while the CLI is still being imported (its first
tenth of a second) ends with exit 130 and a word, as a later one does, not a traceback
or a silent 143: the handlers go in before anything heavy is imported. Nothing has been
read or written by then. The CLI replaces them once it runs (cli.py)."""

from __future__ import annotations

import os
import signal
from types import FrameType


def _stopped_early(signum: int, frame: FrameType | None) -> None:
    os.write(2, b"\nAborted.\n")
    os._exit(130)


def install() -> None:
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, _stopped_early)


def main() -> None:
    install()
    from reconciler.cli import main as cli_main

    cli_main()
