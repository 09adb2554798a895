"""Apply's setup under faults, against the sandbox: a segment or a shopper profile that
cannot be made fails only its own changes, a lost response to a create is resolved by
reading the store (never a second segment or profile), and a re-run converges."""

from __future__ import annotations

import json
from typing import Any

import pytest

from reconciler.sandbox.faults import FaultConfig
from tests.integration.conftest import Result, Store

FAST = {
    "RECONCILER_HTTP_TIMEOUT": "2",
    "RECONCILER_BACKOFF_BASE": "0.01",
    "RECONCILER_MAX_RETRIES": "1",
}


def report(sb: Store) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads((sb.workdir / "report.json").read_text())
    return doc


def changes(doc: dict[str, Any], segment: str) -> list[dict[str, Any]]:
    return [c for c in doc["changes"] if c["segment"] == segment]


def next_seq_after_reads(sb: Store) -> int:
    """The sandbox's number for apply's first write: apply reads what plan reads, so run
    plan and count (the sandbox numbers every request since it started)."""
    sb.server.reset_log()
    assert sb.run("plan", env=sb.env(**FAST)).code == 0
    log = sb.log()
    return max(int(r["seq"]) for r in log) + len(log) + 1


def apply_losing_the_first_write(sb: Store) -> Result:
    """Apply, with the response to its first write lost: the write is committed, then the
    connection closes without an answer. The log holds apply's requests only."""
    nth = next_seq_after_reads(sb)
    sb.server.set_faults(FaultConfig(fail_nth=frozenset({nth}), nth_fault="lost"))
    sb.server.reset_log()
    return sb.run("apply", "--auto-approve", "--report", "report.json", env=sb.env(**FAST))


def test_a_segment_that_cannot_be_created_fails_only_its_own_changes(sandbox: Store) -> None:
    vip_members = sandbox.profiles(4)
    vip = sandbox.segment("VIP", vip_members)
    beta_members = sandbox.profiles(3)
    sandbox.config(
        {"VIP": vip_members[:2], "Beta": beta_members}, "safety:\n  max_removal_percent: 60"
    )
    # Every POST fails: the create (and so Beta's adds); VIP only removes, by DELETE.
    sandbox.server.set_faults(FaultConfig(error_rate=1.0, methods=frozenset({"POST"})))

    failed = sandbox.run(
        "apply", "--auto-approve", "--report", "report.json", env=sandbox.env(**FAST)
    )
    assert failed.code == 1, failed.out + failed.err
    assert 'create segment "Beta": gave up on POST /segments after 2 attempts' in failed.out
    assert sandbox.members(vip) == set(vip_members[:2])  # the other segment's changes applied
    assert "Verified: 1 changed segment holds what was applied." in failed.out
    assert sandbox.store.segment_by_name("Beta") is None
    doc = report(sandbox)
    (setup,) = doc["setup"]
    assert (setup["kind"], setup["subject"], setup["status"]) == (
        "create_segment",
        "Beta",
        "failed",
    )
    beta = changes(doc, "Beta")
    assert {c["profile_id"] for c in beta} == set(beta_members)
    assert all(c["status"] == "failed" for c in beta)
    assert all(c["reason"].startswith("the segment was not created: gave up on POST") for c in beta)
    assert {c["status"] for c in changes(doc, "VIP")} == {"applied"}

    sandbox.server.set_faults(None)
    again = sandbox.run("apply", "--auto-approve", env=sandbox.env(**FAST))
    assert again.code == 0, again.out + again.err
    assert "Verified: 1 changed segment now matches the plan." in again.out
    created = sandbox.store.segment_by_name("Beta")
    assert created is not None and sandbox.members(created["id"]) == set(beta_members)
    sandbox.assert_api_rules()


def test_a_lost_create_response_finds_the_segment_it_made(sandbox: Store) -> None:
    members = sandbox.profiles(3)
    sandbox.config({"Beta": members})
    # The retry of the lost create meets a 409 (the name exists), and the store is asked
    # which segment that is.
    applied = apply_losing_the_first_write(sandbox)
    assert applied.code == 0, applied.out + applied.err
    creates = [
        r for r in sandbox.log() if r["method"] == "POST" and r["path"].endswith("/segments")
    ]
    assert [r["status"] for r in creates] == [201, 409]
    named = [s for s in sandbox.store.segments.values() if s["name"] == "Beta"]
    assert len(named) == 1 and sandbox.members(named[0]["id"]) == set(members)
    (setup,) = report(sandbox)["setup"]
    assert (setup["status"], setup["id"]) == ("already", named[0]["id"])
    sandbox.assert_api_rules()


def customer_without_profile(sb: Store, email: str) -> int:
    return int(sb.store.add_customer(email=email)["id"])


def test_a_profile_that_cannot_be_created_fails_only_its_customer(sandbox: Store) -> None:
    members = sandbox.profiles(3)
    vip = sandbox.segment("VIP", members)
    jane = customer_without_profile(sandbox, "jane@example.com")
    sandbox.config(
        {"VIP": [*members[:2], f"customer_id: {jane}"]}, "safety:\n  max_removal_percent: 50"
    )
    sandbox.server.set_faults(FaultConfig(error_rate=1.0, methods=frozenset({"POST"})))

    failed = sandbox.run(
        "apply", "--auto-approve", "--report", "report.json", env=sandbox.env(**FAST)
    )
    assert failed.code == 1, failed.out + failed.err
    assert (
        f"create a shopper profile for customer {jane}: gave up on POST /shopper-profiles"
        in failed.out
    )
    assert sandbox.members(vip) == set(members[:2])  # the removal went ahead
    assert sandbox.store.profile_of(jane) is None
    doc = report(sandbox)
    (jane_change,) = [c for c in changes(doc, "VIP") if c["action"] == "add"]
    assert jane_change["profile_id"] == f"customer {jane}"
    assert jane_change["status"] == "failed"
    assert jane_change["reason"].startswith("no shopper profile: gave up on POST /shopper-profiles")

    sandbox.server.set_faults(None)
    again = sandbox.run("apply", "--auto-approve", env=sandbox.env(**FAST))
    assert again.code == 0, again.out + again.err
    profile = sandbox.store.profile_of(jane)
    assert profile is not None
    assert sandbox.members(vip) == {*members[:2], str(profile["id"])}


