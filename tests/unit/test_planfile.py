"""Saved plans: round trip, schema, and clear errors for bad files."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from reconciler.errors import PlanFileError
from reconciler.model import DesiredSegment, DesiredState, LiveSegment, LiveState
from reconciler.plan import Plan, compute_plan
from reconciler.planfile import dumps, load, to_document
from reconciler.render.text import render_text

REPO = Path(__file__).resolve().parents[2]
SEG = "11111111-1111-4111-8111-111111111111"
P = [f"00000000-0000-4000-8000-{i:012d}" for i in range(1, 30)]


def sample_plan() -> Plan:
    d = DesiredState(segments=(DesiredSegment(name="VIP", id=None, profiles=frozenset(P[:20])),))
    lv = LiveState(
        segments=(LiveSegment(SEG, "VIP"),),
        members={SEG: frozenset(P[5:29])},
        customer_ids={P[25]: 42},
    )
    return compute_plan(
        d,
        lv,
        store_hash="abc123",
        config_digest="sha256:" + "a" * 64,
        created_at="2026-01-01T00:00:00Z",
        tool_version="0.1.0",
    )


def test_document_is_valid_against_the_published_schema() -> None:
    schema = json.loads((REPO / "schemas" / "plan.schema.json").read_text())
    Draft202012Validator.check_schema(schema)
    Draft202012Validator(schema).validate(to_document(sample_plan()))


def test_round_trip_renders_identically(tmp_path: Path) -> None:
    plan = sample_plan()
    path = tmp_path / "p.json"
    path.write_text(dumps(plan))
    loaded = load(path)
    assert loaded == plan
    assert render_text(loaded) == render_text(plan)


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        (b"", "not valid JSON"),
        (b'{"format_version": 1, "segments": [', "truncated"),
        (b"\xff\xfe", "not valid JSON"),
        (b'{"format_version": 99}', "version 99"),
        (b'{"format_version": 1}', "not a valid plan file"),
        (b"[]", "not a valid plan file"),
    ],
)
def test_bad_plan_files_get_one_clear_sentence(
    tmp_path: Path, content: bytes, fragment: str
) -> None:
    path = tmp_path / "bad.json"
    path.write_bytes(content)
    with pytest.raises(PlanFileError) as err:
        load(path)
    assert fragment in err.value.message


def test_tampered_summary_is_detected(tmp_path: Path) -> None:
    doc = to_document(sample_plan())
    doc["summary"]["remove"] = 0
    path = tmp_path / "p.json"
    path.write_text(json.dumps(doc))
    with pytest.raises(PlanFileError, match="corrupt"):
        load(path)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(PlanFileError, match="does not exist"):
        load(tmp_path / "nope.json")


def test_creations_updates_and_emails_round_trip_and_validate(tmp_path: Path) -> None:
    from tests.unit.test_render_text import customers_plan

    plan = customers_plan()
    doc = to_document(plan)
    schema = json.loads((REPO / "schemas" / "plan.schema.json").read_text())
    Draft202012Validator(schema).validate(doc)
    assert doc["summary"] == {
        "add": 5,
        "remove": 1,
        "create_segments": 1,
        "update_segments": 2,
        "create_profiles": 1,
    }
    beta = doc["segments"][1]
    assert beta["id"] is None and beta["live_digest"] is None and beta["create"] is True
    path = tmp_path / "p.json"
    path.write_text(dumps(plan))
    loaded = load(path)
    assert loaded == plan
    assert render_text(loaded) == render_text(plan)


def test_a_plan_file_of_an_earlier_release_still_loads(tmp_path: Path) -> None:
    doc = to_document(sample_plan())
    doc["summary"] = {"add": doc["summary"]["add"], "remove": doc["summary"]["remove"]}
    for key in ("emails", "create_profiles"):
        del doc[key]
    for seg in doc["segments"]:
        for key in ("create", "description", "changes", "add_customers"):
            del seg[key]
    path = tmp_path / "old.json"
    path.write_text(json.dumps(doc))
    assert load(path) == sample_plan()


def test_a_plan_that_changes_one_segment_twice_is_corrupt(tmp_path: Path) -> None:
    doc = to_document(sample_plan())
    doc["segments"].append(dict(doc["segments"][0], add=[], remove=[], changes=[]))
    path = tmp_path / "p.json"
    path.write_text(json.dumps(doc))
    with pytest.raises(PlanFileError, match="changes one segment twice"):
        load(path)


def test_a_created_segment_with_an_id_is_corrupt(tmp_path: Path) -> None:
    doc = to_document(sample_plan())
    doc["segments"][0]["create"] = True
    path = tmp_path / "p.json"
    path.write_text(json.dumps(doc))
    with pytest.raises(PlanFileError, match="corrupt"):
        load(path)


def guarded_plan() -> Plan:
    """VIP loses 15 of its 24 members: the guard (30%) refuses it."""
    d = DesiredState(segments=(DesiredSegment(name="VIP", id=None, profiles=frozenset(P[:20])),))
    lv = LiveState(segments=(LiveSegment(SEG, "VIP"),), members={SEG: frozenset(P[5:29])})
    return compute_plan(d, lv, store_hash="abc123", config_digest="sha256:" + "a" * 64)


def set_live_count(doc: dict[str, Any]) -> None:
    doc["segments"][0]["live_count"] = 1000  # 15 of 1000: the guard would let it through


def set_nan_limit(doc: dict[str, Any]) -> None:
    doc["segments"][0]["policy"]["max_removal_percent"] = float("nan")


def set_limit_and_verdict(doc: dict[str, Any]) -> None:
    doc["segments"][0]["policy"]["max_removal_percent"] = 100
    doc["guard"] = {"would_refuse": False, "violations": []}


def drop_a_live_member(doc: dict[str, Any]) -> None:
    doc["segments"][0]["live_members"].pop()


def remove_a_stranger(doc: dict[str, Any]) -> None:
    doc["segments"][0]["remove"][0] = P[0]  # declared, not live: never a removal


def flip_the_verdict(doc: dict[str, Any]) -> None:
    doc["guard"]["would_refuse"] = False


def orphan_customer(doc: dict[str, Any]) -> None:
    doc["segments"][0]["add_customers"] = [7]
    doc["summary"]["add"] += 1


@pytest.mark.parametrize(
    ("edit", "fragment"),
    [
        (set_live_count, "live members do not match its live count"),
        (set_nan_limit, "removal policy out of range"),
        (drop_a_live_member, "live members do not match its live count"),
        (remove_a_stranger, "do not follow from its live members"),
        (flip_the_verdict, "guard verdict does not match"),
        (orphan_customer, "adds customer 7, whose shopper profile it does not create"),
    ],
)
def test_a_plan_whose_parts_contradict_each_other_is_corrupt(
    tmp_path: Path, edit: Callable[[dict[str, Any]], None], fragment: str
) -> None:
    doc = to_document(guarded_plan())
    assert doc["guard"]["would_refuse"] is True
    edit(doc)
    path = tmp_path / "p.json"
    path.write_text(json.dumps(doc))
    with pytest.raises(PlanFileError, match="is corrupt") as err:
        load(path)
    assert fragment in err.value.message


def customers_document() -> dict[str, Any]:
    from tests.unit.test_render_text import customers_plan

    return to_document(customers_plan())


def create_twice(doc: dict[str, Any]) -> None:
    beta = next(s for s in doc["segments"] if s["create"])
    doc["segments"].append(dict(beta, add=[], add_customers=[], description=""))
    doc["summary"]["create_segments"] += 1


def rename_twice(doc: dict[str, Any]) -> None:
    renamed = next(s for s in doc["segments"] if s["changes"])
    renamed["changes"] = renamed["changes"] + renamed["changes"]


def create_an_unused_profile(doc: dict[str, Any]) -> None:
    doc["create_profiles"].append({"customer_id": 999, "email": "x@example.com"})
    doc["summary"]["create_profiles"] += 1


@pytest.mark.parametrize(
    ("edit", "fragment"),
    [
        (create_twice, "creates two segments of one name"),
        (rename_twice, "changes one attribute twice"),
        (create_an_unused_profile, "customer 999, unused"),
    ],
)
def test_a_plan_that_would_half_apply_is_corrupt(
    tmp_path: Path, edit: Callable[[dict[str, Any]], None], fragment: str
) -> None:
    """Edits the apply would only trip on half-way (a 409 after other writes)."""
    doc = customers_document()
    path = tmp_path / "p.json"
    path.write_text(json.dumps(doc))
    load(path)  # the plan as written loads
    edit(doc)
    path.write_text(json.dumps(doc))
    with pytest.raises(PlanFileError, match="is corrupt") as err:
        load(path)
    assert fragment in err.value.message


def test_a_consistent_edit_of_the_policy_is_not_detectable(tmp_path: Path) -> None:
    """What the checks cannot catch: a policy and verdict edited together agree with each
    other. A saved plan is as trustworthy as where it is kept (see README)."""
    doc = to_document(guarded_plan())
    set_limit_and_verdict(doc)
    path = tmp_path / "p.json"
    path.write_text(json.dumps(doc))
    assert load(path).guard_violations() == []


def test_a_deeply_nested_file_is_not_a_plan_file(tmp_path: Path) -> None:
    path = tmp_path / "deep.json"
    path.write_text('{"a":' * 5000 + "1" + "}" * 5000)
    with pytest.raises(PlanFileError, match="nested too deeply"):
        load(path)
