"""What apply did: a short text summary for people and a JSON audit trail for CI."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from reconciler import __version__
from reconciler.outcome import ApplyResult, ChangeResult
from reconciler.plan import Plan

# Failures listed one per line up to this many; the JSON report always has all.
MAX_FAILURE_LINES = 50


def _by_segment(changes: list[ChangeResult]) -> dict[str, list[ChangeResult]]:
    grouped: dict[str, list[ChangeResult]] = defaultdict(list)
    for c in changes:
        grouped[c.segment].append(c)
    return grouped


def render_apply_summary(result: ApplyResult) -> str:
    lines: list[str] = []
    failures, skipped = result.failures, result.not_attempted
    if result.fatal is not None:
        lines.append(f"Stopped early: {result.fatal.message}")
    if failures:
        lines.append("Failed changes:")
        for seg, items in _by_segment(failures).items():
            lines.append(f'  segment "{seg}": {len(items)} failed')
            for c in items[:MAX_FAILURE_LINES]:
                lines.append(f"    {'+' if c.action == 'add' else '-'} {c.profile_id}: {c.reason}")
            if len(items) > MAX_FAILURE_LINES:
                lines.append(f"    ... and {len(items) - MAX_FAILURE_LINES} more (see --report)")
    if skipped:
        lines.append("Not attempted:")
        for seg, items in _by_segment(skipped).items():
            lines.append(f'  segment "{seg}": {len(items)} changes not attempted')
    for v in result.verification:
        if not v.ok:
            lines.append(
                f'Verification: segment "{v.segment}" does not match the plan: '
                f"{v.missing} planned members missing, {v.extra} unwanted members present"
            )
    if result.verification and result.verified:
        lines.append(
            f"Verified: {len(result.verification)} changed segment"
            f"{'' if len(result.verification) == 1 else 's'} now match the plan."
        )
    done = f"{result.added} added, {result.removed} removed"
    if result.ok:
        lines.append(f"Apply complete: {done}.")
    elif result.interrupted:
        lines.append(
            f"Apply interrupted: {done}; {len(skipped)} not attempted. Run apply again to finish."
        )
    else:
        lines.append(
            f"Apply incomplete: {done}; {len(failures)} failed, {len(skipped)} not attempted."
        )
    return "\n".join(lines) + "\n"


def apply_report_document(plan: Plan, result: ApplyResult) -> dict[str, Any]:
    return {
        "format_version": 1,
        "tool_version": __version__,
        "store_hash": plan.store_hash,
        "config_digest": plan.config_digest,
        "plan_created_at": plan.created_at,
        "outcome": "complete" if result.ok else "interrupted" if result.interrupted else "failed",
        "summary": {
            "added": result.added,
            "removed": result.removed,
            "failed": len(result.failures),
            "not_attempted": len(result.not_attempted),
        },
        "fatal": result.fatal.message if result.fatal else None,
        "verification": [
            {
                "segment": v.segment,
                "id": v.segment_id,
                "ok": v.ok,
                "missing": v.missing,
                "extra": v.extra,
            }
            for v in result.verification
        ],
        "changes": [
            {
                "segment": c.segment,
                "segment_id": c.segment_id,
                "action": c.action,
                "profile_id": c.profile_id,
                "status": c.status,
                "reason": c.reason,
            }
            for c in result.changes.values()
        ],
    }
