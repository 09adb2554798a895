"""Reads live state through the client: all segments once, then, concurrently, the
members of the declared segments that exist and the customers the config names (the
client's semaphore keeps it within 10 in flight)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any, NamedTuple

from reconciler.client import BigCommerceClient
from reconciler.customers import resolve_customers
from reconciler.model import DesiredState, LiveSegment, LiveState, normalize_uuid
from reconciler.plan import missing_segments_error, pinned_missing, resolve_segment


async def read_segments(client: BigCommerceClient) -> tuple[LiveSegment, ...]:
    rows = await client.list_segments()
    return tuple(
        LiveSegment(
            id=normalize_uuid(str(r["id"])),
            name=str(r.get("name", "")),
            description=str(r.get("description") or ""),
        )
        for r in rows
    )


class Members(NamedTuple):
    """Members of each segment read, and profile -> customer id as the API reported it."""

    members: dict[str, frozenset[str]]
    customer_ids: dict[str, int]


async def read_members(client: BigCommerceClient, segment_ids: Iterable[str]) -> Members:
    """Each segment's rows become ids as their page arrives, and a set as soon as its own
    pages are in. Sorting is left to the plan, which runs while its email look-up is on the
    network (sorting here would hold it back: segments tend to finish together)."""
    read = Members({}, {})

    async def one(sid: str) -> None:
        profile_ids: list[str] = []

        def take(_: int, rows: list[dict[str, Any]]) -> None:
            for row in rows:
                pid = normalize_uuid(str(row["id"]))
                profile_ids.append(pid)
                cid = row.get("customer_id")
                if isinstance(cid, int) and not isinstance(cid, bool):
                    read.customer_ids[pid] = cid

        # Rows are reduced to ids page by page (never all held), and the set dedupes what
        # pages that shifted between requests may repeat.
        await client.each_segment_member_page(sid, take)
        read.members[sid] = frozenset(profile_ids)

    await asyncio.gather(*(one(sid) for sid in dict.fromkeys(segment_ids)))
    return read


async def read_live(client: BigCommerceClient, desired: DesiredState) -> LiveState:
    """A segment declared by name that the store lacks is left for the plan to create;
    one pinned by an id the store lacks is an error before any member is read."""
    segments = await read_segments(client)
    partial = LiveState(segments=segments, members={})
    missing = pinned_missing(desired, partial)
    if missing:
        raise missing_segments_error(missing, partial)
    by_id, by_name = partial.by_id(), partial.by_name()
    resolved = [resolve_segment(d, by_id, by_name) for d in desired.segments]
    read, customers = await asyncio.gather(
        read_members(client, (r.id for r in resolved if r is not None)),
        resolve_customers(client, desired),
    )
    return LiveState(
        segments=segments,
        members=read.members,
        customer_ids=read.customer_ids,
        customers=customers,
    )
