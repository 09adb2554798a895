"""The emails a plan shows: which customers to look up before the plan is computed
(likely_described), and what describe_members then still has to ask for."""

from __future__ import annotations

import asyncio
import uuid

import httpx
from hypothesis import given, settings
from hypothesis import strategies as st

from reconciler.client import BigCommerceClient, ClientSettings
from reconciler.customers import (
    describe_members,
    emails_wanted,
    first_shown,
    likely_described,
)
from reconciler.model import (
    Customer,
    CustomerRef,
    DesiredSegment,
    DesiredState,
    LiveSegment,
    LiveState,
)
from reconciler.plan import Plan, compute_plan
from reconciler.render.text import DEFAULT_MAX_LINES

SEGMENTS = [str(uuid.UUID(int=0xA0 + i, version=4)) for i in range(3)]
PROFILES = [str(uuid.UUID(int=i + 1, version=4)) for i in range(80)]


def plan_of(desired: DesiredState, live: LiveState) -> Plan:
    return compute_plan(desired, live, store_hash="abc", config_digest="sha256:" + "0" * 64)


@st.composite
def states(draw: st.DrawFn) -> tuple[DesiredState, LiveState]:
    """Up to three segments over 80 profiles, so a segment's adds are often another's
    live members (then the read reported their customer ids), with and without pruning,
    some members named by customer, and one segment that does not exist yet."""
    picks = st.sets(st.sampled_from(PROFILES), max_size=60)
    live_members = {sid: frozenset(draw(picks)) for sid in SEGMENTS[:2]}
    read = {p for members in live_members.values() for p in members}
    known = draw(st.sets(st.sampled_from(sorted(read)), max_size=len(read))) if read else set()
    customer_ids = {p: PROFILES.index(p) + 1 for p in known}
    customers = {cid: Customer(cid, f"c{cid}@example.com", p) for p, cid in customer_ids.items()}
    segments = []
    for i in range(len(SEGMENTS)):
        refs = draw(st.lists(st.sampled_from(sorted(customers) or [0]), max_size=3))
        segments.append(
            DesiredSegment(
                name=f"S{i}",
                id=None,
                profiles=frozenset(draw(picks)),
                prune=draw(st.booleans()),
                customers=tuple(
                    CustomerRef(customer_id=c) if c % 2 else CustomerRef(email=f"c{c}@example.com")
                    for c in dict.fromkeys(refs)
                    if c in customers
                ),
            )
        )
    live = LiveState(
        segments=tuple(LiveSegment(sid, f"S{i}") for i, sid in enumerate(SEGMENTS[:2])),
        members=live_members,
        customer_ids=customer_ids,
        customers=customers,
    )
    return DesiredState(segments=tuple(segments)), live


@settings(max_examples=300, deadline=None)
@given(states())
def test_the_early_look_up_covers_every_email_the_plan_shows(
    state: tuple[DesiredState, LiveState],
) -> None:
    desired, live = state
    wanted = set(emails_wanted(plan_of(desired, live)).values())
    guessed = likely_described(desired, live)
    assert len(guessed) == len(set(guessed))
    assert wanted <= set(guessed)  # so describe_members sends no second request
    # Nothing needless either, beyond customers the config names (their emails are known).
    named = set().union(*(_named_ids(d, live) for d in desired.segments))
    assert set(guessed) - wanted <= named


def _named_ids(d: DesiredSegment, live: LiveState) -> set[int]:
    emails = {r.email for r in d.customers if r.email}
    ids = {r.customer_id for r in d.customers if r.customer_id is not None}
    return {c.id for c in live.customers.values() if c.id in ids or c.email.lower() in emails}


@settings(max_examples=300, deadline=None)
@given(states())
def test_the_lines_found_as_each_segment_is_read_change_nothing(
    state: tuple[DesiredState, LiveState],
) -> None:
    """make_plan finds each segment's first lines as soon as it is read (those naming no
    customer, in a segment that exists); the guess is the same as finding them all at once."""
    desired, live = state
    by_name = live.by_name()
    early = {
        d: first_shown(d, live.members[by_name[d.name].id])
        for d in desired.segments
        if not d.customers and d.name in by_name
    }
    assert likely_described(desired, live, early) == likely_described(desired, live)


def test_lines_found_early_are_the_ones_used() -> None:
    segment = DesiredSegment(name="S0", id=None, profiles=frozenset(PROFILES[:2]))
    live = LiveState(
        segments=(LiveSegment(SEGMENTS[0], "S0"),),
        members={SEGMENTS[0]: frozenset(PROFILES[:2])},
        customer_ids={PROFILES[5]: 6},
    )
    desired = DesiredState(segments=(segment,))
    assert likely_described(desired, live) == []  # nothing to add or remove
    assert likely_described(desired, live, {segment: [PROFILES[5]]}) == [6]


def test_the_guess_takes_the_first_lines_of_a_long_segment_only() -> None:
    live_members = PROFILES[:50]
    desired = DesiredState(
        segments=(DesiredSegment(name="S0", id=None, profiles=frozenset(PROFILES[40:])),)
    )
    live = LiveState(
        segments=(LiveSegment(SEGMENTS[0], "S0"),),
        members={SEGMENTS[0]: frozenset(live_members)},
        customer_ids={p: i + 1 for i, p in enumerate(live_members)},
    )
    # 40 removals, of which the plan shows the first DEFAULT_MAX_LINES in id order.
    assert likely_described(desired, live) == list(range(1, DEFAULT_MAX_LINES + 1))


def client_counting(requests: list[httpx.Request]) -> BigCommerceClient:
    def handler(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        wanted = request.url.params["id:in"].split(",")
        rows = [{"id": int(c), "email": f"c{c}@example.com"} for c in wanted]
        meta = {"pagination": {"total": len(rows), "current_page": 1, "total_pages": 1}}
        return httpx.Response(200, json={"data": rows, "meta": meta})

    return BigCommerceClient(
        ClientSettings(store_hash="abc", token="t" * 20), transport=httpx.MockTransport(handler)
    )


def test_describe_members_asks_only_for_what_the_early_look_up_did_not() -> None:
    sid = SEGMENTS[0]
    desired = DesiredState(segments=(DesiredSegment(name="S0", id=None, profiles=frozenset()),))
    live = LiveState(
        segments=(LiveSegment(sid, "S0"),),
        members={sid: frozenset(PROFILES[:3])},
        customer_ids={p: i + 1 for i, p in enumerate(PROFILES[:3])},
    )
    plan = plan_of(desired, live)
    early = {1: Customer(1, "one@example.com", PROFILES[0])}

    def describe(asked: list[int]) -> tuple[Plan, list[httpx.Request]]:
        requests: list[httpx.Request] = []

        async def run() -> Plan:
            async with client_counting(requests) as client:
                return await describe_members(client, plan, asked=asked, found=early)

        return asyncio.run(run()), requests

    described, requests = describe([1, 2, 3])
    assert requests == []
    assert described.emails == {PROFILES[0]: "one@example.com"}  # 2 and 3 were not found

    described, requests = describe([1])
    assert [r.url.params["id:in"] for r in requests] == ["2,3"]
    assert dict(described.emails) == {
        PROFILES[0]: "one@example.com",
        PROFILES[1]: "c2@example.com",
        PROFILES[2]: "c3@example.com",
    }
