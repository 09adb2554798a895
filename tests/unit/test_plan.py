"""The plan is a pure function of desired and live state."""

from __future__ import annotations

import uuid

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reconciler.errors import ConfigError, ReconcilerError, SegmentNotFoundError
from reconciler.model import (
    Customer,
    CustomerRef,
    DesiredSegment,
    DesiredState,
    LiveSegment,
    LiveState,
    Location,
    PartialSafety,
    SafetyPolicy,
)
from reconciler.plan import AttributeChange, NewProfile, Plan, compute_plan, membership_digest

SEG_A = "11111111-1111-4111-8111-111111111111"
SEG_B = "22222222-2222-4222-8222-222222222222"


def ids(n: int, start: int = 0) -> list[str]:
    return [str(uuid.UUID(int=i + 1 + start, version=4)) for i in range(n)]


def desired(*segments: DesiredSegment, safety: SafetyPolicy | None = None) -> DesiredState:
    return DesiredState(segments=segments, safety=safety or SafetyPolicy())


def seg(name: str, members: list[str], **kw: object) -> DesiredSegment:
    return DesiredSegment(name=name, id=None, profiles=frozenset(members), **kw)  # type: ignore[arg-type]


def live(members: dict[str, list[str]], names: dict[str, str] | None = None) -> LiveState:
    names = names or {SEG_A: "VIP", SEG_B: "Wholesale"}
    return LiveState(
        segments=tuple(LiveSegment(i, n) for i, n in names.items()),
        members={k: frozenset(v) for k, v in members.items()},
    )


def plan_for(d: DesiredState, lv: LiveState) -> Plan:
    return compute_plan(d, lv, store_hash="abc", config_digest="sha256:" + "0" * 64)


def test_adds_and_removes_are_set_differences() -> None:
    p = ids(5)
    result = plan_for(desired(seg("VIP", p[:3])), live({SEG_A: p[2:5]}))
    (s,) = result.segments
    assert s.add == tuple(sorted(p[:2]))
    assert s.remove == tuple(sorted(p[3:5]))
    assert (result.add_count, result.remove_count) == (2, 2)


def test_prune_false_never_removes() -> None:
    p = ids(4)
    result = plan_for(desired(seg("VIP", p[:1], prune=False)), live({SEG_A: p[1:]}))
    assert result.segments[0].remove == ()
    assert result.add_count == 1


def test_undeclared_segments_never_appear() -> None:
    p = ids(3)
    result = plan_for(desired(seg("VIP", p)), live({SEG_A: [], SEG_B: p}))
    assert [s.name for s in result.segments] == ["VIP"]


def test_pinned_id_wins_over_name_and_the_name_is_updated() -> None:
    d = DesiredSegment(name="New name", id=SEG_B, profiles=frozenset(ids(1)))
    result = plan_for(desired(d), live({SEG_B: []}))
    (s,) = result.segments
    assert (s.segment_id, s.name) == (SEG_B, "Wholesale")
    assert s.changes == (AttributeChange("name", "Wholesale", "New name"),)
    assert result.update_count == 1 and result.create_count == 0


def test_a_rename_onto_a_used_name_is_refused_at_plan_time() -> None:
    d = DesiredSegment(name="VIP", id=SEG_B, profiles=frozenset())
    with pytest.raises(ReconcilerError, match="names are unique"):
        plan_for(desired(d), live({SEG_A: [], SEG_B: []}))


def test_a_rename_whose_old_name_is_declared_too_is_one_segment_declared_twice() -> None:
    renamed = DesiredSegment(name="Gold", id=SEG_B, profiles=frozenset(ids(1)), location=at(3))
    old_name = DesiredSegment(name="Wholesale", id=None, profiles=frozenset(), location=at(9))
    with pytest.raises(ConfigError) as err:
        plan_for(desired(renamed, old_name), live({SEG_B: ids(2)}))
    assert str(err.value) == (
        f'segments.yaml:9:9: segment "Wholesale" ({SEG_B}) is declared twice: here and at '
        "segments.yaml:3:9; declare each segment once"
    )


