"""The plan as a pull-request comment: golden output, the size limit, masking, escaping.
Set UPDATE_GOLDEN=1 to rewrite the golden file."""

from __future__ import annotations

import re
import subprocess
import sys
from dataclasses import replace

import pytest

from reconciler.model import DesiredSegment, DesiredState, LiveSegment, LiveState, SafetyPolicy
from reconciler.plan import Plan, SegmentPlan, compute_plan
from reconciler.render.markdown import escape_inline, render_markdown
from reconciler.render.masking import mask_email
from reconciler.render.text import summary_line
from tests.goldens import SEG_A, SEG_B, SEG_C, P, check

DIGEST = "sha256:" + "0" * 64
CUT_NOTE = "_The plan was cut to fit a comment"
WORD_JOINER = "\u2060"


def mixed_plan() -> Plan:
    d = DesiredState(
        segments=(
            DesiredSegment(name="VIP", id=None, profiles=frozenset(P[:40])),
            # Pinned by id under another name: the plan renames the store's segment.
            DesiredSegment(name="Wholesale (old)", id=SEG_B, profiles=frozenset(P[100:103])),
            DesiredSegment(name="Beta", id=None, profiles=frozenset(P[150:151])),
        )
    )
    lv = LiveState(
        segments=(
            LiveSegment(SEG_A, "VIP"),
            LiveSegment(SEG_B, "Wholesale"),
            LiveSegment(SEG_C, "Beta"),
        ),
        members={
            SEG_A: frozenset(P[10:42]),
            SEG_B: frozenset(P[100:120]),
            SEG_C: frozenset(P[150:151]),
        },
        customer_ids={P[0]: 41, P[40]: 7, P[41]: 8},
    )
    return compute_plan(d, lv, store_hash="abc123", config_digest=DIGEST, tool_version="0.1.0")


def big_plan(adds: int, removes: int, segments: int = 1, name: str = "Everyone") -> Plan:
    """Built directly (not diffed) so a 20,000-change plan costs nothing to make."""
    ids = [f"00000000-0000-4000-8000-{i:012d}" for i in range(adds + removes)]
    per_add, per_remove = adds // segments, removes // segments
    plans = []
    for n in range(segments):
        add = tuple(ids[n * per_add : (n + 1) * per_add])
        remove = tuple(ids[adds + n * per_remove : adds + (n + 1) * per_remove])
        plans.append(
            SegmentPlan(
                segment_id=f"00000000-0000-4000-9000-{n:012d}",
                name=f"{name} {n}",
                add=add,
                remove=remove,
                live_count=len(remove) * 10,
                live_digest=DIGEST,
                live_members=remove,
            )
        )
    return Plan(segments=tuple(plans), store_hash="abc123", config_digest=DIGEST)


def members_shown(text: str) -> int:
    return len(re.findall(r"^[+-] [0-9a-f-]{36}", text, flags=re.MULTILINE))


def assert_well_formed(text: str) -> None:
    """Every fence and <details> block that opens also closes, in order."""
    depth, fence = 0, False
    for line in text.splitlines():
        if line.startswith("```"):
            fence = not fence
        elif not fence and line.startswith("<details>"):
            depth += 1
        elif not fence and line == "</details>":
            depth -= 1
            assert depth == 0, "a </details> closes nothing"
    assert not fence, "a code fence is left open"
    assert depth == 0, "a <details> block is left open"


def test_mixed_plan_markdown() -> None:
    check("plan_mixed.md", render_markdown(mixed_plan(), emails={P[0]: "jane@example.com"}))


def test_marker_is_the_first_line_and_names_the_store() -> None:
    first = render_markdown(mixed_plan()).splitlines()[0]
    assert first == "<!-- reconciler-plan: store=abc123 -->"


