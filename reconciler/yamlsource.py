"""Line-aware, hostile-input-proof YAML reading.

Turns a file into a plain tree of dicts, lists and scalars that remembers where every key
and value came from, plus the problems found on the way. The tree is built straight from
the parser's event stream (iteratively, so no input can cause a RecursionError), and only
the YAML core scalars are ever constructed: no tag can run code. Pure: no httpx, no click.
"""

from __future__ import annotations

import os
import re
import stat
from array import array
from dataclasses import dataclass, field
from typing import Any

import yaml
from yaml.constructor import SafeConstructor
from yaml.events import (
    AliasEvent,
    DocumentStartEvent,
    MappingEndEvent,
    MappingStartEvent,
    ScalarEvent,
    SequenceEndEvent,
    SequenceStartEvent,
)
from yaml.nodes import ScalarNode
from yaml.resolver import Resolver

from reconciler.model import MIN_SECRET_LENGTH, UUID_RE, Location, Problem, clip
from reconciler.yamlruns import Run, fold_runs

# The format needs 4 levels; 64 leaves room for any sane file and stops `[[[[...` long
# before anything (ours or a library's) could recurse too deeply.
MAX_DEPTH = 64

# libyaml is ~10x faster than the pure-Python parser; both give the same marks.
# Tests swap this to compare the two.
LOADER: type[Any] = (
    yaml.CSafeLoader if getattr(yaml, "__with_libyaml__", False) else yaml.SafeLoader
)

Pos = tuple[int, int]  # (line, column), both 1-based

