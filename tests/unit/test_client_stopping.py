"""A request an apply's stop cuts short says what its last attempt was answered, so apply
can tell a write that may have been made (no answer, or a 5xx) from one refused (a 429)."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from reconciler.errors import StoppedError
from tests.unit.test_client import SEG, ids, make_client, run, sequence_handler


@pytest.mark.parametrize(
    ("answer", "status"),
    [
        (httpx.Response(429, headers={"X-Rate-Limit-Time-Reset-Ms": "20000"}), 429),
        (httpx.Response(503), 503),
        (httpx.ReadError("the connection closed without an answer"), None),
    ],
    ids=["429", "503", "no-answer"],
)
def test_a_retry_dropped_by_the_stop_says_what_the_last_attempt_got(
    answer: httpx.Response | Exception, status: int | None
) -> None:
    stop = asyncio.Event()
    seen: list[httpx.Request] = []
    handler = sequence_handler([answer, httpx.Response(201)], seen)

    async def scenario() -> None:
        client, t = make_client(handler)
        t.settle = 5  # the pause before the retry takes real time
        client.stop_on(stop)
        adding = asyncio.ensure_future(client.add_members(SEG, ids(1)))
        await asyncio.sleep(0.05)
        stop.set()
        with pytest.raises(StoppedError, match="was not retried") as err:
            await asyncio.wait_for(adding, 1)
        assert (err.value.sent, err.value.status) == (True, status)

    run(scenario())
    assert len(seen) == 1


def test_a_request_never_sent_has_no_answer() -> None:
    stop = asyncio.Event()
    stop.set()
    spent = {"X-Rate-Limit-Requests-Left": "0", "X-Rate-Limit-Time-Reset-Ms": "20000"}
    seen: list[httpx.Request] = []
    handler = sequence_handler([httpx.Response(201, headers=spent)], seen)

    async def scenario() -> None:
        client, t = make_client(handler)
        t.settle = 5
        await client.add_members(SEG, ids(1))  # spends the quota
        client.stop_on(stop)
        with pytest.raises(StoppedError, match="was not sent") as err:
            await asyncio.wait_for(client.add_members(SEG, ids(1, 1)), 1)
        assert (err.value.sent, err.value.status) == (False, None)

    run(scenario())
    assert len(seen) == 1
