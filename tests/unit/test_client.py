"""BigCommerceClient against httpx.MockTransport: headers, pagination, concurrency, pacing,
retries, error mapping and token hygiene. Sleeps are fake (a fake clock), so tests are fast."""

from __future__ import annotations

import asyncio
import json
import logging
import ssl
import uuid
from collections.abc import Awaitable, Callable, Coroutine
from pathlib import Path
from typing import Any

import httpx
import pytest

from reconciler.client import (
    BigCommerceClient,
    ClientSettings,
    _tls_context,
    build_removal_request,
    chunk_adds,
)
from reconciler.errors import (
    ApiError,
    AuthenticationError,
    ConflictError,
    NetworkError,
    NotFoundError,
    PermissionDeniedError,
    RetriesExhaustedError,
    SettingsError,
    StoppedError,
    UnprocessableError,
    UnsafeRequestError,
)

TOKEN = "tok3nSECRETvalue42"
STORE = "abc123"
SEG = "dfada416-eba1-49cf-ad21-0f48b48d50ad"
PREFIX = f"/stores/{STORE}/v3"

Handler = (
    Callable[[httpx.Request], httpx.Response]
    | Callable[[httpx.Request], Coroutine[None, None, httpx.Response]]
)


def ids(n: int, start: int = 0) -> list[str]:
    return [str(uuid.UUID(int=i + 1)) for i in range(start, start + n)]


class FakeTime:
    """A clock that only moves when slept on. `settle` is real time a sleep takes first, so
    responses already on their way arrive before the clock jumps (as they would for real)."""

    def __init__(self, settle: float = 0.0) -> None:
        self.now = 1_000.0
        self.sleeps: list[float] = []
        self.settle = settle

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(self.settle)
        self.sleeps.append(seconds)
        self.now += seconds
        await asyncio.sleep(0)


def make_client(
    handler: Handler, *, rng: float = 1.0, **settings: Any
) -> tuple[BigCommerceClient, FakeTime]:
    t = FakeTime()
    client = BigCommerceClient(
        ClientSettings(store_hash=STORE, token=TOKEN, **settings),
        transport=httpx.MockTransport(handler),
        sleep=t.sleep,
        clock=t.clock,
        rng=lambda: rng,
    )
    return client, t


def run(coro: Coroutine[Any, Any, Any]) -> Any:
    return asyncio.run(asyncio.wait_for(coro, timeout=10))


def page(items: list[dict[str, Any]], current: int = 1, total_pages: int = 1) -> httpx.Response:
    return httpx.Response(
        200,
        json={
            "data": items,
            "meta": {"pagination": {"current_page": current, "total_pages": total_pages}},
        },
    )


def recording(sent: list[httpx.Request], status: int) -> Handler:
    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return httpx.Response(status)

    return handler


def rel(request: httpx.Request) -> str:
    return request.url.path.removeprefix(PREFIX)


# ---- settings ----------------------------------------------------------------------------


def test_base_url_replaces_the_host_part_only() -> None:
    s = ClientSettings(store_hash=STORE, token=TOKEN, api_url="https://proxy.example/bc/")
    assert s.base_url == f"https://proxy.example/bc/stores/{STORE}/v3"
    assert ClientSettings(STORE, TOKEN).base_url == f"https://api.bigcommerce.com{PREFIX}"


@pytest.mark.parametrize(
    "url", ["http://api.bigcommerce.com", "http://10.0.0.5:8080", "http://localhost.evil.com"]
)
def test_plain_http_to_a_remote_host_is_refused(url: str) -> None:
    with pytest.raises(SettingsError, match="http://"):
        ClientSettings(store_hash=STORE, token=TOKEN, api_url=url)


@pytest.mark.parametrize(
    "url", ["http://localhost:8000", "http://127.0.0.1:9", "http://127.8.9.1", "http://[::1]:80"]
)
def test_plain_http_to_loopback_is_allowed(url: str) -> None:
    assert ClientSettings(store_hash=STORE, token=TOKEN, api_url=url).base_url.startswith(url)


def test_https_verifies_with_the_ca_bundle_and_loopback_http_trusts_nothing() -> None:
    assert _tls_context(ClientSettings(STORE, TOKEN).base_url) is True  # httpx's default
    ctx = _tls_context(ClientSettings(STORE, TOKEN, api_url="http://127.0.0.1:9").base_url)
    assert isinstance(ctx, ssl.SSLContext)
    # No TLS is spoken to loopback http; were it ever, nothing would be trusted.
    assert ctx.verify_mode == ssl.CERT_REQUIRED and ctx.check_hostname
    assert ctx.cert_store_stats()["x509_ca"] == 0


# A real token's shape: letters and digits, which a store hash may also hold.
TOKEN_LIKE = "k3x9q2m7v8w1p4z6r5t0y2u8i9o1a3s"


@pytest.mark.parametrize(
    "kwargs",
    [
        {"store_hash": ""},
        {"store_hash": "abc/../x"},
        {"token": ""},
        {"token": "has space"},
        {"api_url": "ftp://x"},
        {"api_url": "https://user:pw@x"},
        {"api_url": "https://x?a=b"},
        {"max_in_flight": 11},
        {"max_in_flight": 0},
        {"page_size": 251},
        {"rate_reserve": -1},
        {"store_hash": TOKEN_LIKE, "token": TOKEN_LIKE},
        {"store_hash": TOKEN_LIKE.upper(), "token": TOKEN_LIKE},
        {"api_url": f"http://{TOKEN_LIKE}", "token": TOKEN_LIKE},
        {"api_url": f"https://{TOKEN_LIKE}.example.com", "token": TOKEN_LIKE},
    ],
)
def test_bad_settings_are_refused(kwargs: dict[str, Any]) -> None:
    base: dict[str, Any] = {"store_hash": STORE, "token": TOKEN}
    with pytest.raises(SettingsError) as info:
        ClientSettings(**{**base, **kwargs})
    assert TOKEN not in str(info.value) and TOKEN_LIKE not in str(info.value)


