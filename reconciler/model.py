"""Value objects for desired and live state. Pure: no I/O, no httpx, no click."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

# A UUID as text, unanchored: for finding ids inside a longer text.
UUID_PATTERN = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
# \Z, not $: $ also matches before a final "\n", so `.match` would pass "<uuid>\n".
UUID_RE = re.compile(rf"\A{UUID_PATTERN}\Z")
# An access token shorter than this is a stand-in (a proxy that adds auth): too common a
# string to search other values for.
MIN_SECRET_LENGTH = 16


def is_uuid(value: object) -> bool:
    return isinstance(value, str) and UUID_RE.match(value) is not None


# User text echoed in a message (a name, a key) is cut to this many characters: a long
# name repeated in every problem about its segment would flood a CI log.
CLIP_LENGTH = 80


def clip(text: str, limit: int = CLIP_LENGTH) -> str:
    """`text`, or its start and "..." when longer than `limit` characters."""
    return text if len(text) <= limit else text[: limit - 3] + "..."


def normalize_uuid(value: str) -> str:
    """UUIDs compare case-insensitively; lower-case is the one canonical form."""
    return value.strip().lower()


@dataclass(frozen=True, slots=True)
class Location:
    """A place in a config file; line and column are 1-based."""

    file: str
    line: int
    column: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}"


@dataclass(frozen=True, slots=True)
class Problem:
    """One finding of validation. Rendered as `FILE:LINE:COLUMN: message`."""

    message: str
    location: Location | None = None
    severity: str = "error"  # "error" or "warning"

    @property
    def is_error(self) -> bool:
        return self.severity == "error"

    def __str__(self) -> str:
        prefix = f"{self.location}: " if self.location else ""
        kind = "warning: " if self.severity == "warning" else ""
        return f"{prefix}{kind}{self.message}"


@dataclass(frozen=True, slots=True)
class SafetyPolicy:
    """The removal guard: refuse when a segment of at least `min_members_for_guard`
    live members would lose more than `max_removal_percent` of them."""

    max_removal_percent: float = 30.0
    min_members_for_guard: int = 10


@dataclass(frozen=True, slots=True)
class PartialSafety:
    """A per-segment override of the file-level policy; None means inherit."""

    max_removal_percent: float | None = None
    min_members_for_guard: int | None = None

    def over(self, base: SafetyPolicy) -> SafetyPolicy:
        return SafetyPolicy(
            max_removal_percent=(
                base.max_removal_percent
                if self.max_removal_percent is None
                else self.max_removal_percent
            ),
            min_members_for_guard=(
                base.min_members_for_guard
                if self.min_members_for_guard is None
                else self.min_members_for_guard
            ),
        )


_EMAIL_MATCH = re.compile(r"[^@\s,]+@[^@\s,]+").fullmatch


def is_email(value: str) -> bool:
    """What a config accepts as an email (surrounding spaces aside): one @, no spaces or
    commas (a comma would split an `email:in` filter)."""
    return _EMAIL_MATCH(value.strip()) is not None


def normalize_email(value: str) -> str:
    """Emails compare case-insensitively; lower-case is the one canonical form."""
    return value.strip().lower()


@dataclass(frozen=True, slots=True)
class CustomerRef:
    """A member named by its customer rather than its shopper profile: exactly one of
    `customer_id` and `email` (normalised, lower-case) is set. `spelled` is the email as
    the file writes it: what the look-up sends, since the API does not say its filter
    ignores case (matching is done here, case-insensitively)."""

    customer_id: int | None = None
    email: str | None = None
    location: Location | None = None
    spelled: str | None = field(default=None, compare=False)

    @property
    def label(self) -> str:
        return f"customer {self.customer_id}" if self.customer_id is not None else str(self.email)


@dataclass(frozen=True, slots=True)
class DesiredSegment:
    """One declared segment. `id` (normalised) wins over `name` as identity when given.
    `profiles` are the members listed by UUID, `customers` those listed by customer id or
    email; the plan resolves the latter to profiles. `description` None means unmanaged."""

    name: str | None
    id: str | None
    profiles: frozenset[str]
    prune: bool = True
    description: str | None = None
    safety: PartialSafety = field(default_factory=PartialSafety)
    location: Location | None = None
    customers: tuple[CustomerRef, ...] = ()

    @property
    def label(self) -> str:
        return self.name if self.name is not None else str(self.id)


@dataclass(frozen=True, slots=True)
class DesiredState:
    segments: tuple[DesiredSegment, ...]
    store_hash: str | None = None
    safety: SafetyPolicy = field(default_factory=SafetyPolicy)
    version: int = 1


@dataclass(frozen=True, slots=True)
class LiveSegment:
    id: str
    name: str
    description: str = ""


@dataclass(frozen=True, slots=True)
class Customer:
    """A registered customer as GET /customers reports it; `profile_id` None: no shopper
    profile yet."""

    id: int
    email: str
    profile_id: str | None = None


@dataclass(frozen=True, slots=True)
class LiveState:
    """What the store holds: every segment (for name lookup) and the members of the
    segments that were read, plus profile -> customer id where the API said so, and the
    customers the config names (looked up by id or email; absent ones do not exist)."""

    segments: tuple[LiveSegment, ...]
    members: Mapping[str, frozenset[str]]
    customer_ids: Mapping[str, int] = field(default_factory=dict)
    customers: Mapping[int, Customer] = field(default_factory=dict)

    def by_id(self) -> dict[str, LiveSegment]:
        return {s.id: s for s in self.segments}

    def by_name(self) -> dict[str, LiveSegment]:
        return {s.name: s for s in self.segments}
