"""Several config files, or directories of them, as one desired state.

Teams split `segments.yaml` per segment or per team so CODEOWNERS can guard each file.
Each file is validated on its own (its problems keep its name and lines); then the
files are merged: a segment declared twice is an error naming both places, a store hash
set in two files must agree, and each file's `safety:` block applies to its own
segments only. Pure core: no httpx, no click."""

from __future__ import annotations

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
    results = [(f, validate_config(f, secret=secret)) for f in files]
    problems = [p for _, r in results for p in r.problems]
    if any(r.errors or r.state is None for _, r in results):
        return LoadResult(None, problems)
    merged, merge_problems = _merge([(f, r.state) for f, r in results if r.state is not None])
    problems += merge_problems
    return LoadResult(None if merge_problems else merged, problems)


def _key(seg: DesiredSegment) -> tuple[str, str]:
    return ("id", seg.id) if seg.id is not None else ("name", seg.name or "")


def _merge(states: list[tuple[str, DesiredState]]) -> tuple[DesiredState, list[Problem]]:
    problems: list[Problem] = []
    seen: dict[tuple[str, str], DesiredSegment] = {}
    segments: list[DesiredSegment] = []
    store_hash: tuple[str, str] | None = None
    for file, state in states:
        if state.store_hash is not None:
            if store_hash is not None and store_hash[1] != state.store_hash:
                problems.append(
                    Problem(
                        f"{file}: store_hash {clip(repr(state.store_hash))} differs from "
                        f"{clip(repr(store_hash[1]))} "
                        f"in {store_hash[0]}; all files must name the same store"
                    )
                )
            store_hash = store_hash or (file, state.store_hash)
        for seg in state.segments:
            first = seen.get(_key(seg))
            if first is not None:
                where = f" at {first.location}" if first.location else ""
                problems.append(
                    Problem(
                        f'segment "{clip(seg.label)}" is declared twice: here and{where}',
                        seg.location,
                    )
                )
                continue
            seen[_key(seg)] = seg
            # The file's own safety block, made explicit, so the merge keeps its meaning.
            policy = seg.safety.over(state.safety)
            segments.append(
                replace(
                    seg,
                    safety=PartialSafety(policy.max_removal_percent, policy.min_members_for_guard),
                )
            )
    merged = DesiredState(
        segments=tuple(segments), store_hash=store_hash[1] if store_hash else None
    )
    return merged, problems
