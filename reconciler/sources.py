"""Several config files, or directories of them, as one desired state.

Teams split `segments.yaml` per segment or per team so CODEOWNERS can guard each file.
Each file is validated on its own (its problems keep its name and lines); then the
files that loaded are merged, even when another did not: a segment declared twice (by
name or by id, as within one file) is an error naming both places, a store hash set in
two files must agree, and each file's `safety:` block applies to its own segments only.
Pure core: no httpx, no click."""

from __future__ import annotations

import heapq
import os
import stat
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from reconciler.config import LoadResult, validate_config
from reconciler.model import DesiredSegment, DesiredState, PartialSafety, Problem, clip

CONFIG_SUFFIXES = (".yaml", ".yml")


def expand(paths: Sequence[str]) -> tuple[list[str], list[Problem]]:
    """Files as given; a directory becomes its *.yaml/*.yml files, recursively (links to
    directories followed), sorted. Also the problems that would leave a file out unseen:
    a directory that cannot be read, or one that holds no config file."""
    files: list[str] = []
    problems: list[Problem] = []
    for raw in paths:
        if os.path.isdir(raw):
            found, unread = _walk(raw)
            files += found
            problems += unread
            if not found and not unread:
                problems.append(Problem(f"{raw}: holds no *.yaml or *.yml files"))
        else:
            files.append(raw)
    return list(dict.fromkeys(files)), problems


def _walk(top: str) -> tuple[list[str], list[Problem]]:
    """os.walk, not Path.rglob: rglob (3.11) passes over a directory it cannot read without
    a word, and does not follow links, so a team's segments would drop out of the config
    unseen (and read as unmanaged). Each real directory is read once: no link loops."""
    errors: list[OSError] = []
    seen: set[str] = set()
    files: list[str] = []
    for folder, subfolders, names in os.walk(top, onerror=errors.append, followlinks=True):
        real = os.path.realpath(folder)
        if real in seen:
            subfolders[:] = []
            continue
        seen.add(real)
        files += (str(Path(folder, n)) for n in names if Path(n).suffix in CONFIG_SUFFIXES)
    # A pipe is read when named on purpose; found in a directory, reading it could wait
    # forever for a writer.
    pipes = sorted(f for f in files if _is_pipe(f))
    problems = [Problem(f"{f}: is a pipe (FIFO), not a config file") for f in pipes]
    return sorted(set(files) - set(pipes)), [_unreadable(exc) for exc in errors] + problems


def _is_pipe(path: str) -> bool:
    try:
        return stat.S_ISFIFO(os.stat(path).st_mode)
    except OSError:  # a link to nothing, a link loop: validate_config says so, by name
        return False


def _unreadable(exc: OSError) -> Problem:
    folder = exc.filename
    if isinstance(exc, PermissionError):
        return Problem(f"{folder}: permission denied; cannot read the directory")
    return Problem(f"{folder}: cannot read the directory ({exc.strerror or type(exc).__name__})")


def validate_sources(paths: Sequence[str], *, secret: str | None = None) -> LoadResult:
    files, unread = expand(paths)
    if len(files) == 1 and not unread:
        return validate_config(files[0], secret=secret)
    results = [validate_config(f, secret=secret) for f in files]
    # A file with errors must not hide what the others get wrong together.
    loaded = [(f, r.state) for f, r in zip(files, results, strict=True) if r.state is not None]
    merged, found = _merge(loaded)
    problems = unread + [
        p
        for f, r in zip(files, results, strict=True)
        for p in heapq.merge(r.problems, found.get(f, []), key=_place)
    ]
    failed = bool(unread) or len(loaded) < len(files) or any(r.errors for r in results)
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
