"""Pacing: the client stays inside the store's rate quota, and leaves --rate-reserve."""

from __future__ import annotations

from collections import Counter

from tests.integration.conftest import Store


def test_apply_never_exceeds_the_quota_minus_the_reserve(sandbox: Store) -> None:
    quota, reserve, window_ms = 12, 4, 1000
    sandbox.server.config.quota = quota
    sandbox.server.config.window_ms = window_ms
    members = sandbox.profiles(10)
    sid = sandbox.segment("VIP", members)
    desired = members + sandbox.profiles(1500)  # 30 POSTs + reads + verification
    sandbox.config({"VIP": desired})
    origin = sandbox.server.app._window_start
    result = sandbox.run("apply", "--auto-approve", "--rate-reserve", str(reserve))
    assert result.code == 0, result.out + result.err
    assert sandbox.members(sid) == set(desired)
    log = sandbox.log()
    assert not any(r["status"] == 429 for r in log)
    per_window = Counter(int((r["t_start"] - origin) / (window_ms / 1000)) for r in log)
    assert max(per_window.values()) <= quota - reserve, per_window
    assert len(per_window) >= 3  # it really had to wait for windows to reset