def test_a_hostile_store_hash_cannot_close_the_marker_comment() -> None:
    plan = Plan(segments=(), store_hash="x --> <b>hi</b>", config_digest=DIGEST)
    first = render_markdown(plan).splitlines()[0]
    assert first.startswith("<!-- reconciler-plan: store=x")
    assert first.count("-->") == 1 and first.endswith("-->")
    assert "<b>hi</b>" not in render_markdown(plan)


def test_summary_line_is_the_text_renderers_and_comes_first() -> None:
    plan = mixed_plan()
    lines = render_markdown(plan).splitlines()
    assert summary_line(plan) == "Plan: 10 to add, 19 to remove, 1 segment to update."
    body = [line for line in lines[2:] if line]
    assert body[0] == f"**{summary_line(plan)}**"


def test_no_changes() -> None:
    d = DesiredState(segments=(DesiredSegment(name="VIP", id=None, profiles=frozenset(P[:2])),))
    lv = LiveState(segments=(LiveSegment(SEG_A, "VIP"),), members={SEG_A: frozenset(P[:2])})
    text = render_markdown(compute_plan(d, lv, store_hash="abc", config_digest=DIGEST))
    assert text.startswith("<!-- reconciler-plan: store=abc -->\n")
    assert "**No changes.**" in text
    for absent in ("<details>", "[!WARNING]", "[!CAUTION]", CUT_NOTE, "already up to date"):
        assert absent not in text


def test_banners_follow_removals_and_the_guard() -> None:
    only_adds = big_plan(adds=5, removes=0)
    assert "[!WARNING]" not in render_markdown(only_adds)
    assert "[!CAUTION]" not in render_markdown(only_adds)

    # 1 of 10 live members: under the 30% guard, so a warning but no caution.
    within_guard = big_plan(adds=0, removes=1)
    assert within_guard.segments[0].live_count == 10
    text = render_markdown(within_guard)
    assert "> [!WARNING]\n> This plan removes 1 member from 1 segment." in text
    assert "[!CAUTION]" not in text

    plan = mixed_plan()
    text = render_markdown(plan)
    caution = text[text.index("> [!CAUTION]") :]
    (violation,) = plan.guard_violations()
    assert f"> - {violation}\n" in caution
    assert "`--allow-removals 19`" in caution
    assert text.index("[!WARNING]") < text.index("[!CAUTION]") < text.index("<details>")


def test_plan_warnings_are_listed_before_the_segments() -> None:
    plan = replace(mixed_plan(), warnings=('segment "vip" will be created; the store has "VIP"',))
    (warning,) = plan.warnings
    text = render_markdown(plan)
    assert f"- {warning}" in text
    assert text.index(warning) < text.index("<details>")


def test_one_collapsed_block_per_changed_segment_with_counts() -> None:
    text = render_markdown(mixed_plan())
    summaries = re.findall(r"^<details><summary>(.*)</summary>$", text, flags=re.MULTILINE)
    assert summaries == [
        "<code>VIP</code> +10 −2 · 32 → 40 members",
        "<code>Wholesale</code> +0 −17 · 20 → 3 members · <b>over the removal guard</b>",
    ]
    assert f"+ {P[0]}  (customer 41)" in text
    assert f"- {P[40]}  (customer 7)" in text
    assert f"- {P[41]}  (customer 8)\n" in text
    assert_well_formed(text)


def test_emails_are_masked_unless_asked() -> None:
    plan = mixed_plan()
    emails = {P[0]: "jane.doe@example.com", P[40]: "bob@shop.test"}
    masked = render_markdown(plan, emails=emails)
    assert f"+ {P[0]}  (customer 41, j***@example.com)" in masked
    assert f"- {P[40]}  (customer 7, b***@shop.test)" in masked
    assert "jane.doe" not in masked and "bob@" not in masked
    shown = render_markdown(plan, emails=emails, show_emails=True)
    assert f"+ {P[0]}  (customer 41, jane.doe@example.com)" in shown
    assert f"- {P[40]}  (customer 7, bob@shop.test)" in shown


