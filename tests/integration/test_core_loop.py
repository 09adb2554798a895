"""validate, plan and apply, end to end: the real CLI against the sandbox over loopback."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator

from reconciler.cli import run
from tests.integration.conftest import TOKEN, Store

REPO = Path(__file__).resolve().parents[2]


def seed_three_segments(sb: Store) -> dict[str, object]:
    """VIP and Wholesale are declared; Newsletter is not and must never be touched."""
    vip_live, vip_new = sb.profiles(200), sb.profiles(200)
    wh_live, wh_new = sb.profiles(150), sb.profiles(100)
    news = sb.profiles(60)
    ids = {
        "vip": sb.segment("VIP", vip_live),
        "wholesale": sb.segment("Wholesale", wh_live),
        "newsletter": sb.segment("Newsletter", news + vip_live[:10]),
    }
    desired = {
        "VIP": vip_live[:150] + vip_new,  # +200, -50 (25%)
        "Wholesale": wh_live[:120] + wh_new,  # +100, -30 (20%)
    }
    sb.config(desired)
    return {"ids": ids, "desired": desired, "newsletter": set(news + vip_live[:10])}


def test_plan_apply_converges_and_leaves_undeclared_segments_alone(sandbox: Store) -> None:
    seed = seed_three_segments(sandbox)
    ids, desired = seed["ids"], seed["desired"]
    assert isinstance(ids, dict) and isinstance(desired, dict)

    plan = sandbox.run("plan")
    assert plan.code == 0, plan.err
    assert plan.out.splitlines()[-1] == "Plan: 300 to add, 80 to remove."
    assert "Newsletter" not in plan.out
    assert sandbox.run("plan", "--detailed-exitcode").code == 2
    assert not any(r["method"] in ("POST", "DELETE") for r in sandbox.log()), "plan wrote"

    sandbox.server.reset_log()
    applied = sandbox.run("apply", "--auto-approve")
    assert applied.code == 0, applied.out + applied.err
    assert applied.out.splitlines()[-1] == "Apply complete: 300 added, 80 removed."
    assert sandbox.members(ids["vip"]) == set(desired["VIP"])
    assert sandbox.members(ids["wholesale"]) == set(desired["Wholesale"])
    assert sandbox.members(ids["newsletter"]) == seed["newsletter"]
    sandbox.assert_api_rules()

    # The fewest requests the API allows: full batches of 50 adds, one DELETE per segment
    # (50 and 30 ids fit one bounded query), pages of 250.
    log = sandbox.log()
    posts = [r for r in log if r["method"] == "POST"]
    deletes = [r for r in log if r["method"] == "DELETE"]
    assert len(posts) == math.ceil(200 / 50) + math.ceil(100 / 50)
    assert sorted(r["ids"] for r in deletes) == [30, 50]
    member_reads = [r for r in log if r["method"] == "GET" and "shopper-profiles" in r["path"]]
    full_reads = [r for r in member_reads if r["query"].get("limit") == ["250"]]
    counts = [r for r in member_reads if r["query"].get("limit") == ["1"]]
    assert len(full_reads) == 2 and len(counts) == 2  # verification: one count per segment
    # 1 segment list + 2 member reads + 1 bulk customer look-up (the emails of the removed
    # members the plan lists: 25 per segment) + 6 POSTs + 2 DELETEs + 2 verification counts
    customer_reads = [r for r in log if r["path"].endswith("/customers")]
    assert len(customer_reads) == 1 and customer_reads[0]["ids"] == 50
    assert len(log) == 14
    assert not any(r["path"].endswith(ids["newsletter"] + "/shopper-profiles") for r in log)

    again = sandbox.run("plan", "--detailed-exitcode")
    assert again.code == 0, again.out + again.err
    assert again.out.splitlines()[-1] == "No changes."


def test_json_plan_is_valid_and_complete(sandbox: Store) -> None:
    seed_three_segments(sandbox)
    result = sandbox.run("plan", "--format", "json")
    assert result.code == 0, result.err
    doc = json.loads(result.out)
    schema = json.loads((REPO / "schemas" / "plan.schema.json").read_text())
    Draft202012Validator(schema).validate(doc)
    assert doc["summary"] == {
        "add": 300,
        "remove": 80,
        "create_segments": 0,
        "update_segments": 0,
        "create_profiles": 0,
    }
    # The emails of the removals the text plan lists (25 a segment), looked up in bulk;
    # the JSON has every customer id.
    assert len(doc["emails"]) == 50
    assert len(doc["customer_ids"]) == 80
    assert sum(len(s["add"]) for s in doc["segments"]) == 300  # never cut, unlike text


def test_text_plan_cuts_long_lists_and_names_customers(sandbox: Store) -> None:
    seed_three_segments(sandbox)
    out = sandbox.run("plan").out
    assert "... and 175 more to add" in out
    assert "(customer " in out  # removals are live members, whose customer ids are known


def test_plan_names_every_missing_pinned_segment_with_its_line(sandbox: Store) -> None:
    # By name, a missing segment is created; pinned by an id the store lacks, it is an error.
    sandbox.segment("VIP")
    ghosts, phantoms = (
        "6b1f0d3e-0000-4000-8000-000000000001",
        "6b1f0d3e-0000-4000-8000-000000000002",
    )
    path = sandbox.config(
        {"VIP": [], "Ghosts": [], "Phantoms": []},
        Ghosts=f"id: {ghosts}",
        Phantoms=f"id: {phantoms}",
    )
    result = sandbox.run("plan")
    assert result.code == 1
    assert f"{path.name}:5:5: segment id {ghosts} does not exist" in result.err.replace(
        str(path), path.name
    )
    assert phantoms in result.err
    assert not any(r["method"] != "GET" for r in sandbox.log())


def test_wrong_token_is_one_sentence_without_the_token(sandbox: Store) -> None:
    sandbox.segment("VIP")
    sandbox.config({"VIP": []})
    wrong = "wrong-token-0123456789abcdef"
    result = sandbox.run("plan", env=sandbox.env(BIGCOMMERCE_ACCESS_TOKEN=wrong))
    assert result.code == 1
    assert "rejected the access token" in result.err
    assert wrong not in result.err + result.out
    assert len(result.err.strip().splitlines()) == 1


def test_missing_token_says_which_variable(sandbox: Store) -> None:
    sandbox.config({"VIP": []})
    env = sandbox.env()
    del env["BIGCOMMERCE_ACCESS_TOKEN"]
    result = sandbox.run("plan", env=env)
    assert result.code == 1
    assert "BIGCOMMERCE_ACCESS_TOKEN" in result.err
    assert sandbox.log() == []


def test_usage_errors_exit_1_never_2(sandbox: Store) -> None:
    for args in (["plan", "--format", "xml"], ["frobnicate"], ["plan", "--nope"]):
        result = sandbox.run(*args)
        assert result.code == 1, args


def test_apply_without_a_terminal_needs_auto_approve(sandbox: Store) -> None:
    seed = seed_three_segments(sandbox)
    result = sandbox.run("apply", input="yes\n")
    assert result.code == 1
    assert "--auto-approve" in result.err
    assert not any(r["method"] in ("POST", "DELETE") for r in sandbox.log())
    ids = seed["ids"]
    assert isinstance(ids, dict)
    assert len(sandbox.members(ids["vip"])) == 200


def test_token_never_appears_at_any_verbosity(sandbox: Store, tmp_path: Path) -> None:
    seed_three_segments(sandbox)
    for flags in ([], ["-v"], ["-vv"], ["-vvv"]):
        result = sandbox.run(*flags, "plan", "--out", str(tmp_path / "p.json"))
        assert result.code == 0, result.err
        assert TOKEN not in result.out + result.err
    assert TOKEN not in (tmp_path / "p.json").read_text()
    verbose = sandbox.run("-v", "plan")  # --verbose: each request, never a header
    assert "reconciler.client: GET /segments?page=1&limit=250 -> 200 (" in verbose.err
    assert "X-Auth-Token" not in verbose.err and TOKEN not in verbose.err


def _corpus() -> list[tuple[Path, str]]:
    cases = []
    for path in sorted((REPO / "tests" / "fixtures" / "config" / "bad").glob("*.yaml")):
        first = path.read_bytes().split(b"\n", 1)[0].decode("utf-8", "replace")
        cases.append((path, first.removeprefix("# expect:").strip().split(":", 1)[0]))
    return cases


def test_bad_configs_fail_with_file_and_line_and_no_network(
    sandbox: Store, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    corpus = _corpus()
    assert len(corpus) >= 20
    for key, value in sandbox.env().items():
        monkeypatch.setenv(key, value)
    # In-process for speed (the same entry point as the console script)...
    for path, line in corpus:
        for command in ("validate", "plan"):
            code = run([command, "-f", str(path)])
            captured = capsys.readouterr()
            assert code == 1, (path.name, command, captured.out, captured.err)
            assert f"{path}:{line}:" in captured.err, (path.name, command, captured.err)
            assert "Traceback" not in captured.err
    # ...and a few through a real process, as CI and users run it.
    for path, line in corpus[:: max(1, len(corpus) // 4)]:
        result = sandbox.run("plan", "-f", str(path))
        assert result.code == 1 and f"{path}:{line}:" in result.err
    assert sandbox.log() == [], "validating or planning a bad config touched the network"
