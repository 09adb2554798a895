"""The plan: a pure, set-based diff of desired against live membership.

`compute_plan` is O(members): set differences per segment, one sort per output list
so the plan is stable (same inputs, same bytes). The Plan carries the safety policy,
like octoDNS's TooMuchChange: `guard_violations()` says what apply must refuse."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from reconciler.errors import SegmentNotFoundError
from reconciler.model import DesiredSegment, DesiredState, LiveSegment, LiveState, SafetyPolicy


def membership_digest(members: Iterable[str]) -> str:
    """A digest of a membership set, independent of order; the plan's staleness check."""
    h = hashlib.sha256()
    for member in sorted(members):
        h.update(member.encode())
        h.update(b"\n")
    return "sha256:" + h.hexdigest()


@dataclass(frozen=True, slots=True)
class GuardViolation:
    segment: str
    remove: int
    live: int
    limit: float

    @property
    def percent(self) -> float:
        return 100.0 * self.remove / self.live

    def __str__(self) -> str:
        return (
            f'segment "{self.segment}": {self.remove} of {self.live} members '
            f"({_pct(self.percent)}%) would be removed; the limit is {_pct(self.limit)}%"
        )


def _pct(value: float) -> str:
    text = f"{value:.1f}"
    return text[:-2] if text.endswith(".0") else text


@dataclass(frozen=True, slots=True)
class SegmentPlan:
    """What will change in one declared segment. `live_members` is the membership the
    plan saw, kept for segments with changes so a stale saved plan can say what moved."""

    segment_id: str
    name: str
    add: tuple[str, ...]
    remove: tuple[str, ...]
    live_count: int
    live_digest: str
    prune: bool = True
    policy: SafetyPolicy = field(default_factory=SafetyPolicy)
    live_members: tuple[str, ...] = ()

    @property
    def has_changes(self) -> bool:
        return bool(self.add or self.remove)

    @property
    def target(self) -> frozenset[str]:
        """The membership after apply, as this plan intends it (changed segments only:
        unchanged ones don't keep their live members)."""
        return (frozenset(self.live_members) - frozenset(self.remove)) | frozenset(self.add)

    def guard_violation(self) -> GuardViolation | None:
        live, removing = self.live_count, len(self.remove)
        if not removing or live < self.policy.min_members_for_guard:
            return None
        # Integer-exact comparison: 30 of 100 at a 30% limit is allowed, 31 is not.
        if removing * 100 > self.policy.max_removal_percent * live:
            return GuardViolation(self.name, removing, live, self.policy.max_removal_percent)
        return None


@dataclass(frozen=True, slots=True)
class Plan:
    segments: tuple[SegmentPlan, ...]
    store_hash: str
    config_digest: str
    customer_ids: Mapping[str, int] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()
    created_at: str = ""
    tool_version: str = ""

    @property
    def add_count(self) -> int:
        return sum(len(s.add) for s in self.segments)

    @property
    def remove_count(self) -> int:
        return sum(len(s.remove) for s in self.segments)

    @property
    def has_changes(self) -> bool:
        return any(s.has_changes for s in self.segments)

    @property
    def changed(self) -> tuple[SegmentPlan, ...]:
        return tuple(s for s in self.segments if s.has_changes)

    def guard_violations(self) -> list[GuardViolation]:
        return [v for s in self.segments if (v := s.guard_violation()) is not None]

    def guard_allows(self, allow_removals: int | None) -> bool:
        """The guard is lifted only by the exact removal count a reviewer saw."""
        if not self.guard_violations():
            return True
        return allow_removals is not None and allow_removals == self.remove_count


def resolve_segment(
    desired: DesiredSegment, by_id: Mapping[str, LiveSegment], by_name: Mapping[str, LiveSegment]
) -> LiveSegment | None:
    if desired.id is not None:
        return by_id.get(desired.id)
    assert desired.name is not None
    return by_name.get(desired.name)


def missing_segments_error(missing: list[DesiredSegment], live: LiveState) -> SegmentNotFoundError:
    """One error naming every declared segment the store lacks, with where it is declared."""
    lower = {s.name.lower(): s.name for s in live.segments}
    parts = []
    for seg in missing:
        where = f"{seg.location}: " if seg.location else ""
        what = f"id {seg.id}" if seg.id is not None else f'"{seg.name}"'
        hint = ""
        if seg.id is None and seg.name is not None and seg.name.lower() in lower:
            hint = f' (did you mean "{lower[seg.name.lower()]}"?)'
        parts.append(f"{where}segment {what} does not exist in the store{hint}")
    return SegmentNotFoundError("; ".join(parts))


def compute_plan(
    desired: DesiredState,
    live: LiveState,
    *,
    store_hash: str,
    config_digest: str,
    created_at: str = "",
    tool_version: str = "",
) -> Plan:
    """Diff every declared segment; undeclared segments never appear in the plan."""
    by_id, by_name = live.by_id(), live.by_name()
    missing = [d for d in desired.segments if resolve_segment(d, by_id, by_name) is None]
    if missing:
        raise missing_segments_error(missing, live)

    warnings: list[str] = []
    plans: list[SegmentPlan] = []
    for d in desired.segments:
        seg = resolve_segment(d, by_id, by_name)
        assert seg is not None
        if d.id is not None and d.name is not None and d.name != seg.name:
            warnings.append(
                f'segment {seg.id} is named "{seg.name}" in the store, not "{d.name}"; '
                "membership is managed by id and the name is left as it is"
            )
        current = live.members.get(seg.id, frozenset())
        add = d.profiles - current
        remove = current - d.profiles if d.prune else frozenset()
        changed = bool(add or remove)
        plans.append(
            SegmentPlan(
                segment_id=seg.id,
                name=seg.name,
                add=tuple(sorted(add)),
                remove=tuple(sorted(remove)),
                live_count=len(current),
                live_digest=membership_digest(current),
                prune=d.prune,
                policy=d.safety.over(desired.safety),
                live_members=tuple(sorted(current)) if changed else (),
            )
        )
    shown = {p for s in plans for p in (*s.add, *s.remove)}
    customer_ids = {p: c for p, c in live.customer_ids.items() if p in shown}
    return Plan(
        segments=tuple(plans),
        store_hash=store_hash,
        config_digest=config_digest,
        customer_ids=customer_ids,
        warnings=tuple(warnings),
        created_at=created_at,
        tool_version=tool_version,
    )