def test_missing_pinned_segments_are_all_named_in_one_error() -> None:
    pinned = [
        DesiredSegment(
            name=None, id=f"{i}" * 8 + "-0000-4000-8000-000000000000", profiles=frozenset()
        )
        for i in (3, 4)
    ]
    with pytest.raises(SegmentNotFoundError) as err:
        plan_for(desired(*pinned, seg("Created", [])), live({}))
    assert "33333333-0000" in err.value.message and "44444444-0000" in err.value.message
    assert "Created" not in err.value.message


def test_a_segment_declared_by_name_that_is_missing_is_created_and_filled() -> None:
    p = ids(3)
    d = seg("Beta", p, description="Early access")
    result = plan_for(desired(d, seg("vip", [])), live({SEG_A: []}))
    beta, vip = result.segments
    assert beta.create and beta.segment_id is None and beta.live_digest is None
    assert beta.add == tuple(sorted(p)) and beta.description == "Early access"
    assert vip.create  # "vip" is not "VIP": names are exact, but the reviewer is warned
    assert any("differs only in case" in w for w in result.warnings)
    assert result.summary() == {
        "add": 3,
        "remove": 0,
        "create_segments": 2,
        "update_segments": 0,
        "create_profiles": 0,
    }


def test_the_segment_limit_is_checked_at_plan_time() -> None:
    names = {f"{i:08d}-0000-4000-8000-000000000000": f"S{i}" for i in range(999)}
    lv = live({}, names)
    assert plan_for(desired(seg("One more", [])), lv).create_count == 1
    with pytest.raises(ReconcilerError, match="at most 1000 segments"):
        plan_for(desired(seg("One more", []), seg("Two more", [])), lv)


def test_a_declared_description_that_differs_is_updated_and_undeclared_is_unmanaged() -> None:
    lv = LiveState(
        segments=(LiveSegment(SEG_A, "VIP", "old"), LiveSegment(SEG_B, "Wholesale", "w")),
        members={SEG_A: frozenset(), SEG_B: frozenset()},
    )
    result = plan_for(desired(seg("VIP", [], description="new"), seg("Wholesale", [])), lv)
    vip, wholesale = result.segments
    assert vip.changes == (AttributeChange("description", "old", "new"),)
    assert wholesale.changes == () and not wholesale.has_changes
    assert result.has_changes and result.update_count == 1
    same = plan_for(desired(seg("VIP", [], description="old")), lv)
    assert not same.has_changes


def at(line: int) -> Location:
    return Location("segments.yaml", line, 9)


def customers_live(members: list[str]) -> LiveState:
    p = ids(2, start=100)
    return LiveState(
        segments=(LiveSegment(SEG_A, "VIP"),),
        members={SEG_A: frozenset(members)},
        customers={
            1: Customer(1, "one@example.com", p[0]),
            2: Customer(2, "Two@Example.com", p[1]),
            3: Customer(3, "three@example.com", None),
        },
    )


def test_customers_resolve_to_profiles_and_missing_profiles_are_created() -> None:
    p = ids(2, start=100)
    refs = (
        CustomerRef(customer_id=1, location=at(5)),
        CustomerRef(email="two@example.com", location=at(6)),
        CustomerRef(customer_id=3, location=at(7)),
    )
    d = DesiredSegment(name="VIP", id=None, profiles=frozenset(), customers=refs)
    result = plan_for(desired(d), customers_live([]))
    (s,) = result.segments
    assert s.add == tuple(sorted(p)) and s.add_customers == (3,)
    assert result.create_profiles == (NewProfile(3, "three@example.com"),)
    assert result.customer_ids == {p[0]: 1, p[1]: 2}
    assert result.emails == {p[0]: "one@example.com", p[1]: "Two@Example.com"}
    assert result.add_count == 3
    assert result.summary()["create_profiles"] == 1


def test_unknown_customers_are_one_error_listing_each_with_its_line() -> None:
    refs = (
        CustomerRef(customer_id=99, location=at(5)),
        CustomerRef(customer_id=1, location=at(6)),
        CustomerRef(email="nobody@example.com", location=at(7)),
    )
    d = DesiredSegment(name="VIP", id=None, profiles=frozenset(), customers=refs)
    with pytest.raises(ConfigError) as err:
        plan_for(desired(d), customers_live([]))
    shown = [str(p) for p in err.value.problems]
    assert shown == [
        'segments.yaml:5:9: customer 99 does not exist in the store (segment "VIP")',
        "segments.yaml:7:9: no customer in the store has the email nobody@example.com "
        '(segment "VIP")',
    ]


