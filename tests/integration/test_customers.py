"""Members by customer id or email, shopper profiles created on apply, segments created by
name and updated: the real CLI against the sandbox."""

from __future__ import annotations

import json
import math

from reconciler.customers import filter_chunks
from tests.integration.conftest import Store


def customer(sb: Store, email: str, profile: bool) -> tuple[int, str | None]:
    c = sb.store.add_customer(email=email)
    pid = str(sb.store.add_profile(c["id"])["id"]) if profile else None
    return int(c["id"]), pid


def writes(sb: Store) -> list[dict[str, object]]:
    return [r for r in sb.log() if r["method"] in ("POST", "PUT", "DELETE")]


def test_a_config_mixing_uuids_ids_and_emails_applies_and_converges(sandbox: Store) -> None:
    kept = sandbox.profiles(3)
    gone = sandbox.profiles(2)
    by_id, by_id_pid = customer(sandbox, "ann@example.com", profile=True)
    _, by_email_pid = customer(sandbox, "Bob@Example.com", profile=True)
    new_by_id, _ = customer(sandbox, "jane@example.com", profile=False)
    new_by_email, _ = customer(sandbox, "kim@example.com", profile=False)
    vip = sandbox.segment("VIP", kept + gone)
    sandbox.config(
        {
            "VIP": [
                *kept,
                f"customer_id: {by_id}",
                "email: BOB@example.com",  # emails compare case-insensitively
                f"customer_id: {new_by_id}",
                "email: kim@example.com",
                f"customer_id: {by_id}",  # listed twice: a warning, counted once
            ]
        }
    )

    plan = sandbox.run("plan")
    assert plan.code == 0, plan.err
    lines = plan.out.splitlines()
    assert lines[-1] == "Plan: 4 to add, 2 to remove, 2 shopper profiles to create."
    assert f"  + shopper profile for customer {new_by_id} (jane@example.com)" in lines
    assert f"  + shopper profile for customer {new_by_email} (kim@example.com)" in lines
    assert f"+ {by_id_pid}  (customer {by_id}, ann@example.com)" in plan.out
    assert f"+ new shopper profile  (customer {new_by_id}, jane@example.com)" in plan.out
    # Removals are live members: customer id and email, looked up in bulk.
    removed = [ln for ln in lines if ln.strip().startswith("- ")]
    assert len(removed) == 2 and all("(customer " in ln and "@example.com)" in ln for ln in removed)
    assert "listed more than once" in plan.err
    assert writes(sandbox) == []

    sandbox.server.reset_log()
    applied = sandbox.run("apply", "--auto-approve")
    assert applied.code == 0, applied.out + applied.err
    assert applied.out.splitlines()[-1] == (
        "Apply complete: 4 added, 2 removed, 2 shopper profiles created."
    )
    new_pids = {str(sandbox.store.profile_of(c)["id"]) for c in (new_by_id, new_by_email)}  # type: ignore[index]
    assert sandbox.members(vip) == {*kept, by_id_pid, by_email_pid, *new_pids}
    sandbox.assert_api_rules()
    # Profiles before adds, adds before removes; one bulk profile creation.
    order = [(r["method"], str(r["path"]).rsplit("/", 1)[-1]) for r in writes(sandbox)]
    assert order[0] == ("POST", "shopper-profiles") and order[-1][0] == "DELETE"
    assert sum(1 for r in writes(sandbox) if str(r["path"]).endswith("/v3/shopper-profiles")) == 1

    again = sandbox.run("plan", "--detailed-exitcode")
    assert again.code == 0, again.out + again.err
    assert again.out.splitlines()[-1] == "No changes."


