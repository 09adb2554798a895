"""Shared fixtures. Test files keep their own narrow fixtures beside them."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
# BigCommerce's own OpenAPI specs live beside the checkout in CI; a user's clone lacks them.
REFERENCE = REPO.parent / "shared" / "reference"


@pytest.fixture
def repo_root() -> Path:
    return REPO


@pytest.fixture(autouse=True)
def _outside_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests see the CLI as a user's terminal would, whether or not they run in CI (which
    masks emails, annotates and writes a step summary); a test that wants CI says so."""
    for name in ("CI", "GITHUB_ACTIONS", "GITHUB_STEP_SUMMARY"):
        monkeypatch.delenv(name, raising=False)
