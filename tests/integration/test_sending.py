"""The client knows when its requests are written out, before their answers arrive, over
real loopback HTTP (httpcore's trace): plan starts its CPU-bound digest only then, so the
digest never holds back the first request, and computes the plan only once its email
look-up is on the network."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from reconciler import runner
from reconciler.client import BigCommerceClient, ClientSettings
from reconciler.model import DesiredSegment, DesiredState
from reconciler.plan import Plan
from reconciler.runner import make_plan
from reconciler.sandbox.app import SandboxConfig
from reconciler.sandbox.server import SandboxServer
from reconciler.sandbox.store import SandboxStore

STORE, TOKEN = "sendtest", "sending-test-token"
LATENCY_MS = 400


def client_for(server: SandboxServer) -> BigCommerceClient:
    return BigCommerceClient(ClientSettings(store_hash=STORE, token=TOKEN, api_url=server.url))


def logged_soon(server: SandboxServer, path_end: str = "") -> list[int]:
    """The statuses the sandbox logged for requests to paths ending so (0: not answered
    yet); it runs in its own thread, so give it a moment to log an arrival."""
    deadline = time.monotonic() + LATENCY_MS / 1000 / 2
    while not (logged := [r for r in server.log if r["path"].endswith(path_end)]):
        if time.monotonic() > deadline:
            break
        time.sleep(0.005)
    return [r["status"] for r in logged]


@pytest.fixture
def server() -> SandboxServer:
    config = SandboxConfig(store_hash=STORE, token=TOKEN, latency_ms=LATENCY_MS)
    with SandboxServer(store=SandboxStore(), config=config) as srv:
        yield srv


def test_plan_digests_the_config_while_its_first_request_is_on_the_network(
    server: SandboxServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    started: list[tuple[int, bool, list[int]]] = []

    def digest(state: DesiredState) -> str:
        # Requests started, whether one is written out yet, and their statuses as the
        # sandbox logs them (0: not answered).
        started.append((client.stats.requests, client._wrote.is_set(), logged_soon(server)))
        return "sha256:" + "0" * 64

    monkeypatch.setattr("reconciler.runner.config_digest", digest)
    desired = DesiredState(segments=(DesiredSegment(name="New", id=None, profiles=frozenset()),))
    client = client_for(server)

    async def scenario() -> None:
        async with client:
            plan = await make_plan(client, desired)
        assert plan.config_digest == "sha256:" + "0" * 64

    asyncio.run(scenario())
    assert started == [(1, True, [0])]  # the segment list is written out, not yet answered


def test_a_caller_learns_when_the_call_it_started_is_written_out(server: SandboxServer) -> None:
    async def scenario() -> None:
        async with client_for(server) as client:
            read = asyncio.ensure_future(client.list_segments())
            await asyncio.wait_for(client.request_written(during=read), LATENCY_MS / 1000 / 2)
            assert not read.done() and client.stats.requests == 1  # written, not answered
            assert await read == []
            # A call that sends nothing ends, and that ends the wait too.
            nothing = asyncio.ensure_future(client.list_customers(ids=[]))
            await asyncio.wait_for(client.request_written(during=nothing), 1)
            assert await nothing == [] and len(server.log) == 1

    asyncio.run(scenario())


def test_plan_is_computed_while_its_email_look_up_is_on_the_network(
    server: SandboxServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    customers = [server.store.add_customer(email=f"r{i}@example.com") for i in range(3)]
    profiles = [str(server.store.add_profile(c["id"])["id"]) for c in customers]
    sid = str(server.store.add_segment("VIP")["id"])
    server.store.add_members(sid, profiles)
    seen: list[list[int]] = []
    compute = runner.compute_plan

    def computing(*args: Any, **kwargs: Any) -> Plan:
        seen.append(logged_soon(server, "/customers"))  # the look-up's statuses
        return compute(*args, **kwargs)

    monkeypatch.setattr("reconciler.runner.compute_plan", computing)
    desired = DesiredState(segments=(DesiredSegment(name="VIP", id=None, profiles=frozenset()),))
    client = client_for(server)

    async def scenario() -> Plan:
        async with client:
            return await make_plan(client, desired)

    plan = asyncio.run(scenario())
    assert seen == [[0]]  # one look-up, on the network while the plan was computed
    assert dict(plan.emails) == {p: f"r{i}@example.com" for i, p in enumerate(profiles)}
    assert sum(r["path"].endswith("/customers") for r in server.log) == 1