def test_unknown_customers_fail_the_plan_with_file_and_line_and_nothing_is_written(
    sandbox: Store,
) -> None:
    known, _ = customer(sandbox, "ann@example.com", profile=False)
    sandbox.segment("VIP")
    path = sandbox.config(
        {
            "VIP": [
                f"customer_id: {known}",
                "customer_id: 9999",
                "email: nobody@example.com",
                "customer_id: 8888",
            ]
        },
        Beta="description: never created",
    )
    for args in (["plan"], ["apply", "--auto-approve"]):
        result = sandbox.run(*args)
        assert result.code == 1, result.out + result.err
        err = result.err.replace(str(path), path.name)
        assert (
            'segments.yaml:6:22: customer 9999 does not exist in the store (segment "VIP")' in err
        )
        assert (
            "segments.yaml:7:16: no customer in the store has the email nobody@example.com" in err
        )
        assert "segments.yaml:8:22: customer 8888 does not exist" in err
        assert f"customer {known} " not in err
    assert writes(sandbox) == []


def test_a_plan_that_fails_on_an_unknown_customer_looks_up_no_emails(sandbox: Store) -> None:
    # The emails of the lines a plan shows are looked up while it is computed; a plan
    # bound to fail costs no look-up of them.
    members = sandbox.profiles(3)  # customers 1-3, to be removed
    sandbox.segment("VIP", members)
    sandbox.config({"VIP": ["customer_id: 9999"]})
    result = sandbox.run("plan")
    assert result.code == 1 and "customer 9999 does not exist" in result.err
    asked = [r["query"].get("id:in") for r in sandbox.log() if r["path"].endswith("/customers")]
    assert asked == [["9999"]]


def test_a_new_segment_is_created_and_filled_and_a_changed_description_updated(
    sandbox: Store,
) -> None:
    members = sandbox.profiles(120)
    jane, _ = customer(sandbox, "jane@example.com", profile=False)
    vip = str(sandbox.store.add_segment("VIP", description="Old words")["id"])
    sandbox.store.add_members(vip, members[:10])
    sandbox.config(
        {"VIP": members[:10], "Beta testers": [*members, f"customer_id: {jane}"]},
        VIP="description: New words",
        **{"Beta testers": 'description: "Early access: 2025"'},
    )
    plan = sandbox.run("plan")
    assert plan.code == 0, plan.err
    assert '~ description: "Old words" -> "New words"' in plan.out
    assert '+ segment "Beta testers" {' in plan.out
    assert '+ description: "Early access: 2025"' in plan.out
    assert plan.out.splitlines()[-1] == (
        "Plan: 121 to add, 0 to remove, 1 segment to create, 1 segment to update, "
        "1 shopper profile to create."
    )
    doc = json.loads(sandbox.run("plan", "--format", "json").out)
    assert doc["summary"] == {
        "add": 121,
        "remove": 0,
        "create_segments": 1,
        "update_segments": 1,
        "create_profiles": 1,
    }

    sandbox.server.reset_log()
    applied = sandbox.run("apply", "--auto-approve")
    assert applied.code == 0, applied.out + applied.err
    assert applied.out.splitlines()[-1] == (
        "Apply complete: 121 added, 0 removed, 1 segment created, 1 segment updated, "
        "1 shopper profile created."
    )
    beta = sandbox.store.segment_by_name("Beta testers")
    assert beta is not None and beta["description"] == "Early access: 2025"
    jane_pid = str(sandbox.store.profile_of(jane)["id"])  # type: ignore[index]
    assert sandbox.members(beta["id"]) == {*members, jane_pid}
    assert sandbox.store.segments[vip]["description"] == "New words"
    sandbox.assert_api_rules()
    first = [(r["method"], str(r["path"]).split("/v3/", 1)[-1]) for r in writes(sandbox)][:3]
    assert sorted(first[:2]) == [("POST", "segments"), ("PUT", "segments")]
    assert first[2] == ("POST", "shopper-profiles")
    adds = [r for r in writes(sandbox) if str(r["path"]).endswith(beta["id"] + "/shopper-profiles")]
    assert len(adds) == math.ceil(121 / 50)

    again = sandbox.run("plan", "--detailed-exitcode")
    assert again.code == 0, again.out + again.err
    assert again.out.splitlines()[-1] == "No changes."


