"""Fixes from the config review: numbers only in plain decimal (F3), line breaks that git
does not see (F4), UUIDs with a line break or spaces around them (F8), long names in
messages (F9), one message per mistake for `version` (F10)."""

from __future__ import annotations

from pathlib import Path

import pytest

from reconciler.config import LoadResult, _validator, validate_config
from reconciler.model import Location, is_uuid
from reconciler.sources import validate_sources
from tests.unit.test_config import write

P1 = "497f6eca-6276-4993-bfeb-53cbbbba6f08"
SEG_ID = "5bb733a9-8c4e-4d2a-b1f6-3e9a7c0d5f28"
BREAKS = {
    "\u2028": "U+2028 LINE SEPARATOR",
    "\u2029": "U+2029 PARAGRAPH SEPARATOR",
    "\x85": "U+0085 NEXT LINE",
    "\r": "U+000D CARRIAGE RETURN",
}


def errors_of(result: LoadResult) -> list[str]:
    assert result.state is None
    return [str(p) for p in result.errors]


def places(result: LoadResult) -> list[tuple[int, int]]:
    return [(p.location.line, p.location.column) for p in result.problems if p.location]


# --- F3: numbers are read as written, or refused -----------------------------------------


@pytest.mark.parametrize(
    ("written", "yaml_reads"),
    [("0042", 34), ("1_000", 1000), ("1:30", 90), ("0b11", 3), ("0x2a", 42), ("-0042", -34)],
)
def test_a_customer_id_not_in_plain_decimal_is_refused_where_it_is_written(
    tmp_path: Path, written: str, yaml_reads: int
) -> None:
    path = write(
        tmp_path,
        f"""
        version: 1
        segments:
          - name: A
            shopper_profiles:
              - customer_id: 7
              - customer_id: {written}
        """,
    )

    (error,) = errors_of(validate_config(path))

    assert error.startswith(f"{path}:6:22: customer_id {written} is not a plain decimal number")
    assert f"YAML reads it as {yaml_reads})" in error and "write it as a plain number" in error


def test_a_plain_decimal_customer_id_still_loads(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        version: 1
        segments:
          - name: A
            shopper_profiles: [{customer_id: 42}, {customer_id: +43}, {customer_id: 100000}]
        """,
    )

    state = validate_config(path).state

    assert state is not None
    assert [c.customer_id for c in state.segments[0].customers] == [42, 43, 100000]


@pytest.mark.parametrize(
    ("line", "where"),
    [
        ("version: 0001", "1:10: version 0001"),  # octal 1: would pass `const: 1` unseen
        ("safety: {min_members_for_guard: 010}", "1:33: the file-level safety block: "),
        ("safety: {max_removal_percent: 0x1E}", "1:31: the file-level safety block: "),
        ("safety: {max_removal_percent: 3_0.5}", "1:31: the file-level safety block: "),
        ("safety: {max_removal_percent: '0:30.5'}", None),  # quoted: a string, not a number
    ],
)
def test_file_level_numbers_not_in_plain_decimal_are_refused(
    tmp_path: Path, line: str, where: str | None
) -> None:
    body = "" if line.startswith("version") else "version: 1\n"
    path = write(tmp_path, f"{line}\n{body}segments: []\n")

    errors = errors_of(validate_config(path))

    if where is None:
        assert errors == [
            f"{path}:1:31: the file-level safety block: max_removal_percent must "
            "be a number, not a string"
        ]
    else:
        (error,) = errors
        assert error.startswith(f"{path}:{where}") and "is not a plain decimal number" in error


def test_a_segment_safety_number_out_of_range_and_not_plain_is_reported_once(
    tmp_path: Path,
) -> None:
    # 0x1F4 is 500: the schema's maximum would also fire; one message says what to fix.
    path = write(
        tmp_path,
        """
        version: 1
        segments:
          - name: VIP
            safety: {max_removal_percent: 0x1F4, min_members_for_guard: 1_0}
            shopper_profiles: []
        """,
    )

    errors = errors_of(validate_config(path))

    assert errors == [
        f'{path}:4:35: the safety block of segment "VIP": max_removal_percent 0x1F4 is not a '
        "plain decimal number (YAML reads it as 500); write it as a plain number, without "
        "leading zeros, '_', ':' or a 0b/0o/0x prefix",
        f'{path}:4:65: the safety block of segment "VIP": min_members_for_guard 1_0 is not a '
        "plain decimal number (YAML reads it as 10); write it as a plain number, without "
        "leading zeros, '_', ':' or a 0b/0o/0x prefix",
    ]


def test_plain_numbers_in_every_number_field_still_load(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        version: 1
        safety: {max_removal_percent: 12.5, min_members_for_guard: 0}
        segments:
          - name: VIP
            safety: {max_removal_percent: 0, min_members_for_guard: 20}
            shopper_profiles: []
        """,
    )

    state = validate_config(path).state

    assert state is not None
    assert (state.safety.max_removal_percent, state.safety.min_members_for_guard) == (12.5, 0)
    seg = state.segments[0].safety
    assert (seg.max_removal_percent, seg.min_members_for_guard) == (0, 20)


