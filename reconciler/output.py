"""What the CLI writes: files written whole or not at all, and the token kept out of
everything, files and the standard streams alike. Defence in depth: the token can reach
an output from the store's data (a description someone pasted it into) or from an API
error that echoes a request's headers."""

from __future__ import annotations

import errno
import functools
import json
import os
import secrets
import stat
import sys
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any, BinaryIO, TextIO, cast

from reconciler.errors import ReconcilerError
from reconciler.model import MIN_SECRET_LENGTH
from reconciler.settings import access_token

REDACTED = "[REDACTED]"


def writable(path: str | None) -> None:
    """Refuse, before any request, a file to write (a saved plan, a report, an export) that
    could not be written: finding out after an apply's writes would lose its record. A link
    is checked at its target, where write_atomic writes."""
    if path is None:
        return
    try:
        info = _stat(path)
    except OSError as exc:  # a link loop, a file where a directory should be, ...
        raise ReconcilerError(f"cannot write {path}: {exc.strerror or exc}") from None
    if info is not None and stat.S_ISDIR(info.st_mode):
        raise ReconcilerError(f"cannot write {path}: it is a directory")
    if info is not None and _in_place(path, info):
        folder, target = None, Path(path)
    else:
        target = Path(os.path.realpath(path))
        folder = target.parent
        if not folder.is_dir():
            # The folder as the user wrote it, unless a link leads elsewhere.
            named = folder if os.path.islink(path) else Path(path).parent
            raise ReconcilerError(f"cannot write {path}: there is no directory {named}")
    if (folder is not None and not os.access(folder, os.W_OK)) or (
        info is not None and not os.access(target, os.W_OK)
    ):
        raise ReconcilerError(f"cannot write {path}: permission denied")


def redact(text: str) -> str:
    """`text` without the token. A token shorter than MIN_SECRET_LENGTH is a stand-in (a
    proxy adds the real one), too common a string to replace."""
    for form in secret_forms(access_token()):
        text = text.replace(form, REDACTED)
    return text


@functools.cache
def secret_forms(secret: str) -> tuple[str, ...]:
    """The token as it may be written: as is, as JSON or markdown escape it, and as Python's
    repr of a str or of its bytes shows it (httpcore's debug log prints a header echoed
    back so). Longest first, so a form that holds another is replaced whole."""
    if len(secret) < MIN_SECRET_LENGTH:
        return ()
    from reconciler.render.markdown import escape_inline

    forms = {
        secret,
        json.dumps(secret)[1:-1],
        json.dumps(secret, ensure_ascii=False)[1:-1],
        escape_inline(secret),
        *_repr_forms(secret),
    }
    return tuple(sorted(forms, key=lambda form: (-len(form), form)))


def _repr_forms(secret: str) -> set[str]:
    """repr, ascii and bytes' repr escape one character at a time, except a quote: `'` is
    escaped only when the whole text holds both kinds, so each form comes with and
    without that escape."""
    bodies = (
        "".join(repr(char)[1:-1] for char in secret),
        "".join(ascii(char)[1:-1] for char in secret),
        "".join(repr(bytes([byte]))[2:-1] for byte in _utf8(secret)),
    )
    return {form for body in bodies for form in (body, body.replace("'", "\\'"))}


def _utf8(text: str) -> bytes:
    # A token from the environment may carry undecodable bytes (as surrogates): never raise.
    try:
        return text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        return text.encode("utf-8", "surrogatepass")


