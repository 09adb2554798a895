"""The malformed-config corpus: every file in tests/fixtures/config/bad/ starts with
`# expect: LINE: FRAGMENT`, meaning validation must report an error at LINE whose message
contains FRAGMENT. The convention is read from the files themselves so the CLI tests can
reuse the corpus unchanged."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from reconciler import yamlsource
from reconciler.config import validate_config

BAD = Path(__file__).resolve().parents[1] / "fixtures" / "config" / "bad"
EXPECT = re.compile(r"^# expect: (\d+): (.+?)\s*$")
CORPUS = sorted(BAD.glob("*.yaml"))


def expectation(path: Path) -> tuple[int, str]:
    first = path.read_bytes().split(b"\n", 1)[0].decode("utf-8", "replace")
    found = EXPECT.match(first)
    assert found, f"{path.name} lacks a '# expect: LINE: fragment' first line"
    return int(found.group(1)), found.group(2)


@pytest.fixture(params=["libyaml", "pure-python"])
def loader(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Run each case under both parsers: line numbers must not depend on which is used."""
    if request.param == "pure-python":
        monkeypatch.setattr(yamlsource, "LOADER", yaml.SafeLoader)
    elif not yaml.__with_libyaml__:
        pytest.skip("PyYAML was built without libyaml")
    return str(request.param)


def test_the_corpus_covers_every_kind_of_mistake_asked_for() -> None:
    assert len(CORPUS) >= 22


@pytest.mark.parametrize("path", CORPUS, ids=[p.stem for p in CORPUS])
def test_bad_config_reports_the_expected_error_at_the_expected_line(
    path: Path, loader: str
) -> None:
    line, fragment = expectation(path)
    result = validate_config(path)  # must not raise

    assert result.state is None
    assert result.errors
    hits = [
        p for p in result.errors if p.location and p.location.line == line and fragment in p.message
    ]
    assert hits, f"expected line {line}: {fragment!r}; got {[str(p) for p in result.problems]}"
    # What the CLI prints: FILE:LINE:COLUMN: message, with the path as given.
    assert str(hits[0]).startswith(f"{path}:{line}:")


@pytest.mark.parametrize("path", CORPUS, ids=[p.stem for p in CORPUS])
def test_bad_config_never_echoes_a_secret_value(path: Path) -> None:
    rendered = "\n".join(str(p) for p in validate_config(path).problems)
    assert "do-not-echo-this-value" not in rendered
