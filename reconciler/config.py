"""Config format v1: YAML (line-aware) -> schema validation -> DesiredState.

Every problem is collected, not just the first, and each points at a file, line and
column. Bad input never raises from `validate_config`; `load_config` raises ConfigError.
Pure core: no httpx, no click.
"""

from __future__ import annotations

import difflib
import functools
import hashlib
import importlib.resources
import json
import logging
import math
import os
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from reconciler.errors import ConfigError
from reconciler.model import (
    MIN_SECRET_LENGTH,
    UUID_RE,
    CustomerRef,
    DesiredSegment,
    DesiredState,
    Location,
    PartialSafety,
    Problem,
    SafetyPolicy,
    clip,
    is_email,
    normalize_email,
    normalize_uuid,
)
from reconciler.yamlsource import OddFloat, OddInt, Pos, Source, YList, YMap, read_yaml

if TYPE_CHECKING:
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import ValidationError
    from jsonschema.protocols import Validator

log = logging.getLogger(__name__)

SCHEMA_RESOURCE = "schemas/segments.schema.json"
DEFAULT_MAX_BYTES = 128 * 1024 * 1024
TOKEN_MESSAGE = (
    "the access token must not be in the config file; "
    "set the BIGCOMMERCE_ACCESS_TOKEN environment variable instead"
)
# Compared after lower-casing and turning '-' into '_'.
TOKEN_KEYS = frozenset(
    {
        "token",
        "access_token",
        "api_token",
        "auth_token",
        "x_auth_token",
        "client_secret",
        "secret",
        "password",
        "bigcommerce_access_token",
        "api_key",
    }
)
# Per segment, a list of a million bad ids should not become a million lines of output.
MAX_PROFILE_PROBLEMS = 50
MAX_PROBLEMS = 1000

_UUID_MATCH = UUID_RE.fullmatch
# Ids already lower-case and stripped, which JSON writes unchanged between quotes.
_NORMAL_IDS = re.compile(r"[0-9a-z-]*").fullmatch
# The schema's pattern for a member's email: one '@', no spaces, no commas (a comma would
# split the API's email:in filter).
MEMBER_KEYS = ("customer_id", "email")
SAFETY_NUMBERS = ("max_removal_percent", "min_members_for_guard")
_TYPE_NAMES = {
    "object": "a mapping",
    "array": "a list",
    "string": "a string",
    "boolean": "true or false",
    "number": "a number",
    "integer": "a whole number",
    "null": "empty",
}


@dataclass(frozen=True)
class LoadResult:
    state: DesiredState | None  # None when there are errors
    problems: list[Problem]  # errors and warnings, in file order

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.is_error]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.problems if not p.is_error]


def validate_config(
    path: str | Path, *, max_bytes: int = DEFAULT_MAX_BYTES, secret: str | None = None
) -> LoadResult:
    """Read, validate and convert a config file. Never raises for bad input: every
    finding, however hostile the file, comes back as a Problem. `secret` is the access
    token, when known: a file that holds it is refused without a word of its content."""
    file = os.fspath(path)
    try:
        return _validate(path, file, max_bytes, secret)
    except Exception as exc:  # the promise above outranks any bug of ours
        log.debug("config validation crashed", exc_info=True)
        problem = Problem(
            f"{file}: internal error while validating the config ({type(exc).__name__}); "
            "please report this"
        )
        return LoadResult(None, [problem])


def load_config(path: str | Path, **kw: Any) -> LoadResult:
    """Like validate_config, but raises ConfigError (carrying every problem) on any error."""
    result = validate_config(path, **kw)
    if result.errors:
        raise ConfigError(result.problems)
    return result


