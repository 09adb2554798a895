"""The summary apply prints: what failed, what was not attempted, what was verified."""

from __future__ import annotations

import uuid

from reconciler.outcome import ApplyResult, ChangeResult, SetupResult, Verification
from reconciler.plan import Plan
from reconciler.render.apply_report import apply_report_document, render_apply_summary

P1, P2 = "11111111-1111-4111-8111-111111111111", "22222222-2222-4222-8222-222222222222"
SEG = "33333333-3333-4333-8333-333333333333"


def result(*changes: ChangeResult, verified: int = 1) -> ApplyResult:
    r = ApplyResult()
    for c in changes:
        r.changes[(c.segment_id, c.action, c.profile_id)] = c
    r.verification = [Verification(f"s{i}", f"S{i}", 0, 0) for i in range(verified)]
    return r


def test_a_clean_run_matches_the_plan_with_the_verb_agreeing() -> None:
    one = render_apply_summary(result(ChangeResult(SEG, "VIP", "add", P1, "applied")))
    assert one.splitlines()[-2:] == [
        "Verified: 1 changed segment now matches the plan.",
        "Apply complete: 1 added, 0 removed.",
    ]
    two = render_apply_summary(result(ChangeResult(SEG, "VIP", "add", P1, "applied"), verified=2))
    assert "Verified: 2 changed segments now match the plan." in two


def test_with_a_failure_the_check_does_not_claim_the_plan_was_met() -> None:
    text = render_apply_summary(
        result(
            ChangeResult(SEG, "VIP", "add", P1, "applied"),
            ChangeResult(SEG, "VIP", "add", P2, "failed", "the API answered 422"),
        )
    )
    assert "now match" not in text
    assert "Verified: 1 changed segment holds what was applied." in text
    assert f"    + {P2}: the API answered 422" in text
    assert (
        text.splitlines()[-1] == "Apply incomplete: 1 added, 0 removed; 1 failed, 0 not attempted."
    )


def test_a_failed_setup_step_is_listed_and_the_check_is_worded_as_partial() -> None:
    r = result(ChangeResult(SEG, "VIP", "remove", P1, "applied"))
    r.setup = [SetupResult("create_segment", "Beta", "failed", "gave up on POST /segments")]
    text = render_apply_summary(r)
    assert 'Failed setup:\n  create segment "Beta": gave up on POST /segments' in text
    assert "Verified: 1 changed segment holds what was applied." in text
    assert text.splitlines()[-1] == (
        "Apply incomplete: 0 added, 1 removed; 1 setup step failed, 0 failed, 0 not attempted."
    )


def test_failures_that_share_a_reason_are_one_line_each() -> None:
    denied = "the access token lacks the scope needed to add members (403 on POST /segments/x)"
    adds = [str(uuid.UUID(int=i, version=4)) for i in range(1, 101)]
    text = render_apply_summary(
        result(
            *(ChangeResult(SEG, "VIP", "add", p, "failed", denied) for p in adds),
            ChangeResult(SEG, "VIP", "remove", P1, "failed", denied),
            ChangeResult(SEG, "VIP", "add", P2, "failed", "the API answered 422"),
        )
    )
    assert text.splitlines()[:5] == [
        "Failed changes:",
        '  segment "VIP": 102 failed',
        f"    + 100 adds: {denied} (ids in --report)",
        f"    - {P1}: {denied}",
        f"    + {P2}: the API answered 422",
    ]


def test_an_interrupted_run_counts_what_failed_too() -> None:
    r = result(
        ChangeResult(SEG, "VIP", "add", P1, "failed", "gave up on POST"),
        ChangeResult(SEG, "VIP", "add", P2, "not_attempted"),
        verified=0,
    )
    r.interrupted = True
    assert render_apply_summary(r).splitlines()[-1] == (
        "Apply interrupted: 0 added, 0 removed; 1 failed, 1 not attempted. "
        "Run apply again to finish."
    )