def test_token_is_not_in_repr_or_str() -> None:
    s = ClientSettings(store_hash=STORE, token=TOKEN)
    client = BigCommerceClient(s)
    for text in (repr(s), str(s), repr(client), str(client)):
        assert TOKEN not in text
    assert STORE in repr(s)


# ---- headers and request shape -----------------------------------------------------------


def test_requests_carry_auth_and_accept_and_content_type_only_with_a_body() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.method == "GET":
            return page([])
        return httpx.Response(201 if request.method == "POST" else 204, json={"data": []})

    async def scenario() -> None:
        client, _ = make_client(handler)
        async with client:
            await client.list_segments()
            await client.add_members(SEG, ids(2))
            await client.remove_members(SEG, ids(2))

    run(scenario())
    get, post, delete = seen
    for request in seen:
        assert request.headers["X-Auth-Token"] == TOKEN
        assert request.headers["Accept"] == "application/json"
        assert request.extensions["timeout"] == {
            "connect": 10.0,
            "read": 30.0,
            "write": 30.0,
            "pool": 30.0,
        }
    assert "Content-Type" not in get.headers
    assert "Content-Type" not in delete.headers
    assert post.headers["Content-Type"] == "application/json"
    assert json.loads(post.content) == ids(2)
    assert rel(post) == f"/segments/{SEG}/shopper-profiles"
    assert delete.url.params["id:in"] == ",".join(ids(2))
    assert delete.url.params.multi_items() == [("id:in", ",".join(ids(2)))]


def test_add_members_refuses_wrong_batch_sizes_before_sending() -> None:
    sent: list[httpx.Request] = []

    async def scenario() -> None:
        client, _ = make_client(recording(sent, 201))
        for bad in ([], ids(51), ["nope"], [ids(1)[0]] * 2):
            with pytest.raises(ValueError):
                await client.add_members(SEG, bad)
        with pytest.raises(ValueError):
            await client.add_members("not-a-segment", ids(1))
        await client.add_members(SEG, ids(50))  # the maximum goes as one POST

    run(scenario())
    assert len(sent) == 1
    assert len(json.loads(sent[0].content)) == 50


def test_remove_members_refuses_no_ids_and_sends_nothing() -> None:
    sent: list[httpx.Request] = []

    async def scenario() -> None:
        client, _ = make_client(recording(sent, 204))
        for bad in ([], [""], ["  "], ["x"], SEG):
            with pytest.raises(UnsafeRequestError):
                await client.remove_members(SEG, bad)  # type: ignore[arg-type]

    run(scenario())
    assert sent == []


def test_no_code_path_can_send_a_delete_without_ids() -> None:
    # Even a request built elsewhere is checked at the one place requests leave the client.
    sent: list[httpx.Request] = []

    async def scenario() -> None:
        client, _ = make_client(recording(sent, 204))
        call = __import__("reconciler.client", fromlist=["_Call"])._Call("test")
        for url in (
            f"/segments/{SEG}/shopper-profiles",
            f"/segments/{SEG}/shopper-profiles?id:in=",
            "/segments",
            "/shopper-profiles?limit=5",
        ):
            request = client._http.build_request("DELETE", url)
            with pytest.raises(UnsafeRequestError):
                await client._send(request, call)
        await client._send(build_removal_request(client._http, SEG, ids(1)), call)

    run(scenario())
    assert len(sent) == 1
    assert sent[0].url.params["id:in"] == ids(1)[0]


def test_delete_accepts_204_and_200_with_a_clean_body() -> None:
    responses = iter(
        [
            httpx.Response(204),
            httpx.Response(200, json={"data": [], "errors": [], "meta": {"failed": 0}}),
        ]
    )

    async def scenario() -> None:
        client, _ = make_client(lambda r: next(responses))
        await client.remove_members(SEG, ids(3))
        await client.remove_members(SEG, ids(3))

    run(scenario())


# ---- pagination --------------------------------------------------------------------------


def test_pages_after_the_first_are_fetched_concurrently_and_kept_in_order() -> None:
    open_now = 0
    peak = 0
    seen: list[tuple[int, int]] = []

    async def handler(request: httpx.Request) -> httpx.Response:
        nonlocal open_now, peak
        number = int(request.url.params["page"])
        seen.append((number, int(request.url.params["limit"])))
        open_now += 1
        peak = max(peak, open_now)
        await asyncio.sleep(0.02)
        open_now -= 1
        return page([{"id": f"s{number}-{i}"} for i in range(2)], number, 4)

    async def scenario() -> list[dict[str, Any]]:
        client, _ = make_client(handler)
        return await client.list_segments()

    rows = run(scenario())
    assert [r["id"] for r in rows] == [f"s{p}-{i}" for p in range(1, 5) for i in range(2)]
    assert seen[0] == (1, 250)
    assert sorted(seen) == [(p, 250) for p in range(1, 5)]
    assert peak == 3  # pages 2..4 at once