def test_a_lost_profile_response_uses_the_profile_it_made(sandbox: Store) -> None:
    members = sandbox.profiles(2)
    vip = sandbox.segment("VIP", members)
    jane = customer_without_profile(sandbox, "jane@example.com")
    sandbox.config({"VIP": [*members, f"customer_id: {jane}"]})
    applied = apply_losing_the_first_write(sandbox)
    assert applied.code == 0, applied.out + applied.err
    made = [
        r
        for r in sandbox.log()
        if r["method"] == "POST"
        and r["path"].endswith("/shopper-profiles")
        and "/segments/" not in r["path"]
    ]
    assert [r["status"] for r in made] == [201, 409]
    profiles = [p for p in sandbox.store.profiles.values() if p["customer_id"] == jane]
    assert len(profiles) == 1  # one profile, not two
    assert sandbox.members(vip) == {*members, str(profiles[0]["id"])}
    (setup,) = report(sandbox)["setup"]
    assert (setup["kind"], setup["status"]) == ("create_profile", "already")
    sandbox.assert_api_rules()


def apply_with(sb: Store, faults: FaultConfig, **env: str) -> Result:
    sb.server.set_faults(faults)
    sb.server.reset_log()
    return sb.run("apply", "--auto-approve", "--report", "report.json", env=sb.env(**env))


@pytest.mark.parametrize("fault", ["lost", "slow"])
def test_an_unanswered_update_is_resolved_by_reading_the_segments(
    sandbox: Store, fault: str
) -> None:
    members = sandbox.profiles(2)
    alpha = sandbox.segment("Alpha", members)
    sandbox.config({"Alpha": members}, Alpha="description: Our best customers")
    nth = next_seq_after_reads(sandbox)
    # Every attempt of the PUT is committed and its answer never arrives (lost, or later
    # than the timeout): only reading the store can tell that it was made.
    applied = apply_with(
        sandbox,
        FaultConfig(fail_nth=frozenset({nth, nth + 1}), nth_fault=fault, slow_response_s=1.5),
        **{**FAST, "RECONCILER_HTTP_TIMEOUT": "1"},
    )
    assert applied.code == 0, applied.out + applied.err
    assert "Failed setup" not in applied.out
    assert "Apply complete: 0 added, 0 removed, 1 segment updated." in applied.out
    assert sandbox.store.segments[alpha]["description"] == "Our best customers"
    assert [r["method"] for r in sandbox.log()][-3:] == ["PUT", "PUT", "GET"]  # one re-read
    (setup,) = report(sandbox)["setup"]
    assert (setup["kind"], setup["status"], setup["id"]) == ("update_segment", "already", alpha)
    assert (
        setup["reason"]
        == "the store holds the new values (updated by this apply, or since the plan)"
    )
    assert report(sandbox)["outcome"] == "complete"
    sandbox.server.set_faults(None)
    assert sandbox.run("plan", "--detailed-exitcode", env=sandbox.env(**FAST)).code == 0


def test_an_update_the_store_did_not_make_fails_with_the_reason_it_gave(sandbox: Store) -> None:
    members = sandbox.profiles(2)
    alpha = sandbox.segment("Alpha", members)
    sandbox.config({"Alpha": members}, Alpha="description: Our best customers")
    # Every PUT answered 503 before it is handled: the re-read finds the old description.
    failed = apply_with(sandbox, FaultConfig(error_rate=1.0, methods=frozenset({"PUT"})), **FAST)
    assert failed.code == 1, failed.out + failed.err
    assert 'update segment "Alpha": gave up on PUT /segments after 2 attempts' in failed.out
    assert sandbox.store.segments[alpha]["description"] == ""
    assert [r["method"] for r in sandbox.log()][-3:] == ["PUT", "PUT", "GET"]
    (setup,) = report(sandbox)["setup"]
    assert setup["status"] == "failed"
    assert setup["reason"].startswith("gave up on PUT /segments after 2 attempts")


def test_an_update_the_store_refused_is_not_re_read(sandbox: Store) -> None:
    members = sandbox.profiles(2)
    alpha = sandbox.segment("Alpha", members)
    sandbox.config({"Gold": members}, Gold=f"id: {alpha}")

    def someone_else(method: str, path: str) -> None:
        # The name is taken between plan and apply: the store answers 409, a definite no.
        if method == "PUT" and not sandbox.store.segment_by_name("Gold"):
            sandbox.store.add_segment("Gold")

    sandbox.server.app.before_handler = someone_else
    failed = apply_with(sandbox, FaultConfig(), **FAST)
    assert failed.code == 1, failed.out + failed.err
    assert 'update segment "Alpha": PUT /segments was refused with a conflict (409)' in failed.out
    assert [r["method"] for r in sandbox.log()][-1] == "PUT"  # nothing to read after a no
    assert sandbox.store.segments[alpha]["name"] == "Alpha"
    (setup,) = report(sandbox)["setup"]
    assert setup["status"] == "failed"
