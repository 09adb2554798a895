"""Long runs of `- <uuid>` lines, folded before parsing.

A large config is mostly one shape: thousands of shopper profile ids written one per line
at the same indentation. The parser spends most of its time making an event (and two
marks) for each. Each such run of lines is replaced by one line holding a placeholder,
followed by as many blank lines as the run had lines after its first, so every other
line keeps its number; the reader puts the run's ids back where the placeholder lands.

That is only valid where the placeholder lands as a plain item of a sequence: then the
run's lines were that sequence's next entries. Anywhere else (inside a block scalar, a
quoted or multi-line string, a key) the reader cannot place it, and the file is parsed
again as written. Pure: no httpx, no click."""

from __future__ import annotations

import functools
import re
import secrets
from array import array
from dataclasses import dataclass

from reconciler.model import UUID_PATTERN

# Shorter runs aren't worth a placeholder; every small file is parsed as written.
RUN_MIN = 64
# A longer run is cut into runs of this many lines: the regex engine keeps state for
# every repetition it matched, 500 bytes a line (a run of 1,000,000 lines took 530 MB).
RUN_MAX = 10_000


@functools.cache
def _run_pattern(min_lines: int, max_lines: int) -> re.Pattern[str]:
    """`min_lines` to `max_lines` lines `- <uuid>` at one indentation, each id matched
    exactly, so a run's ids are its words after each "-" (str.split: a C loop, four times
    faster at 100,000 ids than finding each by pattern again)."""
    more = f"{max(min_lines - 1, 0)},{max(max_lines - 1, min_lines - 1, 0)}"
    return re.compile(rf"^( *)- {UUID_PATTERN}\n(?:\1- {UUID_PATTERN}\n){{{more}}}", re.MULTILINE)


# YAML breaks lines at these too; a file holding any is read as written.
_OTHER_BREAKS = ("\r", "\x85", "\u2028", "\u2029")


@dataclass(frozen=True, slots=True)
class Run:
    """One run's ids and their positions, packed as the reader's lists pack them."""

    ids: list[str]
    packed: array[int]


def fold_runs(text: str) -> tuple[str, dict[str, Run]]:
    """`text` with each run of at least RUN_MIN lines folded, and the runs by
    placeholder; ({} and the text unchanged when there is none)."""
    if any(brk in text for brk in _OTHER_BREAKS):
        return text, {}  # lines would be counted differently from the parser's count
    runs: dict[str, Run] = {}
    pieces: list[str] = []
    last = 0
    line = 1  # the number of the line `last` starts
    prefix = _placeholder_prefix(text)
    for found in _run_pattern(RUN_MIN, RUN_MAX).finditer(text):
        start, end = found.span()
        line += text.count("\n", last, start)
        indent = found.group(1)
        ids = text[start:end].split()[1::2]
        column = len(indent) + 3  # 1-based column of the id, after "- "
        first = (line << 32) | column
        key = f"{prefix}{len(runs)}"
        runs[key] = Run(ids, array("Q", range(first, first + (len(ids) << 32), 1 << 32)))
        pieces += [text[last:start], f"{indent}- {key}\n", "\n" * (len(ids) - 1)]
        line += len(ids)
        last = end
    if not runs:
        return text, runs
    pieces.append(text[last:])
    return "".join(pieces), runs


def _placeholder_prefix(text: str) -> str:
    # Plain, never a UUID, never another YAML type, and not found anywhere in the file.
    while True:
        prefix = f"reconciler-run-{secrets.token_hex(6)}-"
        if prefix not in text:
            return prefix