def test_member_pages_are_handed_over_one_by_one_as_they_arrive() -> None:
    async def handler(request: httpx.Request) -> httpx.Response:
        number = int(request.url.params["page"])
        await asyncio.sleep(0.001 * (6 - number))  # later pages answer first
        return page([{"id": f"m{number}-{i}"} for i in range(3)], number, 5)

    taken: list[tuple[int, list[str]]] = []

    async def scenario() -> None:
        client, _ = make_client(handler)
        await client.each_segment_member_page(
            SEG, lambda n, rows: taken.append((n, [r["id"] for r in rows]))
        )

    run(scenario())
    assert taken[0][0] == 1  # page 1 first: it says how many there are
    assert sorted(taken) == [(n, [f"m{n}-{i}" for i in range(3)]) for n in range(1, 6)]


def test_a_long_read_builds_each_request_only_when_it_can_be_sent(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """200 pages: the requests built but not yet answered never exceed the in-flight limit
    by more than one per worker waiting, so the first pages go out at once instead of after
    every request of every segment being read has been built."""
    built = 0
    ahead: list[int] = []
    answered = 0
    original = httpx.AsyncClient.build_request

    def counting(self: httpx.AsyncClient, *args: Any, **kwargs: Any) -> httpx.Request:
        nonlocal built
        built += 1
        return original(self, *args, **kwargs)

    async def handler(request: httpx.Request) -> httpx.Response:
        nonlocal answered
        ahead.append(built - answered)
        await asyncio.sleep(0.001)
        answered += 1
        number = int(request.url.params["page"])
        return page([{"id": f"m{number}"}], number, 200)

    monkeypatch.setattr(httpx.AsyncClient, "build_request", counting)

    async def scenario() -> list[dict[str, Any]]:
        client, _ = make_client(handler)
        return await client.list_segment_members(SEG)

    rows = run(scenario())
    assert [r["id"] for r in rows] == [f"m{n}" for n in range(1, 201)]
    assert max(ahead) <= 2 * 10  # a task per page would have built all 199 up front


@pytest.mark.parametrize("total_pages", [0, 1])
def test_an_empty_collection_is_one_request(total_pages: int) -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return page([], 1, total_pages)

    async def scenario() -> list[dict[str, Any]]:
        client, _ = make_client(handler)
        return await client.list_segment_members(SEG)

    assert run(scenario()) == []
    assert len(seen) == 1
    assert rel(seen[0]) == f"/segments/{SEG}/shopper-profiles"


@pytest.mark.parametrize("body", [{"data": [{"id": "a"}]}, {"data": [{"id": "a"}], "meta": {}}])
def test_missing_pagination_means_a_single_page(body: dict[str, Any]) -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=body)

    async def scenario() -> list[dict[str, Any]]:
        client, _ = make_client(handler)
        return await client.list_segments()

    assert run(scenario()) == [{"id": "a"}]
    assert len(seen) == 1


def test_a_listing_without_a_data_list_is_an_error() -> None:
    async def scenario() -> None:
        client, _ = make_client(lambda r: httpx.Response(200, json={"oops": 1}))
        with pytest.raises(ApiError, match="data"):
            await client.list_segments()

    run(scenario())


def test_limit_falls_back_to_50_once_when_250_is_refused() -> None:
    limits: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        limits.append(request.url.params["limit"])
        if request.url.params["limit"] == "250":
            return httpx.Response(422, json={"status": 422, "title": "limit must be at most 50"})
        return page([{"id": "x"}])

    async def scenario() -> BigCommerceClient:
        client, _ = make_client(handler)
        assert await client.list_segments() == [{"id": "x"}]
        await client.list_segment_members(SEG)  # remembered: straight to 50
        return client

    client = run(scenario())
    assert limits == ["250", "50", "50"]
    assert client.page_size == 50


def test_a_refusal_at_limit_50_is_raised() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(400, json={"status": 400, "title": "Bad page"})

    async def scenario() -> None:
        client, _ = make_client(handler)
        with pytest.raises(UnprocessableError, match="Bad page"):
            await client.list_segments()

    run(scenario())


@pytest.mark.parametrize(
    ("title", "error", "limits"),
    [
        # Says the segment is unknown: a 404 by another status, no page size tried.
        ("Segment not found", NotFoundError, ["250", "250"]),
        # Says nothing of the limit either: 50 is tried, refused too, and not kept.
        ("Invalid segment", UnprocessableError, ["250", "50", "250"]),
        # Not found, but not the segment: refused as invalid, not a 404.
        ("Shopper profiles not found", UnprocessableError, ["250", "50", "250"]),
    ],
)
def test_a_422_that_is_not_about_the_limit_keeps_the_page_size(
    title: str, error: type[Exception], limits: list[str]
) -> None:
    # An unknown segment may answer 422 (api-facts): that must not halve every later read.
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.url.params["limit"])
        if "shopper-profiles" in request.url.path:
            return httpx.Response(422, json={"status": 422, "title": title})
        return page([{"id": "x"}])

    async def scenario() -> BigCommerceClient:
        client, _ = make_client(handler)
        with pytest.raises(error, match=r"\(422 on GET|\(422\): "):
            await client.list_segment_members(SEG)
        assert await client.list_segments() == [{"id": "x"}]
        return client

    client = run(scenario())
    assert seen == limits
    assert client.page_size == 250


# ---- concurrency -------------------------------------------------------------------------


