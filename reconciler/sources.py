"""Several config files, or directories of them, as one desired state.

Teams split `segments.yaml` per segment or per team so CODEOWNERS can guard each file.
Each file is validated on its own (its problems keep its name and lines); then the
files that loaded are merged, even when another did not: a segment declared twice (by
name or by id, as within one file) is an error naming both places, a store hash set in
two files must agree, and each file's `safety:` block applies to its own segments only.
Pure core: no httpx, no click."""

from __future__ import annotations

import heapq
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from reconciler.config import LoadResult, validate_config
from reconciler.model import DesiredSegment, DesiredState, PartialSafety, Problem, clip

CONFIG_SUFFIXES = (".yaml", ".yml")


def expand(paths: Sequence[str]) -> list[str]:
    """Files as given; a directory becomes its *.yaml/*.yml files, recursively, sorted."""
    files: list[str] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            found = sorted(
                str(p) for p in path.rglob("*") if p.suffix in CONFIG_SUFFIXES and p.is_file()
            )
            files += found or [raw]  # an empty directory is reported by the loader
        else:
            files.append(raw)
    return list(dict.fromkeys(files))


def validate_sources(paths: Sequence[str], *, secret: str | None = None) -> LoadResult:
    files = expand(paths)
    if len(files) == 1:
        return validate_config(files[0], secret=secret)
    results = [validate_config(f, secret=secret) for f in files]
    # A file with errors must not hide what the others get wrong together.
    loaded = [(f, r.state) for f, r in zip(files, results, strict=True) if r.state is not None]
    merged, found = _merge(loaded)
    problems = [
        p
        for f, r in zip(files, results, strict=True)
        for p in heapq.merge(r.problems, found.get(f, []), key=_place)
    ]
    failed = len(loaded) < len(files) or any(r.errors for r in results)
    return LoadResult(None if failed or any(found.values()) else merged, problems)


def _place(problem: Problem) -> tuple[int, int]:
    # The order config._result gives one file's problems: file-level first, then by line.
    loc = problem.location
    return (loc.line, loc.column) if loc else (0, 0)


def _merge(
    states: list[tuple[str, DesiredState]],
) -> tuple[DesiredState, dict[str, list[Problem]]]:
    """The files as one state, and the problems found across them, by the file where
    each one shows (the later place)."""
    found: dict[str, list[Problem]] = {}
    names: dict[str, DesiredSegment] = {}
    ids: dict[str, DesiredSegment] = {}
    segments: list[DesiredSegment] = []
    store_hash: tuple[str, str] | None = None
    for file, state in states:
        here = found.setdefault(file, [])
        if state.store_hash is not None:
            if store_hash is not None and store_hash[1] != state.store_hash:
                here.append(_store_hash_differs(file, state.store_hash, store_hash))
            store_hash = store_hash or (file, state.store_hash)
        for seg in state.segments:
            repeats = _repeats(seg, names, ids)
            here += repeats
            if not repeats:
                segments.append(_with_own_safety(seg, state))
    merged = DesiredState(
        segments=tuple(segments), store_hash=store_hash[1] if store_hash else None
    )
    return merged, found


def _store_hash_differs(file: str, value: str, first: tuple[str, str]) -> Problem:
    return Problem(
        f"{file}: store_hash {clip(repr(value))} differs from {clip(repr(first[1]))} "
        f"in {first[0]}; all files must name the same store"
    )


def _repeats(
    seg: DesiredSegment, names: dict[str, DesiredSegment], ids: dict[str, DesiredSegment]
) -> list[Problem]:
    """As config._check_segments does within a file: a name seen before is a duplicate,
    and so is an id, each compared on its own whatever else either declaration says.
    Records `seg`'s name and id where they are new. One problem per earlier declaration."""
    by_name = names.setdefault(seg.name, seg) if seg.name is not None else seg
    by_id = ids.setdefault(seg.id, seg) if seg.id is not None else seg
    problems = []
    if by_name is not seg:
        problems.append(_twice(f'segment "{clip(seg.label)}"', "", seg, by_name))
    if by_id is not seg and by_id is not by_name:
        hint = " (ids compare case-insensitively)"
        problems.append(_twice(f"segment id {seg.id}", hint, seg, by_id))
    return problems


def _twice(what: str, hint: str, seg: DesiredSegment, first: DesiredSegment) -> Problem:
    where = f" at {first.location}" if first.location else ""
    return Problem(f"{what} is declared twice: here and{where}{hint}", seg.location)


def _with_own_safety(seg: DesiredSegment, state: DesiredState) -> DesiredSegment:
    # The file's own safety block, made explicit, so the merge keeps its meaning.
    policy = seg.safety.over(state.safety)
    return replace(
        seg, safety=PartialSafety(policy.max_removal_percent, policy.min_members_for_guard)
    )