_CORE = "tag:yaml.org,2002:"
_SCALAR_TAGS = frozenset(_CORE + t for t in ("str", "int", "float", "bool", "null"))
_SEQ_TAGS = frozenset({_CORE + "seq"})
_MAP_TAGS = frozenset({_CORE + "map"})
_STR_TAG = _CORE + "str"
_INT_TAG = _CORE + "int"
_FLOAT_TAG = _CORE + "float"
# The only integer form every YAML version and JSON read alike. YAML 1.1 (PyYAML) also
# reads 0042 as octal 34, 1_000 as 1000, 1:30 as 90 and 0b11 as 3; YAML 1.2 reads 0042 as
# 42 and 1_000 as text. A customer id must not depend on which one a reader follows.
_PLAIN_INT = re.compile(r"[-+]?(?:0|[1-9][0-9]*)").fullmatch
_UUID_MATCH = UUID_RE.fullmatch
_UUID_CHARS = frozenset("0123456789abcdefABCDEF-")
_RESOLVER = Resolver()
_CONSTRUCTOR = SafeConstructor()
# Characters YAML forbids in a stream (the reader rejects them); used to say where.
_BAD_CHAR = re.compile("[^\x09\x0a\x0d\x20-\x7e\x85\xa0-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
# Line breaks to YAML but not to git, GitHub or grep, which count only "\n": a lone CR
# (not part of CRLF), NEL, LINE SEPARATOR and PARAGRAPH SEPARATOR.
_OTHER_BREAK = re.compile("\r(?!\n)|[\x85\u2028\u2029]")
_BREAK_NAMES = {
    "\r": "U+000D CARRIAGE RETURN without a line feed after it",
    "\x85": "U+0085 NEXT LINE",
    "\u2028": "U+2028 LINE SEPARATOR",
    "\u2029": "U+2029 PARAGRAPH SEPARATOR",
}
MAX_BREAK_PROBLEMS = 50
_UNSET: Any = object()  # "no root document seen yet"
_EXPECT_KEY: Any = object()  # a mapping waiting for its next key
_DROP: Any = object()  # the next value belongs to a rejected key: build it, then drop it


class YMap(dict[str, Any]):
    """A mapping that remembers where it starts and where each key and value is.
    Keys are always the key's source text (so `yes:` is the key "yes", not True)."""

    __slots__ = ("key_pos", "pos", "value_pos")

    def __init__(self, pos: Pos) -> None:
        super().__init__()
        self.pos = pos
        self.key_pos: dict[str, Pos] = {}
        self.value_pos: dict[str, Pos] = {}


class OddInt(int):
    """An int written in a form other than plain decimal (see _PLAIN_INT); `text` is what
    the file says, and repr shows it, so messages quote the value as written. config
    refuses it wherever a number is expected."""

    text: str

    def __repr__(self) -> str:
        return self.text


class OddFloat(float):
    """A float written with YAML 1.1's `_` or sexagesimal `:` (1_0.5, 0:30.5), which
    YAML 1.2 reads as text; like OddInt."""

    text: str

    def __repr__(self) -> str:
        return self.text


class YList(list[Any]):
    """A sequence that remembers where it starts and where each item is.
    Item positions are packed into one machine array: a million-item list costs 8 MB
    of positions instead of a million tuples."""

    __slots__ = ("all_uuids", "packed", "pos")

    def __init__(self, pos: Pos) -> None:
        super().__init__()
        self.pos = pos
        self.packed = array("Q")
        self.all_uuids = True  # every item is a string matching UUID_RE

    def item_pos(self, index: int) -> Pos:
        value = self.packed[index]
        return value >> 32, value & 0xFFFFFFFF


@dataclass
class Source:
    """What reading produced. `root` is _UNSET-free: None when nothing usable was read.
    `complete` is False when the tree may be partial or stand-in values were used (syntax
    error, refused alias or tag): schema checks on it would only add noise."""

    file: str
    root: Any = None
    root_pos: Pos = (1, 1)
    problems: list[Problem] = field(default_factory=list)
    complete: bool = True

    def at(self, pos: Pos) -> Location:
        return Location(self.file, pos[0], pos[1])

    def error(self, message: str, pos: Pos | None) -> None:
        loc = self.at(pos) if pos is not None else None
        self.problems.append(Problem(message, loc))


SECRET_IN_FILE = (
    "this file holds the access token (the value of BIGCOMMERCE_ACCESS_TOKEN): remove it, "
    "and rotate the token if the file was ever committed; nothing else in the file was read"
)


def read_yaml(
    path: str | os.PathLike[str], file: str, *, max_bytes: int, secret: str | None = None
) -> Source:
    """Read and parse one config file. Never raises for bad input. A file holding `secret`
    (the access token) is not parsed at all: any message about the value would print it."""
    src = Source(file)
    text = _read_text(path, src, max_bytes)
    if text is None:
        src.complete = False
        return src
    at = text.find(secret) if secret and len(secret) >= MIN_SECRET_LENGTH else -1
    if at >= 0:
        src.problems.append(Problem(SECRET_IN_FILE, Location(file, *_position(text, at))))
        src.complete = False
        return src
    if _refuse_other_breaks(text, src):
        # Not parsed: every position the parser gave would count lines differently from
        # the messages above and from the diff a reviewer reads.
        src.complete = False
        return src
    folded, runs = fold_runs(text)
    if runs:
        trial = Source(file)
        _build(folded, trial, runs)
        # Every run placed and nothing to report: the tree is the one the text gives.
        # Otherwise parse the text as written, so problems are reported exactly.
        if not runs and trial.complete and not trial.problems:
            return _unless_secret_read(trial, secret)
    _build(text, src)
    return _unless_secret_read(src, secret)


def _unless_secret_read(src: Source, secret: str | None) -> Source:
    """`src`, or, when what was read holds `secret`, a refusal in its place. The text was
    searched already, but YAML escapes ("\\x41", "\\u0041", a line folded with "\\")
    write the token without its text: search every key and string as read, and the
    problems found on the way (a tag's %-escapes), which would print it."""
    if not secret or len(secret) < MIN_SECRET_LENGTH:
        return src
    found = _secret_places(src.root, src.root_pos, secret)
    found += [_place(p) for p in src.problems if secret in p.message]
    if not found:
        return src
    refused = Source(src.file, complete=False)
    refused.error(SECRET_IN_FILE, min(found))
    return refused


def _place(problem: Problem) -> Pos:
    loc = problem.location
    return (loc.line, loc.column) if loc else (1, 1)


def _secret_places(root: Any, root_pos: Pos, secret: str) -> list[Pos]:
    """Where a key or a string value holds `secret`."""
    if isinstance(root, str):
        return [root_pos] if secret in root else []
    found: list[Pos] = []
    pending = [root] if isinstance(root, YMap | YList) else []
    while pending:  # iterative, as _build is
        node = pending.pop()
        if isinstance(node, YMap):
            for key, value in node.items():
                if secret in key:
                    found.append(node.key_pos[key])
                if isinstance(value, str) and secret in value:
                    found.append(node.value_pos[key])
                elif isinstance(value, YMap | YList):
                    pending.append(value)
        elif not node.all_uuids or _fits_in_uuids(node, secret):
            for index, item in enumerate(node):
                if isinstance(item, str) and secret in item:
                    found.append(node.item_pos(index))
                elif isinstance(item, YMap | YList):
                    pending.append(item)
    return found


def _fits_in_uuids(ids: list[str], secret: str) -> bool:
    # A million ids skipped in C: a token holding any other character fits in none.
    return _UUID_CHARS.issuperset(secret) and secret in "\n".join(ids)


def _position(text: str, index: int) -> Pos:
    """1-based line and column of text[index], counting lines by "\n" only, as git does."""
    line_start = text.rfind("\n", 0, index) + 1
    return text.count("\n", 0, index) + 1, index - line_start + 1


def _refuse_other_breaks(text: str, src: Source) -> bool:
    """Report every line break that git does not see as one, at its "\n"-counted place.
    A key after one looks, in a diff, like part of the line before it."""
    # C-speed tests first: the regex runs only on a file that holds one.
    has_cr = "\r" in text and text.count("\r") != text.count("\r\n")
    if not (has_cr or "\x85" in text or "\u2028" in text or "\u2029" in text):
        return False
    cr_only = has_cr and "\n" not in text  # old Mac line endings: one message says it all
    found = 0
    for match in _OTHER_BREAK.finditer(text):
        brk = match.group()
        if cr_only and brk == "\r":
            if match.start() == text.index("\r"):
                src.error(
                    "the lines end in a carriage return alone (U+000D; old Mac style), which "
                    "git and GitHub do not read as line breaks; save the file with LF or CRLF "
                    "line endings",
                    (1, match.start() + 1),
                )
            continue
        found += 1
        if found > MAX_BREAK_PROBLEMS:
            continue
        src.error(
            f"{_BREAK_NAMES[brk]} is not allowed: YAML reads it as a line break, "
            "git and GitHub do not",
            _position(text, match.start()),
        )
    if found > MAX_BREAK_PROBLEMS:
        hidden = found - MAX_BREAK_PROBLEMS
        src.error(f"{src.file}: {hidden} more such line breaks not shown", None)
    return True


def _read_text(path: str | os.PathLike[str], src: Source, max_bytes: int) -> str | None:
    file = src.file
    try:
        st = os.stat(path)
        kind = _special_kind(st.st_mode)
        if kind is not None:  # not opened: opening a pipe with no writer waits forever
            src.error(f"{file}: is {kind}, not a config file", None)
            return None
        # Check the size before reading, so a huge file never reaches memory.
        if st.st_size > max_bytes:
            src.error(
                f"{file}: the file is {st.st_size} bytes, over the limit of {max_bytes}", None
            )
            return None
        data = _read_bounded(path, st.st_size, max_bytes + 1)
    except FileNotFoundError:
        src.error(f"{file}: no such file", None)
        return None
    except PermissionError:
        src.error(f"{file}: permission denied; cannot read the file", None)
        return None
    except OSError as exc:
        src.error(f"{file}: cannot read the file ({exc.strerror or type(exc).__name__})", None)
        return None
    except ValueError:  # e.g. a NUL byte in the path
        src.error(f"{file}: not a valid file name", None)
        return None
    if len(data) > max_bytes:
        src.error(f"{file}: the file is over the limit of {max_bytes} bytes", None)
        return None
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        src.error("the file is UTF-16 encoded; save it as UTF-8", (1, 1))
        return None
    if data.startswith(b"\xef\xbb\xbf"):  # a UTF-8 BOM, as some Windows editors write
        data = data[3:]
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        line_start = data.rfind(b"\n", 0, exc.start) + 1
        column = len(data[line_start : exc.start].decode("utf-8", "replace")) + 1
        src.error(
            f"the file is not valid UTF-8: byte 0x{data[exc.start]:02x} at line {line} "
            "cannot be decoded; save the file as UTF-8",
            (line, column),
        )
        return None


def _special_kind(mode: int) -> str | None:
    """What a path that cannot be a config file is, in words; None for one that can. A
    character device (/dev/stdin at a terminal) and a pipe named on purpose (`-f
    <(generate)`, `-f /dev/stdin`) are read, within the size limit, as a file is; a
    pipe inside a config directory is refused by sources.expand."""
    if stat.S_ISREG(mode) or stat.S_ISCHR(mode) or stat.S_ISFIFO(mode):
        return None
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISBLK(mode):
        return "a block device"
    return "a special file"


def _read_bounded(path: str | os.PathLike[str], size_hint: int, limit: int) -> bytes:
    """Read at most `limit` bytes. Chunked rather than one read(limit), which would
    reserve the whole limit up front; bounded even for files whose size stat can't
    tell (pipes, /dev/zero) or that grow while being read."""
    chunks: list[bytes] = []
    total = 0
    chunk_size = max(size_hint + 1, 1 << 20)
    with open(path, "rb") as fh:
        while total < limit:
            chunk = fh.read(min(chunk_size, limit - total))
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def _pos(mark: Any) -> Pos:
    return mark.line + 1, mark.column + 1


def _show_tag(tag: str) -> str:
    return "!!" + tag[len(_CORE) :] if tag.startswith(_CORE) else tag


def _scalar(event: Any) -> Any:
    """Construct one scalar exactly as SafeLoader would, without building a node tree."""
    tag = event.tag
    value = event.value
    if tag is None or tag == "!":
        if not event.implicit[0]:  # quoted: always a string
            return value
        if _UUID_MATCH(value):  # the hot path: a profile id is always a string
            return value
        tag = _RESOLVER.resolve(ScalarNode, value, event.implicit)
    if tag == _STR_TAG:
        return value
    constructor = SafeConstructor.yaml_constructors.get(tag)
    if constructor is None:  # e.g. the `<<` merge key resolves to a tag with no value
        return value
    result = constructor(_CONSTRUCTOR, ScalarNode(tag, value, event.start_mark, event.end_mark))
    odd: OddInt | OddFloat
    if tag == _INT_TAG and not _PLAIN_INT(value):
        odd = OddInt(result)
    elif tag == _FLOAT_TAG and ("_" in value or ":" in value):
        odd = OddFloat(result)
    else:
        return result
    odd.text = value
    return odd


def _build(text: str, src: Source, runs: dict[str, Run] | None = None) -> None:
    """Build `src.root` from `text`; a plain list item naming one of `runs` (see
    yamlruns) becomes that run's ids, and the run is taken out of `runs`."""
    stack: list[Any] = []  # open YMap / YList containers, innermost last
    keys: list[Any] = []  # per open container: _EXPECT_KEY, a key, or _DROP (lists: None)
    root: Any = _UNSET
    documents = 0
    alias_reported = False

    def refuse_alias(pos: Pos, what: str) -> None:
        # Anchors and aliases are refused outright rather than expansion being capped: the
        # format has no use for them, and refusing makes "billion laughs" impossible
        # instead of merely bounded.
        nonlocal alias_reported
        src.complete = False
        if not alias_reported:
            alias_reported = True
            src.error(
                f"YAML {what} are not supported in this file; write each value out in full",
                pos,
            )

    def check_tag(tag: str | None, allowed: frozenset[str], pos: Pos) -> None:
        if tag is not None and tag != "!" and tag not in allowed:
            src.complete = False
            src.error(
                f"unsupported tag '{clip(_show_tag(tag))}'; only plain YAML values are allowed",
                pos,
            )

    def attach(value: Any, pos: Pos) -> None:
        nonlocal root
        if not stack:
            root = value
            src.root_pos = pos
            return
        top = stack[-1]
        if top.__class__ is YList:
            top.all_uuids = False  # everything off the hot path is not a plain UUID
            top.append(value)
            top.packed.append((pos[0] << 32) | min(pos[1], 0xFFFFFFFF))
            return
        key = keys[-1]
        if key is _EXPECT_KEY:  # a list or mapping used as a key
            src.complete = False
            src.error("mapping keys must be plain text, not a list or mapping", pos)
            keys[-1] = _DROP
        elif key is _DROP:
            keys[-1] = _EXPECT_KEY
        else:
            top[key] = value
            top.value_pos[key] = pos
            keys[-1] = _EXPECT_KEY

    event: Any  # the stubs type events as the base class; the loop dispatches on class
    parser: Any = None
    try:
        # The pure-Python reader checks every character here, so this is inside the try.
        parser = LOADER(text)
        next_event = parser.get_event  # a plain loop beats yaml.parse's generator
        while (event := next_event()) is not None:
            kind = event.__class__
            if kind is ScalarEvent:
                top: Any = stack[-1] if stack else None
                if top.__class__ is YList and event.tag is None and event.anchor is None:
                    # The hot path: items of a (possibly million-long) list. One regex both
                    # resolves the type (a UUID is never an int, date, ...) and records
                    # whether the list is all UUIDs, so nobody needs to check them again.
                    value = event.value
                    uuid = _UUID_MATCH(value) is not None
                    if uuid or not event.implicit[0]:  # a UUID, or quoted: a string
                        if not uuid:
                            top.all_uuids = False
                        mark = event.start_mark
                        top.append(value)
                        top.packed.append(((mark.line + 1) << 32) | (mark.column + 1))
                        continue
                    if runs and value in runs:  # a folded run of ids belongs here
                        run = runs.pop(value)
                        top.extend(run.ids)
                        top.packed.extend(run.packed)
                        continue
                pos = _pos(event.start_mark)
                if event.anchor is not None:
                    refuse_alias(pos, "anchors (&name) and aliases (*name)")
                check_tag(event.tag, _SCALAR_TAGS, pos)
                if top.__class__ is YMap and keys[-1] is _EXPECT_KEY:
                    key = event.value
                    if key in top:
                        first = top.key_pos[key][0]
                        src.error(
                            f"duplicate key '{clip(key)}' (first at line {first}); each key may "
                            "appear only once in a mapping",
                            pos,
                        )
                        keys[-1] = _DROP
                    else:
                        top.key_pos[key] = pos
                        keys[-1] = key
                    continue
                try:
                    value = _scalar(event)
                except (ValueError, TypeError, OverflowError, yaml.YAMLError):
                    # Never echo the value: it might be a secret under a misnamed key.
                    src.complete = False
                    src.error(
                        f"the value cannot be read as {_show_tag(event.tag or _STR_TAG)}", pos
                    )
                    value = None
                attach(value, pos)
            elif kind is MappingStartEvent or kind is SequenceStartEvent:
                pos = _pos(event.start_mark)
                if len(stack) >= MAX_DEPTH:
                    src.complete = False
                    src.error(f"the file is nested more than {MAX_DEPTH} levels deep", pos)
                    break
                if event.anchor is not None:
                    refuse_alias(pos, "anchors (&name) and aliases (*name)")
                is_map = kind is MappingStartEvent
                check_tag(event.tag, _MAP_TAGS if is_map else _SEQ_TAGS, pos)
                container: YMap | YList = YMap(pos) if is_map else YList(pos)
                attach(container, pos)
                stack.append(container)
                keys.append(_EXPECT_KEY if is_map else None)
            elif kind is MappingEndEvent or kind is SequenceEndEvent:
                stack.pop()
                keys.pop()
            elif kind is AliasEvent:
                pos = _pos(event.start_mark)
                refuse_alias(pos, "anchors (&name) and aliases (*name)")
                attach(None, pos)
            elif kind is DocumentStartEvent:
                documents += 1
                if documents > 1:
                    src.complete = False
                    src.error(
                        "the file holds more than one YAML document (a second '---' starts "
                        "one here); put everything in one document",
                        _pos(event.start_mark),
                    )
                    break
    except yaml.MarkedYAMLError as exc:
        src.complete = False
        mark = exc.problem_mark or exc.context_mark
        pos = _pos(mark) if mark is not None else (1, 1)
        src.error(_syntax_message(exc, text, pos), pos)
    except yaml.YAMLError as exc:  # ReaderError: a character YAML forbids
        src.complete = False
        _reader_problem(exc, text, src)
    finally:
        if parser is not None:
            parser.dispose()

    if root is _UNSET or root is None:
        if src.complete and not src.problems:
            src.error("the file is empty; it needs at least 'version: 1' and 'segments'", (1, 1))
        src.root = None if root is _UNSET else root
        src.complete = False
        return
    src.root = root


def _syntax_message(exc: yaml.MarkedYAMLError, text: str, pos: Pos) -> str:
    lines = text.split("\n")  # "\n" only, as the parser counts in a file it gets to read
    line = lines[pos[0] - 1] if 0 < pos[0] <= len(lines) else ""
    indent = line[: len(line) - len(line.lstrip(" \t"))]
    at = line[pos[1] - 1 : pos[1]]
    if "\t" in indent or at == "\t":
        return "tab character used for indentation; YAML indentation must use spaces"
    problem = exc.problem or "invalid YAML"
    if "nesting depth" in problem:  # libyaml's own limit (1000 flow levels) came first
        return f"the file is nested more than {MAX_DEPTH} levels deep"
    message = f"YAML syntax error: {problem}"
    if exc.context and exc.context_mark is not None:
        message += f" ({exc.context} at line {exc.context_mark.line + 1})"
    return message


def _reader_problem(exc: yaml.YAMLError, text: str, src: Source) -> None:
    found = _BAD_CHAR.search(text)
    if found is None:
        src.error(f"the file cannot be read as YAML ({type(exc).__name__})", (1, 1))
        return
    src.error(
        f"the file contains the control character U+{ord(found.group()):04X}, "
        "which YAML does not allow",
        _position(text, found.start()),
    )
