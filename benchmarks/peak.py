"""Run a module or script and write its peak resident memory (VmHWM, MiB) to a file.

    python peak.py OUT -m reconciler plan ...      python peak.py OUT script.py args...

The parent's ru_maxrss can't be used: Linux keeps it across fork and exec, so a child of
a large benchmark process would report the benchmark's own memory."""

from __future__ import annotations

import atexit
import os
import runpy
import sys
from pathlib import Path
from typing import NoReturn


def _write_peak(out: Path) -> None:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            out.write_text(str(int(line.split()[1]) / 1024))


def main() -> None:
    out, rest = Path(sys.argv[1]), sys.argv[2:]
    atexit.register(_write_peak, out)
    # The CLI ends with os._exit, skipping atexit: write the peak there too.
    hard_exit = os._exit

    def write_then_exit(code: int) -> NoReturn:
        _write_peak(out)
        hard_exit(code)

    os._exit = write_then_exit
    if rest[0] == "-m":
        sys.argv = [rest[1], *rest[2:]]
        runpy.run_module(rest[1], run_name="__main__", alter_sys=True)
    else:
        sys.argv = rest
        runpy.run_path(rest[0], run_name="__main__")


if __name__ == "__main__":
    main()
