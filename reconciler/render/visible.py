"""Text from the store or a config, made safe to print on one line of a terminal or a CI
log. A segment name, an email or an API's error message is data: a newline in it must not
start a line of its own (GitHub reads `::error ...` at a line's start as a command), an
escape sequence must not hide or recolour the lines around it, and a bidi override or a
zero-width character must not make one name look like another. Each such character is
shown as its escape (`\\n`, `\\x1b`, `\\u202e`); everything else is left alone. Pure."""

from __future__ import annotations

_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
_INVISIBLE = (
    *range(0x00, 0x20),  # C0 controls
    0x7F,  # DEL
    *range(0x80, 0xA0),  # C1 controls
    *(0x061C, 0x200E, 0x200F, *range(0x202A, 0x202F), *range(0x2066, 0x206A)),  # bidi
    # Zero-width space, word joiner, BOM; not ZWNJ and ZWJ (U+200C, U+200D): Persian,
    # Indic scripts and emoji need them (a plan names each segment by its id as well).
    *(0x200B, 0x2060, 0xFEFF),
    *(0x2028, 0x2029),  # line and paragraph separators
)


def _escape(code: int) -> str:
    char = chr(code)
    if char in _NAMED:
        return _NAMED[char]
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


_TABLE = {code: _escape(code) for code in _INVISIBLE}


def visible(text: str) -> str:
    """`text` with every control, bidi, zero-width and line-separator character escaped."""
    return text.translate(_TABLE)