def test_two_entries_for_one_profile_warn_and_count_once() -> None:
    p = ids(2, start=100)
    refs = (
        CustomerRef(customer_id=1, location=at(6)),
        CustomerRef(email="three@example.com", location=at(7)),
        CustomerRef(customer_id=3, location=at(8)),
    )
    d = DesiredSegment(name="VIP", id=None, profiles=frozenset({p[0]}), customers=refs)
    result = plan_for(desired(d), customers_live([]))
    assert result.add_count == 2
    assert len(result.warnings) == 2
    assert result.warnings[0].startswith("segments.yaml:6:9: customer 1 is shopper profile")
    assert "counts once" in result.warnings[1]


def test_no_changes() -> None:
    p = ids(3)
    result = plan_for(desired(seg("VIP", p)), live({SEG_A: p}))
    assert not result.has_changes
    assert result.segments[0].live_members == ()  # only kept for changed segments


@pytest.mark.parametrize(("removing", "refused"), [(29, False), (30, False), (31, True)])
def test_guard_boundary_at_the_limit(removing: int, refused: bool) -> None:
    members = ids(100)
    result = plan_for(desired(seg("VIP", members[removing:])), live({SEG_A: members}))
    violations = result.guard_violations()
    assert bool(violations) is refused
    if refused:
        assert str(violations[0]) == (
            'segment "VIP": 31 of 100 members (31%) would be removed; the limit is 30%'
        )


def test_guard_ignores_small_segments_and_honours_overrides() -> None:
    members = ids(9)
    small = plan_for(desired(seg("VIP", [])), live({SEG_A: members}))
    assert small.guard_violations() == []
    members = ids(20)
    relaxed = seg("VIP", members[10:], safety=PartialSafety(max_removal_percent=50))
    assert plan_for(desired(relaxed), live({SEG_A: members})).guard_violations() == []
    strict = desired(seg("VIP", members[10:]), safety=SafetyPolicy(40, 5))
    assert plan_for(strict, live({SEG_A: members})).guard_violations()


def test_allow_removals_must_equal_the_total() -> None:
    members = ids(100)
    result = plan_for(desired(seg("VIP", members[40:])), live({SEG_A: members}))
    assert not result.guard_allows(None)
    assert not result.guard_allows(39)
    assert result.guard_allows(40)


def test_digest_ignores_order() -> None:
    p = ids(10)
    assert membership_digest(p) == membership_digest(reversed(p))
    assert membership_digest(p) != membership_digest(p[1:])


def test_a_plan_reprs_as_counts_not_as_its_ids() -> None:
    # asyncio repr()s a task's result when a run ends; a plan can hold a million ids.
    p = ids(5000)
    result = plan_for(desired(seg("VIP", p[:3000])), live({SEG_A: p[1000:]}))

    text = repr(result)

    assert len(text) < 300 and p[0] not in text
    assert "add=1000" in text and "remove=2000" in text and "segments=1" in text
    assert "add=1000, remove=2000, live_count=4000" in repr(result.segments[0])


@settings(max_examples=100, deadline=None)
@given(
    want=st.sets(st.integers(0, 60), max_size=40),
    have=st.sets(st.integers(0, 60), max_size=40),
    prune=st.booleans(),
)
def test_applying_the_plan_converges(want: set[int], have: set[int], prune: bool) -> None:
    universe = ids(61)
    w = {universe[i] for i in want}
    h = {universe[i] for i in have}
    first = plan_for(desired(seg("VIP", sorted(w), prune=prune)), live({SEG_A: sorted(h)}))
    s = first.segments[0]
    after = (h - set(s.remove)) | set(s.add)
    assert after == (w if prune else w | h)
    if s.has_changes:
        assert s.target == frozenset(after)
    second = plan_for(desired(seg("VIP", sorted(w), prune=prune)), live({SEG_A: sorted(after)}))
    assert not second.has_changes
