"""The JSON Schema: one source of truth for editors, shipped inside the package."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import Draft202012Validator

from reconciler.config import load_schema
from reconciler.model import is_uuid

REPO = Path(__file__).resolve().parents[2]
TOP = REPO / "schemas" / "segments.schema.json"
PACKAGED = REPO / "reconciler" / "schemas" / "segments.schema.json"


def objects(schema: Any) -> Iterator[dict[str, Any]]:
    """Every subschema that describes a mapping."""
    pending = [schema]
    while pending:
        node = pending.pop()
        if isinstance(node, dict):
            if node.get("type") == "object":
                yield node
            pending.extend(node.values())
        elif isinstance(node, list):
            pending.extend(node)


def properties(schema: Any) -> Iterator[tuple[str, dict[str, Any]]]:
    for obj in objects(schema):
        yield from obj.get("properties", {}).items()


def test_the_packaged_copy_is_byte_identical_to_the_top_level_schema() -> None:
    assert PACKAGED.read_bytes() == TOP.read_bytes()


def test_the_code_loads_the_packaged_schema() -> None:
    assert load_schema() == yaml.safe_load(TOP.read_text(encoding="utf-8"))


def test_the_schema_is_a_valid_2020_12_schema_with_an_id() -> None:
    schema = load_schema()
    Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["$id"]


def test_every_property_has_a_title_and_a_description_for_editors() -> None:
    found = list(properties(load_schema()))
    assert len(found) >= 11
    for name, prop in found:
        assert prop.get("title"), name
        assert prop.get("description"), name


def test_every_mapping_rejects_unknown_keys() -> None:
    found = list(objects(load_schema()))
    assert len(found) == 5  # top level, safety, segment, member by customer id / by email
    for obj in found:
        assert obj.get("additionalProperties") is False


def test_segments_have_a_managed_description() -> None:
    segment = load_schema()["$defs"]["segment"]
    assert segment["properties"]["description"]["type"] == "string"


@pytest.mark.parametrize(
    ("member", "valid"),
    [
        ({"customer_id": 42}, True),
        ({"email": "jane@example.com"}, True),
        ({"customer_id": 0}, False),
        ({"customer_id": "42"}, False),
        ({"email": "jane"}, False),
        ({"email": "a,b@example.com"}, False),
        ({"customer_id": 1, "email": "a@b.c"}, False),
        ({"custmer_id": 1}, False),
        ({}, False),
    ],
)
def test_the_schema_accepts_customers_as_members(member: dict[str, Any], valid: bool) -> None:
    doc = {"version": 1, "segments": [{"name": "x", "shopper_profiles": [member]}]}
    assert Draft202012Validator(load_schema()).is_valid(doc) is valid


@pytest.mark.parametrize(
    "value",
    [
        "497f6eca-6276-4993-bfeb-53cbbbba6f08",
        "497F6ECA-6276-4993-BFEB-53CBBBBA6F08",
        "497f6eca-6276-4993-bfeb-53cbbbba6f0",
        "497f6eca62764993bfeb53cbbbba6f08",
        "{497f6eca-6276-4993-bfeb-53cbbbba6f08}",
        "g97f6eca-6276-4993-bfeb-53cbbbba6f08",
        "",
    ],
)
def test_the_schema_profile_pattern_agrees_with_the_fast_check(value: str) -> None:
    # The loader checks profile ids with model.UUID_RE instead of jsonschema, for speed;
    # the two must accept exactly the same strings.
    doc = {"version": 1, "segments": [{"name": "x", "shopper_profiles": [value]}]}
    schema_ok = Draft202012Validator(load_schema()).is_valid(doc)
    assert schema_ok == is_uuid(value)


def test_the_example_is_valid_against_the_raw_schema() -> None:
    doc = yaml.safe_load((REPO / "segments.yaml.example").read_text(encoding="utf-8"))
    Draft202012Validator(load_schema()).validate(doc)