def test_never_more_than_ten_requests_in_flight_whatever_the_mix() -> None:
    open_now = 0
    peak = 0

    async def handler(request: httpx.Request) -> httpx.Response:
        nonlocal open_now, peak
        open_now += 1
        peak = max(peak, open_now)
        await asyncio.sleep(0.005)
        open_now -= 1
        if request.method == "GET":
            return page([{"id": "x"}])
        return httpx.Response(201 if request.method == "POST" else 204)

    async def scenario() -> BigCommerceClient:
        client, _ = make_client(handler)
        calls: list[Awaitable[Any]] = []
        for i in range(200):
            kind = i % 3
            if kind == 0:
                calls.append(client.add_members(SEG, ids(1, i)))
            elif kind == 1:
                calls.append(client.remove_members(SEG, ids(1, i)))
            else:
                calls.append(client.list_segment_members(SEG))
        await asyncio.gather(*calls)
        return client

    client = run(scenario())
    assert peak == 10
    assert client.stats.max_in_flight == 10
    assert client.stats.requests == 200


def test_max_in_flight_can_be_lowered() -> None:
    open_now = 0
    peak = 0

    async def handler(request: httpx.Request) -> httpx.Response:
        nonlocal open_now, peak
        open_now += 1
        peak = max(peak, open_now)
        await asyncio.sleep(0.002)
        open_now -= 1
        return httpx.Response(201)

    async def scenario() -> None:
        client, _ = make_client(handler, max_in_flight=3)
        await asyncio.gather(*(client.add_members(SEG, c) for c in chunk_adds(ids(500))))

    run(scenario())
    assert peak == 3


def test_request_written_waits_for_an_attempt_without_a_trace_until_it_ends() -> None:
    # A mock transport reports no writing: its attempt counts as written once it ends.
    release = asyncio.Event()

    async def handler(request: httpx.Request) -> httpx.Response:
        await release.wait()
        return page([])

    async def scenario() -> None:
        client, _ = make_client(handler)
        read = asyncio.ensure_future(client.list_segments())
        waiting = asyncio.ensure_future(client.request_written(during=read))
        await asyncio.sleep(0.01)
        assert not waiting.done()
        release.set()
        await asyncio.wait_for(waiting, 1)
        assert await read == []

    run(scenario())


def test_request_written_does_not_wait_past_an_attempt_that_failed() -> None:
    """The call goes on retrying (it would wait 60 s on the fake clock's first sleep),
    but its failed attempt ends the wait."""
    tries = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal tries
        tries += 1
        raise httpx.ConnectError("refused", request=request)

    async def scenario() -> None:
        client, t = make_client(handler, max_retries=1)
        t.settle = 60  # the retry's sleep takes real time: the call is still running
        read = asyncio.ensure_future(client.list_segments())
        await client.request_written(during=read)  # run()'s timeout would catch a hang
        assert tries == 1 and not read.done()
        read.cancel()
        await asyncio.gather(read, return_exceptions=True)

    run(scenario())


# ---- an apply stopping ------------------------------------------------------------------


def test_once_stopping_a_request_that_failed_is_not_retried() -> None:
    stop = asyncio.Event()
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        stop.set()  # Ctrl-C while this attempt is on the wire
        return httpx.Response(429, headers={"X-Rate-Limit-Time-Reset-Ms": "20000"})

    async def scenario() -> None:
        client, t = make_client(handler)
        client.stop_on(stop)
        with pytest.raises(StoppedError, match="was not retried: apply was interrupted") as err:
            await client.add_members(SEG, ids(1))
        assert err.value.sent and t.sleeps == []

    run(scenario())
    assert len(seen) == 1


def test_once_stopping_a_request_waiting_for_the_quota_is_not_sent() -> None:
    stop = asyncio.Event()
    seen: list[httpx.Request] = []
    spent = {
        "X-Rate-Limit-Requests-Left": "0",
        "X-Rate-Limit-Requests-Quota": "10",
        "X-Rate-Limit-Time-Reset-Ms": "20000",
    }
    handler = sequence_handler([httpx.Response(201, headers=spent)] * 2, seen)

    async def scenario() -> None:
        client, t = make_client(handler)
        t.settle = 5  # the pause until the window resets takes real time
        client.stop_on(stop)
        await client.add_members(SEG, ids(1))
        waiting = asyncio.ensure_future(client.add_members(SEG, ids(1, 1)))
        await asyncio.sleep(0.05)
        stop.set()
        with pytest.raises(StoppedError, match="was not sent: apply was interrupted") as err:
            await asyncio.wait_for(waiting, 1)
        assert not err.value.sent

    run(scenario())
    assert len(seen) == 1


# ---- pacing through the client -----------------------------------------------------------


class QuotaServer:
    """A store with a quota of `quota` requests per `window` s on the fake clock; answers 429
    past it, and reports the quota headers on every response."""

    def __init__(self, t: FakeTime, quota: int = 10, window: float = 30.0) -> None:
        self.t, self.quota, self.window = t, quota, window
        self.window_start = t.now
        self.used = 0
        self.statuses: list[int] = []
        self.lefts: list[int] = []

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        response = self.count()
        await asyncio.sleep(0.001)  # answer later, so requests overlap
        return response

    def count(self) -> httpx.Response:
        while self.t.now >= self.window_start + self.window:
            self.window_start += self.window
            self.used = 0
        self.used += 1
        left = max(0, self.quota - self.used)
        status = 429 if self.used > self.quota else 201
        self.statuses.append(status)
        self.lefts.append(left)
        reset_ms = int((self.window_start + self.window - self.t.now) * 1000)
        return httpx.Response(
            status,
            headers={
                "X-Rate-Limit-Requests-Left": str(left),
                "X-Rate-Limit-Requests-Quota": str(self.quota),
                "X-Rate-Limit-Time-Reset-Ms": str(reset_ms),
                "X-Rate-Limit-Time-Window-Ms": str(int(self.window * 1000)),
            },
        )


