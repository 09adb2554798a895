"""Customers, in bulk: look-ups by id or email (GET /customers with `id:in` / `email:in`
and `include=shopper_profile_id`), and the emails of the profiles a plan shows.

Every look-up is split into the fewest requests the API's limits allow: each request
carries at most one page of values (so no filter ever needs a second page) and a query
no longer than the client's bound on a filter. 10,000 customer ids take 40 requests (pages
of 250); 10,000 emails as many as their encoded length needs (about 60 for addresses of
~20 characters). The requests run concurrently within the client's in-flight limit."""

from __future__ import annotations

import heapq
from collections.abc import Collection, Iterable, Mapping, Sequence
from typing import Any

from reconciler.batching import MAX_REMOVAL_QUERY_BYTES, chunk_query_values
from reconciler.client import BigCommerceClient, gather_cancelling
from reconciler.model import (
    Customer,
    DesiredSegment,
    DesiredState,
    LiveState,
    normalize_email,
    normalize_uuid,
)
from reconciler.plan import Plan, customer_finder, resolve_segment, with_emails
from reconciler.render.text import DEFAULT_MAX_LINES

# The client keeps every filter's query within this many bytes (room is left for
# include, page and limit); chunking to the same bound means it never splits further.
FILTER_QUERY_BYTES = MAX_REMOVAL_QUERY_BYTES - 200
INCLUDE = ("shopper_profile_id",)
# Emails are looked up for at most one page of customers: the lines a plan shows.
MAX_LOOKUP = 250


def filter_chunks(values: Sequence[str], key: str, page_size: int) -> list[list[str]]:
    """Greedy groups of at most `page_size` values whose encoded `key=v1,v2,...` fits the
    client's query bound: each group is exactly one request."""
    chunks: list[list[str]] = []
    start = 0
    while start < len(values):
        window = values[start : start + page_size]
        first = chunk_query_values(window, key, FILTER_QUERY_BYTES)[0]
        chunks.append(first)
        start += len(first)
    return chunks


def _customer(row: dict[str, Any]) -> Customer | None:
    cid = row.get("id")
    if isinstance(cid, bool) or not isinstance(cid, int):
        return None
    profile = row.get("shopper_profile_id")
    return Customer(
        id=cid,
        email=str(row.get("email") or ""),
        profile_id=normalize_uuid(profile) if isinstance(profile, str) and profile else None,
    )


async def lookup_customers(
    client: BigCommerceClient, *, ids: Iterable[int] = (), emails: Iterable[str] = ()
) -> dict[int, Customer]:
    """The customers with these ids or emails that exist, by customer id. A value the
    store does not know is simply absent from the result."""
    id_values = sorted({int(i) for i in ids})
    # Sent as spelled (see CustomerRef.spelled), once per address whatever its case.
    spellings = {normalize_email(e): e.strip() for e in sorted(emails, reverse=True)}
    email_values = sorted(spellings.values())
    size = client.page_size
    calls = [
        client.list_customers(ids=[int(v) for v in chunk], include=INCLUDE)
        for chunk in filter_chunks([str(i) for i in id_values], "id:in", size)
    ]
    calls += [
        client.list_customers(emails=chunk, include=INCLUDE)
        for chunk in filter_chunks(email_values, "email:in", size)
    ]
    pages = await gather_cancelling(calls)
    found: dict[int, Customer] = {}
    for rows in pages:
        for row in rows:
            customer = _customer(row)
            if customer is not None:
                found[customer.id] = customer
    return found


async def resolve_customers(
    client: BigCommerceClient, desired: DesiredState
) -> dict[int, Customer]:
    """The customers the config names by id or email (unknown ones are absent)."""
    refs = [r for seg in desired.segments for r in seg.customers]
    ids = {r.customer_id for r in refs if r.customer_id is not None}
    emails = {r.spelled or r.email for r in refs if r.email is not None}
    if not ids and not emails:
        return {}
    return await lookup_customers(client, ids=ids, emails=emails)


def first_shown(
    d: DesiredSegment, current: frozenset[str], named: frozenset[str] = frozenset()
) -> list[str]:
    """The profiles a plan lists first for declared segment `d` whose live members are
    `current` (`named`: the profiles of its customer entries): its first adds and, when
    pruned, its first removals, in plan order. A set difference and a partial sort over
    every member (5 ms a segment at 25,000), so make_plan has each done as soon as its
    segment is read rather than all once the last one is."""
    members = d.profiles | named if named else d.profiles
    shown = heapq.nsmallest(DEFAULT_MAX_LINES, members - current)
    if d.prune and current:
        shown += heapq.nsmallest(DEFAULT_MAX_LINES, current - members)
    return shown


def likely_described(
    desired: DesiredState,
    live: LiveState,
    early: Mapping[DesiredSegment, list[str]] | None = None,
) -> list[int]:
    """The customers `emails_wanted` will want for a plan of these states, found
    without computing the plan, so the look-up can be on the network while it is computed
    (70 ms at 100,000 members): the customer ids the read reported for each segment's
    first_shown profiles (`early`: those already found, by segment). An add has one when
    it is a live member of another segment. What this misses, describe_members looks up."""
    by_id, by_name = live.by_id(), live.by_name()
    find = customer_finder(live)
    wanted: dict[int, None] = {}
    for d in desired.segments:
        shown = (early or {}).get(d)
        if shown is None:
            seg = resolve_segment(d, by_id, by_name)
            current = live.members.get(seg.id, frozenset()) if seg is not None else frozenset()
            refs = [find(r) for r in d.customers]
            if None in refs:
                return []  # a customer the store lacks: the plan fails, nothing to show
            named = {c.profile_id for c in refs if c is not None and c.profile_id is not None}
            shown = first_shown(d, current, frozenset(named))
        for pid in shown:
            cid = live.customer_ids.get(pid)
            if cid is not None and len(wanted) < MAX_LOOKUP:
                wanted[cid] = None
    return list(wanted)


def emails_wanted(plan: Plan) -> dict[str, int]:
    """Profile -> customer id for the profiles the text plan lists whose customer id is
    known and email is not, at most one page of customers (MAX_LOOKUP)."""
    shown = [
        p
        for s in plan.segments
        for p in (*s.add[:DEFAULT_MAX_LINES], *s.remove[:DEFAULT_MAX_LINES])
    ]
    wanted: dict[str, int] = {}
    distinct: set[int] = set()
    for pid in shown:
        cid = plan.customer_ids.get(pid)
        if cid is None or pid in plan.emails:
            continue
        if cid in distinct or len(distinct) < MAX_LOOKUP:
            wanted[pid] = cid
            distinct.add(cid)
    return wanted


async def describe_members(
    client: BigCommerceClient,
    plan: Plan,
    *,
    asked: Collection[int] = (),
    found: Mapping[int, Customer] | None = None,
) -> Plan:
    """The plan with the email of every profile the text plan lists (the first lines of
    each segment's adds and removals) whose customer id is known: one bulk look-up by id
    of at most one page, never a request per profile and never a read of every removed
    customer (100,000 removals would cost 400 requests for lines nobody sees; the JSON
    plan has every customer id). `asked` were looked up already (see likely_described),
    `found` is what that found: only customers outside `asked` are looked up here."""
    wanted = emails_wanted(plan)
    if not wanted:
        return plan
    customers = dict(found or {})
    missing = set(wanted.values()).difference(asked)
    if missing:
        customers.update(await lookup_customers(client, ids=missing))
    emails = {
        pid: customers[cid].email
        for pid, cid in wanted.items()
        if cid in customers and customers[cid].email
    }
    return with_emails(plan, emails)
