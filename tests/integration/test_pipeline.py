"""Apply runs each segment as its own pipeline (adds, then removals, then its check), side
by side with the others: the order the sandbox saw, request by request."""

from __future__ import annotations

from typing import Any

from tests.integration.conftest import Store


def _on(log: list[dict[str, Any]], sid: str, method: str) -> list[dict[str, Any]]:
    return [r for r in log if r["method"] == method and f"/segments/{sid}/" in r["path"]]


def test_each_segment_adds_before_it_removes_and_is_checked_after_its_writes(
    sandbox: Store,
) -> None:
    sandbox.server.config.latency_ms = 20
    segments = {}
    desired = {}
    for name in ("A", "B", "C"):
        live, new = sandbox.profiles(120), sandbox.profiles(160)
        segments[name] = sandbox.segment(name, live)
        desired[name] = live[:40] + new  # +160 (4 POSTs), -80 (1 DELETE)
    sandbox.config(desired, "safety:\n  max_removal_percent: 70")

    applied = sandbox.run("apply", "--auto-approve")
    assert applied.code == 0, applied.out + applied.err
    sandbox.assert_api_rules()
    log = sandbox.log()
    for name, sid in segments.items():
        assert sandbox.members(sid) == set(desired[name])
        posts, deletes = _on(log, sid, "POST"), _on(log, sid, "DELETE")
        counts = [r for r in _on(log, sid, "GET") if r["query"].get("limit") == ["1"]]
        assert len(posts) == 4 and len(deletes) == 1 and len(counts) == 1
        assert max(r["t_end"] for r in posts) <= deletes[0]["t_start"], name
        assert deletes[0]["t_end"] <= counts[0]["t_start"], name


def test_a_segment_with_only_removals_does_not_wait_for_another_segments_adds(
    sandbox: Store,
) -> None:
    sandbox.server.config.latency_ms = 30
    big_live, big_new = sandbox.profiles(5), sandbox.profiles(1000)
    small_live = sandbox.profiles(40)
    big = sandbox.segment("Big", big_live)
    small = sandbox.segment("Small", small_live)
    # Small is declared first, so its removal queues ahead of Big's 20 adds for the lanes.
    sandbox.config(
        {"Small": small_live[:30], "Big": big_live + big_new}, "safety:\n  max_removal_percent: 50"
    )

    applied = sandbox.run("apply", "--auto-approve")
    assert applied.code == 0, applied.out + applied.err
    log = sandbox.log()
    posts, deletes = _on(log, big, "POST"), _on(log, small, "DELETE")
    assert len(posts) == 20 and len(deletes) == 1
    # 20 batches over 10 lanes take two rounds: the removal went out in the first, not
    # after every segment's adds were answered (a global barrier).
    second_round = sorted(r["t_start"] for r in posts)[10]
    assert deletes[0]["t_start"] < second_round
    assert sandbox.members(small) == set(small_live[:30])
