"""The plan: a pure, set-based diff of desired against live membership.

`compute_plan` is O(members): set differences per segment, one sort per output list
so the plan is stable (same inputs, same bytes). The Plan carries the safety policy,
like octoDNS's TooMuchChange: `guard_violations()` says what apply must refuse.

Members named by customer (id or email) are resolved here against the customers the
live state looked up: to their shopper profile, or, for a customer without one, to a
profile apply creates first. Segments declared by name that the store lacks are created;
a declared description (and a pinned segment's name) that differs is updated."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace

from reconciler.errors import ConfigError, ReconcilerError, SegmentNotFoundError
from reconciler.model import (
    Customer,
    CustomerRef,
    DesiredSegment,
    DesiredState,
    LiveSegment,
    LiveState,
    Problem,
    SafetyPolicy,
)

# A store holds at most this many segments; creating more is refused at plan time.
MAX_SEGMENTS = 1000


def membership_digest(members: Iterable[str], *, is_sorted: bool = False) -> str:
    """A digest of a membership set, independent of order; the plan's staleness check.
    sha256 of each member followed by a newline, in sorted order."""
    ordered = members if is_sorted else sorted(members)
    text = "\n".join(ordered)
    data = (text + "\n").encode() if text else b""
    return "sha256:" + hashlib.sha256(data).hexdigest()


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
class AttributeChange:
    """One segment attribute (name or description) that apply updates."""

    field: str
    old: str
    new: str


@dataclass(frozen=True, slots=True)
class NewProfile:
    """A shopper profile apply creates for a customer who has none yet."""

    customer_id: int
    email: str = ""


@dataclass(frozen=True, slots=True)
class SegmentPlan:
    """What will change in one declared segment. `live_members` is the membership the
    plan saw, kept for segments with membership changes so a stale saved plan can say
    what moved. A segment to be created (`create`) has no id and no live digest yet;
    `add_customers` are customers whose shopper profile apply creates, then adds."""

    segment_id: str | None
    name: str
    add: tuple[str, ...]
    remove: tuple[str, ...]
    live_count: int
    live_digest: str | None
    prune: bool = True
    policy: SafetyPolicy = field(default_factory=SafetyPolicy)
    live_members: tuple[str, ...] = ()
    create: bool = False
    description: str | None = None  # a created segment's description
    changes: tuple[AttributeChange, ...] = ()
    add_customers: tuple[int, ...] = ()
    # Declared by id: the id is its identity, a rename in the store does not move it.
    pinned: bool = False

    def __repr__(self) -> str:
        # Counts, not ids: see Plan.__repr__.
        return (
            f"SegmentPlan(segment_id={self.segment_id!r}, name={self.name!r}, "
            f"add={self.add_total}, remove={len(self.remove)}, live_count={self.live_count})"
        )

    @property
    def has_changes(self) -> bool:
        return bool(self.create or self.changes or self.has_member_changes)

    @property
    def has_member_changes(self) -> bool:
        return bool(self.add or self.remove or self.add_customers)

    @property
    def add_total(self) -> int:
        return len(self.add) + len(self.add_customers)

    @property
    def key(self) -> str:
        """What identifies the segment in apply records: its id, or its name until created."""
        return self.segment_id if self.segment_id is not None else self.name

    @property
    def target(self) -> frozenset[str]:
        """The membership after apply, as this plan intends it (changed segments only:
        unchanged ones don't keep their live members)."""
        return (frozenset(self.live_members) - frozenset(self.remove)) | frozenset(self.add)

    def change(self, name: str) -> AttributeChange | None:
        return next((c for c in self.changes if c.field == name), None)

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
    emails: Mapping[str, str] = field(default_factory=dict)  # profile id -> email
    create_profiles: tuple[NewProfile, ...] = ()

    def __repr__(self) -> str:
        # Counts, not ids: a plan can hold a million, and asyncio repr()s what a task
        # returned (Runner.run's signal restore does, on 3.11): 0.1 s per full repr at
        # 100,000 members, spent twice at the end of every plan.
        return (
            f"Plan(store_hash={self.store_hash!r}, segments={len(self.segments)}, "
            f"add={self.add_count}, remove={self.remove_count}, "
            f"config_digest={self.config_digest!r})"
        )

    @property
    def add_count(self) -> int:
        return sum(s.add_total for s in self.segments)

    @property
    def create_count(self) -> int:
        return sum(1 for s in self.segments if s.create)

    @property
    def update_count(self) -> int:
        return sum(1 for s in self.segments if s.changes and not s.create)

    def summary(self) -> dict[str, int]:
        """The counts of the JSON `summary` (and, worded, of the text summary line)."""
        return {
            "add": self.add_count,
            "remove": self.remove_count,
            "create_segments": self.create_count,
            "update_segments": self.update_count,
            "create_profiles": len(self.create_profiles),
        }

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
    """One error naming every declared segment the store lacks, with where it is declared.
    Only segments pinned by id end up here: one declared by name is created instead."""
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


def attribute_changes(
    live: Mapping[str, str], desired: Mapping[str, str]
) -> tuple[AttributeChange, ...]:
    """The declared attributes that differ from live, in a stable order. Attributes not
    declared are not compared (not declared means not managed)."""
    if not desired:
        return ()
    from deepdiff import DeepDiff  # imported on first use: it costs ~80 ms to import

    before = {k: live.get(k, "") for k in desired}
    diff = DeepDiff(before, dict(desired), view="tree")
    found: dict[str, AttributeChange] = {}
    for kind in ("values_changed", "type_changes"):
        for level in diff.get(kind, []):
            key = str(level.path(output_format="list")[0])
            found[key] = AttributeChange(key, str(level.t1 or ""), str(level.t2))
    return tuple(found[k] for k in sorted(found))


def shared_segments(
    desired: DesiredState, by_id: Mapping[str, LiveSegment], by_name: Mapping[str, LiveSegment]
) -> list[Problem]:
    """Declarations that reach a store segment another one already reaches (one by its
    name, one by its id; or a rename whose old name is declared too). Validation sees
    only repeated names or ids; two memberships for one segment would never converge."""
    first: dict[str, DesiredSegment] = {}
    problems = []
    for d in desired.segments:
        seg = resolve_segment(d, by_id, by_name)
        if seg is None:
            continue
        other = first.setdefault(seg.id, d)
        if other is not d:
            where = f" at {other.location}" if other.location else ""
            problems.append(
                Problem(
                    f'segment "{seg.name}" ({seg.id}) is declared twice: here and{where}; '
                    "declare each segment once",
                    d.location,
                )
            )
    return problems


def pinned_missing(desired: DesiredState, live: LiveState) -> list[DesiredSegment]:
    """Declared segments pinned by an id the store lacks: an error, never a creation."""
    by_id = live.by_id()
    return [d for d in desired.segments if d.id is not None and d.id not in by_id]


@dataclass
class _Resolved:
    profiles: set[str]
    new_customers: dict[int, None]  # ordered set of customers without a profile


def customer_finder(live: LiveState) -> Callable[[CustomerRef], Customer | None]:
    """How a member named by customer id or email is found among the customers read
    (None: the store has no such customer)."""
    by_email = {c.email.strip().lower(): c for c in live.customers.values() if c.email}

    def find(ref: CustomerRef) -> Customer | None:
        if ref.customer_id is not None:
            return live.customers.get(ref.customer_id)
        return by_email.get(ref.email or "")

    return find


def _resolve_members(
    desired: DesiredState, live: LiveState
) -> tuple[list[_Resolved], list[Problem], list[str], dict[int, Customer]]:
    """Each segment's members as profile ids plus customers still without one; every
    unknown customer as a Problem at its line; duplicates as warnings."""
    find = customer_finder(live)
    unknown: list[Problem] = []
    warnings: list[str] = []
    used: dict[int, Customer] = {}
    out: list[_Resolved] = []
    for d in desired.segments:
        resolved = _Resolved(set(d.profiles), {})
        for ref in d.customers:
            customer = find(ref)
            where = f"{ref.location}: " if ref.location else ""
            if customer is None:
                message = (
                    f"customer {ref.customer_id} does not exist in the store"
                    if ref.customer_id is not None
                    else f"no customer in the store has the email {ref.email}"
                )
                message += f' (segment "{d.label}")'
                unknown.append(Problem(message, ref.location))
                continue
            used[customer.id] = customer
            if customer.profile_id is not None:
                if customer.profile_id in resolved.profiles:
                    warnings.append(
                        f"{where}{ref.label} is shopper profile {customer.profile_id}, which "
                        f'segment "{d.label}" already lists; it counts once'
                    )
                resolved.profiles.add(customer.profile_id)
            elif customer.id in resolved.new_customers:
                warnings.append(
                    f'{where}{ref.label} is already listed in segment "{d.label}" '
                    f"(as customer {customer.id}); it counts once"
                )
            else:
                resolved.new_customers[customer.id] = None
        out.append(resolved)
    return out, unknown, warnings, used


def compute_plan(
    desired: DesiredState,
    live: LiveState,
    *,
    store_hash: str,
    config_digest: str,
    created_at: str = "",
    tool_version: str = "",
) -> Plan:
    """Diff every declared segment; undeclared segments never appear in the plan.

    Raises SegmentNotFoundError for a pinned id the store lacks, ConfigError listing every
    customer id or email the store lacks (each at its line), and ReconcilerError when the
    creations would pass the store's segment limit or a rename would take a used name."""
    by_id, by_name = live.by_id(), live.by_name()
    missing = pinned_missing(desired, live)
    if missing:
        raise missing_segments_error(missing, live)
    shared = shared_segments(desired, by_id, by_name)
    if shared:
        raise ConfigError(shared)
    members, unknown, warnings, customers = _resolve_members(desired, live)
    if unknown:
        raise ConfigError(unknown)

    to_create = [d for d in desired.segments if resolve_segment(d, by_id, by_name) is None]
    if to_create and len(live.segments) + len(to_create) > MAX_SEGMENTS:
        raise ReconcilerError(
            f"the plan would create {len(to_create)} segments in a store that has "
            f"{len(live.segments)}; a store holds at most {MAX_SEGMENTS} segments"
        )
    lower = {s.name.lower(): s.name for s in live.segments}
    for d in to_create:
        assert d.name is not None  # a pinned segment the store lacks was refused above
        similar = lower.get(d.name.lower())
        if similar is not None:
            warnings.append(
                f'segment "{d.name}" will be created; the store has "{similar}", whose name '
                "differs only in case"
            )

    plans: list[SegmentPlan] = []
    taken = {d.name for d in to_create if d.name is not None}
    for d, resolved in zip(desired.segments, members, strict=True):
        policy = d.safety.over(desired.safety)
        new_customers = tuple(sorted(resolved.new_customers))
        seg = resolve_segment(d, by_id, by_name)
        if seg is None:
            assert d.name is not None
            plans.append(
                SegmentPlan(
                    segment_id=None,
                    name=d.name,
                    add=tuple(sorted(resolved.profiles)),
                    remove=(),
                    live_count=0,
                    live_digest=None,
                    prune=d.prune,
                    policy=policy,
                    create=True,
                    description=d.description or "",
                    add_customers=new_customers,
                )
            )
            continue
        wanted: dict[str, str] = {}
        if d.description is not None:
            wanted["description"] = d.description
        if d.id is not None and d.name is not None:
            wanted["name"] = d.name
        changes = attribute_changes({"name": seg.name, "description": seg.description}, wanted)
        renamed = next((c.new for c in changes if c.field == "name"), None)
        if renamed is not None:
            other = by_name.get(renamed)
            if (other is not None and other.id != seg.id) or renamed in taken:
                raise ReconcilerError(
                    f'segment {seg.id} cannot be renamed from "{seg.name}" to "{renamed}": '
                    "another segment has that name (names are unique in a store)"
                )
            taken.add(renamed)
        current = live.members.get(seg.id, frozenset())
        add = resolved.profiles - current
        remove = current - resolved.profiles if d.prune else frozenset()
        member_changes = bool(add or remove or new_customers)
        ordered = tuple(sorted(current))  # sorted once, for the digest and the kept members
        plans.append(
            SegmentPlan(
                segment_id=seg.id,
                name=seg.name,
                add=tuple(sorted(add)),
                remove=tuple(sorted(remove)),
                live_count=len(current),
                live_digest=membership_digest(ordered, is_sorted=True),
                prune=d.prune,
                policy=policy,
                live_members=ordered if member_changes else (),
                changes=changes,
                add_customers=new_customers,
                pinned=d.id is not None,
            )
        )
    shown = {p for s in plans for p in (*s.add, *s.remove)}
    # Walk the changed profiles (in plan order), not every live member's customer id.
    reported = live.customer_ids
    customer_ids = {p: reported[p] for s in plans for p in (*s.add, *s.remove) if p in reported}
    customer_ids.update({c.profile_id: c.id for c in customers.values() if c.profile_id in shown})
    emails = {
        c.profile_id: c.email
        for c in customers.values()
        if c.profile_id is not None and c.profile_id in shown and c.email
    }
    new_ids = sorted({cid for s in plans for cid in s.add_customers})
    return Plan(
        segments=tuple(plans),
        store_hash=store_hash,
        config_digest=config_digest,
        customer_ids=customer_ids,
        warnings=tuple(warnings),
        created_at=created_at,
        tool_version=tool_version,
        emails=emails,
        create_profiles=tuple(NewProfile(cid, customers[cid].email) for cid in new_ids),
    )


def with_emails(plan: Plan, emails: Mapping[str, str]) -> Plan:
    """The plan with more profile emails known (looked up after the diff, for display)."""
    shown = {p for s in plan.segments for p in (*s.add, *s.remove)}
    merged = {**{p: e for p, e in emails.items() if p in shown}, **plan.emails}
    return replace(plan, emails=dict(sorted(merged.items())))