def config_digest(state: DesiredState) -> str:
    """A digest of what the config means, not how it is written: "sha256:<hex>" over a
    canonical JSON form (segments in declared order, profiles sorted, UUIDs lower-case)."""

    def percent(value: float | None) -> float | None:
        return None if value is None else float(value)

    def count(value: int | None) -> int | None:
        return None if value is None else int(value)

    doc = {
        "version": state.version,
        "store_hash": state.store_hash,
        "safety": {
            "max_removal_percent": percent(state.safety.max_removal_percent),
            "min_members_for_guard": count(state.safety.min_members_for_guard),
        },
        "segments": [
            {
                "name": s.name,
                "id": normalize_uuid(s.id) if s.id is not None else None,
                "prune": s.prune,
                "description": s.description,
                "safety": {
                    "max_removal_percent": percent(s.safety.max_removal_percent),
                    "min_members_for_guard": count(s.safety.min_members_for_guard),
                },
                "profiles": _sorted_normalised(s.profiles),
                # Only when used, so a UUID-only config keeps the digest it always had.
                **({"customers": _sorted_refs(s.customers)} if s.customers else {}),
            }
            for s in state.segments
        ],
    }
    return "sha256:" + hashlib.sha256(_canonical_json(doc).encode("utf-8")).hexdigest()


def _canonical_json(doc: dict[str, Any]) -> str:
    """json.dumps(doc, sort_keys=True, compact, ensure_ascii=False), byte for byte, but
    each list of plain ids (which JSON writes as they are, in quotes) joined in one call
    rather than encoded id by id: a third of the digest's time at 100,000 members. `doc`
    is the digest's own: its lists are swapped for markers here."""
    segments = doc["segments"]
    joined: dict[int, tuple[str, list[str]]] = {}
    for index, segment in enumerate(segments):
        profiles = segment["profiles"]
        if _all_normal(profiles):
            marker = f"profiles {os.urandom(16).hex()} {index}"
            joined[index] = (json.dumps(marker), profiles)
            segment["profiles"] = marker
    data = _dumps(doc)
    for marker, profiles in joined.values():
        if data.count(marker) != 1:  # a value equal to a marker: encode it all instead
            for again, (_, original) in joined.items():
                segments[again]["profiles"] = original
            return _dumps(doc)
        data = data.replace(marker, '["' + '","'.join(profiles) + '"]' if profiles else "[]")
    return data


def _dumps(doc: dict[str, Any]) -> str:
    return json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _sorted_refs(refs: Iterable[CustomerRef]) -> list[list[Any]]:
    keys = {("customer_id", r.customer_id) if r.email is None else ("email", r.email) for r in refs}
    return sorted(([k, v] for k, v in keys), key=lambda kv: (kv[0], str(kv[1])))


def _sorted_normalised(profiles: frozenset[str]) -> list[str]:
    # C-level calls only: this runs over every member, a million in a big store. A loaded
    # state's ids are lower-case already and need no copy.
    if _all_normal(profiles):
        return sorted(profiles)
    return sorted(map(str.lower, map(str.strip, profiles)))


def _all_normal(ids: Iterable[str]) -> bool:
    """Every id lower-case and stripped, which JSON also writes unchanged between quotes:
    one match over them all, several times faster than a test per id."""
    return _NORMAL_IDS("".join(ids)) is not None


@functools.cache
def load_schema() -> dict[str, Any]:
    """The packaged JSON Schema (a copy of schemas/segments.schema.json)."""
    resource = importlib.resources.files("reconciler").joinpath(SCHEMA_RESOURCE)
    schema: dict[str, Any] = json.loads(resource.read_text(encoding="utf-8"))
    return schema


@functools.cache
def _validator() -> Draft202012Validator:
    # Imported on first use (60 ms), so commands that validate no config (--help, show,
    # the sandbox) do not pay for it.
    from jsonschema import Draft202012Validator
    from jsonschema.validators import extend

    checker = extend(Draft202012Validator, validators={"pattern": _pattern_keyword})
    validator: Draft202012Validator = checker(load_schema())
    return validator