def test_a_run_interrupted_once_every_change_was_made_says_only_the_check_was_cut_short() -> None:
    r = result(ChangeResult(SEG, "VIP", "add", P1, "applied"), verified=0)
    r.interrupted = True
    assert render_apply_summary(r).splitlines()[-1] == (
        "Apply interrupted: 1 added, 0 removed; every change was made, but not every segment "
        "was checked. Run plan to see whether the store matches."
    )


UNKNOWN = "sent, but no answer came before the stop: it may have been made; run plan to see"
PLAN = Plan(segments=(), store_hash="abc123", config_digest="0" * 64)


def test_changes_sent_but_unanswered_at_the_stop_are_counted_as_unknown() -> None:
    r = result(
        ChangeResult(SEG, "VIP", "add", P1, "applied"),
        ChangeResult(SEG, "VIP", "add", P2, "unknown", UNKNOWN),
        ChangeResult(SEG, "VIP", "remove", P1, "not_attempted"),
        verified=0,
    )
    r.interrupted = True
    assert not r.ok
    assert [c.profile_id for c in r.unknown] == [P2]
    assert r.added == 1  # not counted as made
    assert render_apply_summary(r).splitlines() == [
        "Unknown outcome (sent, but no answer came before the stop; run plan to see):",
        '  segment "VIP": 1 change unknown',
        "Not attempted:",
        '  segment "VIP": 1 change not attempted',
        "Apply interrupted: 1 added, 0 removed; 1 unknown (sent, no answer before the stop), "
        "1 not attempted. Run apply again to finish.",
    ]


def test_an_unknown_change_is_not_every_change_made() -> None:
    r = result(
        ChangeResult(SEG, "VIP", "add", P1, "applied"),
        ChangeResult(SEG, "VIP", "add", P2, "unknown", UNKNOWN),
        verified=0,
    )
    r.interrupted = True
    last = render_apply_summary(r).splitlines()[-1]
    assert "every change was made" not in last
    assert last == (
        "Apply interrupted: 1 added, 0 removed; 1 unknown (sent, no answer before the stop), "
        "0 not attempted. Run apply again to finish."
    )


def test_setup_steps_sent_but_unanswered_are_listed_and_counted_apart_from_failures() -> None:
    r = result(ChangeResult(SEG, "Beta", "add", P1, "not_attempted"), verified=0)
    r.setup = [
        SetupResult("create_segment", "Beta", "unknown", UNKNOWN),
        SetupResult("update_segment", "Alpha", "unknown", UNKNOWN, SEG),
        SetupResult("create_profile", "customer 7", "failed", "gave up on POST /shopper-profiles"),
    ]
    r.interrupted = True
    assert not r.ok
    assert r.setup_count("update_segment") == 0  # not counted as updated
    assert render_apply_summary(r).splitlines() == [
        "Failed setup:",
        "  create a shopper profile for customer 7: gave up on POST /shopper-profiles",
        "Unknown outcome (sent, but no answer came before the stop; run plan to see):",
        '  create segment "Beta"',
        '  update segment "Alpha"',
        "Not attempted:",
        '  segment "Beta": 1 change not attempted',
        "Apply interrupted: 0 added, 0 removed; 1 setup step failed, 2 setup steps unknown, "
        "1 not attempted. Run apply again to finish.",
    ]


def test_the_json_report_counts_unknown_changes_apart() -> None:
    r = result(
        ChangeResult(SEG, "VIP", "add", P1, "failed", "the API answered 422"),
        ChangeResult(SEG, "VIP", "add", P2, "unknown", UNKNOWN),
        verified=0,
    )
    r.interrupted = True
    doc = apply_report_document(PLAN, r)
    assert doc["outcome"] == "interrupted"
    assert (doc["summary"]["failed"], doc["summary"]["unknown"]) == (1, 1)
    assert [c["status"] for c in doc["changes"]] == ["failed", "unknown"]
