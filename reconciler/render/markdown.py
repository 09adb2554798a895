"""The plan as a pull-request comment (GitHub-flavoured markdown).

The first line is a hidden marker, so a workflow can find its own comment and update it
instead of posting a new one per push. The comment never exceeds `limit` characters
(GitHub refuses comments over 65,536): member lists are cut progressively, per segment,
keeping every fence and <details> block closed, while the summary line stays exact.

Data from the store or the config (segment names, warnings, emails) is never trusted as
markdown: names are escaped for both the HTML and the markdown parser."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TypeVar
from urllib.parse import quote

from reconciler.plan import Plan, SegmentPlan
from reconciler.render.masking import mask_email, mask_emails_in
from reconciler.render.text import summary_line

MARKER_PREFIX = "<!-- reconciler-plan"
GITHUB_COMMENT_LIMIT = 65_536
DEFAULT_ARTIFACT_HINT = "the JSON plan artifact"
T = TypeVar("T")

# Characters that start HTML or markdown syntax inline (tags, entities, code, emphasis,
# links, strikethrough, table cells) become entities: GitHub's markdown and a raw HTML
# block (where <summary> lives) both decode them back to the same character. Text is never
# put in an attribute, so quotes stay as they are, readable.
_ENTITIES = {
    "&": "&amp;",
    "<": "&lt;",
    ">": "&gt;",
    **{c: f"&#{ord(c)};" for c in "\\`*_[]|~"},
}
# GitHub turns @name into a mention and #123 into a cross-reference even when written as
# entities; a word joiner (invisible) after them stops both without changing what is read.
_WORD_JOINER = "\u2060"
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def escape_inline(text: str) -> str:
    """Text safe anywhere inline in the comment: in a paragraph, a list, a <summary>."""
    out = []
    for char in _CONTROL.sub(" ", text):
        if char in _ENTITIES:
            out.append(_ENTITIES[char])
        elif char in "@#":
            out.append(char + _WORD_JOINER)
        else:
            out.append(char)
    return "".join(out)


def _size(text: str) -> int:
    """Length in UTF-16 code units: never less than len(), so a comment within the limit by
    this measure is within it however GitHub counts (an emoji is 2 units, 1 code point)."""
    return len(text.encode("utf-16-le")) // 2


def _marker(plan: Plan) -> str:
    # Percent-encoding keeps a hostile store hash from closing the HTML comment (`-->`).
    return f"{MARKER_PREFIX}: store={quote(plan.store_hash, safe='')} -->"


@dataclass(frozen=True, slots=True)
class _Cut:
    """How much of the plan a rendering shows; None means everything."""

    member_lines: int | None = None  # per segment, adds and removals together
    segments: int | None = None  # changed segments shown, in plan order
    notes: int | None = None  # guard violations and warnings shown, each


@dataclass(frozen=True, slots=True)
class _Context:
    plan: Plan
    changed: tuple[SegmentPlan, ...]
    emails: Mapping[str, str]
    show_emails: bool
    artifact_hint: str


def _member_line(sign: str, pid: str, ctx: _Context) -> str:
    notes = []
    customer = ctx.plan.customer_ids.get(pid)
    if customer is not None:
        notes.append(f"customer {customer}")
    email = ctx.emails.get(pid)
    if email:
        email = _CONTROL.sub(" ", email)
        notes.append(email if ctx.show_emails else mask_email(email))
    # Lines start with the sign, so nothing in them can close the fence.
    return f"{sign} {pid}" + (f"  ({', '.join(notes)})" if notes else "")


def _new_profile_line(customer_id: int, ctx: _Context) -> str:
    emails = {p.customer_id: p.email for p in ctx.plan.create_profiles}
    email = _CONTROL.sub(" ", emails.get(customer_id, ""))
    shown = (email if ctx.show_emails else mask_email(email)) if email else ""
    return f"+ shopper profile for customer {customer_id}" + (f" ({shown})" if shown else "")


def _split(budget: int, adds: int, removes: int) -> tuple[int, int]:
    """Share a line budget between adds and removals; removals, the risky part, get the
    larger half, and whatever one list does not need goes to the other."""
    add_shown = min(adds, budget // 2)
    remove_shown = min(removes, budget - add_shown)
    add_shown = min(adds, budget - remove_shown)
    return add_shown, remove_shown


def _segment_block(seg: SegmentPlan, ctx: _Context, member_lines: int | None) -> list[str]:
    # Customers whose profile apply creates are added too: they count and show as adds.
    add_lines = [_member_line("+", pid, ctx) for pid in seg.add] + [
        _new_profile_line(cid, ctx) for cid in seg.add_customers
    ]
    adds, removes = len(add_lines), len(seg.remove)
    if member_lines is None:
        add_shown, remove_shown = adds, removes
    else:
        add_shown, remove_shown = _split(member_lines, adds, removes)
    after = seg.live_count + adds - removes
    guard = " · <b>over the removal guard</b>" if seg.guard_violation() else ""
    new = " · <b>new segment</b>" if seg.create else ""
    lines = [
        f"<details><summary><code>{escape_inline(seg.name)}</code> "
        f"+{adds} −{removes} · {seg.live_count} → {after} members{new}{guard}</summary>",
        "",
        "Created by apply" + (f": {escape_inline(seg.description)}" if seg.description else "")
        if seg.create
        else f"Segment id `{seg.segment_id}`",
        "",
    ]
    for change in seg.changes:
        lines.append(
            f'- `~ {change.field}`: "{escape_inline(change.old)}" → "{escape_inline(change.new)}"'
        )
    if seg.changes:
        lines.append("")
    if adds or removes:  # a rename alone, or an empty new segment, has no diff to show
        lines.append("```diff")
        lines += add_lines[:add_shown]
        if add_shown < adds:
            lines.append(f"  ... and {adds - add_shown} more to add")
        lines += [_member_line("-", pid, ctx) for pid in seg.remove[:remove_shown]]
        if remove_shown < removes:
            lines.append(f"  ... and {removes - remove_shown} more to remove")
        lines += ["```", ""]
    lines += ["</details>", ""]
    return lines


def _shown(items: Sequence[T], limit: int | None) -> tuple[Sequence[T], int]:
    """The first `limit` items (all when None) and how many are left out."""
    if limit is None or limit >= len(items):
        return items, 0
    return items[:limit], len(items) - limit


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def _compose(ctx: _Context, cut: _Cut) -> str:
    plan = ctx.plan
    out = [
        _marker(plan),
        f"### reconciler plan for store <code>{escape_inline(plan.store_hash)}</code>",
        "",
        f"**{summary_line(plan)}**",
        "",
    ]
    if plan.remove_count:
        with_removals = sum(1 for s in ctx.changed if s.remove)
        out += [
            "> [!WARNING]",
            f"> This plan removes {_plural(plan.remove_count, 'member')} from "
            f"{_plural(with_removals, 'segment')}. Removed customers lose the prices, "
            "promotions and content the segment gives them.",
            "",
        ]
    violations = [str(v) for v in plan.guard_violations()]
    if violations:
        shown, hidden = _shown(violations, cut.notes)
        out += [
            "> [!CAUTION]",
            "> **Apply will refuse this plan (removal guard).**",
            ">",
            *(f"> - {escape_inline(v)}" for v in shown),
        ]
        if hidden:
            out.append(f"> - ... and {hidden} more")
        out += [
            ">",
            "> If these removals are intended, run apply with "
            f"`--allow-removals {plan.remove_count}` (the plan's total removal count).",
            "",
        ]
    if plan.warnings:
        shown, hidden = _shown(plan.warnings, cut.notes)
        if not ctx.show_emails:
            shown = [mask_emails_in(w) for w in shown]
        out += ["**Warnings**", "", *(f"- {escape_inline(w)}" for w in shown)]
        if hidden:
            out.append(f"- ... and {hidden} more")
        out.append("")

    segments, hidden_segments = _shown(ctx.changed, cut.segments)
    not_shown = sum(len(s.add) + len(s.remove) for s in ctx.changed[len(segments) :])
    for seg in segments:
        out += _segment_block(seg, ctx, cut.member_lines)
        if cut.member_lines is not None:
            add_shown, remove_shown = _split(cut.member_lines, len(seg.add), len(seg.remove))
            not_shown += len(seg.add) - add_shown + len(seg.remove) - remove_shown
    unchanged = len(plan.segments) - len(ctx.changed)
    if unchanged and plan.has_changes:
        out += [f"{_plural(unchanged, 'declared segment')} already up to date.", ""]

    if not_shown or cut != _Cut():
        where = (
            f" ({_plural(hidden_segments, 'segment')} not listed at all)" if hidden_segments else ""
        )
        what = (
            f": {not_shown} more {'change is' if not_shown == 1 else 'changes are'} "
            f"not shown{where}"
            if not_shown
            else ""
        )
        out += [
            f"_The plan was cut to fit a comment{what}. The full plan is in {ctx.artifact_hint}._",
            "",
        ]
    footer = [f"config <code>{escape_inline(plan.config_digest[:19])}</code>"]
    if plan.tool_version:
        footer.append(f"reconciler {escape_inline(plan.tool_version)}")
    if plan.created_at:
        footer.append(f"made {escape_inline(plan.created_at)}")
    out.append(f"<sub>{' · '.join(footer)}</sub>")
    return "\n".join(out) + "\n"


def _largest(low: int, high: int, fits: Callable[[int], bool]) -> int | None:
    """The largest n in [low, high] for which fits(n), assuming fits is monotone."""
    if high < low or not fits(low):
        return None
    while low < high:
        mid = (low + high + 1) // 2
        if fits(mid):
            low = mid
        else:
            high = mid - 1
    return low


def render_markdown(
    plan: Plan,
    *,
    show_emails: bool = False,
    limit: int = GITHUB_COMMENT_LIMIT,
    artifact_hint: str = DEFAULT_ARTIFACT_HINT,
    emails: Mapping[str, str] | None = None,
) -> str:
    """The plan as one pull-request comment of at most `limit` characters.

    `emails` maps shopper profile ids to email addresses, shown masked unless
    `show_emails`. `artifact_hint` is markdown, inserted as given, naming where the full
    plan is when the comment had to be cut. Raises ValueError when `limit` cannot hold
    even the heading and the summary."""
    ctx = _Context(
        plan=plan,
        changed=plan.changed,
        emails=emails or {},
        show_emails=show_emails,
        artifact_hint=artifact_hint,
    )

    def fits(cut: _Cut) -> str | None:
        text = _compose(ctx, cut)
        return text if _size(text) <= limit else None

    # Cut the least useful part first: long member lists, then whole segments (from the
    # end), then long lists of guard violations and warnings.
    if (text := fits(_Cut())) is not None:
        return text
    longest = max((len(s.add) + len(s.remove) for s in ctx.changed), default=0)
    lines = _largest(0, max(longest - 1, 0), lambda n: fits(_Cut(member_lines=n)) is not None)
    if lines is not None:
        return _compose(ctx, _Cut(member_lines=lines))
    segments = _largest(
        0,
        max(len(ctx.changed) - 1, 0),
        lambda n: fits(_Cut(member_lines=0, segments=n)) is not None,
    )
    if segments is not None:
        return _compose(ctx, _Cut(member_lines=0, segments=segments))
    longest_notes = max(len(plan.guard_violations()), len(plan.warnings))
    notes = _largest(
        0,
        max(longest_notes - 1, 0),
        lambda n: fits(_Cut(member_lines=0, segments=0, notes=n)) is not None,
    )
    if notes is not None:
        return _compose(ctx, _Cut(member_lines=0, segments=0, notes=notes))
    raise ValueError(f"a comment limit of {limit} characters cannot hold this plan's summary")
