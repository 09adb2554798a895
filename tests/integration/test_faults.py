"""The fault matrix: a few thousand changes applied through the real CLI while the sandbox
injects each fault (and all of them at once), ending converged, with the API's hard rules
(never a DELETE without ids, at most 50 per POST, at most 10 in flight) kept throughout."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from reconciler.sandbox.faults import FaultConfig, api_rule_violations
from tests.integration.conftest import Store

# Short timeouts and waits keep the matrix fast; the logic is the same as with the defaults.
FAST = {
    "RECONCILER_HTTP_TIMEOUT": "0.75",
    "RECONCILER_BACKOFF_BASE": "0.02",
    "RECONCILER_MAX_RETRIES": "10",
    "RECONCILER_MAX_RETRY_WAIT": "30",
}
SLOW_S = 1.5  # longer than the client's timeout above

MATRIX: dict[str, FaultConfig] = {
    "latency": FaultConfig(jitter_ms=40),
    "5xx": FaultConfig(error_rate=0.15),
    "429-with-headers": FaultConfig(rate_429=0.08, retry_after_ms=100),
    "429-bare": FaultConfig(rate_429_bare=0.1),
    "lost-response": FaultConfig(lost_response_rate=0.15),
    "dropped-mid-response": FaultConfig(drop_mid_response_rate=0.15),
    "slower-than-timeout": FaultConfig(slow_rate=0.06, slow_response_s=SLOW_S),
    "fail-nth": FaultConfig(fail_nth=frozenset({1, 2, 3, 5, 8, 13, 21, 34, 55}), nth_fault="lost"),
    # Each kind at 5-6% of about 140 requests, so every kind shows up in every run
    # (at 3% a run without one kind happened about once in 70).
    "all-at-once": FaultConfig(
        error_rate=0.05,
        rate_429=0.06,
        rate_429_bare=0.06,
        lost_response_rate=0.05,
        drop_mid_response_rate=0.05,
        slow_rate=0.06,
        slow_response_s=SLOW_S,
        jitter_ms=20,
        retry_after_ms=100,
        fail_nth=frozenset({1, 2, 4}),
        nth_fault="error",
    ),
}
EXPECTED_KINDS = {
    "5xx": {"error"},
    "429-with-headers": {"429"},
    "429-bare": {"429_bare"},
    "lost-response": {"lost"},
    "dropped-mid-response": {"drop"},
    "slower-than-timeout": {"slow"},
    "fail-nth": {"lost"},
    "all-at-once": {"error", "429", "429_bare", "lost", "drop", "slow"},
}


@dataclass
class Scenario:
    segments: dict[str, str]  # name -> id
    desired: dict[str, set[str]]
    adds: int
    removes: int


def three_segments(sb: Store) -> Scenario:
    """3,000 adds and 300 removals over three segments (each within the removal guard)."""
    vip, beta, new = sb.profiles(1000), sb.profiles(500), sb.profiles(3000)
    ids = {
        "VIP": sb.segment("VIP", vip),
        "Beta": sb.segment("Beta", beta),
        "Fresh": sb.segment("Fresh"),
    }
    desired = {
        "VIP": vip[:800] + new[:1200],
        "Beta": beta[:400] + new[1200:2000],
        "Fresh": new[2000:],
    }
    sb.config(desired)
    return Scenario(ids, {k: set(v) for k, v in desired.items()}, 3000, 300)


@pytest.mark.parametrize("name", list(MATRIX))
def test_a_few_thousand_changes_converge_under_each_fault(sandbox: Store, name: str) -> None:
    scenario = three_segments(sandbox)
    sandbox.server.set_faults(MATRIX[name])
    started = time.monotonic()
    result = sandbox.run("apply", "--auto-approve", env=sandbox.env(**FAST), timeout=120)
    elapsed = time.monotonic() - started
    injector = sandbox.server.app.faults
    assert injector is not None
    counts = dict(injector.counts)
    sandbox.server.set_faults(None)

    assert result.code == 0, result.out[-2000:] + result.err[-3000:]
    assert f"Apply complete: {scenario.adds} added, {scenario.removes} removed." in result.out
    for name_, sid in scenario.segments.items():
        assert sandbox.members(sid) == scenario.desired[name_], name_
    log = sandbox.log()
    assert api_rule_violations(log) == []
    assert set(counts) >= EXPECTED_KINDS.get(name, set()), counts
    retries = len(re.findall(r"retrying (GET|POST|DELETE)", result.err))
    if name in EXPECTED_KINDS:
        assert retries > 0  # the faults were met, retried and logged as warnings
    if name in ("lost-response", "fail-nth"):
        # An add whose response was lost is resolved by re-reading: the retried POST meets
        # a 409 for its own committed write, and the segment is read again afterwards.
        conflicts = [r for r in log if r["status"] == 409]
        assert conflicts
        first = conflicts[0]["seq"]
        assert any(r["method"] == "GET" and r["seq"] > first for r in log)
    print(
        f"\n[fault matrix] {name}: {len(log)} requests, {retries} retries, "
        f"faults {counts}, {elapsed:.1f} s"
    )
    if name == "all-at-once":
        again = sandbox.run("plan", "--detailed-exitcode", env=sandbox.env(**FAST))
        assert again.code == 0, again.out + again.err
        assert "No changes." in again.out


def test_a_request_that_keeps_failing_gives_up_with_a_clear_message(sandbox: Store) -> None:
    members = sandbox.profiles(3)
    sid = sandbox.segment("VIP", members[:1])
    sandbox.config({"VIP": members})
    sandbox.server.set_faults(FaultConfig(error_rate=1.0, methods=frozenset({"POST"})))
    env = sandbox.env(**{**FAST, "RECONCILER_MAX_RETRIES": "3"})
    result = sandbox.run("apply", "--auto-approve", env=env)
    assert result.code == 1
    assert re.search(
        r"gave up on POST /segments/[0-9a-f-]+/shopper-profiles after 4 attempts over \d+ s: "
        r"(the API kept answering|on the last attempt, the API answered) 50[023]; "
        r"RECONCILER_MAX_RETRIES allows 3 retries",
        result.out + result.err,
    ), result.out + result.err
    assert len([r for r in sandbox.log() if r["method"] == "POST"]) == 4
    assert sandbox.members(sid) == set(members[:1])
    assert api_rule_violations(sandbox.log()) == []
    # The store recovers: the next run converges.
    sandbox.server.set_faults(None)
    assert sandbox.run("apply", "--auto-approve", env=sandbox.env(**FAST)).code == 0
    assert sandbox.members(sid) == set(members)


def test_when_the_store_keeps_failing_apply_stops_sending_after_three_give_ups(
    sandbox: Store,
) -> None:
    """Every POST fails: 60 batches would each spend a whole retry budget (about 5 minutes
    with the default backoff). After 3 in a row gave up, nothing new is sent."""
    members = sandbox.profiles(3000)
    sid = sandbox.segment("VIP")
    sandbox.config({"VIP": members})
    sandbox.server.set_faults(FaultConfig(error_rate=1.0, methods=frozenset({"POST"})))
    env = sandbox.env(**{**FAST, "RECONCILER_MAX_RETRIES": "1"})
    result = sandbox.run("apply", "--auto-approve", env=env)
    assert result.code == 1, result.out + result.err
    assert "Stopped early: 3 requests in a row gave up, the last: gave up on POST" in result.out
    assert "sending no more (run apply again once the store answers)" in result.out
    posts = [r for r in sandbox.log() if r["method"] == "POST"]
    # Each tried twice: the 10 in flight, and 2 more started as the first 2 gave up; not 60.
    assert len(posts) <= (10 + 2) * 2
    assert "not attempted" in result.out.splitlines()[-1]
    assert api_rule_violations(sandbox.log()) == []
    sandbox.server.set_faults(None)
    assert sandbox.run("apply", "--auto-approve", env=sandbox.env(**FAST)).code == 0
    assert sandbox.members(sid) == set(members)


def test_the_total_wait_cap_ends_a_long_retry(sandbox: Store) -> None:
    members = sandbox.profiles(2)
    sandbox.segment("VIP")
    sandbox.config({"VIP": members})
    # Every POST is refused with a 429 asking for a 5 s wait; the cap allows 2 s in all.
    sandbox.server.set_faults(
        FaultConfig(rate_429=1.0, retry_after_ms=5000, methods=frozenset({"POST"}))
    )
    env = sandbox.env(**{**FAST, "RECONCILER_MAX_RETRY_WAIT": "2"})
    started = time.monotonic()
    result = sandbox.run("apply", "--auto-approve", env=env)
    assert time.monotonic() - started < 15
    assert result.code == 1
    assert "gave up on POST" in result.out + result.err
    assert "the API answered 429 (rate limited); waiting 5.0 s more would pass " in (
        result.out + result.err
    )
    assert "RECONCILER_MAX_RETRY_WAIT (2 s of waiting in all)" in result.out + result.err
    assert api_rule_violations(sandbox.log()) == []


# --- interrupted while answers are awaited ----------------------------------------------

# A retry waits 15-30 s: long enough for the interrupt to find it waiting.
WAITING = {
    **FAST,
    "RECONCILER_HTTP_TIMEOUT": "2",
    "RECONCILER_BACKOFF_BASE": "30",
    "RECONCILER_MAX_RETRY_WAIT": "120",
}
Log = list[dict[str, Any]]


def interrupted_apply(sb: Store, seen: Callable[[Log], bool]) -> tuple[int, str]:
    """Apply (with a report), interrupted once by Ctrl-C as soon as the sandbox's log
    satisfies `seen`: its exit code and output."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "reconciler", "apply", "--auto-approve", "--report", "r.json"],
        cwd=sb.workdir,
        env=sb.env(**WAITING),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while not seen(sb.log()):
            assert proc.poll() is None and time.monotonic() < deadline
            time.sleep(0.01)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert "Traceback" not in err, err
    return proc.returncode, out