def _pattern_keyword(
    validator: Validator, pattern: str, instance: Any, schema: dict[str, Any]
) -> Iterator[ValidationError]:
    """`pattern` as JSON Schema means it (ECMA-262), where a final `$` matches only at the
    end. Python's `$` also matches before a final "\n", which let an `id: |` block
    scalar ("<uuid>\n") through."""
    from jsonschema.exceptions import ValidationError

    if validator.is_type(instance, "string") and _ecma(pattern).search(instance) is None:
        yield ValidationError(f"{clip(repr(instance))} does not match {pattern!r}")


@functools.cache
def _ecma(pattern: str) -> re.Pattern[str]:
    # The schema's patterns use `$` only at their end.
    if pattern.endswith("$") and not pattern.endswith("\\$"):
        pattern = pattern[:-1] + r"\Z"
    return re.compile(pattern)


# --- the pipeline ---------------------------------------------------------------------


def _validate(path: str | Path, file: str, max_bytes: int, secret: str | None) -> LoadResult:
    src = read_yaml(path, file, max_bytes=max_bytes, secret=secret)
    root = src.root
    if root is not None:
        _check_token_keys(root, src)
    if not src.complete:
        return _result(src, None)
    if not isinstance(root, YMap):
        src.error(
            f"the top level must be a mapping with 'version' and 'segments', not {_kind(root)}",
            src.root_pos,
        )
        return _result(src, None)

    odd = _check_numbers(root, src)
    _check_schema(root, src, odd)
    profiles = _check_segments(root, src)
    if any(p.is_error for p in src.problems):
        return _result(src, None)
    return _result(src, _to_state(root, profiles, file))


def _result(src: Source, state: DesiredState | None) -> LoadResult:
    # File order; problems without a place (file-level) first. sorted() is stable, so
    # problems at one spot keep the order they were found in.
    problems = sorted(
        src.problems,
        key=lambda p: (p.location.line, p.location.column) if p.location else (0, 0),
    )
    if len(problems) > MAX_PROBLEMS:
        hidden = len(problems) - MAX_PROBLEMS
        problems = [*problems[:MAX_PROBLEMS], Problem(f"... and {hidden} more problems")]
    return LoadResult(state, problems)


def _check_token_keys(root: Any, src: Source) -> None:
    """A credential in a file that gets committed is a leak: refuse any token-like key,
    at any depth. The message never contains the value."""
    pending = [root]
    while pending:  # iterative: depth is bounded by the reader anyway, but no recursion
        node = pending.pop()
        if isinstance(node, YMap):
            for key, value in node.items():
                if _is_token_key(key):
                    src.error(TOKEN_MESSAGE, node.key_pos[key])
                elif isinstance(value, YMap | YList):
                    pending.append(value)
        elif isinstance(node, YList) and not node.all_uuids:  # a UUID list holds no keys
            pending.extend(v for v in node if isinstance(v, YMap | YList))


def _is_token_key(key: str) -> bool:
    return key.strip().lower().replace("-", "_") in TOKEN_KEYS


# --- schema -----------------------------------------------------------------------------


def _skeleton(node: Any, role: str = "") -> Any:
    """A plain copy for jsonschema without token keys (so no value of theirs can reach a
    message) and with each segment's shopper_profiles list stubbed out: profile ids are
    checked by one compiled regex in `_check_profiles`, which is far faster at scale."""
    if isinstance(node, YMap):
        out: dict[str, Any] = {}
        for key, value in node.items():
            if _is_token_key(key):
                continue
            if role == "segment" and key == "shopper_profiles" and isinstance(value, YList):
                out[key] = []
            elif role == "root" and key == "segments" and isinstance(value, YList):
                out[key] = [_skeleton(item, "segment") for item in value]
            else:
                out[key] = _skeleton(value)
        return out
    if isinstance(node, YList):
        return [_skeleton(item) for item in node]
    return node


