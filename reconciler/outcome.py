"""What apply did, change by change: pure data shared by the engine and the renderers."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from reconciler.errors import ReconcilerError

Action = Literal["add", "remove"]
Status = Literal["applied", "already", "failed", "not_attempted"]


@dataclass(slots=True)
class ChangeResult:
    segment_id: str
    segment: str
    action: Action
    profile_id: str
    status: Status
    reason: str | None = None


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
    verification: list[Verification] = field(default_factory=list)

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
    def not_attempted(self) -> list[ChangeResult]:
        return [c for c in self.changes.values() if c.status == "not_attempted"]

    @property
    def verified(self) -> bool:
        return all(v.ok for v in self.verification)

    @property
    def ok(self) -> bool:
        return (
            not self.interrupted
            and self.fatal is None
            and not self.failures
            and not self.not_attempted
            and self.verified
        )
