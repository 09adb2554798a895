"""The quickstart's demo runs to the end: plan, apply, and a plan with no changes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_demo_plans_applies_and_converges() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "reconciler", "demo"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    steps = [line for line in out.splitlines() if line.startswith("$ reconciler ")]
    assert [s.split()[2] for s in steps] == ["plan", "apply", "plan"]
    assert "Plan: 5 to add, 4 to remove." in out
    assert "Apply complete: 5 added, 4 removed." in out
    assert out.split("$ reconciler plan")[-1].count("No changes.") == 1
    assert "Traceback" not in result.stderr