def _check_schema(root: YMap, src: Source, odd: set[Pos]) -> None:
    """Schema findings, worded for people. `odd` are numbers already reported as not
    written in plain decimal: whatever else is wrong with them would only add noise."""
    skeleton = _skeleton(root, "root")
    seen: set[tuple[tuple[Any, ...], str]] = set()
    said: set[tuple[str, Pos]] = set()
    for error in _validator().iter_errors(skeleton):
        path = tuple(error.absolute_path)
        # One problem per place and kind: nested anyOf/$ref branches can report the same
        # thing several times.
        if (path, str(error.validator)) in seen:
            continue
        seen.add((path, str(error.validator)))
        for message, pos in _explain(error, path, root):
            # Two kinds can read the same (`version: "1"` fails type and const alike).
            if pos in odd or (message, pos) in said:
                continue
            said.add((message, pos))
            src.error(message, pos)


def _check_numbers(root: YMap, src: Source) -> set[Pos]:
    """Report each number field (version, the safety limits) written in a form other
    than plain decimal, and return where they are. (customer_id: see _member_ref.)"""
    places: list[tuple[Any, str, str]] = [(root, "version", "")]
    places += [(root.get("safety"), key, "the file-level safety block: ") for key in SAFETY_NUMBERS]
    segments = root.get("segments")
    if isinstance(segments, YList):
        for index, seg in enumerate(segments):
            if isinstance(seg, YMap) and isinstance(seg.get("safety"), YMap):
                where = f"the safety block of {_segment_label(root, index)}: "
                places += [(seg["safety"], key, where) for key in SAFETY_NUMBERS]
    odd: set[Pos] = set()
    for block, key, prefix in places:
        if isinstance(block, YMap) and isinstance(block.get(key), OddInt | OddFloat):
            pos = block.value_pos[key]
            src.error(prefix + _odd_number_message(key, block[key]), pos)
            odd.add(pos)
    return odd


def _odd_number_message(name: str, value: OddInt | OddFloat) -> str:
    read = int(value) if isinstance(value, OddInt) else float(value)
    return (
        f"{name} {clip(value.text)} is not a plain decimal number (YAML reads it as {read}); "
        "write it as a plain number, without leading zeros, '_', ':' or a 0b/0o/0x prefix"
    )


def _node_at(root: YMap, path: Sequence[Any]) -> tuple[Any, Pos]:
    """The original node at a jsonschema path, and where it is in the file."""
    node: Any = root
    pos = root.pos
    for part in path:
        if isinstance(node, YMap) and part in node:
            pos = node.value_pos[part]
            node = node[part]
        elif isinstance(node, YList) and isinstance(part, int) and part < len(node):
            pos = node.item_pos(part)
            node = node[part]
        else:
            break
    return node, pos


def _segment_label(root: YMap, index: int) -> str:
    segments = root.get("segments")
    seg = segments[index] if isinstance(segments, YList) and index < len(segments) else None
    if isinstance(seg, YMap):
        if isinstance(seg.get("name"), str) and seg["name"].strip():
            return f'segment "{clip(seg["name"])}"'
        if isinstance(seg.get("id"), str):
            return f"segment {_short(seg['id'])}"
    return f"segment #{index + 1}"


def _context(root: YMap, path: Sequence[Any]) -> str:
    """Where a path is, in words: 'segment "VIP"', 'the safety block of segment "VIP"'."""
    if len(path) >= 2 and path[0] == "segments" and isinstance(path[1], int):
        label = _segment_label(root, path[1])
        if len(path) >= 3 and path[2] == "safety":
            return f"the safety block of {label}"
        return label
    if path and path[0] == "safety":
        return "the file-level safety block"
    return ""


def _kind(value: Any) -> str:
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, bool):
        return f"'{str(value).lower()}'"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, datetime | date):
        return "a date"
    if value is None:
        return "empty"
    return type(value).__name__


def _short(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 4] + "...'"


def _field(path: Sequence[Any]) -> str:
    names = [str(p) for p in path if isinstance(p, str)]
    return names[-1] if names else "the top level"


