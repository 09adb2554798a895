"""What apply did: a short text summary for people and a JSON audit trail for CI."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from reconciler import __version__
from reconciler.outcome import ApplyResult, ChangeResult, SetupKind, SetupResult
from reconciler.plan import Plan
from reconciler.render.visible import visible

# Failures listed one per line up to this many; the JSON report always has all.
MAX_FAILURE_LINES = 50


def _by_segment(changes: list[ChangeResult]) -> dict[str, list[ChangeResult]]:
    grouped: dict[str, list[ChangeResult]] = defaultdict(list)
    for c in changes:
        grouped[c.segment].append(c)
    return grouped


_SETUP_WORDS = {
    "create_segment": "create segment",
    "update_segment": "update segment",
    "create_profile": "create a shopper profile for",
}


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def done_line(result: ApplyResult) -> str:
    """`X added, Y removed`, with what setup made appended when not zero."""
    parts = [f"{result.added} added", f"{result.removed} removed"]
    steps: tuple[tuple[SetupKind, str, str], ...] = (
        ("create_segment", "segment", "created"),
        ("update_segment", "segment", "updated"),
        ("create_profile", "shopper profile", "created"),
    )
    for kind, noun, verb in steps:
        n = result.setup_count(kind)
        if n:
            parts.append(f"{_plural(n, noun)} {verb}")
    return ", ".join(parts)


def _setup_line(step: SetupResult) -> str:
    subject = visible(step.subject)
    subject = subject if step.kind == "create_profile" else f'"{subject}"'
    return f"  {_SETUP_WORDS[step.kind]} {subject}"


def _unknown_lines(result: ApplyResult) -> list[str]:
    """Writes sent whose answer the stop cut off: neither done nor failed, and not to be
    counted as either (run plan to see)."""
    steps, changes = result.setup_unknown, result.unknown
    if not steps and not changes:
        return []
    lines = ["Unknown outcome (sent, but no answer came before the stop; run plan to see):"]
    lines += [_setup_line(step) for step in steps[:MAX_FAILURE_LINES]]
    if len(steps) > MAX_FAILURE_LINES:
        lines.append(f"  ... and {len(steps) - MAX_FAILURE_LINES} more (see --report)")
    for seg, items in _by_segment(changes).items():
        lines.append(f'  segment "{visible(seg)}": {_plural(len(items), "change")} unknown')
    return lines


def _undone(result: ApplyResult, *, interrupted: bool) -> str:
    """`1 setup step failed, 2 failed, 3 unknown (...), 4 not attempted`: an interrupted
    run names failures only when there are some."""
    parts = [
        f"{_plural(len(steps), 'setup step')} {what}"
        for steps, what in ((result.setup_failures, "failed"), (result.setup_unknown, "unknown"))
        if steps
    ]
    if result.failures or not interrupted:
        parts.append(f"{len(result.failures)} failed")
    if result.unknown:
        parts.append(f"{len(result.unknown)} unknown (sent, no answer before the stop)")
    parts.append(f"{len(result.not_attempted)} not attempted")
    return ", ".join(parts)


def render_apply_summary(result: ApplyResult) -> str:
    lines: list[str] = []
    failures, skipped = result.failures, result.not_attempted
    unsure = bool(result.unknown or result.setup_unknown)
    if result.fatal is not None:
        lines.append(f"Stopped early: {visible(result.fatal.message)}")
    setup_failures = result.setup_failures
    if setup_failures:
        lines.append("Failed setup:")
        for step in setup_failures[:MAX_FAILURE_LINES]:
            lines.append(f"{_setup_line(step)}: {visible(step.reason or '')}")
        if len(setup_failures) > MAX_FAILURE_LINES:
            lines.append(f"  ... and {len(setup_failures) - MAX_FAILURE_LINES} more (see --report)")
    if failures:
        lines.append("Failed changes:")
        for seg, items in _by_segment(failures).items():
            lines.append(f'  segment "{visible(seg)}": {len(items)} failed')
            # One line per reason: a 403 that failed 50 batches is one sentence, not 2,500.
            groups: dict[tuple[str, str | None], list[ChangeResult]] = {}
            for c in items:
                groups.setdefault((c.action, c.reason), []).append(c)
            for (action, reason), group in list(groups.items())[:MAX_FAILURE_LINES]:
                sign = "+" if action == "add" else "-"
                if len(group) == 1:
                    lines.append(
                        f"    {sign} {visible(group[0].profile_id)}: {visible(reason or '')}"
                    )
                else:
                    kind = "adds" if action == "add" else "removals"
                    lines.append(
                        f"    {sign} {len(group)} {kind}: {visible(reason or '')} (ids in --report)"
                    )
            if len(groups) > MAX_FAILURE_LINES:
                lines.append(f"    ... and {len(groups) - MAX_FAILURE_LINES} more (see --report)")
    lines += _unknown_lines(result)
    if skipped:
        lines.append("Not attempted:")
        for seg, items in _by_segment(skipped).items():
            lines.append(
                f'  segment "{visible(seg)}": {_plural(len(items), "change")} not attempted'
            )
    for v in result.verification:
        if not v.ok:
            lines.append(
                f'Verification: segment "{visible(v.segment)}" does not match the plan: '
                f"{v.missing} planned members missing, {v.extra} unwanted members present"
            )
    if result.verify_error is not None:
        lines.append(
            f"Verification: could not re-read the store ({visible(result.verify_error)}); "
            "run plan to check whether it matches"
        )
    if result.verification and result.verified:
        n = len(result.verification)
        checked = f"{n} changed segment{'' if n == 1 else 's'}"
        if failures or skipped or setup_failures or unsure:
            # Checked against what setup could make: a failed change is not in the store.
            lines.append(f"Verified: {checked} hold{'s' if n == 1 else ''} what was applied.")
        else:
            lines.append(f"Verified: {checked} now match{'es' if n == 1 else ''} the plan.")
    done = done_line(result)
    if result.ok:
        lines.append(f"Apply complete: {done}.")
    elif result.interrupted and not (failures or skipped or setup_failures or unsure):
        # Stopped while checking: nothing is left to do, only the check was cut short.
        lines.append(
            f"Apply interrupted: {done}; every change was made, but not every segment "
            "was checked. Run plan to see whether the store matches."
        )
    elif result.interrupted:
        lines.append(
            f"Apply interrupted: {done}; {_undone(result, interrupted=True)}. "
            "Run apply again to finish."
        )
    elif result.verify_error is not None and not (failures or skipped or unsure):
        lines.append(f"Apply unverified: {done}.")
    else:
        lines.append(f"Apply incomplete: {done}; {_undone(result, interrupted=False)}.")
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
            "unknown": len(result.unknown),
            "not_attempted": len(result.not_attempted),
            "segments_created": result.setup_count("create_segment"),
            "segments_updated": result.setup_count("update_segment"),
            "profiles_created": result.setup_count("create_profile"),
        },
        "setup": [
            {
                "kind": s.kind,
                "subject": s.subject,
                "status": s.status,
                "reason": s.reason,
                "id": s.id,
            }
            for s in result.setup
        ],
        "fatal": result.fatal.message if result.fatal else None,
        "verify_error": result.verify_error,
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
                "customer_id": c.customer_id,
                "status": c.status,
                "reason": c.reason,
            }
            for c in _in_plan_order(plan, result)
        ],
    }


def _in_plan_order(plan: Plan, result: ApplyResult) -> list[ChangeResult]:
    """Apply records changes as they complete; the report lists them as the plan does."""
    rank = {s.name: i for i, s in enumerate(plan.segments)}
    return sorted(
        result.changes.values(),
        key=lambda c: (rank.get(c.segment, len(rank)), c.action != "add", c.profile_id),
    )