def test_a_number_that_is_no_uuid_is_quoted_as_written(tmp_path: Path) -> None:
    path = write(tmp_path, "version: 1\nsegments:\n  - name: A\n    shopper_profiles: [0042]\n")

    (error,) = errors_of(validate_config(path))

    assert error == f"{path}:4:24: 0042 is not a valid shopper profile UUID (it is a number)"


# --- F4: line breaks that git does not see ------------------------------------------------


@pytest.mark.parametrize("brk", list(BREAKS))
def test_a_line_break_git_does_not_see_is_refused_at_its_git_line(tmp_path: Path, brk: str) -> None:
    # In a diff, `prune: false` reads as part of the description on line 4.
    path = write(
        tmp_path,
        f"""
        version: 1
        segments:
          - name: VIP
            description: Top spenders{brk}    prune: false
            shopper_profiles: []
            prnue: false
        """,
    )

    result = validate_config(path)

    assert result.state is None
    assert [str(p) for p in result.problems] == [
        f"{path}:4:30: {BREAKS[brk]}"
        + (" without a line feed after it" if brk == "\r" else "")
        + " is not allowed: YAML reads it as a line break, git and GitHub do not"
    ]


def test_every_such_line_break_is_reported_at_its_own_place(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        'version: 1\nsegments:\n  - name: "A\u2029B"\n    description: "x\x85y\u2028z"\n'
        "    shopper_profiles: []\n",
    )

    assert places(validate_config(path)) == [(3, 13), (4, 20), (4, 22)]


def test_a_flood_of_such_line_breaks_is_reported_in_bounded_lines(tmp_path: Path) -> None:
    path = write(tmp_path, "version: 1\n" + "# x\u2028\n" * 500 + "segments: []\n")

    result = validate_config(path)

    assert len(result.problems) == 51
    assert str(result.problems[0]) == f"{path}: 450 more such line breaks not shown"
    assert places(result)[-1] == (51, 4)  # the 50th, on line 51 (line 1 is version)


def test_a_file_with_old_mac_line_endings_gets_one_message(tmp_path: Path) -> None:
    path = tmp_path / "segments.yaml"
    path.write_bytes(b"version: 1\rsegments: []\r")

    (error,) = errors_of(validate_config(path))

    assert error.startswith(f"{path}:1:11: the lines end in a carriage return alone")


def test_a_crlf_file_reads_exactly_like_its_lf_twin(tmp_path: Path) -> None:
    text = (
        "version: 1\nsegments:\n  - name: VIP\n    description: |\n      two\n      lines\n"
        f"    shopper_profiles:\n      - {P1}\n      - {P1}\n    prnue: false\n"
    )
    lf = tmp_path / "lf.yaml"
    crlf = tmp_path / "crlf.yaml"
    lf.write_bytes(text.encode())
    crlf.write_bytes(text.replace("\n", "\r\n").encode())

    a, b = validate_config(lf), validate_config(crlf)

    assert [
        (p.message, p.location and p.location.line, p.location and p.location.column)
        for p in b.problems
    ] == [
        (p.message, p.location and p.location.line, p.location and p.location.column)
        for p in a.problems
    ]
    assert places(b) == [(9, 9), (10, 5)]  # the duplicate warning, the unknown key


def test_a_crlf_file_with_a_valid_config_loads(tmp_path: Path) -> None:
    path = tmp_path / "segments.yaml"
    text = f"version: 1\nsegments:\n  - name: VIP\n    shopper_profiles:\n      - {P1}\n"
    path.write_bytes(text.replace("\n", "\r\n").encode())

    state = validate_config(path).state

    assert state is not None and state.segments[0].profiles == frozenset({P1})


# --- F8: a UUID with anything around it is not a UUID --------------------------------------


def test_a_segment_id_written_as_a_block_scalar_is_refused(tmp_path: Path) -> None:
    # The id ends in "\n"; it used to pass and skip the duplicate-id check.
    path = write(
        tmp_path,
        f"""
        version: 1
        segments:
          - name: A
            id: |
              {P1.upper()}
            shopper_profiles: []
          - name: B
            id: {P1}
            shopper_profiles: []
        """,
    )

    (error,) = errors_of(validate_config(path))

    assert error == (
        f"{path}:4:9: '{P1.upper()}\\n' is not a valid segment id; remove the spaces or line "
        "break around the UUID"
    )


