"""The loaded config is frozen out of the cyclic GC while a command runs (each full
collection would otherwise walk its member sets), and only while it runs."""

from __future__ import annotations

import gc
from pathlib import Path
from typing import Any

import pytest

import reconciler.runner
from reconciler.cli import run
from reconciler.errors import NetworkError
from reconciler.model import DesiredState

PROFILE = "0b6f2b4e-6f57-4a53-9a4c-3f0d0f2b9c01"


def tracked(obj: object) -> bool:
    """Whether the GC's generations hold `obj` (frozen objects are in none of them)."""
    return any(o is obj for o in gc.get_objects())


def test_the_config_is_frozen_while_the_command_runs_and_thawed_after(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "segments.yaml"
    config.write_text(
        f"version: 1\nstore_hash: abc\nsegments:\n  - name: VIP\n    shopper_profiles:\n"
        f"      - {PROFILE}\n"
    )
    monkeypatch.setenv("BIGCOMMERCE_ACCESS_TOKEN", "t" * 20)
    seen: dict[str, Any] = {}

    def make_plan(client: object, desired: DesiredState) -> None:  # where the network starts
        seen["members"] = desired.segments[0].profiles
        seen["frozen"] = not tracked(seen["members"])
        raise NetworkError("stopped here")

    monkeypatch.setattr(reconciler.runner, "make_plan", make_plan)
    monkeypatch.setattr(reconciler.runner, "run_with_client", lambda _, work: work(None))
    assert run(["plan", "-f", str(config)]) == 1
    assert seen["members"] == frozenset({PROFILE})
    assert seen["frozen"] is True
    assert gc.get_freeze_count() == 0
    assert tracked(seen["members"])