def test_a_saved_plan_that_creates_a_segment_is_stale_once_the_name_exists(
    sandbox: Store,
) -> None:
    members = sandbox.profiles(3)
    sandbox.config({"Beta": members})
    assert sandbox.run("plan", "--out", "plan.json").code == 0
    sandbox.segment("Beta")  # someone else made it since the review
    sandbox.server.reset_log()
    result = sandbox.run("apply", "plan.json")
    assert result.code == 1
    assert 'segment "Beta" exists now (made since the plan was)' in result.err
    assert writes(sandbox) == []


def test_a_saved_plan_creates_and_fills_the_segment(sandbox: Store) -> None:
    members = sandbox.profiles(3)
    sandbox.config({"Beta": members})
    assert sandbox.run("plan", "--out", "plan.json").code == 0
    shown = sandbox.run("show", "plan.json")
    assert '+ segment "Beta" {' in shown.out
    applied = sandbox.run("apply", "plan.json")
    assert applied.code == 0, applied.out + applied.err
    beta = sandbox.store.segment_by_name("Beta")
    assert beta is not None and sandbox.members(beta["id"]) == set(members)


def test_resolving_10000_customers_takes_the_fewest_requests_the_limits_allow(
    sandbox: Store,
) -> None:
    ids, emails = [], []
    for n in range(10_000):
        c = sandbox.store.add_customer(email=f"shopper{n}@example.com")
        sandbox.store.add_profile(c["id"])
        ids.append(int(c["id"]))
        emails.append(str(c["email"]))
    half = 5_000
    sandbox.segment("VIP")
    sandbox.config(
        {"VIP": [f"customer_id: {i}" for i in ids[:half]] + [f"email: {e}" for e in emails[half:]]}
    )
    plan = sandbox.run("plan")
    assert plan.code == 0, plan.err
    assert plan.out.splitlines()[-1] == "Plan: 10000 to add, 0 to remove."
    reads = [r for r in sandbox.log() if str(r["path"]).endswith("/customers")]
    by_id = [r for r in reads if "id:in" in r["query"]]
    by_email = [r for r in reads if "email:in" in r["query"]]
    # Every request one full page (at most 250 values) within the client's query bound:
    # 5,000 ids are 20 requests; the emails as many as their encoded length needs.
    assert len(by_id) == 5_000 // 250
    expected_email_requests = len(filter_chunks(sorted(emails[half:]), "email:in", 250))
    assert len(by_email) == expected_email_requests
    assert all(r["query"].get("limit") == ["250"] for r in reads)
    assert sum(int(r["ids"]) for r in by_id) == half

    # All 10,000 by id: 40 requests, the minimum for pages of 250.
    sandbox.server.reset_log()
    sandbox.config({"VIP": [f"customer_id: {i}" for i in ids]})
    assert sandbox.run("plan").code == 0
    reads = [r for r in sandbox.log() if str(r["path"]).endswith("/customers")]
    assert len(reads) == math.ceil(10_000 / 250) == 40


def test_a_profile_created_since_the_plan_is_used_not_duplicated(sandbox: Store) -> None:
    first, _ = customer(sandbox, "ann@example.com", profile=False)
    second, _ = customer(sandbox, "bob@example.com", profile=False)
    vip = sandbox.segment("VIP")
    sandbox.config({"VIP": [f"customer_id: {first}", f"customer_id: {second}"]})
    assert sandbox.run("plan", "--out", "plan.json").code == 0
    made = str(sandbox.store.add_profile(first)["id"])  # someone else, meanwhile
    applied = sandbox.run("apply", "plan.json")
    # The bulk creation meets a 409; the store is asked who has a profile now, the rest
    # is created, and both join the segment.
    assert applied.code == 0, applied.out + applied.err
    assert applied.out.splitlines()[-1] == (
        "Apply complete: 2 added, 0 removed, 2 shopper profiles created."
    )
    other = str(sandbox.store.profile_of(second)["id"])  # type: ignore[index]
    assert sandbox.members(vip) == {made, other}
    sandbox.assert_api_rules()
    assert sandbox.run("plan").out.splitlines()[-1] == "No changes."
