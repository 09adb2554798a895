"""The rate limiter, on a fake clock: it pauses before the quota runs out, not after a 429."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any

import pytest

from reconciler.pacing import RESET_MARGIN, RateLimiter


class FakeTime:
    def __init__(self) -> None:
        self.now = 1_000.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
        await asyncio.sleep(0)


def quota_headers(
    left: int, quota: int = 10, reset_ms: int = 5_000, window_ms: int = 30_000
) -> dict[str, str]:
    return {
        "X-Rate-Limit-Requests-Left": str(left),
        "X-Rate-Limit-Requests-Quota": str(quota),
        "X-Rate-Limit-Time-Reset-Ms": str(reset_ms),
        "X-Rate-Limit-Time-Window-Ms": str(window_ms),
    }


def run(coro: Coroutine[Any, Any, None]) -> None:
    asyncio.run(asyncio.wait_for(coro, timeout=5))


def limiter(reserve: int = 0) -> tuple[RateLimiter, FakeTime]:
    t = FakeTime()
    return RateLimiter(reserve, clock=t.clock, sleep=t.sleep), t


def test_only_one_request_goes_before_the_first_response_tells_the_quota() -> None:
    async def scenario() -> None:
        lim, _ = limiter()
        await lim.acquire()
        second = asyncio.create_task(lim.acquire())
        await asyncio.sleep(0.01)
        assert not second.done()
        lim.release(quota_headers(left=9))
        await asyncio.wait_for(second, 1)
        assert lim.in_flight == 1

    run(scenario())


def test_a_failed_probe_lets_the_next_request_probe() -> None:
    async def scenario() -> None:
        lim, _ = limiter()
        await lim.acquire()
        second = asyncio.create_task(lim.acquire())
        await asyncio.sleep(0.01)
        lim.release(None)  # connection error: no headers, quota still unknown
        await asyncio.wait_for(second, 1)
        third = asyncio.create_task(lim.acquire())
        await asyncio.sleep(0.01)
        assert not third.done()
        lim.release(quota_headers(left=9))
        await asyncio.wait_for(third, 1)

    run(scenario())


def test_pauses_until_the_window_resets_instead_of_exceeding_the_quota() -> None:
    async def scenario() -> None:
        lim, t = limiter()
        await lim.acquire()
        lim.release(quota_headers(left=3, reset_ms=5_000))
        for _ in range(3):  # exactly what is left: no waiting
            await lim.acquire()
        assert t.sleeps == []
        assert lim.in_flight == 3
        await lim.acquire()  # a fourth would exceed the quota: wait for the reset
        assert t.sleeps == [pytest.approx(5.0 + RESET_MARGIN)]
        assert lim.waits == 1
        assert lim.waited == pytest.approx(5.0 + RESET_MARGIN)
        assert lim.left == 10  # assumed refreshed until a response says otherwise

    run(scenario())


def test_leaves_the_reserve_to_other_apps() -> None:
    async def scenario() -> None:
        lim, t = limiter(reserve=3)
        await lim.acquire()
        lim.release(quota_headers(left=5))
        await lim.acquire()  # 5 left -> 4 after this one
        await lim.acquire()  # -> 3, the reserve
        assert t.sleeps == []
        await lim.acquire()  # -> 2 would eat into the reserve
        assert len(t.sleeps) == 1

    run(scenario())


def test_a_reserve_as_large_as_the_quota_still_lets_one_request_through() -> None:
    async def scenario() -> None:
        lim, t = limiter(reserve=50)
        await lim.acquire()
        lim.release(quota_headers(left=10, quota=10))
        await lim.acquire()
        assert t.sleeps == []
        lim.release(quota_headers(left=9, quota=10))
        await lim.acquire()  # only 1 of each window is ours
        assert len(t.sleeps) == 1

    run(scenario())


def test_a_reserve_as_large_as_the_quota_is_said_once(caplog: pytest.LogCaptureFixture) -> None:
    lim, _ = limiter(reserve=50)
    with caplog.at_level("WARNING", logger="reconciler.client"):
        lim.observe(quota_headers(left=10, quota=10))
        lim.observe(quota_headers(left=9, quota=10))
    assert [r.getMessage() for r in caplog.records] == [
        "the rate reserve (50) is not below the store's quota of 10 requests a window: "
        "reserving 9, so this run can still send one request a window"
    ]


def test_a_reserve_below_the_quota_is_not_mentioned(caplog: pytest.LogCaptureFixture) -> None:
    lim, _ = limiter(reserve=9)
    with caplog.at_level("WARNING", logger="reconciler.client"):
        lim.observe(quota_headers(left=10, quota=10))
    assert caplog.records == []


def test_a_429_empties_the_budget_for_everyone_until_the_reset() -> None:
    async def scenario() -> None:
        lim, t = limiter()
        await lim.acquire()
        lim.release(quota_headers(left=0, reset_ms=2_000))
        await lim.acquire()
        assert t.sleeps == [pytest.approx(2.0 + RESET_MARGIN)]

    run(scenario())


def test_no_quota_headers_means_no_pacing() -> None:
    async def scenario() -> None:
        lim, t = limiter(reserve=5)
        await lim.acquire()
        lim.release({})
        for _ in range(100):
            await lim.acquire()
        assert t.sleeps == []
        assert lim.in_flight == 100

    run(scenario())


def test_lowest_count_of_the_same_window_wins_and_stragglers_are_ignored() -> None:
    async def scenario() -> None:
        lim, t = limiter()
        await lim.acquire()
        lim.release(quota_headers(left=8, reset_ms=10_000))
        t.now += 0.2
        lim.observe(quota_headers(left=9, reset_ms=9_850))  # same window, answered late
        assert lim.left == 8
        t.now += 10.0
        lim.observe(quota_headers(left=9, reset_ms=29_000))  # a new window
        assert lim.left == 9
        lim.observe(quota_headers(left=2, reset_ms=100))  # straggler from the old window
        assert lim.left == 9

    run(scenario())


def test_requests_in_flight_count_against_the_budget() -> None:
    async def scenario() -> None:
        lim, t = limiter()
        await lim.acquire()
        lim.release(quota_headers(left=4))
        waiters = [asyncio.create_task(lim.acquire()) for _ in range(6)]
        await asyncio.sleep(0.01)
        # 4 left: 4 go at once, the other 2 wait for the reset (fake time moves on).
        await asyncio.wait_for(asyncio.gather(*waiters), 1)
        assert len(t.sleeps) == 1
        assert lim.in_flight == 6

    run(scenario())


def test_a_request_that_got_no_answer_counts_against_the_budget() -> None:
    """Cancelled on its way (a page read ahead past the end) or cut off: the store may
    have counted it, so it is counted; otherwise the next ones would exceed the quota."""

    async def scenario() -> None:
        lim, t = limiter()
        await lim.acquire()
        lim.release(quota_headers(left=4))
        for _ in range(2):
            await lim.acquire()
            lim.release(None)
        assert lim.left == 2
        await asyncio.wait_for(asyncio.gather(*(lim.acquire() for _ in range(2))), 1)
        assert t.sleeps == []
        await lim.acquire()  # a third would make 5 of 4: it waits for the reset
        assert len(t.sleeps) == 1

    run(scenario())


def test_requests_that_got_no_answer_after_a_refresh_never_stop_it_for_good() -> None:
    """The window refreshed (its reset time unknown until an answer), then every request
    went unanswered (a network blip) until the assumed budget was spent: with nothing on
    its way to say when the window resets, it waits one window, then goes on."""

    async def scenario() -> None:
        lim, t = limiter()
        await lim.acquire()
        lim.release(quota_headers(left=9, reset_ms=1_000))
        t.now += 2  # the window has refreshed
        for _ in range(10):
            await lim.acquire()
            lim.release(None)
        assert lim.left == 0
        await asyncio.wait_for(lim.acquire(), 1)
        assert t.sleeps == [pytest.approx(30 + RESET_MARGIN)]

    run(scenario())


def test_an_answer_that_comes_back_late_is_not_taken_for_a_new_window() -> None:
    """Its reset time, seen from here, is later by its delay (2 s) and its count is higher
    (it was counted early): the lower count of the same window stands."""

    async def scenario() -> None:
        lim, t = limiter()
        await lim.acquire()
        lim.release(quota_headers(left=5, reset_ms=20_000))
        t.now += 2.0
        lim.observe(quota_headers(left=8, reset_ms=20_000))  # counted before the others
        assert lim.left == 5
        lim.observe(quota_headers(left=4, reset_ms=18_000))  # a timely one still counts
        assert lim.left == 4
        t.now += 18.2  # the window's earliest reset time (plus the margin) has passed
        await lim.acquire()
        assert lim.left == 10  # refreshed: not held until the late answer's reset

    run(scenario())


def test_a_pause_never_lasts_longer_than_a_window() -> None:
    async def scenario() -> None:
        lim, t = limiter()
        await lim.acquire()
        lim.release(quota_headers(left=0, reset_ms=86_400_000, window_ms=30_000))
        await lim.acquire()
        assert t.sleeps == [pytest.approx(30 + RESET_MARGIN)]

    run(scenario())


def test_a_throttled_first_answer_without_the_quota_keeps_requests_one_at_a_time() -> None:
    """A bare 429 or 5xx (platform load) tells nothing about the quota: the next request
    probes alone again instead of all those waiting going at once."""

    async def scenario() -> None:
        lim, _ = limiter()
        await lim.acquire()
        lim.release({}, throttled=True)
        await lim.acquire()
        second = asyncio.ensure_future(lim.acquire())
        await asyncio.sleep(0.01)
        assert not second.done()
        lim.release(quota_headers(left=8))
        await asyncio.wait_for(second, 1)

    run(scenario())


def test_negative_reserve_is_refused() -> None:
    with pytest.raises(ValueError):
        RateLimiter(-1)
