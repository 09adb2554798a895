"""Reads live state through the client: all segments once, then, concurrently, the
members of the declared segments that exist and the customers the config names (the
client's semaphore keeps it within 10 in flight)."""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable, Iterable, Mapping
from typing import Any, NamedTuple

from reconciler.client import BigCommerceClient, gather_cancelling
from reconciler.customers import resolve_customers
from reconciler.errors import MalformedResponseError
from reconciler.model import (
    DesiredSegment,
    DesiredState,
    LiveSegment,
    LiveState,
    is_uuid,
    normalize_uuid,
)
from reconciler.plan import missing_segments_error, pinned_missing, resolve_segment


async def read_segments(client: BigCommerceClient) -> tuple[LiveSegment, ...]:
    rows = await client.list_segments()
    return tuple(_live_segment(r) for r in rows)


def _live_segment(row: dict[str, Any]) -> LiveSegment:
    """A segment row as the plan sees it. The client saw that it has an id; it must also
    be a UUID (it goes into request paths) and the segment must have a name (without one,
    a declared segment would look missing and be created twice)."""
    sid, name, description = row["id"], row.get("name"), row.get("description")
    if not is_uuid(sid.strip()):
        raise _bad_segment(f"whose id is not a UUID ({sid!r:.40})")
    if not isinstance(name, str):
        raise _bad_segment(f"without a name (id {normalize_uuid(sid)})")
    return LiveSegment(
        id=normalize_uuid(sid),
        name=name,
        description=description if isinstance(description, str) else "",
    )


def _bad_segment(problem: str) -> MalformedResponseError:
    return MalformedResponseError(
        f"GET /segments answered 200 with a segment {problem}",
        status=200,
        method="GET",
        path="/segments",
    )


class Members(NamedTuple):
    """Members of each segment read, and profile -> customer id as the API reported it."""

    members: dict[str, frozenset[str]]
    customer_ids: dict[str, int]


def pages_ahead(expected: Mapping[str, int], page_size: int, free: int) -> dict[str, int]:
    """How many pages after page 1 to request alongside it, per segment, from how many
    members each is expected to have: the slots page 1 of every segment leaves free,
    shared a page at a time, largest segment first. Only pages a segment would still
    have with half its expected members are asked for, so one comes back empty (a wasted
    request) only when the store holds less than half of what was expected."""
    room = {sid: max(0, math.ceil(count / 2 / page_size) - 1) for sid, count in expected.items()}
    ahead = dict.fromkeys(expected, 0)
    order = sorted(expected, key=lambda sid: -expected[sid])
    while free > 0 and any(room[sid] > ahead[sid] for sid in order):
        for sid in order:
            if free > 0 and room[sid] > ahead[sid]:
                ahead[sid] += 1
                free -= 1
    return ahead


# Called with a segment's id and members as soon as its last page is in.
SegmentRead = Callable[[str, frozenset[str]], None]
# Called with a declared segment and its live members as soon as they are read.
DeclaredRead = Callable[[DesiredSegment, frozenset[str]], None]


async def read_members(
    client: BigCommerceClient,
    segment_ids: Iterable[str],
    expected: Mapping[str, int] | None = None,
    on_read: SegmentRead | None = None,
) -> Members:
    """Each segment's rows become ids as their page arrives, and a set as soon as its own
    pages are in. Sorting is left to the plan, which runs while its email look-up is on the
    network (sorting here would hold it back: segments tend to finish together).
    `expected` member counts (the config's) let the first round trip carry more than
    page 1 of each segment (see pages_ahead). A failure cancels the other segments' reads."""
    ids = list(dict.fromkeys(segment_ids))
    free = client.settings.max_in_flight - len(ids)
    counts = {sid: (expected or {}).get(sid, 0) for sid in ids}
    ahead = pages_ahead(counts, client.page_size, free)
    read = Members({}, {})

    async def one(sid: str) -> None:
        profile_ids: list[str] = []

        def take(_: int, rows: list[dict[str, Any]]) -> None:
            for row in rows:
                pid = normalize_uuid(row["id"])  # the client saw every row has a string id
                profile_ids.append(pid)
                cid = row.get("customer_id")
                if isinstance(cid, int) and not isinstance(cid, bool):
                    read.customer_ids[pid] = cid

        # Rows are reduced to ids page by page (never all held), and the set dedupes what
        # pages that shifted between requests may repeat.
        await client.each_segment_member_page(sid, take, ahead=ahead[sid])
        read.members[sid] = frozenset(profile_ids)
        if on_read is not None:
            on_read(sid, read.members[sid])

    await gather_cancelling(one(sid) for sid in ids)
    return read


async def read_live(
    client: BigCommerceClient, desired: DesiredState, on_read: DeclaredRead | None = None
) -> LiveState:
    """A segment declared by name that the store lacks is left for the plan to create;
    one pinned by an id the store lacks is an error before any member is read. `on_read`
    gets each declared segment that exists with its members, as soon as they are read."""
    segments = await read_segments(client)
    partial = LiveState(segments=segments, members={})
    missing = pinned_missing(desired, partial)
    if missing:
        raise missing_segments_error(missing, partial)
    by_id, by_name = partial.by_id(), partial.by_name()
    expected: dict[str, int] = {}
    declared: dict[str, list[DesiredSegment]] = {}
    for d in desired.segments:
        seg = resolve_segment(d, by_id, by_name)
        if seg is not None:  # the config's count: a guess at the store's (see pages_ahead)
            expected[seg.id] = expected.get(seg.id, 0) + len(d.profiles) + len(d.customers)
            declared.setdefault(seg.id, []).append(d)

    def segment_read(sid: str, members: frozenset[str]) -> None:
        for d in declared[sid]:
            if on_read is not None:
                on_read(d, members)

    # Both reads at once; either failing cancels the other (no request left running).
    members = asyncio.ensure_future(read_members(client, expected.keys(), expected, segment_read))
    named = asyncio.ensure_future(resolve_customers(client, desired))
    await gather_cancelling([members, named])
    read, customers = members.result(), named.result()
    return LiveState(
        segments=segments,
        members=read.members,
        customer_ids=read.customer_ids,
        customers=customers,
    )
