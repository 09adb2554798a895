"""The summary apply prints: what failed, what was not attempted, what was verified."""

from __future__ import annotations

import uuid

from reconciler.outcome import ApplyResult, ChangeResult, SetupResult, Verification
from reconciler.render.apply_report import render_apply_summary

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
