"""Golden-file checks and the ids the rendering tests share (UPDATE_GOLDEN=1 rewrites)."""

from __future__ import annotations

import os
from pathlib import Path

GOLDEN = Path(__file__).resolve().parent / "golden"
SEG_A = "11111111-1111-4111-8111-111111111111"
SEG_B = "22222222-2222-4222-8222-222222222222"
SEG_C = "33333333-3333-4333-8333-333333333333"
P = [f"00000000-0000-4000-8000-{i:012d}" for i in range(1, 200)]


def check(name: str, text: str) -> None:
    path = GOLDEN / name
    if os.environ.get("UPDATE_GOLDEN"):
        path.write_text(text)
    assert text == path.read_text()
