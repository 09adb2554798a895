"""Members named by customer id or email, and the managed description."""

from __future__ import annotations

import textwrap
from pathlib import Path

from reconciler.config import config_digest, validate_config
from reconciler.model import CustomerRef

P1 = "497f6eca-6276-4993-bfeb-53cbbbba6f08"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "segments.yaml"
    path.write_text(textwrap.dedent(text))
    return path


def test_members_may_be_uuids_customer_ids_or_emails(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        f"""\
        version: 1
        segments:
          - name: VIP
            description: Top buyers
            shopper_profiles:
              - {P1}
              - customer_id: 42
              - email: Jane@Example.COM
        """,
    )
    result = validate_config(path)
    assert result.problems == []
    assert result.state is not None
    (seg,) = result.state.segments
    assert seg.profiles == {P1}
    assert seg.description == "Top buyers"
    ids = [(r.customer_id, r.email) for r in seg.customers]
    assert ids == [(42, None), (None, "jane@example.com")]  # emails compare lower-case
    assert all(isinstance(r, CustomerRef) and r.location for r in seg.customers)
    assert seg.customers[0].location is not None and seg.customers[0].location.line == 7


def test_a_customer_listed_twice_is_a_warning_and_counts_once(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """\
        version: 1
        segments:
          - name: VIP
            shopper_profiles:
              - customer_id: 42
              - email: jane@example.com
              - customer_id: 42
              - email: JANE@example.com
        """,
    )
    result = validate_config(path)
    assert result.state is not None
    assert len(result.state.segments[0].customers) == 2
    lines = [(w.location.line if w.location else 0) for w in result.warnings]
    assert lines == [7, 8]
    assert "customer 42 is listed more than once" in result.warnings[0].message


def test_bad_customer_entries_each_point_at_their_line(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """\
        version: 1
        segments:
          - name: VIP
            shopper_profiles:
              - customer_id: 0
              - email: nope
              - {customer_id: 3, email: a@b.c}
              - {custmer_id: 3}
              - customer_id: "42"
        """,
    )
    result = validate_config(path)
    assert result.state is None
    found = [(e.location.line if e.location else 0, e.message) for e in result.errors]
    assert [line for line, _ in found] == [5, 6, 7, 8, 9]
    assert "customer_id must be a whole number of 1 or more, not 0" in found[0][1]
    assert "'nope' is not a valid email address" in found[1][1]
    assert "not both" in found[2][1]
    assert "did you mean 'customer_id'" in found[3][1]
    assert "not a string" in found[4][1]


def test_digest_of_a_uuid_only_config_is_unchanged_by_customer_support(tmp_path: Path) -> None:
    plain = write(tmp_path, f"version: 1\nsegments:\n  - name: A\n    shopper_profiles: [{P1}]\n")
    state = validate_config(plain).state
    assert state is not None
    digest = config_digest(state)
    with_customer = tmp_path / "b.yaml"
    with_customer.write_text(
        f"version: 1\nsegments:\n  - name: A\n    shopper_profiles: [{P1}, {{customer_id: 7}}]\n"
    )
    other = validate_config(with_customer).state
    assert other is not None and config_digest(other) != digest
