"""Fault injection: the config, the injector's decisions, and what a client really sees
from each fault over a real loopback connection (a dropped connection needs a server)."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from reconciler.client import BigCommerceClient, ClientSettings
from reconciler.errors import ConflictError, NetworkError, SettingsError
from reconciler.sandbox.app import SandboxConfig
from reconciler.sandbox.faults import (
    FaultConfig,
    FaultInjector,
    api_rule_violations,
    parse_request_numbers,
    parse_statuses,
    read_log_file,
)
from reconciler.sandbox.server import SandboxServer
from reconciler.sandbox.store import SandboxStore

TOKEN = "unit-fault-token"
STORE = "faulty"
BASE = f"/stores/{STORE}/v3"


# --- the config and the injector ---------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"error_rate": 1.5}, "error_rate must be a fraction between 0 and 1"),
        ({"lost_response_rate": -0.1}, "lost_response_rate must be a fraction"),
        ({"error_rate": 0.6, "slow_rate": 0.6}, "add up to 1.2"),
        ({"error_statuses": (404,)}, "5xx"),
        ({"error_statuses": ()}, "5xx"),
        ({"fail_nth": frozenset({0})}, "1 or more"),
        ({"nth_fault": "explode"}, "nth_fault must be one of"),
        ({"slow_response_s": 0}, "slow_response_s"),
        ({"jitter_ms": -1}, "jitter_ms"),
    ],
)
def test_a_bad_fault_config_is_a_clear_settings_error(
    kwargs: dict[str, Any], fragment: str
) -> None:
    with pytest.raises(SettingsError) as info:
        FaultConfig(**kwargs)
    assert fragment in info.value.message


def test_option_parsers() -> None:
    assert parse_request_numbers("3, 7,,12") == {3, 7, 12}
    assert parse_statuses("500,503") == (500, 503)
    for bad in ("0", "x", "-1", "1.5"):
        with pytest.raises(SettingsError):
            parse_request_numbers(bad)
    with pytest.raises(SettingsError):
        parse_statuses("5xx")


def test_decisions_follow_the_rates_and_the_seed() -> None:
    config = FaultConfig(error_rate=0.1, rate_429=0.05, lost_response_rate=0.2, seed=7)
    one, two = FaultInjector(config), FaultInjector(config)
    first = [one.decide(i, "POST") for i in range(1, 20_001)]
    assert first == [two.decide(i, "POST") for i in range(1, 20_001)]  # deterministic
    counts = Counter(first)
    assert abs(counts["error"] / 20_000 - 0.1) < 0.01
    assert abs(counts["429"] / 20_000 - 0.05) < 0.01
    assert abs(counts["lost"] / 20_000 - 0.2) < 0.015
    assert counts[None] + counts["error"] + counts["429"] + counts["lost"] == 20_000
    assert one.counts == Counter({k: v for k, v in counts.items() if k is not None})


def test_fail_nth_and_the_method_filter() -> None:
    injector = FaultInjector(
        FaultConfig(
            error_rate=1.0, methods=frozenset({"post"}), fail_nth=frozenset({2}), nth_fault="slow"
        )
    )
    assert injector.decide(1, "GET") is None
    assert injector.decide(2, "GET") == "slow"  # fail_nth applies to any method
    assert injector.decide(3, "POST") == "error"
    assert not FaultConfig().active and FaultConfig(jitter_ms=1).active
    assert "lost responses 5%" in FaultConfig(lost_response_rate=0.05).describe()


def test_rule_checker_flags_each_broken_rule() -> None:
    ok = {"seq": 1, "method": "POST", "path": "/x/shopper-profiles", "ids": 50, "in_flight": 10}
    assert api_rule_violations([ok, {**ok, "status": 429, "fault": "429"}]) == []
    problems = api_rule_violations(
        [
            {**ok, "ids": 51},
            {"seq": 2, "method": "DELETE", "path": "/x", "ids": 0, "trap": True},
            {**ok, "seq": 3, "in_flight": 11},
            {**ok, "seq": 4, "status": 429},
        ]
    )
    assert len(problems) == 4
    assert "DELETE without ids" in problems[1]


# --- what a client sees, over loopback ---------------------------------------------------


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[SandboxServer, str, list[str]]]:
    store = SandboxStore()
    customers = [store.add_customer(email=f"c{i}@example.com") for i in range(3)]
    profiles = [str(store.add_profile(c["id"])["id"]) for c in customers]
    sid = str(store.add_segment("VIP")["id"])
    config = SandboxConfig(store_hash=STORE, token=TOKEN, log_file=tmp_path / "log.jsonl")
    with SandboxServer(store=store, config=config) as srv:
        yield srv, sid, profiles


def always(kind: str, **kw: Any) -> FaultConfig:
    return FaultConfig(fail_nth=frozenset(range(1, 1000)), nth_fault=kind, **kw)


def raw(srv: SandboxServer, method: str, path: str, timeout: float = 2, **kw: Any) -> Any:
    with httpx.Client(base_url=srv.url + BASE, headers={"X-Auth-Token": TOKEN}) as client:
        try:
            return client.request(method, path, timeout=timeout, **kw)
        except httpx.TransportError as exc:
            return exc


@pytest.mark.parametrize(
    ("kind", "seen", "committed"),
    [
        ("error", 500, False),
        ("429", 429, False),
        ("429_bare", 429, False),
        ("lost", httpx.RemoteProtocolError, True),
        ("drop", httpx.RemoteProtocolError, True),
        ("slow", httpx.ReadTimeout, True),
    ],
)
def test_what_a_client_sees_of_each_fault_and_whether_the_write_landed(
    server: tuple[SandboxServer, str, list[str]], kind: str, seen: Any, committed: bool
) -> None:
    srv, sid, profiles = server
    srv.set_faults(always(kind, error_statuses=(500,), slow_response_s=0.6))
    got = raw(srv, "POST", f"/segments/{sid}/shopper-profiles", timeout=0.3, json=profiles[:1])
    if isinstance(seen, int):
        assert isinstance(got, httpx.Response) and got.status_code == seen
        has_headers = "X-Rate-Limit-Time-Reset-Ms" in got.headers
        assert has_headers is (kind != "429_bare")
        if kind == "429":
            assert got.headers["X-Rate-Limit-Requests-Left"] == "0"
    else:
        assert isinstance(got, seen), got
    assert (srv.store.members(sid) == profiles[:1]) is committed
    record = srv.log[-1]
    assert record["fault"] == kind
    # The log file gets the same record, fault included, and never a header.
    logged = read_log_file(srv.config.log_file)
    assert logged[-1]["fault"] == kind and TOKEN not in json.dumps(logged)


def test_a_cut_response_to_a_get_arrives_half_and_an_empty_body_is_lost(
    server: tuple[SandboxServer, str, list[str]],
) -> None:
    srv, sid, profiles = server
    srv.set_faults(always("drop"))
    got = raw(srv, "GET", "/segments")
    assert isinstance(got, httpx.RemoteProtocolError)
    assert "incomplete" in str(got) or "complete message body" in str(got)
    got = raw(srv, "DELETE", f"/segments/{sid}/shopper-profiles", params={"id:in": profiles[0]})
    assert isinstance(got, httpx.RemoteProtocolError)
    assert srv.log[-1]["fault"] == "lost"  # a 204 has no body to cut
    assert srv.log[-1]["ids"] == 1


def test_the_nth_request_fails_and_the_others_do_not(
    server: tuple[SandboxServer, str, list[str]],
) -> None:
    srv, _, _ = server
    srv.set_faults(FaultConfig(fail_nth=frozenset({2, 4}), error_statuses=(503,)))
    statuses = [raw(srv, "GET", "/segments").status_code for _ in range(5)]
    assert statuses == [200, 503, 200, 503, 200]
    srv.set_faults(None)
    assert raw(srv, "GET", "/segments").status_code == 200


def test_a_refused_delete_is_still_logged_with_its_ids(
    server: tuple[SandboxServer, str, list[str]],
) -> None:
    srv, sid, profiles = server
    srv.set_faults(always("error"))
    got = raw(srv, "DELETE", f"/segments/{sid}/shopper-profiles", params={"id:in": profiles[0]})
    assert got.status_code >= 500
    assert srv.log[-1]["ids"] == 1 and api_rule_violations(srv.log) == []


# --- the real client against each fault --------------------------------------------------


def client_for(srv: SandboxServer, **kw: Any) -> BigCommerceClient:
    settings = ClientSettings(
        store_hash=STORE,
        token=TOKEN,
        api_url=srv.url,
        timeout=kw.pop("timeout", 0.5),
        backoff_base=0.01,
        **kw,
    )
    return BigCommerceClient(settings)


@pytest.mark.parametrize("kind", ["lost", "drop", "slow"])
def test_an_add_whose_response_was_lost_meets_its_own_write_as_a_conflict(
    server: tuple[SandboxServer, str, list[str]], kind: str
) -> None:
    srv, sid, profiles = server
    srv.set_faults(FaultConfig(fail_nth=frozenset({1}), nth_fault=kind, slow_response_s=1.0))

    async def scenario() -> ConflictError:
        async with client_for(srv) as client:
            with pytest.raises(ConflictError) as info:
                await client.add_members(sid, profiles)
            assert client.stats.retries == 1
            return info.value

    conflict = asyncio.run(scenario())
    # Every id is named, so apply knows the whole batch is in (and re-reads to be sure).
    assert {k.lower() for k in conflict.item_errors} == set(profiles)
    assert sorted(srv.store.members(sid)) == sorted(profiles)


def test_a_delete_retried_after_a_lost_response_is_harmless(
    server: tuple[SandboxServer, str, list[str]],
) -> None:
    srv, sid, profiles = server
    srv.store.add_members(sid, profiles)
    srv.set_faults(FaultConfig(fail_nth=frozenset({1}), nth_fault="lost"))

    async def scenario() -> None:
        async with client_for(srv) as client:
            await client.remove_members(sid, profiles[:2])

    asyncio.run(scenario())
    assert srv.store.members(sid) == profiles[2:]
    deletes = [r for r in srv.log if r["method"] == "DELETE"]
    assert [r["ids"] for r in deletes] == [2, 2]


def test_connection_failures_give_up_after_the_retry_limit(
    server: tuple[SandboxServer, str, list[str]],
) -> None:
    srv, _, _ = server
    srv.set_faults(always("lost"))

    async def scenario() -> NetworkError:
        async with client_for(srv, max_retries=2) as client:
            with pytest.raises(NetworkError) as info:
                await client.list_segments()
            return info.value

    error = asyncio.run(scenario())
    assert str(error).startswith("gave up on GET /segments after 3 attempts")
    assert "RemoteProtocolError" in str(error)
    assert len(srv.log) == 3
