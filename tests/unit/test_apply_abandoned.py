"""An apply cut off outright (a second Ctrl-C cancels its task): Applier.abandoned() still
says what happened to every planned change and setup step. Unknown only for what was
sent, not attempted for what never went out, nothing left out."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from reconciler.apply import EXISTS, UNKNOWN, Applier
from reconciler.client import BigCommerceClient
from reconciler.outcome import ApplyResult
from reconciler.plan import AttributeChange, NewProfile, Plan, SegmentPlan
from tests.unit.test_client import SEG, make_client, page

PROFILES = [f"00000000-0000-4000-8000-{i:012d}" for i in range(1, 201)]


def plan_of(*segments: SegmentPlan, profiles: tuple[NewProfile, ...] = ()) -> Plan:
    return Plan(
        segments=segments,
        store_hash="abc",
        config_digest="sha256:" + "0" * 64,
        create_profiles=profiles,
    )


def adds(n: int, **extra: Any) -> SegmentPlan:
    return SegmentPlan(
        segment_id=SEG,
        name="VIP",
        add=tuple(PROFILES[:n]),
        remove=(),
        live_count=0,
        live_digest="sha256:" + "0" * 64,
        **extra,
    )


async def never_answered() -> httpx.Response:
    await asyncio.Event().wait()
    raise AssertionError("unreachable")


def cut_off(
    client: BigCommerceClient, plan: Plan, until: asyncio.Event, workers: int | None = None
) -> ApplyResult:
    """Run apply until `until` is set, cancel it there (as a second Ctrl-C does), and
    return abandoned()'s result."""
    applier = Applier(client, plan, workers=workers)

    async def scenario() -> None:
        task = asyncio.ensure_future(applier.run())
        await asyncio.wait_for(until.wait(), 5)
        await asyncio.sleep(0.01)  # what else is on its way gets there
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    asyncio.run(scenario())
    return applier.abandoned()


def statuses(result: ApplyResult) -> dict[str, int]:
    counted: dict[str, int] = {}
    for change in result.changes.values():
        counted[change.status] = counted.get(change.status, 0) + 1
    return counted


def test_batches_waiting_for_a_slot_were_not_sent_so_are_not_attempted() -> None:
    # Four batches under way, the client lets one request out at a time (as when the
    # rate window is spent): one went out.
    sent = asyncio.Event()

    async def handler(request: httpx.Request) -> httpx.Response:
        sent.set()
        return await never_answered()

    client, _ = make_client(handler, max_in_flight=1)
    result = cut_off(client, plan_of(adds(200)), sent, workers=4)
    assert statuses(result) == {"unknown": 50, "not_attempted": 150}
    unknown = [c for c in result.changes.values() if c.status == "unknown"]
    assert {c.reason for c in unknown} == {UNKNOWN}
    assert result.interrupted


def test_cut_off_in_setup_the_customers_adds_are_listed_not_attempted() -> None:
    sent = asyncio.Event()

    async def handler(request: httpx.Request) -> httpx.Response:
        assert request.url.path.endswith("/shopper-profiles")  # the profile creation
        sent.set()
        return await never_answered()

    seg = adds(3, add_customers=(7, 8))
    plan = plan_of(seg, profiles=(NewProfile(7, "a@example.com"), NewProfile(8, "")))
    client, _ = make_client(handler)
    result = cut_off(client, plan, sent)
    assert [(s.subject, s.status) for s in result.setup] == [
        ("customer 7", "unknown"),
        ("customer 8", "unknown"),
    ]
    changes = list(result.changes.values())
    assert [c.profile_id for c in changes] == ["customer 7", "customer 8", *PROFILES[:3]]
    assert {c.status for c in changes} == {"not_attempted"}


def test_an_update_cut_off_while_its_failure_is_read_back_is_unknown_with_its_id() -> None:
    # The PUT got a 500 (it may have been made); the re-read that would settle it is cut.
    reading = asyncio.Event()

    async def handler(request: httpx.Request) -> httpx.Response:
        if request.method == "PUT":
            return httpx.Response(500)
        reading.set()
        return await never_answered()

    change = AttributeChange("description", "old", "new")
    seg = SegmentPlan(SEG, "VIP", (), (), 0, None, changes=(change,))
    client, _ = make_client(handler, max_retries=0)
    result = cut_off(client, plan_of(seg), reading)
    (step,) = result.setup
    assert (step.kind, step.status, step.reason, step.id) == (
        "update_segment",
        "unknown",
        UNKNOWN,
        SEG,
    )


def test_a_creation_refused_as_existing_once_stopping_is_unknown_not_failed() -> None:
    # An attempt whose answer was lost, then a 409 as the stop comes: likely this run's.
    stop = asyncio.Event()

    def handler(request: httpx.Request) -> httpx.Response:
        if request.method == "POST" and request.url.path.endswith("/segments"):
            stop.set()
            return httpx.Response(409, json={"status": 409, "title": "exists"})
        return page([])

    new = SegmentPlan(None, "Beta", tuple(PROFILES[:2]), (), 0, None, create=True)
    client, _ = make_client(handler)
    result = asyncio.run(Applier(client, plan_of(new), stop=stop).run())
    (step,) = result.setup
    assert (step.status, step.reason) == ("unknown", EXISTS)
    assert statuses(result) == {"not_attempted": 2}