@pytest.mark.parametrize("reserve", [0, 3])
def test_pacing_waits_for_the_window_instead_of_provoking_429(reserve: int) -> None:
    t = FakeTime(settle=0.005)
    server = QuotaServer(t)
    client = BigCommerceClient(
        ClientSettings(store_hash=STORE, token=TOKEN, rate_reserve=reserve),
        transport=httpx.MockTransport(server),
        sleep=t.sleep,
        clock=t.clock,
    )

    async def scenario() -> None:
        await asyncio.gather(*(client.add_members(SEG, c) for c in chunk_adds(ids(35 * 50))))

    run(scenario())
    assert 429 not in server.statuses
    assert len(server.statuses) == 35
    assert min(server.lefts) == reserve  # never ate into what is left to other apps
    per_window = 10 - reserve
    assert client.stats.rate_waits == -(-35 // per_window) - 1
    assert t.now - 1_000.0 >= 30.0 * (-(-35 // per_window) - 1)
    assert client.stats.max_in_flight > 1  # the budget was shared by concurrent requests


# ---- retries -----------------------------------------------------------------------------


def sequence_handler(
    steps: list[httpx.Response | Exception], seen: list[httpx.Request]
) -> Callable[[httpx.Request], httpx.Response]:
    queue = list(steps)

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        step = queue.pop(0) if len(queue) > 1 else queue[0]
        if isinstance(step, Exception):
            raise step
        return step

    return handler


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"X-Rate-Limit-Time-Reset-Ms": "1500", "X-Retry-After": "3"}, 3.0),
        ({"X-Rate-Limit-Time-Reset-Ms": "4000", "X-Retry-After": "1"}, 4.0),
        ({"X-Rate-Limit-Time-Reset-Ms": "2500"}, 2.5),
        ({"X-Retry-After": "7"}, 7.0),
    ],
)
def test_429_waits_the_longer_of_the_two_headers(headers: dict[str, str], expected: float) -> None:
    seen: list[httpx.Request] = []
    handler = sequence_handler([httpx.Response(429, headers=headers), httpx.Response(201)], seen)

    async def scenario() -> tuple[BigCommerceClient, FakeTime]:
        client, t = make_client(handler)
        await client.add_members(SEG, ids(3))
        return client, t

    client, t = run(scenario())
    assert t.sleeps == [pytest.approx(expected)]
    assert len(seen) == 2
    assert seen[0].content == seen[1].content  # the same request again
    assert client.stats.rate_limited == 1
    assert client.stats.retries == 1
    assert client.stats.by_status == {429: 1, 201: 1}


@pytest.mark.parametrize(
    "headers",
    [{}, {"X-Rate-Limit-Time-Reset-Ms": "0"}, {"X-Retry-After": "0"}],
    ids=["no headers", "reset now", "retry now"],
)
def test_429_without_a_wait_to_honour_backs_off_exponentially_with_jitter(
    headers: dict[str, str],
) -> None:
    # Retrying at once on "now" would spend every retry in no time.
    seen: list[httpx.Request] = []
    steps: list[httpx.Response | Exception] = [httpx.Response(429, headers=headers)] * 4
    steps.append(httpx.Response(201))

    async def scenario(rng: float) -> list[float]:
        client, t = make_client(sequence_handler(steps, seen), rng=rng)
        await client.add_members(SEG, ids(1))
        return t.sleeps

    assert run(scenario(1.0)) == [1.0, 2.0, 4.0, 8.0]
    assert run(scenario(0.0)) == [0.5, 1.0, 2.0, 4.0]  # jitter: between half and all


@pytest.mark.parametrize(
    "failure",
    [
        httpx.Response(500),
        httpx.Response(502),
        httpx.Response(503),
        httpx.Response(504),
        httpx.ConnectError("refused"),
        httpx.ReadTimeout("slow"),
        httpx.RemoteProtocolError("dropped"),
    ],
)
def test_server_errors_and_connection_failures_are_retried(
    failure: httpx.Response | Exception,
) -> None:
    seen: list[httpx.Request] = []
    handler = sequence_handler([failure, failure, page([{"id": "a"}])], seen)

    async def scenario() -> tuple[list[dict[str, Any]], BigCommerceClient]:
        client, _ = make_client(handler)
        return await client.list_segments(), client

    rows, client = run(scenario())
    assert rows == [{"id": "a"}]
    assert len(seen) == 3
    assert client.stats.retries == 2
    assert client.stats.requests == 3


def test_a_5xx_does_not_wait_for_the_quota_reset_but_honours_retry_after() -> None:
    seen: list[httpx.Request] = []
    steps: list[httpx.Response | Exception] = [
        httpx.Response(503, headers={"X-Rate-Limit-Time-Reset-Ms": "25000"}),
        httpx.Response(503, headers={"X-Retry-After": "9"}),
        httpx.Response(201),
    ]

    async def scenario() -> list[float]:
        client, t = make_client(sequence_handler(steps, seen))
        await client.add_members(SEG, ids(1))
        return t.sleeps

    assert run(scenario()) == [1.0, 9.0]


def test_retries_exhausted_is_one_clear_sentence() -> None:
    seen: list[httpx.Request] = []

    async def scenario() -> RetriesExhaustedError:
        client, _ = make_client(sequence_handler([httpx.Response(503)], seen), max_retries=3)
        with pytest.raises(RetriesExhaustedError) as info:
            await client.add_members(SEG, ids(1))
        return info.value

    error = run(scenario())
    assert len(seen) == 4
    assert str(error) == (
        f"gave up on POST /segments/{SEG}/shopper-profiles after 4 attempts over 7 s: "
        "the API kept answering 503; RECONCILER_MAX_RETRIES allows 3 retries"
    )
    assert TOKEN not in str(error)


