"""Pacing against BigCommerce's per-store request quota.

Every app on a store shares one quota (e.g. 150 requests per 30 s window). Every response says
how many requests are left in the current window and when it resets; the limiter keeps that
picture and makes a request wait for the reset instead of provoking a 429 that would also hurt
the store's other apps. `rate_reserve` leaves some of each window to them.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Awaitable, Callable, Mapping

logger = logging.getLogger("reconciler.client")

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]

HEADER_LEFT = "X-Rate-Limit-Requests-Left"
HEADER_QUOTA = "X-Rate-Limit-Requests-Quota"
HEADER_RESET_MS = "X-Rate-Limit-Time-Reset-Ms"
HEADER_WINDOW_MS = "X-Rate-Limit-Time-Window-Ms"

# Sleep slightly past the announced reset: our clock and the server's are not the same clock.
RESET_MARGIN = 0.1
# Used only when the quota is known but no reset time is (should not happen with real headers).
DEFAULT_WINDOW = 30.0


def _int_header(headers: Mapping[str, str], name: str) -> int | None:
    value = headers.get(name)
    if value is None:
        return None
    try:
        return int(float(value))
    except ValueError:
        return None


class RateLimiter:
    """Shared request budget for one client; call `acquire()` before sending and
    `release(headers)` once the attempt is over (headers None when no response came)."""

    def __init__(
        self, reserve: int = 0, *, clock: Clock = time.monotonic, sleep: Sleep = asyncio.sleep
    ) -> None:
        if reserve < 0:
            raise ValueError("rate_reserve cannot be negative")
        self.reserve = reserve
        self._clock = clock
        self._sleep = sleep
        self._lock = asyncio.Lock()
        self._changed = asyncio.Event()
        self._in_flight = 0
        self._seen_response = False
        self._left: int | None = None
        self._quota: int | None = None
        self._reset_at: float | None = None
        self._window: float | None = None
        self._warned_reserve = False
        self.waits = 0  # how many times a request waited for a window reset
        self.waited = 0.0  # seconds spent waiting, by this limiter's clock

    @property
    def in_flight(self) -> int:
        return self._in_flight

    @property
    def left(self) -> int | None:
        return self._left

    @property
    def quota(self) -> int | None:
        return self._quota

    def _effective_reserve(self) -> int:
        # A reserve of the whole quota would stop us forever; keep at least one request.
        assert self._quota is not None
        return max(0, min(self.reserve, self._quota - 1))

    def _wait_needed(self) -> float | None:
        """None when one more request may go now; else how long to wait at most
        (math.inf: until the next response arrives)."""
        if not self._seen_response:
            # The first response tells the quota: until then, one request at a time.
            return None if self._in_flight == 0 else math.inf
        if self._quota is None or self._left is None:
            return None  # the server sends no quota headers: nothing to pace against
        now = self._clock()
        if self._reset_at is not None and now >= self._reset_at:
            # The window refreshed since the last response: assume the full quota until a
            # response says otherwise (the reset time is unknown until then).
            self._left, self._reset_at = self._quota, None
        if self._left - self._in_flight - 1 >= self._effective_reserve():
            return None
        if self._reset_at is None:
            if self._in_flight:
                return math.inf  # its answer will say when the window resets
            # Nothing on its way to say when the window resets (requests that got no
            # answer used the budget up): assume a whole window from now, then refresh.
            self._reset_at = now + (self._window or DEFAULT_WINDOW)
        return self._reset_at - now + RESET_MARGIN

    async def acquire(self) -> float:
        """Wait until one more request fits the budget and count it as in flight.
        Returns the seconds this call spent pausing for a window reset (0.0 if none)."""
        paused = 0.0
        async with self._lock:  # one decision at a time: waiters share one budget
            while (delay := self._wait_needed()) is not None:
                finite = not math.isinf(delay)
                if finite:
                    logger.info(
                        "pausing %.1f s until the rate-limit window resets "
                        "(%s of %s requests left, %d in flight, reserve %d)",
                        delay,
                        self._left,
                        self._quota,
                        self._in_flight,
                        self.reserve,
                    )
                started = self._clock()
                await self._wait(delay if finite else None)
                if finite:
                    paused += self._clock() - started
            if paused:
                self.waits += 1
                self.waited += paused
            self._in_flight += 1
        return paused

    async def _wait(self, delay: float | None) -> None:
        """Wait for the delay to pass or for a response to arrive, whichever comes first."""
        self._changed.clear()
        tasks: set[asyncio.Future[object]] = {asyncio.ensure_future(self._changed.wait())}
        if delay is not None:
            tasks.add(asyncio.ensure_future(self._sleep(max(delay, 0.0))))
        try:
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in tasks:
                task.cancel()

    def release(self, headers: Mapping[str, str] | None, *, throttled: bool = False) -> None:
        """`headers` None: no answer came. `throttled`: the answer was a 429 or a 5xx,
        which says nothing about the quota unless it carries the headers."""
        self._in_flight = max(0, self._in_flight - 1)
        if headers is not None:
            if not throttled or headers.get(HEADER_LEFT) is not None:
                self._seen_response = True  # else the next request is a probe again
            self.observe(headers)
        elif self._left is not None:
            # No answer (cancelled on its way, connection lost): the store may have counted
            # it all the same. Count it: at worst one request of this window goes unused.
            self._left = max(0, self._left - 1)
        self._changed.set()

    def observe(self, headers: Mapping[str, str]) -> None:
        """Update the budget from one response's headers."""
        left = _int_header(headers, HEADER_LEFT)
        if left is None:
            return
        quota = _int_header(headers, HEADER_QUOTA)
        reset_ms = _int_header(headers, HEADER_RESET_MS)
        window_ms = _int_header(headers, HEADER_WINDOW_MS)
        if quota is not None:
            self._quota = quota
            if self.reserve >= quota and not self._warned_reserve:
                self._warned_reserve = True
                logger.warning(
                    "the rate reserve (%d) is not below the store's quota of %d requests "
                    "a window: reserving %d, so this run can still send one request a window",
                    self.reserve,
                    quota,
                    max(0, quota - 1),
                )
        elif self._quota is None:
            self._quota = left  # the best lower bound we have
        if window_ms is not None:
            self._window = window_ms / 1000
        if reset_ms is None:
            self._left = left if self._left is None else min(self._left, left)
            return
        window = self._window or DEFAULT_WINDOW
        # A reset further off than a window is nonsense: never pause longer than a window.
        reset_at = self._clock() + min(reset_ms / 1000, window)
        # Each answer's reset time, seen from here, is the true one plus the time the answer
        # took to come back, so answers of one window disagree by their delays: windows
        # start a whole window apart, so only a reset over half a window later is a new
        # window, and over half a window earlier a straggler from the last one (no news).
        # In the same window the lowest count and the earliest reset are the truth.
        if self._reset_at is None or self._left is None or reset_at > self._reset_at + window / 2:
            self._left, self._reset_at = left, reset_at
        elif reset_at >= self._reset_at - window / 2:
            self._left, self._reset_at = min(self._left, left), min(self._reset_at, reset_at)
