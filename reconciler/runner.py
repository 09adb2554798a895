"""The core of each command that talks to the store, behind the thin CLI: build the
plan, check a saved plan is still fresh, run apply with signal handling."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import TypeVar

from reconciler import __version__
from reconciler.client import BigCommerceClient, ClientSettings, cancel_and_wait
from reconciler.config import config_digest
from reconciler.customers import (
    describe_members,
    first_shown,
    likely_described,
    lookup_customers,
)
from reconciler.errors import (
    ApplyInterruptedError,
    NotFoundError,
    PlanFileError,
    StalePlanError,
    UnprocessableError,
)
from reconciler.live import read_live, read_members, read_segments
from reconciler.model import DesiredSegment, DesiredState
from reconciler.plan import Plan, compute_plan, membership_digest

T = TypeVar("T")


async def make_plan(client: BigCommerceClient, desired: DesiredState) -> Plan:
    # The digest sorts every declared member (60 ms at 100,000): a thread does it while
    # the first request waits on the network, once that request is written out (the
    # thread holds the interpreter, and sending the first request is work too).
    # Each segment's first adds and removals are found as soon as it is read, not all
    # once the last one is (5 ms a segment at 25,000 members, before the look-up can go).
    early: dict[DesiredSegment, list[str]] = {}

    def segment_read(d: DesiredSegment, current: frozenset[str]) -> None:
        if not d.customers:  # customers named need the customers read: done at the end
            early[d] = first_shown(d, current)

    read = asyncio.ensure_future(read_live(client, desired, segment_read))
    try:
        await client.request_written(during=read)
        digested = await asyncio.to_thread(config_digest, desired)
        live = await read
    finally:
        await cancel_and_wait([read])  # stopped while digesting: the read is moot
    # The plan lists its first adds and removals with their emails; live members' emails
    # are not known. They are looked up while the plan is computed (sorting and comparing
    # every member: 70 ms at 100,000), not after it.
    asked = likely_described(desired, live, early)
    lookup = asyncio.ensure_future(lookup_customers(client, ids=asked))
    try:
        await client.request_written(during=lookup)
        plan = compute_plan(
            desired,
            live,
            store_hash=client.settings.store_hash,
            config_digest=digested,
            created_at=datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
            tool_version=__version__,
        )
        found = await lookup
    finally:
        await cancel_and_wait([lookup])  # the plan failed or the run was stopped
    return await describe_members(client, plan, asked=asked, found=found)


def check_store(plan: Plan, settings: ClientSettings) -> None:
    if plan.store_hash != settings.store_hash:
        raise PlanFileError(
            f'the plan was made for store "{plan.store_hash}", not "{settings.store_hash}"; '
            "refusing to apply it here"
        )


async def check_fresh(client: BigCommerceClient, plan: Plan) -> None:
    """Refuse a saved plan if any segment it changes moved since the plan was made: its
    members, its name or an attribute it updates, or, for one it creates, its name now
    being taken."""
    changed = plan.changed
    reread = [s for s in changed if s.has_member_changes and s.segment_id is not None]
    stale = []
    gone: set[str] = set()
    if changed:
        live = {s.id: s for s in await read_segments(client)}
        names = {s.name: s.id for s in live.values()}
        for seg in changed:
            if seg.create and seg.name in names:
                # Perhaps by this very plan, applied before: either way it is not to create.
                stale.append(f'segment "{seg.name}" exists now (made since the plan was)')
                continue
            current = live.get(seg.segment_id or "")
            if seg.segment_id is not None and current is None:
                stale.append(f'segment "{seg.name}" no longer exists')
                gone.add(seg.segment_id)
                continue
            for change in seg.changes:
                if getattr(current, change.field, None) != change.old:
                    stale.append(f'segment "{seg.name}": its {change.field} changed')
            renamed = seg.change("name")
            if not seg.pinned and current is not None and current.name != seg.name:
                # A segment declared by name is that name: under another, it is no longer
                # the one the config declares (the next plan would create a new one).
                # Declared by id, the id is its identity: a rename does not move it.
                stale.append(f'segment "{seg.name}": renamed to "{current.name}"')
            if (
                renamed is not None
                and names.get(str(renamed.new), seg.segment_id) != seg.segment_id
            ):
                # The store would refuse the rename half-way through the apply.
                stale.append(f'segment "{seg.name}": another segment is named "{renamed.new}" now')
    reread = [s for s in reread if s.segment_id not in gone]
    try:
        read = await read_members(client, (s.segment_id for s in reread if s.segment_id))
    except (NotFoundError, UnprocessableError):
        # A segment deleted since (404, or 422 from some stores): say which, with the
        # rest, rather than the bare refusal.
        present = {s.id for s in await read_segments(client)}
        missing = [s for s in reread if s.segment_id not in present]
        if not missing:
            raise
        stale += [f'segment "{s.name}" no longer exists' for s in missing]
        raise _stale(stale) from None
    for seg in reread:
        assert seg.segment_id is not None
        now = read.members[seg.segment_id]
        if membership_digest(now) == seg.live_digest:
            continue
        then = frozenset(seg.live_members)
        added, removed = len(now - then), len(then - now)
        stale.append(
            f'segment "{seg.name}": {added} member{"" if added == 1 else "s"} added, '
            f"{removed} removed since the plan was made"
        )
    if stale:
        raise _stale(stale)


def _stale(reasons: list[str]) -> StalePlanError:
    return StalePlanError(
        "the store changed since the plan was made, nothing was applied; "
        + "; ".join(reasons)
        + ". Make a new plan"
    )


def run_with_client(
    settings: ClientSettings, body: Callable[[BigCommerceClient], Awaitable[T]]
) -> T:
    async def main() -> T:
        async with BigCommerceClient(settings) as client:
            return await body(client)

    return asyncio.run(main())


SIGNALS = (signal.SIGINT, signal.SIGTERM)


def _second_stops(signum: int, frame: object) -> None:
    """After the run: the first signal is let pass (the summary and the report are being
    written), the next one stops at once."""
    for sig in SIGNALS:
        signal.signal(sig, signal.default_int_handler)


class Interrupts:
    """Ctrl-C and SIGTERM during an apply. While it only reads (the plan, a saved plan's
    freshness), the first stops it at once: nothing was changed. Once it writes, the
    first sets `stop` (finish the requests in flight, dispatch nothing new) and a second
    cancels at once. Either way the next apply converges."""

    def __init__(self, on_first_signal: Callable[[], None]) -> None:
        self.stop = asyncio.Event()
        self.writing = False
        self.stopped_reading = False
        self._on_first_signal = on_first_signal
        self._task: asyncio.Task[object] | None = None

    def _handle(self) -> None:
        assert self._task is not None
        if not self.writing:
            self.stopped_reading = True
            self._task.cancel()
        elif self.stop.is_set():
            self._task.cancel()
        else:
            self.stop.set()
            self._on_first_signal()

    def _install(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in SIGNALS:
            loop.add_signal_handler(sig, self._handle)

    def _remove(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in SIGNALS:
            loop.remove_signal_handler(sig)

    async def handling(self, body: Callable[[Interrupts], Awaitable[T]]) -> T:
        """Run `body` in this task, with the signals handled as above while it runs."""
        self._task = asyncio.current_task()
        self._install()
        try:
            return await body(self)
        finally:
            self._remove()
            # What follows writes the summary and the report: a late signal must not
            # lose the record of what was done, but a second one still stops a write
            # that hangs. The CLI restores its handlers at its end.
            for sig in SIGNALS:
                signal.signal(sig, _second_stops)

    @contextmanager
    def waiting_for_input(self) -> Iterator[None]:
        """Python's own Ctrl-C (KeyboardInterrupt) inside, for SIGTERM too: a blocking
        prompt holds the loop, so the loop's handler would only run once the prompt
        returns (and without one, SIGTERM would end the run silently with 143)."""
        self._remove()
        signal.signal(signal.SIGTERM, signal.default_int_handler)
        try:
            yield
        finally:
            self._install()


def run_interruptible(
    body: Callable[[Interrupts], Awaitable[T]], on_first_signal: Callable[[], None]
) -> T:
    """Run `body` with Ctrl-C and SIGTERM handled as Interrupts says."""
    interrupts = Interrupts(on_first_signal)
    try:
        return asyncio.run(interrupts.handling(body))
    except asyncio.CancelledError:
        if interrupts.stopped_reading:
            raise ApplyInterruptedError(
                "apply was interrupted before it changed anything; nothing was changed"
            ) from None
        raise ApplyInterruptedError(
            "apply was stopped at once by a second interrupt; run apply again to converge"
        ) from None
