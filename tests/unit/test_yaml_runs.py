"""Folding long runs of `- <uuid>` lines must never change what a file reads as: the same
tree, the same position for every key, value and item, the same problems."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reconciler import yamlruns, yamlsource
from reconciler.config import validate_config
from reconciler.model import Location
from reconciler.yamlsource import Source, YList, YMap, read_yaml

BAD = Path(__file__).resolve().parents[1] / "fixtures" / "config" / "bad"


def ids(n: int, seed: int = 0) -> list[str]:
    return [str(uuid.UUID(int=seed * 10_000 + i + 1, version=4)) for i in range(n)]


def shape(node: Any) -> Any:
    """Everything the reader records about a node, positions included."""
    if isinstance(node, YMap):
        entries = [(k, node.key_pos[k], node.value_pos.get(k), shape(v)) for k, v in node.items()]
        return ("map", node.pos, entries)
    if isinstance(node, YList):
        items = [shape(v) for v in node]
        return ("list", node.pos, node.all_uuids, list(node.packed), items)
    return (type(node).__name__, node)


def read(path: Path, *, fold: bool, monkeypatch: pytest.MonkeyPatch) -> Source:
    with monkeypatch.context() as m:
        if fold:
            m.setattr(yamlruns, "RUN_MIN", 2)  # fold even the short runs of these tests
            m.setattr(yamlruns, "RUN_MAX", 3)  # and cut longer ones into several
        else:
            m.setattr(yamlsource, "fold_runs", lambda text: (text, {}))
        return read_yaml(path, path.name, max_bytes=1 << 26)


def assert_same(path: Path, monkeypatch: pytest.MonkeyPatch) -> Source:
    folded = read(path, fold=True, monkeypatch=monkeypatch)
    plain = read(path, fold=False, monkeypatch=monkeypatch)
    assert shape(folded.root) == shape(plain.root)
    assert folded.problems == plain.problems
    assert (folded.complete, folded.root_pos) == (plain.complete, plain.root_pos)
    return folded


def run_lines(indent: int, values: list[str]) -> str:
    return "".join(f"{' ' * indent}- {v}\n" for v in values)


def test_a_long_run_is_folded_and_read_back_with_every_position(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    members = ids(200)
    text = "version: 1\nsegments:\n  - name: Big\n    shopper_profiles:\n" + run_lines(6, members)
    folded, runs = yamlruns.fold_runs(text)
    assert len(runs) == 1 and folded.count("\n") == text.count("\n")
    path = tmp_path / "c.yaml"
    path.write_text(text)

    src = assert_same(path, monkeypatch)

    profiles = src.root["segments"][0]["shopper_profiles"]
    assert list(profiles) == members and profiles.all_uuids
    assert profiles.item_pos(0) == (5, 9) and profiles.item_pos(199) == (204, 9)


def test_a_run_longer_than_run_max_is_cut_into_several_and_reads_back_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(yamlruns, "RUN_MAX", 100)
    members = ids(250)  # runs of 100, 100, and 50 lines parsed as written (under RUN_MIN)
    text = "version: 1\nsegments:\n  - name: Big\n    shopper_profiles:\n" + run_lines(6, members)
    folded, runs = yamlruns.fold_runs(text)
    assert [len(r.ids) for r in runs.values()] == [100, 100]
    assert folded.count("\n") == text.count("\n")
    path = tmp_path / "c.yaml"
    path.write_text(text)
    profiles = read_yaml(path, path.name, max_bytes=1 << 26).root["segments"][0]["shopper_profiles"]
    assert list(profiles) == members
    assert profiles.item_pos(100) == (105, 9) and profiles.item_pos(249) == (254, 9)


def test_a_duplicate_inside_a_folded_run_is_reported_at_its_line(tmp_path: Path) -> None:
    members = ids(300)
    members[250] = members[3]
    path = tmp_path / "c.yaml"
    path.write_text(
        "version: 1\nsegments:\n  - name: Big\n    shopper_profiles:\n" + run_lines(6, members)
    )

    result = validate_config(path)

    (problem,) = result.problems
    assert problem.location is not None and problem.location.line == 5 + 250
    assert members[3] in problem.message and "first at line 8" in problem.message


def test_a_run_inside_a_block_scalar_stays_text(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    body = run_lines(2, ids(5))
    path = tmp_path / "c.yaml"
    path.write_text(f"description: |\n{body}version: 1\n")

    src = assert_same(path, monkeypatch)

    assert src.root["description"] == body.replace("\n  ", "\n")[2:]


def test_a_line_of_the_right_shape_that_is_no_uuid_is_read_as_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    values = ids(6)
    values[2] = "-" * 36
    path = tmp_path / "c.yaml"
    path.write_text("profiles:\n" + run_lines(2, values))

    src = assert_same(path, monkeypatch)

    assert src.root["profiles"][2] == "-" * 36 and not src.root["profiles"].all_uuids


def test_a_syntax_error_after_a_run_is_reported_at_its_own_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("profiles:\n" + run_lines(2, ids(100)) + "  bad: [\n")

    src = assert_same(path, monkeypatch)

    assert src.problems and src.problems[0].location is not None
    assert src.problems[0].location.line >= 102


def test_a_crlf_file_keeps_its_positions(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "c.yaml"
    path.write_bytes(f'note: "a\r\nb"\nlist:\n{run_lines(2, ids(4))}'.encode())

    src = assert_same(path, monkeypatch)

    assert src.root["list"].item_pos(0) == (4, 5)


@pytest.mark.parametrize("brk", ["\r", "\x85", "\u2028", "\u2029"])
def test_a_file_with_other_line_breaks_is_refused_folded_or_not(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, brk: str
) -> None:
    # YAML counts these as line breaks and git does not: the file is refused unread.
    path = tmp_path / "c.yaml"
    path.write_bytes(f'note: "a{brk}b"\nlist:\n{run_lines(2, ids(4))}'.encode())

    src = assert_same(path, monkeypatch)

    assert src.root is None and not src.complete
    assert [p.location for p in src.problems] == [Location("c.yaml", 1, 9)]


@pytest.mark.parametrize("path", sorted(BAD.glob("*.yaml")), ids=lambda p: p.stem)
def test_the_malformed_corpus_reads_the_same_folded(
    path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert_same(path, monkeypatch)


# Where a run can land: as a sequence's items (block, indentless), or somewhere it must
# not be folded (block and quoted scalars, a plain scalar's continuation, flow, a key).
CONTEXTS = [
    "segments:\n  - name: A\n    shopper_profiles:\n{run6}",
    "shopper_profiles:\n{run0}",
    "a:\n  b:\n{run2}    - nested\n",
    "notes: |\n{run2}",
    "notes: >-\n{run4}",
    'notes: "x\n{run2}  "\n',
    "notes: x\n{run2}",
    "- x\n{run2}",
    "list: [\n{run2}]\n",
    "? \n{run2}: v\n",
    "k:\n{run2}    more\n",
    "k:\n{run2}# a comment\n{run2}",
    "k:\n{run2}\n{run2}",
    "k:\n{run2}  - !!str tagged\n{run2}",
    "k:\n{run2}  - &anchor x\n",
    "k:\n\t{run2}",
    "---\n{run0}---\n{run0}",
    'n: "a\u2028b"\nk:\n{run2}',
    "k:\r\n{run2}",
]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    parts=st.lists(
        st.tuples(st.sampled_from(CONTEXTS), st.integers(1, 4), st.integers(0, 3)),
        min_size=1,
        max_size=4,
    ),
    indent=st.sampled_from(["", "  "]),
)
def test_folding_never_changes_what_a_file_reads_as(
    parts: list[tuple[str, int, int]], indent: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    text = ""
    for n, (context, length, seed) in enumerate(parts):
        values = ids(length, seed + n * 4)
        runs = {f"run{k}": run_lines(k, values) for k in (0, 2, 4, 6)}
        text += "".join(indent + line for line in context.format(**runs).splitlines(True))
    path = tmp_path_factory.mktemp("fold") / "c.yaml"
    path.write_text(text)
    with pytest.MonkeyPatch.context() as monkeypatch:
        assert_same(path, monkeypatch)