def test_connection_failures_exhausted_raise_network_error() -> None:
    seen: list[httpx.Request] = []

    async def scenario() -> NetworkError:
        client, _ = make_client(
            sequence_handler([httpx.ConnectError("refused")], seen), max_retries=2
        )
        with pytest.raises(NetworkError) as info:
            await client.list_segments()
        return info.value

    error = run(scenario())
    assert len(seen) == 3
    assert str(error).startswith("gave up on GET /segments after 3 attempts over 3 s:")
    assert "ConnectError" in str(error)
    assert error.__cause__ is None and error.__context__ is None


def test_total_retry_wait_is_capped() -> None:
    seen: list[httpx.Request] = []
    too_long = httpx.Response(429, headers={"X-Rate-Limit-Time-Reset-Ms": "60000"})

    async def scenario() -> list[float]:
        client, t = make_client(sequence_handler([too_long], seen), max_retry_wait=45.0)
        with pytest.raises(RetriesExhaustedError, match="429"):
            await client.add_members(SEG, ids(1))
        return t.sleeps

    assert run(scenario()) == []  # 60 s would exceed the 45 s budget: give up now
    assert len(seen) == 1


def test_giving_up_on_the_wait_cap_says_so_and_names_its_variable() -> None:
    too_long = httpx.Response(429, headers={"X-Rate-Limit-Time-Reset-Ms": "60000"})

    async def scenario() -> str:
        client, _ = make_client(sequence_handler([too_long], []), max_retry_wait=45.0)
        with pytest.raises(RetriesExhaustedError) as info:
            await client.list_segments()
        return str(info.value)

    assert run(scenario()) == (
        "gave up on GET /segments after 1 attempt over 0 s: the API answered 429 "
        "(rate limited); waiting 60.0 s more would pass RECONCILER_MAX_RETRY_WAIT "
        "(45 s of waiting in all)"
    )


@pytest.mark.parametrize(
    ("max_retries", "attempts", "answered", "allowed"),
    [(0, "1 attempt", "answered", "no retries"), (1, "2 attempts", "kept answering", "1 retry")],
)
def test_giving_up_on_the_retry_count_names_its_variable(
    max_retries: int, attempts: str, answered: str, allowed: str
) -> None:
    async def scenario() -> str:
        client, _ = make_client(
            sequence_handler([httpx.Response(502)], []), max_retries=max_retries
        )
        with pytest.raises(RetriesExhaustedError) as info:
            await client.list_segments()
        return str(info.value)

    message = run(scenario())
    assert f"after {attempts} over" in message
    assert message.endswith(f"the API {answered} 502; RECONCILER_MAX_RETRIES allows {allowed}")


def test_giving_up_after_different_failures_says_what_the_last_attempt_got() -> None:
    steps: list[httpx.Response | Exception] = [
        httpx.Response(502),
        httpx.ConnectError("refused"),
        httpx.Response(503),
    ]

    async def scenario() -> str:
        client, _ = make_client(sequence_handler(steps, []), max_retries=2)
        with pytest.raises(RetriesExhaustedError) as info:
            await client.list_segments()
        return str(info.value)

    assert run(scenario()).endswith(
        "after 3 attempts over 3 s: on the last attempt, the API answered 503; "
        "RECONCILER_MAX_RETRIES allows 2 retries"
    )


def test_a_transport_error_not_worth_retrying_is_a_network_error_at_once() -> None:
    seen: list[httpx.Request] = []

    async def scenario() -> None:
        client, _ = make_client(sequence_handler([httpx.ProxyError("no")], seen))
        with pytest.raises(NetworkError, match="ProxyError"):
            await client.list_segments()

    run(scenario())
    assert len(seen) == 1


def test_4xx_are_not_retried() -> None:
    seen: list[httpx.Request] = []

    async def scenario() -> None:
        client, _ = make_client(sequence_handler([httpx.Response(409, json={})], seen))
        with pytest.raises(ConflictError):
            await client.add_members(SEG, ids(1))

    run(scenario())
    assert len(seen) == 1


# ---- error mapping -----------------------------------------------------------------------


def raise_for(
    response: httpx.Response, call: Callable[[BigCommerceClient], Awaitable[Any]]
) -> ApiError:
    async def scenario() -> ApiError:
        client, _ = make_client(lambda r: response)
        with pytest.raises(ApiError) as info:
            await call(client)
        return info.value

    error: ApiError = run(scenario())
    assert TOKEN not in str(error)
    assert "Traceback" not in str(error)
    return error


def test_401_says_to_check_the_token() -> None:
    error = raise_for(httpx.Response(401, json={"title": "nope"}), lambda c: c.list_segments())
    assert isinstance(error, AuthenticationError)
    assert str(error) == ("the API rejected the access token (401); check BIGCOMMERCE_ACCESS_TOKEN")


def test_403_names_the_scope_and_the_plan() -> None:
    error = raise_for(httpx.Response(403), lambda c: c.list_segment_members(SEG))
    assert isinstance(error, PermissionDeniedError)
    assert "Customers: modify scope (store_v2_customers)" in str(error)
    assert "read a segment's members" in str(error)
    assert "Enterprise plan" in str(error)
    error = raise_for(httpx.Response(403), lambda c: c.list_segments())
    assert "read-only scope (store_v2_customers_read_only)" in str(error)
    error = raise_for(httpx.Response(403), lambda c: c.list_customers(ids=[1]))
    assert "read customers" in str(error)
    assert "Enterprise" not in str(error)


