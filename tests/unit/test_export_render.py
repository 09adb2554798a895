"""The exported config: valid, commented, sorted, and meaning exactly the live state."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from reconciler.config import validate_config
from reconciler.export import ExportedSegment, Member, render_export, scalar
from reconciler.model import LiveSegment

P = [f"00000000-0000-4000-8000-{i:012d}" for i in range(1, 20)]
SEG_A = "11111111-1111-4111-8111-111111111111"
SEG_B = "22222222-2222-4222-8222-222222222222"


def segments() -> list[ExportedSegment]:
    return [
        ExportedSegment(
            LiveSegment(SEG_B, "Wholesale", "Trade: net 30"),
            (Member(P[3], 4, "d@example.com"), Member(P[0], 1, "A@example.com")),
        ),
        ExportedSegment(LiveSegment(SEG_A, "Beta", ""), (Member(P[5], None, None),)),
        ExportedSegment(LiveSegment("33333333-3333-4333-8333-333333333333", "yes"), ()),
    ]


def load(tmp_path: Path, text: str):  # type: ignore[no-untyped-def]
    path = tmp_path / "segments.yaml"
    path.write_text(text)
    result = validate_config(path)
    assert result.problems == [], result.problems
    assert result.state is not None
    return result.state


def test_uuids_are_sorted_and_annotated_with_their_customer(tmp_path: Path) -> None:
    text = render_export(segments(), store_hash="abc123", form="uuid")
    assert [ln.split("  #")[0] for ln in text.splitlines() if "- name:" in ln] == [
        "  - name: Beta",
        "  - name: Wholesale",
        '  - name: "yes"',  # would read back as true unquoted
    ]
    assert f"      - {P[0]}  # customer 1\n      - {P[3]}  # customer 4\n" in text
    assert f"      - {P[5]}  # customer unknown" in text
    state = load(tmp_path, text)
    assert state.store_hash == "abc123"
    by_name = {s.name: s for s in state.segments}
    assert by_name["Wholesale"].profiles == {P[0], P[3]}
    assert by_name["Wholesale"].description == "Trade: net 30"
    assert by_name["Beta"].description is None  # an empty description is not managed
    assert by_name["yes"].profiles == frozenset()


@pytest.mark.parametrize("form", ["customer_id", "email"])
def test_customers_fall_back_to_what_is_known(tmp_path: Path, form: str) -> None:
    text = render_export(segments(), store_hash="abc123", form=form)
    state = load(tmp_path, text)
    wholesale = next(s for s in state.segments if s.name == "Wholesale")
    if form == "email":
        assert "      - email: A@example.com  # customer 1\n" in text
        assert {r.email for r in wholesale.customers} == {"a@example.com", "d@example.com"}
    else:
        assert {r.customer_id for r in wholesale.customers} == {1, 4}
    beta = next(s for s in state.segments if s.name == "Beta")
    assert beta.profiles == {P[5]} and beta.customers == ()


@pytest.mark.parametrize("email", ["sp ace@example.com", "trailing@example.com "])
def test_an_email_the_plan_could_not_find_falls_back_to_the_customer_id(
    tmp_path: Path, email: str
) -> None:
    """Refused by the config (a space inside), or not the store's email once the config
    strips it (a space around): written by customer id."""
    odd = [ExportedSegment(LiveSegment(SEG_A, "VIP"), (Member(P[0], 7, email),))]
    text = render_export(odd, store_hash="abc123", form="email")
    assert "      - customer_id: 7  # no email known\n" in text
    assert load(tmp_path, text).segments[0].customers[0].customer_id == 7


def test_a_store_hash_the_config_cannot_hold_is_a_comment(tmp_path: Path) -> None:
    text = render_export([], store_hash="my-store", form="uuid")
    assert "# store_hash: my-store" in text and "segments: []" in text
    assert load(tmp_path, text).store_hash is None


@settings(max_examples=200, deadline=None)
@given(st.text(min_size=1, max_size=40))
def test_every_name_reads_back_exactly(name: str) -> None:
    assert yaml.safe_load(f"key: {scalar(name)}")["key"] == name
