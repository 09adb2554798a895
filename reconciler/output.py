"""What the CLI writes: files written whole or not at all, and the token kept out of
everything, files and the standard streams alike. Defence in depth: the token can reach
an output from the store's data (a description someone pasted it into) or from an API
error that echoes a request's headers."""

from __future__ import annotations

import functools
import json
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, BinaryIO, TextIO, cast

from reconciler.errors import ReconcilerError
from reconciler.model import MIN_SECRET_LENGTH
from reconciler.settings import access_token

REDACTED = "[REDACTED]"


def writable(path: str | None) -> None:
    """Refuse, before any request, a file to write (a saved plan, a report, an export) that
    could not be written: finding out after an apply's writes would lose its record."""
    if path is None:
        return
    target = Path(path)
    folder = target.parent
    if target.is_dir():
        raise ReconcilerError(f"cannot write {path}: it is a directory")
    if not folder.is_dir():
        raise ReconcilerError(f"cannot write {path}: there is no directory {folder}")
    if not os.access(folder, os.W_OK) or (target.exists() and not os.access(target, os.W_OK)):
        raise ReconcilerError(f"cannot write {path}: permission denied")


def redact(text: str) -> str:
    """`text` without the token. A token shorter than MIN_SECRET_LENGTH is a stand-in (a
    proxy adds the real one), too common a string to replace."""
    for form in secret_forms(access_token()):
        text = text.replace(form, REDACTED)
    return text


@functools.cache
def secret_forms(secret: str) -> tuple[str, ...]:
    """The token as it may be written: as is, as JSON escapes it, as markdown does."""
    if len(secret) < MIN_SECRET_LENGTH:
        return ()
    from reconciler.render.markdown import escape_inline

    return tuple(dict.fromkeys((secret, json.dumps(secret)[1:-1], escape_inline(secret))))


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
            out = out.replace(form.encode(), REDACTED.encode())
        self._stream.write(out)
        return len(data)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


def write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    try:
        tmp.write_text(redact(text), encoding="utf-8")
        os.replace(tmp, path)
    except OSError as exc:
        raise ReconcilerError(f"could not write {path}: {exc.strerror or exc}") from None


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
