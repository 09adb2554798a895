"""The plan is a pure function of desired and live state."""

from __future__ import annotations

import uuid

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reconciler.errors import SegmentNotFoundError
from reconciler.model import (
    DesiredSegment,
    DesiredState,
    LiveSegment,
    LiveState,
    PartialSafety,
    SafetyPolicy,
)
from reconciler.plan import Plan, compute_plan, membership_digest

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


def test_pinned_id_wins_over_name_and_warns_on_mismatch() -> None:
    d = DesiredSegment(name="Old name", id=SEG_B, profiles=frozenset(ids(1)))
    result = plan_for(desired(d), live({SEG_B: []}))
    assert result.segments[0].segment_id == SEG_B
    assert result.segments[0].name == "Wholesale"
    assert "Wholesale" in result.warnings[0]


def test_missing_segments_are_all_named_in_one_error() -> None:
    with pytest.raises(SegmentNotFoundError) as err:
        plan_for(desired(seg("Nope", []), seg("vip", [])), live({}))
    assert '"Nope"' in err.value.message
    assert 'did you mean "VIP"' in err.value.message


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
