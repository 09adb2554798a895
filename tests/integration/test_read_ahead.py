"""The first round trip of a read carries more than page 1 of each segment: pages the
expected member count says exist are asked for alongside it. Real CLI, real sandbox, at a
latency long enough to tell "alongside" from "after"."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from reconciler.sandbox.app import SandboxConfig
from reconciler.sandbox.server import SandboxServer
from reconciler.sandbox.store import SandboxStore
from tests.integration.conftest import STORE, TOKEN, Store


@pytest.fixture
def slow(tmp_path: Path) -> Iterator[Store]:
    config = SandboxConfig(store_hash=STORE, token=TOKEN, latency_ms=200)
    with SandboxServer(store=SandboxStore(), config=config) as server:
        yield Store(server, tmp_path)


def member_reads(sb: Store, segment_id: str) -> list[dict[str, Any]]:
    return [
        r
        for r in sb.log()
        if r["method"] == "GET" and r["path"].endswith(f"/segments/{segment_id}/shopper-profiles")
    ]


def sent_before_page_1_answered(reads: list[dict[str, Any]]) -> list[int]:
    first = next(r for r in reads if r["query"]["page"] == ["1"])
    return sorted(
        int(r["query"]["page"][0])
        for r in reads
        if r is not first and r["t_start"] < first["t_end"]
    )


def test_plan_reads_ahead_and_asks_for_every_page_once(slow: Store) -> None:
    alpha, beta = slow.profiles(1250), slow.profiles(1250)  # 5 pages each
    ids = {"alpha": slow.segment("alpha", alpha), "beta": slow.segment("beta", beta)}
    newcomers = slow.profiles(20)
    slow.config({"alpha": alpha[20:] + newcomers, "beta": beta})

    plan = slow.run("plan")
    assert plan.code == 0, plan.err
    assert plan.out.splitlines()[-1] == "Plan: 20 to add, 20 to remove."
    for sid in ids.values():
        reads = member_reads(slow, sid)
        # 1,250 expected: pages 2 and 3 would exist with half of them.
        assert sent_before_page_1_answered(reads) == [2, 3]
        assert sorted(int(r["query"]["page"][0]) for r in reads) == [1, 2, 3, 4, 5]
    # The fewest requests: the segment list, 10 pages, one email look-up.
    assert len(slow.log()) == 12


def test_a_segment_the_config_fills_wastes_at_most_its_pages_read_ahead(slow: Store) -> None:
    """The store holds 100 of the 1,500 members declared: pages 2 and 3, read ahead, come
    back empty. That is the price of a guess that the store holds half or less of it."""
    members = slow.profiles(1500)
    sid = slow.segment("growing", members[:100])
    slow.config({"growing": members})

    plan = slow.run("plan")
    assert plan.code == 0, plan.err
    assert plan.out.splitlines()[-1] == "Plan: 1400 to add, 0 to remove."
    reads = member_reads(slow, sid)
    assert sent_before_page_1_answered(reads) == [2, 3]
    assert len(reads) == 3
