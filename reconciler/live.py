"""Reads live state through the client: all segments once, then, concurrently, the
members of the declared segments that exist and the customers the config names (the
client's semaphore keeps it within 10 in flight)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any

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


async def read_members(
    client: BigCommerceClient, segment_ids: Iterable[str]
) -> tuple[dict[str, frozenset[str]], dict[str, int]]:
    """Members of each segment, plus profile -> customer id as the API reported it."""
    ids = list(dict.fromkeys(segment_ids))
    pages: list[list[dict[str, Any]]] = await asyncio.gather(
        *(client.list_segment_members(sid) for sid in ids)
    )
    members: dict[str, frozenset[str]] = {}
    customers: dict[str, int] = {}
    for sid, rows in zip(ids, pages, strict=True):
        profile_ids = []
        for row in rows:
            pid = normalize_uuid(str(row["id"]))
            profile_ids.append(pid)
            cid = row.get("customer_id")
            if isinstance(cid, int) and not isinstance(cid, bool):
                customers[pid] = cid
        members[sid] = frozenset(profile_ids)
    return members, customers


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
    (members, customer_ids), customers = await asyncio.gather(
        read_members(client, (r.id for r in resolved if r is not None)),
        resolve_customers(client, desired),
    )
    return LiveState(
        segments=segments, members=members, customer_ids=customer_ids, customers=customers
    )
