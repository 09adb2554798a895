"""The pure core imports neither httpx nor click: checked in a fresh interpreter."""

from __future__ import annotations

import subprocess
import sys

PURE = [
    "reconciler.model",
    "reconciler.config",
    "reconciler.plan",
    "reconciler.planfile",
    "reconciler.outcome",
    "reconciler.render.text",
    "reconciler.render.json",
    "reconciler.render.markdown",
    "reconciler.sources",
    "reconciler.render.apply_report",
]


def test_pure_core_does_not_import_io_libraries() -> None:
    code = (
        "import sys\n"
        + "".join(f"import {m}\n" for m in PURE)
        + "print(sorted(m for m in ('httpx', 'click', 'httpcore') if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert out == "[]"
