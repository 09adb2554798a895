"""What the CLI prints from a config or the store stays on its own lines, unredacted by
nothing but the token."""

from __future__ import annotations

from pathlib import Path

import pytest

from reconciler.cli import run


def test_a_problem_echoing_a_hostile_key_prints_no_escape_code_or_extra_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    config = tmp_path / "segments.yaml"
    config.write_text(
        'version: 1\nsegments:\n  - name: VIP\n    "\\e[8mprune\\n::warning::x": true\n'
        "    shopper_profiles: []\n"
    )
    assert run(["validate", str(config)]) == 1
    out, err = capsys.readouterr()
    assert out == ""  # annotations go to stderr with the rest
    assert "\x1b" not in err
    assert [ln for ln in err.splitlines() if ln.startswith("::")] == [
        ln for ln in err.splitlines() if ln.startswith("::error file=")
    ]
    assert "unknown key '\\x1b[8mprune\\n::warning::x'" in err


def test_without_a_store_hash_only_commands_that_read_a_config_suggest_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("BIGCOMMERCE_STORE_HASH", raising=False)
    monkeypatch.setenv("BIGCOMMERCE_ACCESS_TOKEN", "t" * 20)
    config = tmp_path / "segments.yaml"
    config.write_text("version: 1\nsegments: []\n")
    assert run(["export"]) == 1
    assert capsys.readouterr().err == (
        "Error: no store hash: pass --store-hash or set BIGCOMMERCE_STORE_HASH\n"
    )
    assert run(["plan", "-f", str(config)]) == 1
    assert capsys.readouterr().err.endswith("or put store_hash in the config file\n")