def test_emails_quoted_in_warnings_are_masked_unless_asked() -> None:
    warning = 'segments.yaml:11:16: jane.doe@example.com is already listed in segment "VIP"'
    plan = replace(mixed_plan(), warnings=(warning,))
    masked = render_markdown(plan)
    assert "jane.doe" not in masked
    assert f"- {escape_inline(warning.replace('jane.doe@', 'j***@'))}" in masked
    assert "jane.doe@" in render_markdown(plan, show_emails=True)


def test_an_email_cannot_add_lines_to_the_comment() -> None:
    emails = {P[0]: "a@b.c\n```\n</details>\n<script>"}
    text = render_markdown(mixed_plan(), emails=emails, show_emails=True)
    assert "\n</details>\n<script>" not in text
    assert_well_formed(text)


@pytest.mark.parametrize(
    ("email", "masked"),
    [
        ("jane@example.com", "j***@example.com"),
        ("j@example.com", "j***@example.com"),
        ("@example.com", "***@example.com"),
        ("odd@name@example.com", "o***@example.com"),
        ("not-an-email", "***"),
    ],
)
def test_mask_email(email: str, masked: str) -> None:
    assert mask_email(email) == masked


def test_segment_names_cannot_break_the_comment() -> None:
    name = "<script>alert(1)</script> `x` | *y* [z](http://e) @team #12 ~~s~~ \\"
    plan = big_plan(adds=1, removes=0, name=name)
    text = render_markdown(plan)
    (summary,) = re.findall(r"^<details><summary>(.*)</summary>$", text, flags=re.MULTILINE)
    code = summary[len("<code>") : summary.index("</code>")]
    for raw in ("<", ">", "`", "|", "*", "[", "]", "~", "\\"):
        assert raw not in code, raw
    assert "&lt;script&gt;" in code
    assert "@" + WORD_JOINER + "team" in code and "#" + WORD_JOINER + "12" in code
    assert "<script>" not in text
    assert_well_formed(text)


def test_escaped_names_in_guard_violations_and_warnings() -> None:
    d = DesiredState(
        segments=(DesiredSegment(name="`old`", id=SEG_A, profiles=frozenset()),),
        safety=SafetyPolicy(max_removal_percent=10, min_members_for_guard=1),
    )
    lv = LiveState(segments=(LiveSegment(SEG_A, "<i>new</i>"),), members={SEG_A: frozenset(P)})
    plan = compute_plan(d, lv, store_hash="s", config_digest=DIGEST)
    plan = replace(plan, warnings=('segment "`old`" warned',))
    text = render_markdown(plan)
    assert "<i>" not in text and "`old`" not in text
    assert 'segment "&lt;i&gt;new&lt;/i&gt;": 199 of 199 members' in text
    assert '"&#96;old&#96;"' in text


def test_a_20000_change_plan_fits_a_github_comment_with_exact_totals() -> None:
    plan = big_plan(adds=12_000, removes=8_000, segments=2)
    text = render_markdown(plan)
    assert len(text) <= 65_536
    assert "**Plan: 12000 to add, 8000 to remove.**" in text
    shown = members_shown(text)
    assert 0 < shown < 20_000
    not_shown = 20_000 - shown
    assert (
        f"{CUT_NOTE}: {not_shown} more changes are not shown. "
        "The full plan is in the JSON plan artifact._"
    ) in text
    # Both segments are still there, each cut to the same budget, removals included.
    assert text.count("<details>") == 2
    assert "more to add" in text and "more to remove" in text
    assert_well_formed(text)
    # Not needlessly short: the cut keeps most of the room.
    assert len(text) > 60_000