def _explain(error: ValidationError, path: tuple[Any, ...], root: YMap) -> list[tuple[str, Pos]]:
    node, pos = _node_at(root, path)
    where = _context(root, path)
    prefix = f"{where}: " if where else ""
    name = _field(path)
    validator = error.validator
    in_segment = len(path) == 2 and path[0] == "segments"

    if path == ("version",):
        return [("version must be 1 (the only config format this tool reads)", pos)]
    if validator == "additionalProperties" and isinstance(node, YMap):
        allowed = list(error.schema.get("properties", {}))
        out = []
        for key in node:
            if key in allowed or _is_token_key(key):
                continue
            place = f" in {where}" if where else (" at the top level" if not path else "")
            hint = difflib.get_close_matches(key, allowed, n=1)
            guess = f"; did you mean '{hint[0]}'?" if hint else ""
            out.append(
                (
                    f"unknown key '{clip(key)}'{place} (allowed: {', '.join(allowed)}){guess}",
                    node.key_pos[key],
                )
            )
        return out
    if validator == "anyOf" and in_segment:
        return [(f"{_segment_label(root, path[1])} needs a name or an id", pos)]
    if validator == "required":
        missing = [k for k in error.validator_value if k not in (node or {})]
        out = []
        for key in missing:
            if key == "version":
                out.append(("missing required key 'version' (add 'version: 1')", pos))
            elif key == "shopper_profiles":
                out.append(
                    (
                        f"{where or 'segment'} is missing 'shopper_profiles' (the exact list "
                        "of members; use [] for none)",
                        pos,
                    )
                )
            else:
                out.append((f"{prefix}missing required key '{key}'", pos))
        return out
    if validator == "type":
        expected = error.validator_value
        names = [expected] if isinstance(expected, str) else list(expected)
        want = " or ".join(_TYPE_NAMES.get(n, n) for n in names)
        if path and path[-1] == "segments":
            want = "a list of segments"
        elif name == "shopper_profiles":
            want = "a list of shopper profile UUIDs"
        elif len(path) == 2 and path[0] == "segments":
            return [(f"segments: item {path[1] + 1} must be a mapping, not {_kind(node)}", pos)]
        quote = " (put it in quotes)" if "string" in names and node is not None else ""
        return [(f"{prefix}{name} must be {want}, not {_kind(node)}{quote}", pos)]
    if validator == "pattern":
        if name == "id":
            why = _uuid_hint(node) or " (expected a UUID)"
            return [(f"{_short(node)} is not a valid segment id{why}", pos)]
        if name == "store_hash":
            return [("store_hash must contain only letters and digits", pos)]
        if name == "name":
            return [(f"{prefix}the segment name must not be empty", pos)]
    if validator in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
        if name == "max_removal_percent":
            return [(f"{prefix}max_removal_percent must be between 0 and 100", pos)]
        return [(f"{prefix}{name} must be 0 or more", pos)]
    # A case the schema can produce but no rule above words better.
    return [(f"{prefix}{name}: {clip(error.message)}", pos)]


def _uuid_hint(value: Any) -> str:
    # `id: |` keeps a final line break, and quotes keep spaces: say so, not just "bad".
    if isinstance(value, str) and _UUID_MATCH(value.strip()):
        return "; remove the spaces or line break around the UUID"
    return ""


# --- segment-level checks -----------------------------------------------------------------


Members = tuple[frozenset[str], tuple[CustomerRef, ...]]


def _check_segments(root: YMap, src: Source) -> dict[int, Members]:
    """Checks that span items: duplicate segments, members, duplicate members.
    Returns the normalised membership of each segment whose list was usable: profile
    UUIDs, and the customers named by id or email."""
    segments = root.get("segments")
    profiles: dict[int, Members] = {}
    _check_finite(root.get("safety"), "the file-level safety block", src)
    if not isinstance(segments, YList):
        return profiles
    names: dict[str, int] = {}
    ids: dict[str, int] = {}
    for index, seg in enumerate(segments):
        if not isinstance(seg, YMap):
            continue
        label = _segment_label(root, index)
        name = seg.get("name")
        if isinstance(name, str):
            pos = seg.value_pos["name"]
            if name in names:
                src.error(
                    f'segment name "{clip(name)}" is declared twice: lines {names[name]} and '
                    f"{pos[0]}",
                    pos,
                )
            else:
                names[name] = pos[0]
        seg_id = seg.get("id")
        if isinstance(seg_id, str) and _UUID_MATCH(seg_id):
            pos = seg.value_pos["id"]
            key = normalize_uuid(seg_id)
            if key in ids:
                src.error(
                    f"segment id {key} is declared twice: lines {ids[key]} and {pos[0]} "
                    "(ids compare case-insensitively)",
                    pos,
                )
            else:
                ids[key] = pos[0]
        _check_finite(seg.get("safety"), f"the safety block of {label}", src)
        items = seg.get("shopper_profiles")
        if isinstance(items, YList):
            members = _check_profiles(items, label, src)
            if members is not None:
                profiles[index] = members
    return profiles


