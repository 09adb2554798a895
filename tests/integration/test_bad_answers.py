"""The real CLI against answers the outside world should not give: rows without their ids,
a body that fails to decode, TLS spoken to a plain-HTTP server, a port out of range, a
refused connection. Each ends in one sentence naming what happened, never a traceback or
an "internal error", never the token."""

from __future__ import annotations

import re
import socket
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from tests.integration.conftest import TOKEN, Result, Store

FAST = {"RECONCILER_BACKOFF_BASE": "0.01", "RECONCILER_HTTP_TIMEOUT": "2"}
Handler = Callable[..., Awaitable[Response]]


def answer_instead(sandbox: Store, method: str, path: str, handler: Handler) -> None:
    """Have the sandbox answer `method path` (a regex below /stores/{hash}/v3) so."""
    sandbox.server.app.routes.insert(0, (method, re.compile(path), handler))


def corrupt_gzip() -> Response:
    return Response(b"hello", 200, headers={"Content-Encoding": "gzip"})


def clean(result: Result) -> str:
    text = result.out + result.err
    assert "internal error" not in text and "Traceback" not in text, text
    assert TOKEN not in text
    return text


def test_a_segment_without_an_id_is_one_sentence(sandbox: Store) -> None:
    sandbox.config({"VIP": []})

    async def segments(request: Request, record: dict[str, Any]) -> Response:
        return JSONResponse({"data": [{"name": "VIP"}], "meta": {}})

    answer_instead(sandbox, "GET", r"^/segments$", segments)
    result = sandbox.run("plan")
    assert result.code == 1
    assert "Error: GET /segments answered 200 with a segment without an id" in clean(result)


def test_a_member_without_an_id_is_one_sentence(sandbox: Store) -> None:
    members = sandbox.profiles(2)
    sid = sandbox.segment("VIP", members)
    sandbox.config({"VIP": members})

    async def rows(request: Request, record: dict[str, Any], _: str) -> Response:
        return JSONResponse({"data": [{"customer_id": 1}], "meta": {}})

    answer_instead(sandbox, "GET", r"^/segments/([^/]+)/shopper-profiles$", rows)
    result = sandbox.run("plan")
    assert result.code == 1
    expected = f"GET /segments/{sid}/shopper-profiles answered 200 with a shopper profile"
    assert f"Error: {expected} without an id" in clean(result)


def test_answers_that_keep_failing_to_decode_end_in_one_sentence(sandbox: Store) -> None:
    sandbox.config({"VIP": []})

    async def segments(request: Request, record: dict[str, Any]) -> Response:
        return corrupt_gzip()

    answer_instead(sandbox, "GET", r"^/segments$", segments)
    result = sandbox.run("plan", env=sandbox.env(RECONCILER_MAX_RETRIES="1", **FAST))
    assert result.code == 1
    assert re.search(
        r"Error: gave up on GET /segments after 2 attempts over \d+ s: the answer from "
        r"http://127\.0\.0\.1:\d+ kept failing to decode \(DecodingError: [^)]+\)",
        clean(result),
    ), result.err


def test_a_write_whose_answer_failed_to_decode_is_retried_and_apply_converges(
    sandbox: Store,
) -> None:
    """The POST reached the store (its members were added), its answer did not decode:
    handled as an answer cut off mid-way, retried (meeting a 409), settled by re-reading."""
    members = sandbox.profiles(3)
    sid = sandbox.segment("VIP", members[:1])
    sandbox.config({"VIP": members})
    app = sandbox.server.app
    real = app.add_members
    corrupted: list[int] = []

    async def add(request: Request, record: dict[str, Any], segment: str) -> Response:
        response = await real(request, record, segment)
        if corrupted:
            return response
        corrupted.append(response.status_code)
        return corrupt_gzip()

    answer_instead(sandbox, "POST", r"^/segments/([^/]+)/shopper-profiles$", add)
    result = sandbox.run("apply", "--auto-approve", env=sandbox.env(**FAST))
    text = clean(result)
    assert result.code == 0, text
    assert corrupted == [201]  # the first POST was made, its answer spoiled
    assert "could not be decoded (DecodingError" in result.err  # the retry's warning
    assert sandbox.members(sid) == set(members)
    posts = [r for r in sandbox.log() if r["method"] == "POST"]
    assert len(posts) >= 2


def test_tls_spoken_to_a_plain_http_server_fails_at_once_naming_it(sandbox: Store) -> None:
    sandbox.config({"VIP": []})
    url = sandbox.server.url.replace("http://", "https://")
    result = sandbox.run("plan", env=sandbox.env(BIGCOMMERCE_API_URL=url))
    assert result.code == 1
    text = clean(result)
    assert f"Error: TLS handshake with {url} failed: " in text
    assert "check BIGCOMMERCE_API_URL" in text
    assert "retrying" not in text  # cannot heal within a run: not retried


def test_a_port_out_of_range_is_a_settings_sentence(sandbox: Store) -> None:
    sandbox.config({"VIP": []})
    result = sandbox.run("plan", env=sandbox.env(BIGCOMMERCE_API_URL="http://127.0.0.1:99999"))
    assert result.code == 1
    assert "Error: the API URL's port must be 1-65535" in clean(result)


def test_a_refused_connection_names_the_host_and_the_cause(sandbox: Store) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    sandbox.config({"VIP": []})
    url = f"http://127.0.0.1:{port}"
    env = sandbox.env(BIGCOMMERCE_API_URL=url, RECONCILER_MAX_RETRIES="1", **FAST)
    result = sandbox.run("plan", env=env)
    assert result.code == 1
    assert f"the connection to {url} kept failing (ConnectError: Connection refused)" in clean(
        result
    )


@pytest.mark.parametrize("status", [404, 422])  # the API may answer either (api-facts)
def test_a_segment_deleted_mid_apply_is_said_not_to_exist(sandbox: Store, status: int) -> None:
    sandbox.server.config.unknown_segment_status = status
    members = sandbox.profiles(6)
    vip = sandbox.segment("VIP", members[:3])
    sandbox.config({"VIP": members[1:]}, extra="safety:\n  max_removal_percent: 100")

    def deleted(method: str, path: str) -> None:
        if method == "POST" and vip in sandbox.store.segments:
            sandbox.store.delete_segments([vip])

    sandbox.server.app.before_handler = deleted
    result = sandbox.run("apply", "--auto-approve")
    assert result.code == 1, result.out + result.err
    said = f"segment {vip} does not exist in store itest ({status} on POST"
    assert said in result.out
    assert "conflicts" not in result.err  # not taken for a partial add to re-read
