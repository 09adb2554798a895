"""Several config files as one desired state: what one file would refuse, several refuse."""

from __future__ import annotations

from pathlib import Path

import pytest

from reconciler.config import LoadResult, validate_config
from reconciler.sources import validate_sources
from tests.unit.test_config import SEG_ID, state_of, write

OTHER_ID = "7c1e4a2b-9d3f-4b8e-a6c5-2f0d8e1b3a94"
P1 = "497f6eca-6276-4993-bfeb-53cbbbba6f08"

Decl = tuple[str | None, str | None]  # a segment's name and id, either may be absent


def segment(name: str | None, seg_id: str | None) -> list[str]:
    lines = [f"name: {name}"] if name is not None else []
    lines += [f"id: {seg_id}"] if seg_id is not None else []
    lines.append("shopper_profiles: []")
    return [("  - " if i == 0 else "    ") + line for i, line in enumerate(lines)]


def config(*decls: Decl) -> str:
    return "\n".join(["version: 1", "segments:", *(ln for d in decls for ln in segment(*d))])


def files(tmp_path: Path, *texts: str) -> list[str]:
    return [str(write(tmp_path, text, f"{chr(ord('a') + i)}.yaml")) for i, text in enumerate(texts)]


def messages(result: LoadResult) -> list[str]:
    assert result.state is None
    return [str(p) for p in result.problems]


# --- the same rules as within one file ------------------------------------------------------


def test_a_name_pinned_in_one_file_and_bare_in_another_is_refused(tmp_path: Path) -> None:
    name = "Renamed wholesale"
    a, b = files(tmp_path, config((name, SEG_ID)), config((name, None)))

    assert messages(validate_sources([a, b])) == [
        f'{b}:3:5: segment "Renamed wholesale" is declared twice: here and at {a}:3:5'
    ]
    # In the other order too: which file pins the segment does not matter.
    assert messages(validate_sources([b, a])) == [
        f'{a}:3:5: segment "Renamed wholesale" is declared twice: here and at {b}:3:5'
    ]


def test_one_id_under_two_names_is_refused_whatever_its_case(tmp_path: Path) -> None:
    a, b = files(tmp_path, config(("VIP", SEG_ID)), config(("Wholesale", SEG_ID.upper())))

    assert messages(validate_sources([a, b])) == [
        f"{b}:3:5: segment id {SEG_ID} is declared twice: here and at {a}:3:5 "
        "(ids compare case-insensitively)"
    ]


def test_a_segment_copied_whole_into_another_file_is_one_problem(tmp_path: Path) -> None:
    a, b = files(tmp_path, config(("VIP", SEG_ID)), config(("VIP", SEG_ID)))

    assert messages(validate_sources([a, b])) == [
        f'{b}:3:5: segment "VIP" is declared twice: here and at {a}:3:5'
    ]


def test_a_declaration_repeating_two_others_names_both(tmp_path: Path) -> None:
    a, b = files(tmp_path, config(("VIP", None), (None, SEG_ID)), config(("VIP", SEG_ID)))

    assert messages(validate_sources([a, b])) == [
        f'{b}:3:5: segment "VIP" is declared twice: here and at {a}:3:5',
        f"{b}:3:5: segment id {SEG_ID} is declared twice: here and at {a}:5:5 "
        "(ids compare case-insensitively)",
    ]


def test_a_repeated_declaration_still_claims_its_other_field(tmp_path: Path) -> None:
    # As within one file: b repeats a's name, and its id is then b's to repeat.
    a, b, c = files(
        tmp_path, config(("VIP", SEG_ID)), config(("VIP", OTHER_ID)), config(("Gold", OTHER_ID))
    )

    assert messages(validate_sources([a, b, c])) == [
        f'{b}:3:5: segment "VIP" is declared twice: here and at {a}:3:5',
        f"{c}:3:5: segment id {OTHER_ID} is declared twice: here and at {b}:3:5 "
        "(ids compare case-insensitively)",
    ]


CASES: dict[str, tuple[Decl, Decl]] = {
    "bare name, then pinned": (("W", None), ("W", SEG_ID)),
    "pinned, then bare name": (("W", SEG_ID), ("W", None)),
    "one name, two ids": (("W", SEG_ID), ("W", OTHER_ID)),
    "one id, two names": (("A", SEG_ID), ("B", SEG_ID)),
    "one id, two cases": ((None, SEG_ID), (None, SEG_ID.upper())),
    "bare id, then pinned": ((None, SEG_ID), ("A", SEG_ID)),
    "the same twice": (("A", SEG_ID), ("A", SEG_ID)),
    "a name and an id": (("A", None), (None, SEG_ID)),
    "two names": (("A", None), ("B", None)),
    "names differing in case": (("vip", None), ("VIP", None)),
}


@pytest.mark.parametrize(("first", "second"), CASES.values(), ids=CASES.keys())
def test_two_files_refuse_exactly_what_one_file_refuses(
    tmp_path: Path, first: Decl, second: Decl
) -> None:
    one = validate_config(write(tmp_path, config(first, second)))
    several = validate_sources(files(tmp_path, config(first), config(second)))

    assert bool(several.errors) == bool(one.errors)
    assert (several.state is None) == (one.state is None)


def test_files_without_a_clash_still_merge(tmp_path: Path) -> None:
    # A name and an id may be one store segment: only the plan can tell (it reads the ids).
    state = state_of(validate_sources(files(tmp_path, config(("A", None)), config((None, SEG_ID)))))

    assert [(s.name, s.id) for s in state.segments] == [("A", None), (None, SEG_ID)]


# --- every problem at once --------------------------------------------------------------------


def test_a_file_with_errors_does_not_hide_a_clash_between_the_others(tmp_path: Path) -> None:
    x = write(tmp_path, config(("A", None)), "x.yaml")
    y = write(tmp_path, config(("A", None)), "y.yaml")
    z = write(tmp_path, config(("B", "not-a-uuid")), "z.yaml")

    assert messages(validate_sources([str(tmp_path)])) == [
        f'{y}:3:5: segment "A" is declared twice: here and at {x}:3:5',
        f"{z}:4:9: 'not-a-uuid' is not a valid segment id (expected a UUID)",
    ]


def test_a_file_with_errors_does_not_hide_differing_store_hashes(tmp_path: Path) -> None:
    a, b, c = files(
        tmp_path,
        "store_hash: abc\n" + config(("A", None)),
        "version: 1\nsegments: 3\n",
        "store_hash: xyz\n" + config(("B", None)),
    )

    problems = messages(validate_sources([a, b, c]))

    assert problems == [
        f"{b}:2:11: segments must be a list of segments, not a number",
        f"{c}: store_hash 'xyz' differs from 'abc' in {a}; all files must name the same store",
    ]


def test_one_file_with_errors_leaves_no_state_though_the_rest_agree(tmp_path: Path) -> None:
    a, b = files(tmp_path, config(("A", None)), config(("B", "nope")))

    result = validate_sources([a, b])

    assert result.state is None
    assert [p.location.file for p in result.errors if p.location] == [b]


def test_a_clash_takes_its_line_among_its_files_warnings(tmp_path: Path) -> None:
    a = write(tmp_path, config(("A", None)), "a.yaml")
    b = write(
        tmp_path,
        f"""
        version: 1
        segments:
          - name: A
            shopper_profiles: []
          - name: B
            shopper_profiles:
              - {P1}
              - {P1}
        """,
        "b.yaml",
    )

    problems = messages(validate_sources([str(a), str(b)]))

    assert [p.split(": ")[0] for p in problems] == [f"{b}:3:5", f"{b}:8:9"]