def _check_finite(block: Any, where: str, src: Source) -> None:
    # `.nan` slips through minimum/maximum (every comparison with NaN is false).
    if isinstance(block, YMap):
        value = block.get("max_removal_percent")
        if isinstance(value, float) and math.isnan(value):
            src.error(
                f"{where}: max_removal_percent must be between 0 and 100",
                block.value_pos["max_removal_percent"],
            )


def _check_profiles(items: YList, label: str, src: Source) -> Members | None:
    """Validate and normalise one membership list. The common case (all UUIDs, no
    duplicates) runs entirely in C loops; only a list with findings or customer entries
    is walked in Python."""
    if items.all_uuids:  # the reader already matched every item against UUID_RE
        # Reuse the strings when they are already lower-case: saves a copy of every id.
        members = frozenset(items) if _all_normal(items) else frozenset(map(str.lower, items))
        if len(members) == len(items):
            return members, ()
    return _check_profiles_slowly(items, label, src)


def _member_ref(item: YMap, src: Source) -> CustomerRef | None:
    """A `{customer_id: N}` or `{email: ADDRESS}` entry, or None after reporting why not."""
    keys = [k for k in item if not _is_token_key(k)]  # token keys are reported already
    unknown = [k for k in keys if k not in MEMBER_KEYS]
    for key in unknown:
        hint = difflib.get_close_matches(key, MEMBER_KEYS, n=1)
        guess = f"; did you mean '{hint[0]}'?" if hint else ""
        src.error(
            f"unknown key '{clip(key)}' in a member (allowed: customer_id, email){guess}",
            item.key_pos[key],
        )
    known = [k for k in keys if k in MEMBER_KEYS]
    if unknown:
        return None
    if len(known) != 1:
        src.error(
            "a member mapping names exactly one of customer_id or email"
            + (", not both" if known else ""),
            item.pos,
        )
        return None
    key = known[0]
    value, pos = item[key], item.value_pos[key]
    if key == "customer_id":
        if isinstance(value, OddInt | OddFloat):
            src.error(_odd_number_message(key, value), pos)
            return None
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            src.error(f"customer_id must be a whole number of 1 or more, not {_quoted(value)}", pos)
            return None
        return CustomerRef(customer_id=value, location=src.at(pos))
    if not isinstance(value, str) or not is_email(value):
        shown = _short(value) if isinstance(value, str) else _kind(value)
        src.error(f"{shown} is not a valid email address", pos)
        return None
    return CustomerRef(email=normalize_email(value), location=src.at(pos), spelled=value.strip())


def _quoted(value: Any) -> str:
    """A wrong number as a message may show it. A plain int is its own text, which was
    searched for the token; a float's repr is not, so only a short one (no token fits)
    is shown, a non-finite one as YAML spells it."""
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            return ".nan" if math.isnan(value) else ("-.inf" if value < 0 else ".inf")
        shown = repr(value)
        return shown if len(shown) < MIN_SECRET_LENGTH else "a number with a decimal point"
    return _kind(value)


