"""What apply did, change by change: pure data shared by the engine and the renderers."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from reconciler.errors import ReconcilerError

Action = Literal["add", "remove"]
# unknown: sent, but the stop came before a definite answer, so it may have been made.
Status = Literal["applied", "already", "failed", "unknown", "not_attempted"]
SetupKind = Literal["create_segment", "update_segment", "create_profile"]


@dataclass(slots=True)
class ChangeResult:
    """One membership change. `segment_id` is the segment's name while a segment to be
    created has no id; `profile_id` is `customer N` while a new profile has none."""

    segment_id: str
    segment: str
    action: Action
    profile_id: str
    status: Status
    reason: str | None = None
    customer_id: int | None = None


@dataclass(slots=True)
class SetupResult:
    """A step before membership changes: a segment created or updated, or a shopper
    profile created. `subject` is the segment's name or `customer N`; `id` what was made."""

    kind: SetupKind
    subject: str
    status: Status
    reason: str | None = None
    id: str | None = None


@dataclass(slots=True)
class Verification:
    segment_id: str
    segment: str
    missing: int  # planned members not in the segment
    extra: int  # members the plan removes (or, when pruning, never declared) still there

    @property
    def ok(self) -> bool:
        return not self.missing and not self.extra


@dataclass(slots=True)
class Progress:
    done: int
    total: int


@dataclass
class ApplyResult:
    changes: dict[tuple[str, Action, str], ChangeResult] = field(default_factory=dict)
    interrupted: bool = False
    fatal: ReconcilerError | None = None
    # Set when the final re-read failed: nothing is known, so it is not a success.
    verify_error: str | None = None
    verification: list[Verification] = field(default_factory=list)
    setup: list[SetupResult] = field(default_factory=list)

    def setup_count(self, kind: SetupKind) -> int:
        """Steps of a kind that are done: made by this apply, or found already made."""
        return sum(1 for s in self.setup if s.kind == kind and s.status in ("applied", "already"))

    @property
    def setup_failures(self) -> list[SetupResult]:
        return [s for s in self.setup if s.status == "failed"]

    @property
    def setup_unknown(self) -> list[SetupResult]:
        return [s for s in self.setup if s.status == "unknown"]

    def count(self, action: Action, *statuses: Status) -> int:
        return sum(1 for c in self.changes.values() if c.action == action and c.status in statuses)

    @property
    def added(self) -> int:
        return self.count("add", "applied", "already")

    @property
    def removed(self) -> int:
        return self.count("remove", "applied", "already")

    @property
    def failures(self) -> list[ChangeResult]:
        return [c for c in self.changes.values() if c.status == "failed"]

    @property
    def unknown(self) -> list[ChangeResult]:
        """Sent, but the stop came before an answer: they may have been made."""
        return [c for c in self.changes.values() if c.status == "unknown"]

    @property
    def not_attempted(self) -> list[ChangeResult]:
        return [c for c in self.changes.values() if c.status == "not_attempted"]

    @property
    def verified(self) -> bool:
        return self.verify_error is None and all(v.ok for v in self.verification)

    @property
    def ok(self) -> bool:
        return (
            not self.interrupted
            and self.fatal is None
            and not self.failures
            and not self.unknown
            and not self.not_attempted
            and all(s.status in ("applied", "already") for s in self.setup)
            and self.verified
        )
