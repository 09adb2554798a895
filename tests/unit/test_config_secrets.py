"""A config that holds the token is refused however YAML spells it (escapes, a folded
line, a tag's %-escapes), at the line of the value and without a word of it; and a wrong
number is named in a message only in a form that cannot be the token."""

from __future__ import annotations

from pathlib import Path

import pytest

from reconciler.config import LoadResult, validate_config
from reconciler.yamlsource import SECRET_IN_FILE
from tests.unit.test_config import SEG_ID, only_error, write

TOKEN = "Zq7tokXYZsecret9931abcdef"
HEX_TOKEN = "8c4e-4d2a-b1f6-3e9a"  # a token that could hide in a shopper profile UUID


def config(*segment_lines: str) -> str:
    return "\n".join(["version: 1", "segments:", "  - name: VIP", *segment_lines, ""])


def refusal(result: LoadResult, token: str = TOKEN) -> str:
    message = only_error(result)
    assert token not in message and "secret9931" not in message
    return message


NO_MEMBERS = "    shopper_profiles: []"


@pytest.mark.parametrize(
    ("lines", "where"),
    [
        (['    description: "pasted Zq7tok\\x58YZsecret9931abcdef here"', NO_MEMBERS], "4:18"),
        (['    description: "Zq7tok\\u0058YZsecret9931abcdef"', NO_MEMBERS], "4:18"),
        (['    description: "Zq7tokXYZ\\', '      secret9931abcdef"', NO_MEMBERS], "4:18"),
        (['    id: "Zq7tok\\x58YZsecret9931abcdef"', NO_MEMBERS], "4:9"),
        (['    "Zq7tok\\x58YZsecret9931abcdef": 1', NO_MEMBERS], "4:5"),
        (["    shopper_profiles:", '      - email: "Zq7tok\\x58YZsecret9931abcdef@x.io"'], "5:16"),
        (["    shopper_profiles:", '      - "Zq7tok\\x58YZsecret9931abcdef"'], "5:9"),
        (["    description: !Zq7tok%58YZsecret9931abcdef text", NO_MEMBERS], "4:18"),
    ],
    ids=["x-escape", "u-escape", "folded-line", "id", "key", "email", "member", "tag"],
)
def test_the_token_written_with_yaml_escapes_is_refused_at_its_line(
    tmp_path: Path, lines: list[str], where: str
) -> None:
    path = write(tmp_path, config(*lines))
    assert TOKEN not in path.read_text()  # the raw-text check alone lets it by

    assert refusal(validate_config(path, secret=TOKEN)) == f"{path}:{where}: {SECRET_IN_FILE}"


def test_the_token_in_an_escaped_shopper_profile_id_is_refused(tmp_path: Path) -> None:
    escaped = SEG_ID.replace("8c4e", "8\\x634e")  # the id as read: 5bb733a9-8c4e-...
    path = write(tmp_path, config("    shopper_profiles:", f'      - "{escaped}"'))
    assert HEX_TOKEN in SEG_ID and HEX_TOKEN not in path.read_text()

    message = refusal(validate_config(path, secret=HEX_TOKEN), HEX_TOKEN)
    assert message == f"{path}:5:9: {SECRET_IN_FILE}"


def test_a_config_without_the_token_is_not_refused_for_a_look_alike(tmp_path: Path) -> None:
    path = write(tmp_path, config('    description: "Zq7tok\\x59YZsecret9931abcdef"', NO_MEMBERS))
    assert validate_config(path, secret=TOKEN).state is not None


# --- a wrong customer id, shown as it is -------------------------------------------------


@pytest.mark.parametrize(
    ("written", "shown"),
    [
        ("1.5", "1.5"),
        ("2.0", "2.0"),
        (".inf", ".inf"),
        ("-.Inf", "-.inf"),
        (".NaN", ".nan"),
        ("0", "0"),
        ("-3", "-3"),
        ('"7"', "a string"),
        ("true", "'true'"),
        # Digits its text does not hold, which could be a (digits-only) token's: not shown.
        ("1234567890123456.5e+3", "a number with a decimal point"),
    ],
)
def test_a_customer_id_that_is_not_a_whole_number_is_named(
    tmp_path: Path, written: str, shown: str
) -> None:
    path = write(tmp_path, config("    shopper_profiles:", f"      - customer_id: {written}"))
    assert only_error(validate_config(path)) == (
        f"{path}:5:22: customer_id must be a whole number of 1 or more, not {shown}"
    )
