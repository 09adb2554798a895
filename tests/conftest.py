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
