"""The fault matrix: a few thousand changes applied through the real CLI while the sandbox
injects each fault (and all of them at once), ending converged, with the API's hard rules
(never a DELETE without ids, at most 50 per POST, at most 10 in flight) kept throughout."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass

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