@pytest.mark.parametrize("value", [f'"{P1} "', f'" {P1}"', f'"{P1}\\n"', f'"\\t{P1}"'])
def test_a_quoted_segment_id_with_whitespace_around_it_is_refused(
    tmp_path: Path, value: str
) -> None:
    path = write(tmp_path, f"version: 1\nsegments:\n  - id: {value}\n    shopper_profiles: []\n")

    (error,) = errors_of(validate_config(path))

    assert error.startswith(f"{path}:3:9: ") and "is not a valid segment id" in error


@pytest.mark.parametrize("value", [f'"{P1}\\n"', f'" {P1}"', f"|\n        {P1}"])
def test_a_profile_id_with_whitespace_around_it_is_refused(tmp_path: Path, value: str) -> None:
    path = write(
        tmp_path, f"version: 1\nsegments:\n  - name: A\n    shopper_profiles:\n      - {value}\n"
    )

    (error,) = errors_of(validate_config(path))

    assert error.startswith(f"{path}:5:9: ")
    assert error.endswith(
        "is not a valid shopper profile UUID; remove the spaces or line break around the UUID"
    )


def test_a_store_hash_with_a_line_break_after_it_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, "version: 1\nstore_hash: |\n  abc123\nsegments: []\n")

    assert errors_of(validate_config(path)) == [
        f"{path}:2:13: store_hash must contain only letters and digits"
    ]


@pytest.mark.parametrize(("value", "ok"), [(P1, True), (P1 + "\n", False), (P1 + " ", False)])
def test_the_fast_uuid_check_and_the_schema_agree_on_a_final_line_break(
    value: str, ok: bool
) -> None:
    doc = {"version": 1, "segments": [{"id": value, "shopper_profiles": []}]}

    assert _validator().is_valid(doc) is ok
    assert is_uuid(value) is ok


# --- F9: long user text is shortened in messages -------------------------------------------


def test_a_huge_segment_name_is_shortened_in_every_message(tmp_path: Path) -> None:
    name = "N" * 100_000
    unknown = "".join(f"    k{i}: 1\n" for i in range(50))
    path = write(
        tmp_path,
        f"version: 1\nsegments:\n  - name: {name}\n    shopper_profiles: []\n{unknown}"
        f"  - name: {name}\n    shopper_profiles: []\n",
    )

    problems = validate_config(path).problems

    assert len(problems) == 51
    assert all(len(str(p)) < 300 for p in problems)
    assert f'segment "{"N" * 77}..."' in problems[0].message
    assert problems[-1].message == f'segment name "{"N" * 77}..." is declared twice: lines 3 and 55'


def test_huge_keys_are_shortened_in_messages(tmp_path: Path) -> None:
    key = "x" * 1000  # YAML allows at most 1024 characters in a plain key
    path = write(
        tmp_path,
        f"version: 1\n{key}: 1\n{key}: 2\nsegments:\n  - name: A\n    shopper_profiles:\n"
        f"      - {{{key}: 1}}\n",
    )

    problems = validate_config(path).problems

    assert [p.location for p in problems] == [
        Location(str(path), 2, 1),
        Location(str(path), 3, 1),
        Location(str(path), 7, 10),
    ]
    assert all(len(str(p)) < 300 and f"'{'x' * 77}...'" in p.message for p in problems)


def test_a_huge_name_declared_in_two_files_is_shortened(tmp_path: Path) -> None:
    name = "N" * 10_000
    one = write(
        tmp_path, f"version: 1\nsegments:\n  - name: {name}\n    shopper_profiles: []\n", "a.yaml"
    )
    write(
        tmp_path, f"version: 1\nsegments:\n  - name: {name}\n    shopper_profiles: []\n", "b.yaml"
    )

    (problem,) = validate_sources([str(tmp_path)]).problems

    assert problem.message == f'segment "{"N" * 77}..." is declared twice: here and at {one}:3:5'


# --- F10: one message per mistake -----------------------------------------------------------


@pytest.mark.parametrize("value", ["true", '"1"', "~", "[1]", "2"])
def test_a_wrong_version_is_reported_once(tmp_path: Path, value: str) -> None:
    path = write(tmp_path, f"version: {value}\nsegments: []\n")

    assert errors_of(validate_config(path)) == [
        f"{path}:1:10: version must be 1 (the only config format this tool reads)"
    ]
