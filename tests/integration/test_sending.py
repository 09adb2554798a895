"""The client knows when its requests are written out, before their answers arrive, over
real loopback HTTP (httpcore's trace): plan starts its CPU-bound digest only then, so the
digest never holds back the first request."""

from __future__ import annotations

import asyncio

import pytest

from reconciler.client import BigCommerceClient, ClientSettings
from reconciler.model import DesiredSegment, DesiredState
from reconciler.runner import make_plan
from reconciler.sandbox.app import SandboxConfig
from reconciler.sandbox.server import SandboxServer
from reconciler.sandbox.store import SandboxStore

STORE, TOKEN = "sendtest", "sending-test-token"
LATENCY_MS = 400


def client_for(server: SandboxServer) -> BigCommerceClient:
    return BigCommerceClient(ClientSettings(store_hash=STORE, token=TOKEN, api_url=server.url))


@pytest.fixture
def server() -> SandboxServer:
    config = SandboxConfig(store_hash=STORE, token=TOKEN, latency_ms=LATENCY_MS)
    with SandboxServer(store=SandboxStore(), config=config) as srv:
        yield srv


def test_a_request_counts_as_sent_once_written_not_once_answered(server: SandboxServer) -> None:
    async def scenario() -> None:
        async with client_for(server) as client:
            read = asyncio.ensure_future(client.list_segments())
            await asyncio.sleep(0)
            await asyncio.wait_for(client.requests_sent(), LATENCY_MS / 1000 / 2)
            # On the wire, not yet answered (0 until the sandbox answers).
            assert not read.done() and all(r["status"] == 0 for r in server.log)
            assert await read == []

    asyncio.run(scenario())


def test_plan_digests_the_config_while_its_first_request_is_on_the_network(
    server: SandboxServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    started: list[tuple[int, bool, list[int]]] = []

    def digest(state: DesiredState) -> str:
        # Requests started, whether all are written out, and the answers so far.
        statuses = [r["status"] for r in server.log if r["status"]]
        started.append((client.stats.requests, client._sent.is_set(), statuses))
        return "sha256:" + "0" * 64

    monkeypatch.setattr("reconciler.runner.config_digest", digest)
    desired = DesiredState(segments=(DesiredSegment(name="New", id=None, profiles=frozenset()),))
    client = client_for(server)

    async def scenario() -> None:
        async with client:
            plan = await make_plan(client, desired)
        assert plan.config_digest == "sha256:" + "0" * 64

    asyncio.run(scenario())
    assert started == [(1, True, [])]  # the segment list is written out, not yet answered