def report(sb: Store) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads((sb.workdir / "r.json").read_text())
    return doc


def posts(log: Log) -> int:
    return sum(1 for r in log if r["method"] == "POST")


@pytest.mark.parametrize(
    "fault",
    [
        # The answer is lost at once; the interrupt finds the retry waiting.
        FaultConfig(lost_response_rate=1.0, methods=frozenset({"POST"})),
        # The answer comes after the timeout; the interrupt finds the request in flight.
        FaultConfig(slow_rate=1.0, slow_response_s=4, methods=frozenset({"POST"})),
    ],
    ids=["lost", "slow"],
)
def test_adds_sent_but_unanswered_at_an_interrupt_are_unknown_not_failed(
    sandbox: Store, fault: FaultConfig
) -> None:
    members, new = sandbox.profiles(5), sandbox.profiles(1000)
    sid = sandbox.segment("VIP", members)
    sandbox.config({"VIP": members + new})
    sandbox.server.set_faults(fault)
    # Ten batches go out (one per lane), each committed; no answer reaches apply.
    code, out = interrupted_apply(sandbox, lambda log: posts(log) >= 10)
    assert code == 130, out
    assert posts(sandbox.log()) == 10  # the stop sent nothing more, not even a retry
    assert "Failed changes" not in out
    assert (
        "Unknown outcome (sent, but no answer came before the stop; run plan to see):\n"
        '  segment "VIP": 500 changes unknown\n'
    ) in out
    assert out.splitlines()[-1] == (
        "Apply interrupted: 0 added, 0 removed; 500 unknown (sent, no answer before the stop), "
        "500 not attempted. Run apply again to finish."
    )
    doc = report(sandbox)
    assert doc["outcome"] == "interrupted"
    assert (doc["summary"]["unknown"], doc["summary"]["failed"]) == (500, 0)
    unknown = {c["profile_id"] for c in doc["changes"] if c["status"] == "unknown"}
    assert len(unknown) == 500
    assert all(
        c["reason"] == "sent, but no answer came before the stop: it may have been made; "
        "run plan to see"
        for c in doc["changes"]
        if c["status"] == "unknown"
    )
    time.sleep(0.2)  # a slow answer's write is made before it is sent
    assert sandbox.members(sid) == set(members) | unknown  # what was unknown was made
    sandbox.server.set_faults(None)
    planned = sandbox.run("plan", env=sandbox.env(**FAST))
    assert "Plan: 500 to add, 0 to remove." in planned.out
    assert sandbox.run("apply", "--auto-approve", env=sandbox.env(**FAST)).code == 0
    assert sandbox.members(sid) == set(members + new)
    assert api_rule_violations(sandbox.log()) == []