class RedactedStream:
    """A text stream whose writes pass through redact. Its `buffer` redacts too: click
    writes bytes to it when the stream's encoding is ASCII."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        self._stream.write(redact(text))
        return len(text)

    @property
    def buffer(self) -> RedactedBytes:
        return RedactedBytes(self._stream.buffer)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


class RedactedBytes:
    """The binary side of RedactedStream (UTF-8: what click writes there)."""

    def __init__(self, stream: BinaryIO) -> None:
        self._stream = stream

    def write(self, data: bytes) -> int:
        out = data
        for form in secret_forms(access_token()):
            out = out.replace(_utf8(form), REDACTED.encode())
        self._stream.write(out)
        return len(data)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


def write_atomic(path: Path, text: str) -> None:
    """Write `text`, redacted, whole or not at all: through a temporary file beside the
    target, renamed over it. A link is written through (its target is replaced, in the
    target's directory); a pipe, a device or a descriptor (/dev/stdout) has no directory
    entry to swap, so it is written in place."""
    data = redact(text)
    try:
        info = _stat(path)
        if info is not None and _in_place(path, info):
            _write_in_place(path, info, data)
        else:
            _replace(Path(os.path.realpath(path)), data, info)
    except OSError as exc:
        raise ReconcilerError(f"could not write {path}: {exc.strerror or exc}") from None


def _write_in_place(path: Path, info: os.stat_result, data: str) -> None:
    """Our own stdout or stderr (/dev/stdout redirected to a log) is written through the
    stream, after what is already there: a new open would truncate the log and write from
    its start, over what the stream writes. A pipe is opened without waiting for a
    reader: with none, apply would hang after its writes instead of saying so."""
    for fd, stream in ((1, sys.stdout), (2, sys.stderr)):
        if stream is not None and _is_open_as(fd, info):
            # A failure here (a full disk) is the error: no second try that truncates.
            stream.flush()
            stream.write(data)
            stream.flush()
            return
    if stat.S_ISFIFO(info.st_mode):
        try:
            fd = os.open(path, os.O_WRONLY | os.O_NONBLOCK)
        except OSError as exc:
            if exc.errno == errno.ENXIO:
                raise OSError(exc.errno, "no process is reading the pipe") from None
            raise
        os.set_blocking(fd, True)
        with open(fd, "w", encoding="utf-8") as fh:
            fh.write(data)
        return
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(data)


def _is_open_as(fd: int, info: os.stat_result) -> bool:
    try:
        return os.path.samestat(info, os.fstat(fd))
    except OSError:  # the descriptor is closed
        return False


def _stat(path: str | Path) -> os.stat_result | None:
    """What `path` names, links followed; None when nothing is there yet (a link to
    nowhere included: writing creates its target)."""
    try:
        return os.stat(path)
    except FileNotFoundError:
        return None


def _in_place(path: str | Path, info: os.stat_result) -> bool:
    # A regular file reached through /proc (/dev/stdout redirected to a file) is the
    # shell's open file: replacing it would cut off everything written to it after.
    return not stat.S_ISREG(info.st_mode) or _through_proc(os.fspath(path))


def _through_proc(path: str) -> bool:
    """Whether `path` leads through /proc, as /dev/stdout, /dev/fd/N and /proc/self/fd/N
    do: links there name open files, not places in a directory."""
    hop = os.path.abspath(path)
    for _ in range(40):  # the kernel's own limit on links followed
        hop = os.path.join(os.path.realpath(os.path.dirname(hop)), os.path.basename(hop))
        if hop == "/proc" or hop.startswith("/proc/"):
            return True
        if not os.path.islink(hop):
            return False
        hop = os.path.join(os.path.dirname(hop), os.readlink(hop))
    return False


def _replace(target: Path, data: str, info: os.stat_result | None) -> None:
    """Write a temporary file in `target`'s directory and rename it over `target`. The
    temporary name is new (O_EXCL: nothing there is followed or clobbered); the file gets
    `target`'s permissions, or those the umask gives a new file."""
    tmp = target.with_name(f".{target.name}.{secrets.token_hex(6)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        if info is not None:
            os.fchmod(fd, stat.S_IMODE(info.st_mode))
        with open(fd, "w", encoding="utf-8") as fh:
            fh.write(data)
        os.replace(tmp, target)
    except BaseException:
        with suppress(OSError):
            os.unlink(tmp)
        raise


@contextmanager
def redacted_output() -> Iterator[None]:
    """sys.stdout and sys.stderr pass through redact while inside."""
    streams = sys.stdout, sys.stderr
    if sys.stdout is not None:  # None when started with the descriptor closed
        sys.stdout = cast(TextIO, RedactedStream(sys.stdout))
    if sys.stderr is not None:
        sys.stderr = cast(TextIO, RedactedStream(sys.stderr))
    try:
        yield
    finally:
        sys.stdout, sys.stderr = streams
