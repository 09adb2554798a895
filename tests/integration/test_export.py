"""`reconciler export` then `reconciler plan`: a team adopts the tool in one step."""

from __future__ import annotations

import math

import pytest

from reconciler.config import validate_config
from tests.integration.conftest import Store


def seed_store(sb: Store) -> dict[str, str]:
    """Several segments, thousands of members, overlapping, one empty, one with a
    description that needs quoting, one name YAML would read as a boolean."""
    people = sb.profiles(3_000)
    ids = {
        "VIP": sb.segment("VIP", people[:1_200]),
        "Wholesale": sb.segment("Wholesale", people[1_000:2_600]),
        "yes": sb.segment("yes", people[2_500:]),
        "Empty": sb.segment("Empty"),
    }
    sid = str(sb.store.add_segment("Beta: early", description='Opt-in "beta"\nprogram')["id"])
    sb.store.add_members(sid, people[::7])
    ids["Beta: early"] = sid
    return ids


@pytest.mark.parametrize("form", ["uuid", "customer_id", "email"])
def test_export_then_plan_says_no_changes(sandbox: Store, form: str) -> None:
    ids = seed_store(sandbox)
    exported = sandbox.run("export", "--as", form, "-o", "segments.yaml")
    assert exported.code == 0, exported.err
    assert exported.out == ""
    assert "Exported 5 segments" in exported.err
    result = validate_config(sandbox.workdir / "segments.yaml")
    assert result.problems == [] and result.state is not None
    assert [s.name for s in result.state.segments] == [
        "Beta: early",
        "Empty",
        "VIP",
        "Wholesale",
        "yes",
    ]
    assert not any(r["method"] != "GET" for r in sandbox.log())
    reads = [r for r in sandbox.log() if str(r["path"]).endswith("/customers")]
    if form != "uuid":  # one bulk look-up: 3,000 customer ids in pages of 250
        assert len(reads) == math.ceil(3_000 / 250)
    else:
        assert reads == []

    sandbox.server.reset_log()
    plan = sandbox.run("plan", "--detailed-exitcode")
    assert plan.code == 0, plan.out + plan.err
    assert plan.out.splitlines()[-1] == "No changes."
    assert not any(r["method"] != "GET" for r in sandbox.log())
    assert len(ids) == 5


def test_export_writes_uuids_with_customer_comments_to_stdout(sandbox: Store) -> None:
    people = sandbox.profiles(3)
    sandbox.segment("VIP", people)
    sandbox.segment("Other", people[:1])
    result = sandbox.run("export", "--segment", "VIP")
    assert result.code == 0, result.err
    assert "name: Other" not in result.out
    customer = sandbox.store.profiles[people[0]]["customer_id"]
    assert f"      - {people[0]}  # customer {customer}\n" in result.out
    assert result.out.startswith("# The live membership of store ")


def test_export_of_an_unknown_segment_names_it(sandbox: Store) -> None:
    sandbox.segment("VIP")
    result = sandbox.run("export", "--segment", "VIP", "--segment", "Ghosts")
    assert result.code == 1
    assert 'no segment named "Ghosts" in the store' in result.err
    assert result.out == ""


@pytest.mark.parametrize("form", ["customer_id", "email"])
def test_a_member_whose_customer_is_gone_is_exported_by_uuid(sandbox: Store, form: str) -> None:
    """A shopper profile whose customer the store no longer has: written as its UUID, so
    the exported file still plans to "No changes." (a customer id would fail the plan)."""
    people = sandbox.profiles(2)
    sandbox.segment("VIP", people)
    gone = sandbox.store.profiles[people[0]]["customer_id"]
    del sandbox.store.customers[gone]
    result = sandbox.run("export", "--as", form, "-o", "segments.yaml")
    assert result.code == 0, result.err
    text = (sandbox.workdir / "segments.yaml").read_text()
    assert f"- {people[0]}  # customer unknown" in text
    again = sandbox.run("plan", "--detailed-exitcode")
    assert again.code == 0, again.out + again.err