def test_404_says_which_thing_is_missing() -> None:
    error = raise_for(httpx.Response(404), lambda c: c.add_members(SEG, ids(1)))
    assert isinstance(error, NotFoundError)
    assert f"segment {SEG} does not exist in store {STORE}" in str(error)
    error = raise_for(httpx.Response(404), lambda c: c.list_segments())
    assert f"store {STORE} was not found" in str(error)
    assert error.path == "/segments"
    assert error.method == "GET"


def test_409_maps_index_keys_to_the_ids_of_the_batch() -> None:
    batch = ids(3)
    body = {
        "data": [],
        "errors": [
            {
                "status": 409,
                "title": "Unable to add shopper profiles to segment due to conflicts.",
                "type": "https://developer.bigcommerce.com/api-docs/getting-started/api-status-codes",
                "errors": {
                    "0": f"Shopper profile `{batch[0]}` already exists for segment `{SEG}`.",
                    "2": "already exists",
                },
            }
        ],
        "meta": {"total": 3, "success": 1, "failed": 2},
    }
    error = raise_for(httpx.Response(409, json=body), lambda c: c.add_members(SEG, batch))
    assert isinstance(error, ConflictError)
    assert error.item_errors == {
        batch[0]: f"Shopper profile `{batch[0]}` already exists for segment `{SEG}`.",
        batch[2]: "already exists",
    }
    assert str(error) == (
        f"POST /segments/{SEG}/shopper-profiles was refused with a conflict (409): "
        "Unable to add shopper profiles to segment due to conflicts; 2 items in conflict"
    )


def test_a_message_uuid_is_used_when_the_key_is_not_an_index() -> None:
    batch = ids(2)
    body = {
        "status": 422,
        "title": "Invalid input",
        "errors": {"profiles": f"Shopper profile `{batch[1]}` is not valid for segment `{SEG}`"},
    }
    error = raise_for(httpx.Response(422, json=body), lambda c: c.add_members(SEG, batch))
    assert isinstance(error, UnprocessableError)
    assert list(error.item_errors) == [batch[1]]
    # The segment's UUID is never taken for the profile's, even when it comes first.
    body["errors"] = {"x": f"segment `{SEG}` refuses `{ids(1, 7)[0]}`"}
    error = raise_for(httpx.Response(422, json=body), lambda c: c.add_members(SEG, batch))
    assert list(error.item_errors) == [ids(1, 7)[0]]


@pytest.mark.parametrize("status", [400, 422])
def test_400_and_422_in_the_v3_shape(status: int) -> None:
    batch = ids(3)
    body = {
        "status": status,
        "title": "Input is invalid",
        "type": "https://developer.bigcommerce.com/api-docs/getting-started/api-status-codes",
        "errors": {"1": "profile not found"},
    }
    error = raise_for(httpx.Response(status, json=body), lambda c: c.add_members(SEG, batch))
    assert isinstance(error, UnprocessableError)
    assert error.status == status
    assert error.item_errors == {batch[1]: "profile not found"}
    assert "Input is invalid" in str(error)


def test_a_2xx_with_failed_items_is_a_partial_failure() -> None:
    batch = ids(4)
    body = {
        "data": [{"id": batch[0]}],
        "errors": [{"status": 422, "title": "Some failed", "errors": {"3": "no such profile"}}],
        "meta": {"total": 4, "success": 3, "failed": 1},
    }
    error = raise_for(httpx.Response(201, json=body), lambda c: c.add_members(SEG, batch))
    assert isinstance(error, UnprocessableError)
    assert error.status == 201
    assert error.item_errors == {batch[3]: "no such profile"}


def test_a_delete_200_with_errors_maps_to_the_removed_ids() -> None:
    batch = ids(3)
    body = {
        "data": [],
        "errors": [{"status": 422, "title": "Not removed", "errors": {"2": "not a member"}}],
        "meta": {"total": 3, "success": 2, "failed": 1},
    }
    error = raise_for(httpx.Response(200, json=body), lambda c: c.remove_members(SEG, batch))
    assert isinstance(error, UnprocessableError)
    assert error.item_errors == {batch[2]: "not a member"}


def test_meta_failed_alone_is_a_partial_failure() -> None:
    body = {"data": [], "meta": {"total": 1, "success": 0, "failed": 1}}
    error = raise_for(httpx.Response(201, json=body), lambda c: c.add_members(SEG, ids(1)))
    assert isinstance(error, UnprocessableError)


def test_other_4xx_is_an_api_error_and_a_non_json_body_is_fine() -> None:
    error = raise_for(httpx.Response(418, text="<html>teapot</html>"), lambda c: c.list_segments())
    assert type(error) is ApiError
    assert str(error) == "GET /segments failed (418)"


def test_redirects_are_not_followed() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(302, headers={"Location": "https://elsewhere.example/steal"})

    async def scenario() -> ApiError:
        client, _ = make_client(handler)
        with pytest.raises(ApiError, match="redirect") as info:
            await client.list_segments()
        return info.value

    error = run(scenario())
    assert len(seen) == 1
    assert seen[0].url.host == "api.bigcommerce.com"
    assert "elsewhere.example" not in str(error)


# ---- other calls -------------------------------------------------------------------------


