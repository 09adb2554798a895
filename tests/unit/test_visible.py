"""Store and config text printed on one line: controls, bidi and zero-width characters
escaped, everything else as it is."""

from __future__ import annotations

import pytest

from reconciler.render.visible import visible


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("VIP\n::error file=x::Spoofed", "VIP\\n::error file=x::Spoofed"),
        ("a\r\tb", "a\\r\\tb"),
        ("hidden\x1b[8m", "hidden\\x1b[8m"),
        ("\x00\x7f\x85\x9b", "\\x00\\x7f\\x85\\x9b"),
        ("abc\u202edcba", "abc\\u202edcba"),
        ("V\u200bIP", "V\\u200bIP"),
        ("one\u2028two\u2029", "one\\u2028two\\u2029"),
    ],
)
def test_characters_that_could_spoof_a_line_are_escaped(text: str, shown: str) -> None:
    assert visible(text) == shown
    assert "\n" not in visible(text) and "\x1b" not in visible(text)


def test_printable_text_in_any_script_is_left_alone() -> None:
    text = 'Großkunden "VIP" — 日本 ✓ émoji 🎉 👩\u200d💻 می\u200cخواهم c1@example.com'
    assert visible(text) == text