def test_setup_sent_but_unanswered_at_an_interrupt_is_unknown(sandbox: Store) -> None:
    members = sandbox.profiles(5)
    alpha = sandbox.segment("Alpha", members[:2])
    sandbox.config(
        {"Alpha": members[:2], "Beta": members[2:]}, Alpha="description: Our best customers"
    )
    # The update and the create are both committed, and both answers lost.
    sandbox.server.set_faults(
        FaultConfig(lost_response_rate=1.0, methods=frozenset({"POST", "PUT"}))
    )
    code, out = interrupted_apply(
        sandbox, lambda log: {"POST", "PUT"} <= {r["method"] for r in log}
    )
    assert code == 130, out
    assert "Failed setup" not in out
    assert (
        "Unknown outcome (sent, but no answer came before the stop; run plan to see):\n"
        '  create segment "Beta"\n'
        '  update segment "Alpha"\n'
    ) in out
    assert out.splitlines()[-1] == (
        "Apply interrupted: 0 added, 0 removed; 2 setup steps unknown, 3 not attempted. "
        "Run apply again to finish."
    )
    doc = report(sandbox)
    assert {(s["kind"], s["status"]) for s in doc["setup"]} == {
        ("create_segment", "unknown"),
        ("update_segment", "unknown"),
    }
    assert {c["status"] for c in doc["changes"]} == {"not_attempted"}  # Beta's adds
    assert sandbox.store.segments[alpha]["description"] == "Our best customers"
    assert sandbox.store.segment_by_name("Beta") is not None
    sandbox.server.set_faults(None)
    assert sandbox.run("apply", "--auto-approve", env=sandbox.env(**FAST)).code == 0
    beta = sandbox.store.segment_by_name("Beta")
    assert beta is not None and sandbox.members(str(beta["id"])) == set(members[2:])
    assert len([s for s in sandbox.store.segments.values() if s["name"] == "Beta"]) == 1
