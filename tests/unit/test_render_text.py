"""Rendered plans against golden files (set UPDATE_GOLDEN=1 to rewrite them)."""

from __future__ import annotations

import dataclasses

from reconciler.model import DesiredSegment, DesiredState, LiveSegment, LiveState
from reconciler.plan import Plan, compute_plan
from reconciler.render.masking import masked as masked_plan
from reconciler.render.text import render_text
from tests.goldens import SEG_A, SEG_B, SEG_C, P, check


def mixed_plan() -> Plan:
    d = DesiredState(
        segments=(
            DesiredSegment(name="VIP", id=None, profiles=frozenset(P[:40])),
            DesiredSegment(name="Wholesale", id=None, profiles=frozenset(P[100:103])),
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
        customer_ids={P[40]: 7, P[41]: 8},
    )
    return compute_plan(d, lv, store_hash="abc123", config_digest="sha256:" + "0" * 64)


def test_mixed_plan_text() -> None:
    check("plan_mixed.txt", render_text(mixed_plan(), max_lines=5))


def test_no_color_has_no_escape_codes_and_color_has_them() -> None:
    plan = mixed_plan()
    assert "\033[" not in render_text(plan, color=False)
    assert "\033[32m+" in render_text(plan, color=True)


def test_summary_is_the_last_line() -> None:
    lines = render_text(mixed_plan()).splitlines()
    assert lines[-1] == "Plan: 10 to add, 19 to remove."


def test_no_changes_text() -> None:
    d = DesiredState(segments=(DesiredSegment(name="VIP", id=None, profiles=frozenset(P[:2])),))
    lv = LiveState(segments=(LiveSegment(SEG_A, "VIP"),), members={SEG_A: frozenset(P[:2])})
    plan = compute_plan(d, lv, store_hash="abc", config_digest="sha256:" + "0" * 64)
    assert render_text(plan).splitlines()[-1] == "No changes."


def customers_plan() -> Plan:
    from reconciler.model import Customer, CustomerRef

    refs = (CustomerRef(customer_id=42), CustomerRef(email="ann@example.com"))
    d = DesiredState(
        segments=(
            DesiredSegment(
                name="VIP",
                id=None,
                profiles=frozenset(P[:2]),
                description="Top buyers",
                customers=refs,
            ),
            DesiredSegment(
                name="Beta",
                id=None,
                profiles=frozenset(P[3:4]),
                description='Early "access"',
                customers=(CustomerRef(customer_id=42),),
            ),
            DesiredSegment(name="Renamed", id=SEG_C, profiles=frozenset()),
        )
    )
    lv = LiveState(
        segments=(LiveSegment(SEG_A, "VIP", "Best customers"), LiveSegment(SEG_C, "Old")),
        members={SEG_A: frozenset(P[1:3]), SEG_C: frozenset()},
        customer_ids={P[2]: 7},
        customers={
            42: Customer(42, "jane@example.com", None),
            43: Customer(43, "ann@example.com", P[9]),
        },
    )
    plan = compute_plan(d, lv, store_hash="abc123", config_digest="sha256:" + "0" * 64)
    from reconciler.plan import with_emails

    return with_emails(plan, {P[2]: "gone@example.com"})


def test_plan_with_customers_creations_and_updates_text() -> None:
    text = render_text(customers_plan())
    check("plan_customers.txt", text)
    assert text.splitlines()[-1] == (
        "Plan: 5 to add, 1 to remove, 1 segment to create, 2 segments to update, "
        "1 shopper profile to create."
    )
    assert "+ shopper profile for customer 42 (jane@example.com)" in text
    assert f"- {P[2]}  (customer 7, gone@example.com)" in text
    assert '~ description: "Best customers" -> "Top buyers"' in text


def test_masked_emails_leave_nothing_of_an_address_but_its_first_letter_and_domain() -> None:
    plan = customers_plan()
    plan = dataclasses.replace(plan, warnings=("ann@example.com is listed twice",))
    masked = render_text(masked_plan(plan))
    assert "+ shopper profile for customer 42 (j***@example.com)" in masked
    assert f"- {P[2]}  (customer 7, g***@example.com)" in masked
    assert "Warning: a***@example.com is listed twice" in masked
    for email in ("jane@", "gone@", "ann@"):
        assert email not in masked
    # Masking changes the emails and nothing else.
    plain = render_text(plan)
    for email in ("jane", "gone", "ann"):
        plain = plain.replace(f"{email}@", f"{email[0]}***@")
    assert masked == plain


def test_summary_without_creations_keeps_its_old_wording() -> None:
    assert render_text(mixed_plan()).splitlines()[-1] == "Plan: 10 to add, 19 to remove."


def test_store_data_cannot_add_lines_or_escape_codes_to_the_plan() -> None:
    """A segment named (in the store) with a newline and a workflow command, and a live
    member whose email hides the rest of the line: every line of the plan is one of its
    own, and no escape code gets through."""
    name = "Wholesale\n::error file=segments.yaml,line=1::Spoofed\x1b[8m"
    d = DesiredState(segments=(DesiredSegment(name=None, id=SEG_A, profiles=frozenset(P[:1])),))
    lv = LiveState(
        segments=(LiveSegment(SEG_A, name, description="\u202eevil"),),
        members={SEG_A: frozenset(P[1:2])},
        customer_ids={P[1]: 7},
    )
    plan = compute_plan(d, lv, store_hash="abc", config_digest="sha256:" + "0" * 64)
    plan = dataclasses.replace(plan, emails={P[1]: "x@example.com\x1b[2K\r"})
    text = render_text(plan)
    assert "\x1b" not in text and "\r" not in text and "\u202e" not in text
    assert not [ln for ln in text.splitlines() if ln.startswith("::")]
    assert '# segment "Wholesale\\n::error file=segments.yaml,line=1::Spoofed\\u001b[8m"' in text
    assert "(customer 7, x@example.com\\x1b[2K\\r)" in text
