"""SIGKILL at any point of an apply (no handler runs, nothing is cleaned up): the next
apply converges, and no DELETE without ids was ever sent."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

import pytest

from reconciler.sandbox.faults import api_rule_violations
from tests.integration.conftest import Store

Log = list[dict[str, Any]]


def writes(log: Log) -> int:
    return sum(1 for r in log if r["method"] in ("POST", "DELETE"))


def verifying(log: Log) -> bool:
    """The verification's count request (limit=1) came after at least one write."""
    seen_write = False
    for r in log:
        seen_write = seen_write or r["method"] in ("POST", "DELETE")
        if seen_write and r["method"] == "GET" and r["query"].get("limit") == ["1"]:
            return True
    return False


POINTS: dict[str, Callable[[Log], bool]] = {
    "while-reading": lambda log: len(log) >= 2 and writes(log) == 0,
    "after-1-write": lambda log: writes(log) >= 1,
    "after-5-writes": lambda log: writes(log) >= 5,
    "after-17-writes": lambda log: writes(log) >= 17,
    "in-the-removals": lambda log: any(r["method"] == "DELETE" for r in log),
    "while-verifying": verifying,
}


@pytest.mark.parametrize("point", list(POINTS))
def test_sigkill_at_any_point_then_apply_converges(sandbox: Store, point: str) -> None:
    members = sandbox.profiles(400)
    new = sandbox.profiles(1000)
    vip = sandbox.segment("VIP", members)
    beta = sandbox.segment("Beta", members[:100])
    desired = {"VIP": members[:300] + new[:800], "Beta": members[:80] + new[800:]}
    sandbox.config(desired)
    sandbox.server.config.latency_ms = 60  # slow enough to stop at a chosen point
    proc = subprocess.Popen(
        [sys.executable, "-m", "reconciler", "apply", "--auto-approve"],
        cwd=sandbox.workdir,
        env=sandbox.env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    reached = POINTS[point]
    deadline = time.monotonic() + 60
    try:
        while not reached(sandbox.log()):
            assert proc.poll() is None, f"apply ended before reaching {point}"
            assert time.monotonic() < deadline, f"apply never reached {point}"
            time.sleep(0.005)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    killed_at = writes(sandbox.log())
    time.sleep(0.2)  # requests in flight at the kill still land in the store
    sandbox.server.config.latency_ms = 0

    rerun = sandbox.run("apply", "--auto-approve")
    assert rerun.code == 0, rerun.out + rerun.err
    assert sandbox.members(vip) == set(desired["VIP"])
    assert sandbox.members(beta) == set(desired["Beta"])
    again = sandbox.run("plan", "--detailed-exitcode")
    assert again.code == 0, again.out
    assert api_rule_violations(sandbox.log()) == []
    print(f"\n[sigkill] {point}: killed after {killed_at} writes; the re-run converged")
