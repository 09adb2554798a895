"""The plan in terraform's spirit: one block per changed segment, `+`/`-` per profile
(with its customer id and email where known), `~` per attribute update, the shopper
profiles to create, a warning box when apply would refuse, and one closing summary line.

The summary line is `Plan: X to add, Y to remove.`, or `No changes.`; clauses for
segments to create, segments to update and shopper profiles to create are appended, in
that order, only when not zero: `Plan: 3 to add, 0 to remove, 1 segment to create.`
Emails are shown as the plan holds them: the reviewer at the terminal needs them (in CI,
whose logs others read, the CLI renders render.masking.masked(plan) instead)."""

from __future__ import annotations

import json
from collections.abc import Sequence

from reconciler.plan import Plan, SegmentPlan
from reconciler.render.visible import visible

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
    parts = [f"{plan.add_count} to add", f"{plan.remove_count} to remove"]
    if plan.create_count:
        parts.append(f"{_plural(plan.create_count, 'segment')} to create")
    if plan.update_count:
        parts.append(f"{_plural(plan.update_count, 'segment')} to update")
    if plan.create_profiles:
        parts.append(f"{_plural(len(plan.create_profiles), 'shopper profile')} to create")
    return "Plan: " + ", ".join(parts) + "."


def _quote(text: str) -> str:
    return visible(json.dumps(text, ensure_ascii=False))


def _who(customer: int | None, email: str | None) -> str:
    """What is known about a profile's customer: `customer 42, jane@example.com`."""
    parts = [f"customer {customer}" if customer is not None else "", visible(email or "")]
    return ", ".join(p for p in parts if p)


def _member_lines(
    sign: str,
    ids: Sequence[str],
    plan: Plan,
    color: bool,
    max_lines: int,
    verb: str,
    new_customers: Sequence[int] = (),
) -> list[str]:
    code = GREEN if sign == "+" else RED
    new_emails = {p.customer_id: p.email for p in plan.create_profiles}
    lines = []
    for pid in ids[:max_lines]:
        who = _who(plan.customer_ids.get(pid), plan.emails.get(pid))
        note = f"  ({who})" if who else ""
        lines.append("      " + _paint(f"{sign} {visible(pid)}", code, color) + note)
    room = max(0, max_lines - len(ids))
    for cid in new_customers[:room]:
        who = _who(cid, new_emails.get(cid))
        lines.append("      " + _paint(f"{sign} new shopper profile", code, color) + f"  ({who})")
    total = len(ids) + len(new_customers)
    if total > max_lines:
        lines.append(f"        ... and {total - max_lines} more to {verb}")
    return lines


def _attribute_lines(seg: SegmentPlan, color: bool) -> list[str]:
    if seg.create:
        if not seg.description:
            return []
        return ["      " + _paint(f"+ description: {_quote(seg.description)}", GREEN, color)]
    return [
        "      " + _paint("~", YELLOW, color) + f" {c.field}: {_quote(c.old)} -> {_quote(c.new)}"
        for c in seg.changes
    ]


def _segment_block(seg: SegmentPlan, plan: Plan, color: bool, max_lines: int) -> list[str]:
    after = seg.live_count + seg.add_total - len(seg.remove)
    counts = ", ".join(
        part
        for part in (
            f"{seg.add_total} to add" if seg.add_total else "",
            f"{len(seg.remove)} to remove" if seg.remove else "",
            " and ".join(c.field for c in seg.changes) + " to update" if seg.changes else "",
        )
        if part
    )
    ident = "new" if seg.create else visible(str(seg.segment_id))
    sign = _paint("+", GREEN, color) if seg.create else _paint("~", YELLOW, color)
    # Quoted as JSON: a backslash in a name cannot pass for an escaped line break.
    name = _quote(seg.name)
    heading = f"  # segment {name} ({ident}): "
    if seg.create:
        heading += "to create, "
    heading += f"{seg.live_count} -> {after} members"
    lines = [
        heading + (f", {counts}" if counts else ""),
        f"  {sign} segment {name} {{",
    ]
    lines += _attribute_lines(seg, color)
    lines += _member_lines("+", seg.add, plan, color, max_lines, "add", seg.add_customers)
    lines += _member_lines("-", seg.remove, plan, color, max_lines, "remove")
    lines.append("    }")
    return lines


def _profile_lines(plan: Plan, color: bool, max_lines: int) -> list[str]:
    new = plan.create_profiles
    if not new:
        return []
    lines = [f"  # {_plural(len(new), 'shopper profile')} to create, then add to segments"]
    for p in new[:max_lines]:
        email = f" ({visible(p.email)})" if p.email else ""
        lines.append(
            "  " + _paint(f"+ shopper profile for customer {p.customer_id}", GREEN, color) + email
        )
    if len(new) > max_lines:
        lines.append(f"    ... and {len(new) - max_lines} more to create")
    return [*lines, ""]


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
    lines += [f"{bar} {visible(str(v))}" for v in violations]
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
        out.append(_paint("Warning: ", YELLOW, color) + visible(warning))
    if plan.warnings:
        out.append("")
    changed = plan.changed
    if changed:
        out.append(
            f"reconciler will change {_plural(len(changed), 'segment')} "
            f'in store "{visible(plan.store_hash)}":'
        )
        out.append("")
        out += _profile_lines(plan, color, max_lines)
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
