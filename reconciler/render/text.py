"""The plan in terraform's spirit: one block per changed segment, `+`/`-` per profile,
a warning box when apply would refuse, and one closing summary line."""

from __future__ import annotations

from collections.abc import Sequence

from reconciler.plan import Plan, SegmentPlan

GREEN, RED, YELLOW, BOLD, RESET = "\033[32m", "\033[31m", "\033[33m", "\033[1m", "\033[0m"
# Enough for a reviewer to see what is happening; the JSON always holds everything.
DEFAULT_MAX_LINES = 25


def _paint(text: str, code: str, color: bool) -> str:
    return f"{code}{text}{RESET}" if color else text


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def summary_line(plan: Plan) -> str:
    if not plan.has_changes:
        return "No changes."
    return f"Plan: {plan.add_count} to add, {plan.remove_count} to remove."


def _member_lines(
    sign: str, ids: Sequence[str], plan: Plan, color: bool, max_lines: int, verb: str
) -> list[str]:
    code = GREEN if sign == "+" else RED
    lines = []
    for pid in ids[:max_lines]:
        customer = plan.customer_ids.get(pid)
        note = f"  (customer {customer})" if customer is not None else ""
        lines.append("      " + _paint(f"{sign} {pid}", code, color) + note)
    if len(ids) > max_lines:
        lines.append(f"        ... and {len(ids) - max_lines} more to {verb}")
    return lines


def _segment_block(seg: SegmentPlan, plan: Plan, color: bool, max_lines: int) -> list[str]:
    after = seg.live_count + len(seg.add) - len(seg.remove)
    counts = ", ".join(
        part
        for part in (
            f"{len(seg.add)} to add" if seg.add else "",
            f"{len(seg.remove)} to remove" if seg.remove else "",
        )
        if part
    )
    lines = [
        f'  # segment "{seg.name}" ({seg.segment_id}): {seg.live_count} -> {after} members, '
        f"{counts}",
        "  " + _paint("~", YELLOW, color) + f' segment "{seg.name}" {{',
    ]
    lines += _member_lines("+", seg.add, plan, color, max_lines, "add")
    lines += _member_lines("-", seg.remove, plan, color, max_lines, "remove")
    lines.append("    }")
    return lines


def guard_banner(plan: Plan, color: bool) -> list[str]:
    violations = plan.guard_violations()
    if not violations:
        return []
    bar = _paint("│", YELLOW, color)
    lines = [
        _paint("╷", YELLOW, color),
        f"{bar} " + _paint("Warning: apply will refuse this plan (removal guard)", BOLD, color),
        bar,
    ]
    lines += [f"{bar} {v}" for v in violations]
    lines += [
        bar,
        f"{bar} If these removals are intended, run apply with "
        f"--allow-removals {plan.remove_count} (the plan's total removal count).",
        _paint("╵", YELLOW, color),
    ]
    return lines


def render_text(plan: Plan, *, color: bool = False, max_lines: int = DEFAULT_MAX_LINES) -> str:
    out: list[str] = []
    for warning in plan.warnings:
        out.append(_paint("Warning: ", YELLOW, color) + warning)
    if plan.warnings:
        out.append("")
    changed = plan.changed
    if changed:
        out.append(
            f"reconciler will change {_plural(len(changed), 'segment')} "
            f'in store "{plan.store_hash}":'
        )
        out.append("")
        for seg in changed:
            out += _segment_block(seg, plan, color, max_lines)
            out.append("")
        unchanged = len(plan.segments) - len(changed)
        if unchanged:
            out.append(f"{_plural(unchanged, 'declared segment')} already up to date.")
            out.append("")
        banner = guard_banner(plan, color)
        if banner:
            out += [*banner, ""]
    out.append(_paint(summary_line(plan), BOLD, color) if color else summary_line(plan))
    return "\n".join(out) + "\n"