def _check_profiles_slowly(items: YList, label: str, src: Source) -> Members | None:
    first_seen: dict[str, int] = {}
    refs: dict[tuple[str, object], CustomerRef] = {}
    warned: set[object] = set()
    bad = bad_refs = 0

    def duplicate(key: object, what: str, first: int, pos: tuple[int, int]) -> None:
        if key in warned:
            return
        warned.add(key)  # one warning per member, however often it repeats
        if len(warned) <= MAX_PROFILE_PROBLEMS:
            src.problems.append(
                Problem(
                    f"{what} is listed more than once in {label} (first at line "
                    f"{first}); it counts once",
                    src.at(pos),
                    severity="warning",
                )
            )

    for index, item in enumerate(items):
        pos = items.item_pos(index)
        if isinstance(item, YMap):
            ref = _member_ref(item, src)
            if ref is None:
                bad_refs += 1  # reported by _member_ref, outside the cap on bad ids
                continue
            ref_key = ("email", ref.email) if ref.email is not None else ("id", ref.customer_id)
            if ref_key in refs:
                first = refs[ref_key].location
                duplicate(ref_key, clip(ref.label), first.line if first else 0, pos)
            else:
                refs[ref_key] = ref
            continue
        if not (isinstance(item, str) and _UUID_MATCH(item)):
            bad += 1
            if bad <= MAX_PROFILE_PROBLEMS:
                src.error(_bad_profile_message(item), pos)
            continue
        key = item.lower()
        if key not in first_seen:
            first_seen[key] = pos[0]
        else:
            duplicate(key, f"profile {key}", first_seen[key], pos)
    if bad > MAX_PROFILE_PROBLEMS:
        src.error(
            f"{label}: {bad - MAX_PROFILE_PROBLEMS} more invalid shopper profile ids not shown",
            items.pos,
        )
    if len(warned) > MAX_PROFILE_PROBLEMS:
        src.problems.append(
            Problem(
                f"{label}: {len(warned) - MAX_PROFILE_PROBLEMS} more duplicated profiles not shown",
                src.at(items.pos),
                severity="warning",
            )
        )
    return None if bad or bad_refs else (frozenset(first_seen), tuple(refs.values()))


def _bad_profile_message(item: Any) -> str:
    if item is None:
        return "empty entry in shopper_profiles; expected a shopper profile UUID"
    if isinstance(item, list):
        return (
            "a member must be a shopper profile UUID, {customer_id: N} or {email: ADDRESS}, "
            f"not {_kind(item)}"
        )
    if isinstance(item, str):
        return f"{_short(item)} is not a valid shopper profile UUID{_uuid_hint(item)}"
    return f"{_short(item)} is not a valid shopper profile UUID (it is {_kind(item)})"


# --- conversion ---------------------------------------------------------------------------


def _safety_values(block: Any) -> tuple[float | None, int | None]:
    if not isinstance(block, dict):
        return None, None
    percent = block.get("max_removal_percent")
    minimum = block.get("min_members_for_guard")
    return (
        None if percent is None else float(percent),
        None if minimum is None else int(minimum),
    )


def _to_state(root: YMap, profiles: dict[int, Members], file: str) -> DesiredState:
    """Only called on a file with no errors, so every value has its schema type."""
    percent, minimum = _safety_values(root.get("safety"))
    base = PartialSafety(percent, minimum).over(SafetyPolicy())
    segments: list[DesiredSegment] = []
    for index, seg in enumerate(_iter_maps(root["segments"])):
        seg_id = seg.get("id")
        uuids, customers = profiles[index]
        segments.append(
            DesiredSegment(
                name=seg.get("name"),
                id=normalize_uuid(seg_id) if seg_id is not None else None,
                profiles=uuids,
                prune=seg.get("prune", True),
                description=seg.get("description"),
                safety=PartialSafety(*_safety_values(seg.get("safety"))),
                location=Location(file, *seg.pos),
                customers=customers,
            )
        )
    return DesiredState(
        segments=tuple(segments),
        store_hash=root.get("store_hash"),
        safety=base,
        version=1,
    )


def _iter_maps(items: Iterable[Any]) -> Iterable[YMap]:
    for item in items:
        assert isinstance(item, YMap)  # guaranteed by the schema check
        yield item