def test_create_and_update_segments_and_profiles() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(201, json={"data": [{"id": SEG, "name": "VIP"}]})

    async def scenario() -> None:
        client, _ = make_client(handler)
        assert await client.create_segments([{"name": "VIP"}]) == [{"id": SEG, "name": "VIP"}]
        await client.update_segments([{"id": SEG, "description": "d"}])
        await client.create_shopper_profiles([7, 8])
        with pytest.raises(ValueError):
            await client.create_segments([{"description": "no name"}])
        with pytest.raises(ValueError):
            await client.update_segments([{"name": "no id"}])
        with pytest.raises(ValueError):
            await client.create_shopper_profiles([0])

    run(scenario())
    assert [(r.method, rel(r)) for r in seen] == [
        ("POST", "/segments"),
        ("PUT", "/segments"),
        ("POST", "/shopper-profiles"),
    ]
    assert json.loads(seen[2].content) == [{"customer_id": 7}, {"customer_id": 8}]


def test_list_customers_filters_by_ids_or_emails_in_short_queries() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        wanted = request.url.params.get("id:in", "").split(",")
        return page([{"id": int(i)} for i in wanted if i])

    async def scenario() -> list[dict[str, Any]]:
        client, _ = make_client(handler)
        rows = await client.list_customers(ids=range(1, 2001))
        await client.list_customers(emails=["A@Example.com"])
        with pytest.raises(ValueError):
            await client.list_customers(ids=[1], emails=["a@b.c"])
        with pytest.raises(ValueError):
            await client.list_customers(emails=["a,b@c.d"])
        return rows

    rows = run(scenario())
    assert [r["id"] for r in rows] == list(range(1, 2001))
    id_requests = [r for r in seen if "id:in" in r.url.params]
    assert len(id_requests) > 1
    assert all(len(r.url.query) <= 4_000 for r in id_requests)
    assert all(r.url.params["include"] == "shopper_profile_id,segment_ids" for r in seen)
    # As spelled: the API does not say its filter ignores case.
    assert seen[-1].url.params["email:in"] == "A@Example.com"


def test_emails_are_looked_up_as_the_config_spells_them_once_per_address(
    tmp_path: Path,
) -> None:
    from reconciler.config import load_config
    from reconciler.customers import resolve_customers

    config = tmp_path / "segments.yaml"
    config.write_text(
        "version: 1\nsegments:\n  - name: VIP\n    shopper_profiles:\n"
        "      - email: User14@Example.com\n      - email: other@example.com\n"
        "  - name: B\n    shopper_profiles:\n      - email: USER14@example.COM\n"
    )
    desired = load_config(config).state
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        rows = [{"id": 14, "email": "User14@Example.com", "shopper_profile_id": None}]
        return page(rows)

    async def scenario() -> dict[int, Any]:
        client, _ = make_client(handler)
        return await resolve_customers(client, desired)

    assert set(run(scenario())) == {14}
    sent = sorted(r.url.params["email:in"] for r in seen)
    assert sent == ["USER14@example.COM,other@example.com"]


# ---- logging and token hygiene -----------------------------------------------------------


def test_debug_log_per_request_without_headers(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="reconciler.client")
    seen: list[httpx.Request] = []
    handler = sequence_handler([httpx.Response(503), page([])], seen)

    async def scenario() -> None:
        client, _ = make_client(handler)
        await client.list_segments()

    run(scenario())
    debug = [r.getMessage() for r in caplog.records if r.levelno == logging.DEBUG]
    assert len(debug) == 2
    assert debug[0].startswith("GET /segments?page=1&limit=250 -> 503 (")
    assert debug[1].startswith("GET /segments?page=1&limit=250 -> 200 (")
    assert debug[1].endswith(" ms)")
    retries = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert retries == [
        "retrying GET /segments in 1.0 s (attempt 2 of at most 7): the API answered 503"
    ]
    assert TOKEN not in caplog.text
    assert "X-Auth-Token" not in caplog.text


def test_the_token_never_reaches_any_log_over_a_real_connection(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A real HTTP exchange over loopback, with httpx and httpcore logging at DEBUG."""
    for name in ("httpx", "httpcore", "reconciler"):
        caplog.set_level(logging.DEBUG, logger=name)
    received: list[bytes] = []

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        received.append(await reader.readuntil(b"\r\n\r\n"))
        body = b'{"data": [], "meta": {"pagination": {"current_page": 1, "total_pages": 1}}}'
        writer.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
            + f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
            + body
        )
        await writer.drain()
        writer.close()

    async def scenario() -> None:
        server = await asyncio.start_server(serve, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        settings = ClientSettings(store_hash=STORE, token=TOKEN, api_url=f"http://127.0.0.1:{port}")
        async with server, BigCommerceClient(settings) as client:
            assert await client.list_segments() == []

    run(scenario())
    assert TOKEN.encode() in received[0]  # it was sent...
    assert any(r.name.startswith("httpcore") for r in caplog.records)  # ...logging was on...
    assert TOKEN not in caplog.text  # ...and never logged


def test_a_partial_422_naming_profiles_not_found_stays_about_those_profiles() -> None:
    # Only a 422 about the segment itself is taken for an unknown segment.
    pid = "00000000-0000-4000-8000-000000000002"
    body = {
        "title": "Some shopper profiles were not found",
        "errors": {"1": "Shopper profile not found"},
        "data": [{"id": "00000000-0000-4000-8000-000000000001"}],
        "meta": {"total": 2, "success": 1, "failed": 1},
    }

    async def scenario() -> None:
        client, _ = make_client(lambda r: httpx.Response(422, json=body))
        ids = ["00000000-0000-4000-8000-000000000001", pid]
        with pytest.raises(UnprocessableError) as err:
            await client.add_members(SEG, ids)
        assert err.value.item_errors == {pid: "Shopper profile not found"}

    run(scenario())