def test_many_segments_are_dropped_from_the_end_when_blocks_alone_do_not_fit() -> None:
    plan = big_plan(adds=3_000, removes=0, segments=3_000, name="x" * 100)
    text = render_markdown(plan)
    assert len(text) <= 65_536
    assert "**Plan: 3000 to add, 0 to remove.**" in text
    blocks = text.count("<details>")
    assert 0 < blocks < 3_000
    hidden = 3_000 - blocks
    assert (
        f"{CUT_NOTE}: 3000 more changes are not shown ({hidden} segments not listed at all)."
    ) in text
    assert_well_formed(text)


def test_a_plan_that_fits_is_not_cut_and_one_character_less_cuts_it() -> None:
    plan = big_plan(adds=300, removes=200, segments=2)
    full = render_markdown(plan, limit=10**9)
    assert CUT_NOTE not in full
    assert render_markdown(plan, limit=len(full)) == full
    cut = render_markdown(plan, limit=len(full) - 1, artifact_hint="`plan.json` of this run")
    assert len(cut) <= len(full) - 1
    assert CUT_NOTE in cut and "The full plan is in `plan.json` of this run._" in cut
    assert "**Plan: 300 to add, 200 to remove.**" in cut


@pytest.mark.parametrize("limit", [700, 900, 1_200, 2_000, 3_500, 5_000, 8_000])
def test_every_limit_is_respected_and_the_structure_stays_valid(limit: int) -> None:
    plan = big_plan(adds=120, removes=80, segments=4)
    text = render_markdown(plan, limit=limit)
    assert len(text) <= limit
    assert "**Plan: 120 to add, 80 to remove.**" in text
    assert CUT_NOTE in text
    assert_well_formed(text)


def test_the_limit_counts_wide_characters_as_github_might() -> None:
    # An emoji is one code point but two UTF-16 units: the renderer counts the larger.
    plan = big_plan(adds=200, removes=0, name="\U0001f600" * 50)
    text = render_markdown(plan, limit=4_000)
    assert len(text.encode("utf-16-le")) // 2 <= 4_000


def test_a_limit_too_small_for_the_summary_is_an_error() -> None:
    with pytest.raises(ValueError, match="cannot hold"):
        render_markdown(mixed_plan(), limit=50)


def test_the_renderer_imports_neither_httpx_nor_click() -> None:
    code = (
        "import sys, reconciler.render.markdown\n"
        "print(sorted(m for m in ('httpx', 'click', 'httpcore') if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert out == "[]"


def test_created_segments_and_shopper_profiles_are_shown() -> None:
    from reconciler.plan import NewProfile

    seg = SegmentPlan(
        segment_id=None,
        name="Beta <testers>",
        add=("00000000-0000-4000-8000-000000000001",),
        remove=(),
        live_count=0,
        live_digest=None,
        create=True,
        description="Early access",
        add_customers=(42,),
    )
    plan = Plan(
        segments=(seg,),
        store_hash="abc123",
        config_digest="sha256:" + "0" * 64,
        create_profiles=(NewProfile(42, "jane@example.com"),),
    )
    md = render_markdown(plan)
    assert "<b>new segment</b>" in md
    assert "Created by apply: Early access" in md
    assert "+2 −0 · 0 → 2 members" in md
    assert "+ shopper profile for customer 42 (j***@example.com)" in md
    assert "jane@example.com" not in md
    assert "&lt;testers&gt;" in md
    assert "+ shopper profile for customer 42 (jane@example.com)" in render_markdown(
        plan, show_emails=True
    )


def test_a_rename_alone_shows_no_empty_diff_block() -> None:
    d = DesiredState(segments=(DesiredSegment(name="Renamed", id=SEG_C, profiles=frozenset()),))
    lv = LiveState(segments=(LiveSegment(SEG_C, "Old"),), members={SEG_C: frozenset()})
    text = render_markdown(
        compute_plan(d, lv, store_hash="abc", config_digest="sha256:" + "0" * 64)
    )
    assert '- `~ name`: "Old" → "Renamed"' in text
    assert "```diff" not in text
    assert_well_formed(text)
