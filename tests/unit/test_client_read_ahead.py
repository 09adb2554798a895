"""Reading ahead: the pages after page 1 requested alongside it, before it says how many
there are (client._each_page), and how many to ask for per segment (live.pages_ahead)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from reconciler.client import BigCommerceClient, ClientSettings
from reconciler.errors import AuthenticationError, NotFoundError, PermissionDeniedError
from reconciler.live import Members, pages_ahead, read_live, read_members
from reconciler.model import DesiredSegment, DesiredState

SEG = "dfada416-eba1-49cf-ad21-0f48b48d50ad"
OTHER = "0a3c1f52-9d7e-4b8a-a1c2-3e4f5a6b7c8d"
Handler = Callable[[httpx.Request], Coroutine[None, None, httpx.Response]]


def client_for(handler: Handler, **settings: Any) -> BigCommerceClient:
    """`handler` answers the member pages; the segment list is empty."""

    async def route(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/segments"):
            return httpx.Response(200, json={"data": []})
        return await handler(request)

    return BigCommerceClient(
        ClientSettings(store_hash="abc123", token="tok3nSECRETvalue42", **settings),
        transport=httpx.MockTransport(route),
    )


async def answered_once(client: BigCommerceClient) -> BigCommerceClient:
    """Until the store's first answer tells the quota, the client sends one request at a
    time (pacing's probe); in a plan, that answer is the segment list's."""
    await client.list_segments()
    return client


def run(coro: Coroutine[Any, Any, Any]) -> Any:
    return asyncio.run(asyncio.wait_for(coro, timeout=10))


def page_of(request: httpx.Request, total_pages: int) -> httpx.Response:
    number = int(request.url.params["page"])
    rows = [{"id": f"m{number}-{i}"} for i in range(2)] if number <= total_pages else []
    pagination = {"current_page": number, "total_pages": total_pages}
    return httpx.Response(200, json={"data": rows, "meta": {"pagination": pagination}})


async def read(client: BigCommerceClient, ahead: int) -> dict[int, list[str]]:
    taken: dict[int, list[str]] = {}

    def take(number: int, rows: list[dict[str, Any]]) -> None:
        assert number not in taken, f"page {number} handed over twice"
        taken[number] = [r["id"] for r in rows]

    await answered_once(client)
    await client.each_segment_member_page(SEG, take, ahead=ahead)
    return taken


# ---- the client --------------------------------------------------------------------------


def test_pages_read_ahead_are_sent_before_page_1_is_answered() -> None:
    """Page 1 is held until pages 2 and 3 have arrived: without reading ahead they would
    wait for it, and the read would time out."""
    asked: list[int] = []
    both_here = asyncio.Event()

    async def handler(request: httpx.Request) -> httpx.Response:
        number = int(request.url.params["page"])
        asked.append(number)
        if {2, 3} <= set(asked):
            both_here.set()
        if number == 1:
            await both_here.wait()
        return page_of(request, 5)

    taken = run(read(client_for(handler), ahead=2))
    assert asked[0] == 1  # page 1 takes its slot first
    assert sorted(asked) == [1, 2, 3, 4, 5]  # every page asked for once
    assert taken == {n: [f"m{n}-0", f"m{n}-1"] for n in range(1, 6)}


def test_pages_read_ahead_past_the_end_come_back_empty_and_cost_nothing_else() -> None:
    asked: list[int] = []
    all_asked = asyncio.Event()

    async def handler(request: httpx.Request) -> httpx.Response:
        asked.append(int(request.url.params["page"]))
        if len(asked) == 5:
            all_asked.set()
        if asked[-1] == 1:
            await all_asked.wait()  # page 1 answers last: every page read ahead went out
        return page_of(request, 2)

    taken = run(read(client_for(handler), ahead=4))
    assert sorted(asked) == [1, 2, 3, 4, 5]  # 3 wasted, nothing asked for after page 1
    assert {n: rows for n, rows in taken.items() if rows} == {
        1: ["m1-0", "m1-1"],
        2: ["m2-0", "m2-1"],
    }


def test_pages_read_ahead_past_the_end_not_sent_yet_are_never_sent() -> None:
    """With 2 requests in flight at most, pages 3 to 7 wait for a slot behind page 1 and
    page 2; page 1 says 2 pages: they are dropped before they go out."""
    asked: list[int] = []

    async def handler(request: httpx.Request) -> httpx.Response:
        asked.append(int(request.url.params["page"]))
        await asyncio.sleep(0.01)
        return page_of(request, 2)

    assert sorted(run(read(client_for(handler, max_in_flight=2), ahead=6))) == [1, 2]
    assert sorted(asked) == [1, 2]


def test_pages_read_ahead_past_the_end_still_on_their_way_are_cancelled() -> None:
    """Page 1 answers at once and says 2 pages: pages 3 to 5, not yet answered (or sent),
    are dropped; the read does not wait for them."""
    asked: list[int] = []

    async def handler(request: httpx.Request) -> httpx.Response:
        asked.append(int(request.url.params["page"]))
        if asked[-1] > 2:
            await asyncio.sleep(5)
        return page_of(request, 2)

    async def scenario() -> dict[int, list[str]]:
        before = asyncio.all_tasks()
        taken = await asyncio.wait_for(read(client_for(handler), ahead=4), 1)
        assert asyncio.all_tasks() == before
        return taken

    assert sorted(run(scenario())) == [1, 2]
    assert 2 in asked and set(asked) <= {1, 2, 3, 4, 5}


def test_an_api_that_refuses_a_page_past_the_end_fails_nothing() -> None:
    async def handler(request: httpx.Request) -> httpx.Response:
        if int(request.url.params["page"]) > 2:
            return httpx.Response(404, json={"status": 404, "title": "No such page"})
        return page_of(request, 2)

    taken = run(read(client_for(handler), ahead=3))
    assert sorted(taken) == [1, 2]


def test_a_page_read_ahead_within_the_end_that_fails_fails_the_read() -> None:
    async def handler(request: httpx.Request) -> httpx.Response:
        if int(request.url.params["page"]) == 3:
            return httpx.Response(404, json={"status": 404, "title": "Gone"})
        return page_of(request, 4)

    with pytest.raises(NotFoundError):
        run(read(client_for(handler), ahead=3))


def test_when_page_1_fails_the_pages_read_ahead_are_dropped_with_it() -> None:
    async def handler(request: httpx.Request) -> httpx.Response:
        if request.url.params["page"] == "1":
            return httpx.Response(401)
        await asyncio.sleep(5)  # still on the network when page 1's answer arrives
        return page_of(request, 3)

    async def scenario() -> None:
        before = asyncio.all_tasks()
        with pytest.raises(AuthenticationError):
            await read(client_for(handler), ahead=2)
        # Nothing left running: the pages read ahead were cancelled, not orphaned.
        assert asyncio.all_tasks() == before

    run(scenario())


def test_a_refused_page_size_falls_back_to_50_and_drops_the_pages_read_ahead() -> None:
    events: list[str] = []

    async def handler(request: httpx.Request) -> httpx.Response:
        limit, number = int(request.url.params["limit"]), int(request.url.params["page"])
        events.append(f"ask {number}@{limit}")
        if limit == 250:
            await asyncio.sleep(0.01 * number)  # the pages read ahead are refused later
            return httpx.Response(422, json={"status": 422, "title": "limit must be at most 50"})
        if number == 1:
            await asyncio.sleep(0.01)
            events.append("answer 1@50")
        return page_of(request, 3)

    client = client_for(handler)

    async def scenario() -> dict[int, list[str]]:
        before = asyncio.all_tasks()
        taken = await read(client, ahead=2)
        assert asyncio.all_tasks() == before  # the refused pages read ahead are not orphaned
        return taken

    taken = run(scenario())
    assert client.page_size == 50
    assert sorted(taken) == [1, 2, 3]
    at_50 = [e for e in events if e.endswith("@50")]
    assert at_50[:2] == ["ask 1@50", "answer 1@50"]  # no read-ahead at 50: page 1 alone first
    assert sorted(at_50[2:]) == ["ask 2@50", "ask 3@50"]


async def page_1_only_answers(request: httpx.Request) -> httpx.Response:
    """Page 1 of 5 is answered at once; the others stay on their way (5 s)."""
    if request.url.params["page"] != "1":
        await asyncio.sleep(5)
    return page_of(request, 5)


def page_1_after_page_3(
    asked: list[int], first_page_3: Callable[[httpx.Request], httpx.Response], total: int
) -> Handler:
    """Page 1 is answered only once page 3, read ahead, has been, by `first_page_3` the
    first time; every other answer is a page of `total` pages. `asked` records pages."""
    answered = asyncio.Event()

    async def handler(request: httpx.Request) -> httpx.Response:
        number = int(request.url.params["page"])
        asked.append(number)
        if number == 1:
            await answered.wait()
        if number == 3 and not answered.is_set():
            answered.set()
            return first_page_3(request)
        return page_of(request, total)

    return handler


def test_a_page_past_the_end_that_fails_is_dropped_not_retried() -> None:
    """Page 3, read ahead, meets a 503 (retried after a pause) or a lost connection; page 1
    then says there are 2 pages: the read ends at once, without its retries or its error."""
    asked: list[int] = []
    handler = page_1_after_page_3(asked, lambda request: httpx.Response(503), total=2)
    taken = run(read(client_for(handler), ahead=2))
    assert sorted(taken) == [1, 2]
    assert sorted(asked) == [1, 2, 3]  # page 3 once: its retry was cancelled


def test_pages_past_the_end_already_sent_keep_their_slots_until_answered() -> None:
    """The store serves a request it received whatever the client does next: pages read
    ahead and on their way when page 1 says there is only one page are let finish, so the
    next requests never make 11 at once at the store (the 10-concurrent limit's 429)."""
    at_store = peak = 0

    async def handler(request: httpx.Request) -> httpx.Response:
        async def serve() -> httpx.Response:
            nonlocal at_store, peak
            at_store += 1
            peak = max(peak, at_store)
            try:
                first = request.url.params.get("page") == "1"
                await asyncio.sleep(0.001 if first else 0.05)
                return page_of(request, 1)
            finally:
                at_store -= 1

        # Served in a task of its own: a client that hangs up does not stop the store.
        return await asyncio.shield(asyncio.ensure_future(serve()))

    async def scenario() -> dict[int, list[str]]:
        client = client_for(handler)
        taken = await read(client, ahead=9)
        await asyncio.gather(*(client.count_segment_members(SEG) for _ in range(10)))
        return taken

    assert sorted(run(scenario())) == [1]
    assert peak == 10


@pytest.mark.parametrize("answer", ["empty", "refused"])
def test_a_page_answered_before_the_segment_grew_is_asked_for_again(answer: str) -> None:
    """Page 3, read ahead, is answered while the segment has 2 pages (empty, or refused as
    out of range); page 1, answered after it grew, says 3: page 3 is read again, not lost."""
    asked: list[int] = []

    def before_it_grew(request: httpx.Request) -> httpx.Response:
        if answer == "refused":
            return httpx.Response(404, json={"status": 404, "title": "No such page"})
        return page_of(request, 2)

    handler = page_1_after_page_3(asked, before_it_grew, total=3)
    taken = run(read(client_for(handler), ahead=2))
    assert taken == {n: [f"m{n}-0", f"m{n}-1"] for n in range(1, 4)}
    assert sorted(asked) == [1, 2, 3, 3]


def test_a_take_that_fails_on_page_1_leaves_no_page_read_ahead_running() -> None:
    def take(number: int, rows: list[dict[str, Any]]) -> None:
        raise KeyError("id")

    async def scenario() -> None:
        client = await answered_once(client_for(page_1_only_answers))
        before = asyncio.all_tasks()
        with pytest.raises(KeyError):
            await client.each_segment_member_page(SEG, take, ahead=2)
        assert asyncio.all_tasks() == before

    run(scenario())


def test_a_read_cancelled_right_after_page_1_leaves_no_page_read_ahead_running() -> None:
    async def scenario() -> None:
        client = await answered_once(client_for(page_1_only_answers))
        loop = asyncio.get_running_loop()

        def take(number: int, rows: list[dict[str, Any]]) -> None:
            if number == 1:  # the cancel lands before the pages read ahead are collected
                loop.call_soon(reader.cancel)

        reader = asyncio.ensure_future(client.each_segment_member_page(SEG, take, ahead=2))
        before = asyncio.all_tasks() - {reader}
        with pytest.raises(asyncio.CancelledError):
            await reader
        assert asyncio.all_tasks() == before

    run(scenario())


def test_one_segment_failing_cancels_the_other_segments_reads() -> None:
    asked: list[tuple[str, int]] = []

    async def handler(request: httpx.Request) -> httpx.Response:
        segment, number = request.url.path.split("/")[-2], int(request.url.params["page"])
        asked.append((segment, number))
        if segment == SEG:
            return httpx.Response(403)
        await asyncio.sleep(0.05)
        return page_of(request, 8)

    async def scenario() -> None:
        client = await answered_once(client_for(handler))
        before = asyncio.all_tasks()
        with pytest.raises(PermissionDeniedError):
            await read_members(client, [SEG, OTHER], {SEG: 2000, OTHER: 2000})
        assert asyncio.all_tasks() == before
        await asyncio.sleep(0.1)  # nothing sent after the failure

    run(scenario())
    assert sorted(n for s, n in asked if s == OTHER) == [1, 2, 3, 4]  # page 1 + 3 read ahead


def test_read_members_reads_ahead_from_expected_counts_within_ten_in_flight() -> None:
    """Two segments of 10 pages, 2,500 members expected each: the first round carries
    both first pages and 8 pages read ahead (4 each), and nothing beyond 10 in flight."""
    open_now = peak = 0
    first_round: list[str] = []
    released = asyncio.Event()

    async def handler(request: httpx.Request) -> httpx.Response:
        nonlocal open_now, peak
        open_now += 1
        peak = max(peak, open_now)
        if not released.is_set():
            first_round.append(
                f"{request.url.path.split('/')[-2][:4]}:{request.url.params['page']}"
            )
            if len(first_round) == 10:
                released.set()
            await released.wait()
        await asyncio.sleep(0.001)
        open_now -= 1
        return page_of(request, 10)

    async def scenario() -> Members:
        client = await answered_once(client_for(handler))
        expected = {SEG: 2500, OTHER: 2500}
        return await read_members(client, expected, expected)

    result = run(scenario())
    assert sorted(first_round) == sorted(
        f"{sid[:4]}:{n}" for sid in (SEG, OTHER) for n in range(1, 6)
    )
    assert peak == 10
    assert {sid: len(m) for sid, m in result.members.items()} == {SEG: 20, OTHER: 20}


def test_each_segment_is_handed_over_as_soon_as_its_own_pages_are_in() -> None:
    """The other segment's pages are held until the first segment has been handed over:
    handed over only once every read ended, the read would time out."""
    first_done = asyncio.Event()
    handed: list[tuple[str, int]] = []

    async def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.split("/")[-2] == OTHER:
            await first_done.wait()
        return page_of(request, 3)

    def on_read(sid: str, members: frozenset[str]) -> None:
        handed.append((sid, len(members)))
        first_done.set()

    async def scenario() -> Members:
        client = await answered_once(client_for(handler))
        return await read_members(client, [SEG, OTHER], {SEG: 750, OTHER: 750}, on_read)

    result = run(scenario())
    assert handed == [(SEG, 6), (OTHER, 6)]
    assert {sid: len(m) for sid, m in result.members.items()} == {SEG: 6, OTHER: 6}


def test_read_live_hands_over_each_declared_segment_that_exists_with_its_members() -> None:
    async def route(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/segments"):
            rows = [{"id": SEG, "name": "VIP"}, {"id": OTHER, "name": "Other"}]
            return httpx.Response(200, json={"data": rows})
        return page_of(request, 1)

    vip = DesiredSegment(name="VIP", id=None, profiles=frozenset())
    pinned = DesiredSegment(name="Renamed", id=OTHER, profiles=frozenset())
    new = DesiredSegment(name="New", id=None, profiles=frozenset())
    handed: list[tuple[DesiredSegment, frozenset[str]]] = []

    async def scenario() -> None:
        client = BigCommerceClient(
            ClientSettings(store_hash="abc123", token="tok3nSECRETvalue42"),
            transport=httpx.MockTransport(route),
        )
        state = DesiredState(segments=(vip, pinned, new))
        await read_live(client, state, lambda d, members: handed.append((d, members)))

    run(scenario())
    assert sorted(handed, key=lambda h: str(h[0].name)) == [
        (pinned, frozenset({"m1-0", "m1-1"})),
        (vip, frozenset({"m1-0", "m1-1"})),
    ]


# ---- how many pages to read ahead ----------------------------------------------------------


def test_pages_ahead_fills_the_free_slots_largest_segment_first() -> None:
    counts = {"a": 25_000, "b": 25_000, "c": 30_000, "d": 25_000}
    assert pages_ahead(counts, 250, free=6) == {"a": 2, "b": 1, "c": 2, "d": 1}


@pytest.mark.parametrize(
    ("count", "room"),
    [(0, 0), (250, 0), (500, 0), (501, 1), (1000, 1), (1001, 2), (2500, 4)],
)
def test_pages_ahead_asks_only_for_pages_half_the_expected_members_would_fill(
    count: int, room: int
) -> None:
    assert pages_ahead({"a": count}, 250, free=9) == {"a": room}


def test_no_free_slot_no_read_ahead() -> None:
    assert pages_ahead({"a": 100_000, "b": 100_000}, 250, free=0) == {"a": 0, "b": 0}
    assert pages_ahead({"a": 100_000}, 250, free=-3) == {"a": 0}


@given(
    counts=st.dictionaries(st.text(max_size=3), st.integers(0, 10_000), max_size=12),
    size=st.sampled_from([50, 250]),
    free=st.integers(-2, 9),
)
def test_pages_ahead_never_overfills_and_shares_evenly(
    counts: dict[str, int], size: int, free: int
) -> None:
    ahead = pages_ahead(counts, size, free)
    room = {sid: max(0, -(-count // (2 * size)) - 1) for sid, count in counts.items()}
    assert set(ahead) == set(counts)
    assert all(0 <= ahead[sid] <= room[sid] for sid in counts)
    # Every free slot is used while some segment has room for more.
    assert sum(ahead.values()) == min(max(free, 0), sum(room.values()))
    # Shared a page at a time, largest first: among segments short of their room, the
    # counts differ by at most one and a larger segment never has fewer.
    short = [sid for sid in counts if ahead[sid] < room[sid]]
    for a in short:
        for b in short:
            assert abs(ahead[a] - ahead[b]) <= 1
            if counts[a] > counts[b]:
                assert ahead[a] >= ahead[b]
