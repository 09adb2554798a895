"""Saved plans: round trip, schema, and clear errors for bad files."""

from __future__ import annotations

import json
from pathlib import Path

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
