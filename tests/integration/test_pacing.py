"""Pacing: the client stays inside the store's rate quota, and leaves --rate-reserve
(or RECONCILER_RATE_RESERVE)."""

from __future__ import annotations

from collections import Counter

import pytest

from tests.integration.conftest import Store


@pytest.mark.parametrize("given_by", ["flag", "environment"])
def test_apply_never_exceeds_the_quota_minus_the_reserve(sandbox: Store, given_by: str) -> None:
    quota, reserve, window_ms = 12, 4, 1000
    sandbox.server.config.quota = quota
    sandbox.server.config.window_ms = window_ms
    members = sandbox.profiles(10)
    sid = sandbox.segment("VIP", members)
    desired = members + sandbox.profiles(1500)  # 30 POSTs + reads + verification
    sandbox.config({"VIP": desired})
    origin = sandbox.server.app._window_start
    if given_by == "flag":
        result = sandbox.run("apply", "--auto-approve", "--rate-reserve", str(reserve))
    else:
        env = sandbox.env(RECONCILER_RATE_RESERVE=str(reserve))
        result = sandbox.run("apply", "--auto-approve", env=env)
    assert result.code == 0, result.out + result.err
    assert sandbox.members(sid) == set(desired)
    log = sandbox.log()
    assert not any(r["status"] == 429 for r in log)
    per_window = Counter(int((r["t_start"] - origin) / (window_ms / 1000)) for r in log)
    assert max(per_window.values()) <= quota - reserve, per_window
    assert len(per_window) >= 3  # it really had to wait for windows to reset


def test_a_bad_reserve_in_the_environment_is_one_sentence_naming_it(sandbox: Store) -> None:
    sandbox.segment("VIP")
    sandbox.config({"VIP": sandbox.profiles(1)})
    result = sandbox.run("plan", env=sandbox.env(RECONCILER_RATE_RESERVE="-3"))
    assert result.code == 1
    assert "RECONCILER_RATE_RESERVE" in result.err, result.err
    assert "must be a whole number of requests, 0 or more" in result.err, result.err
    assert sandbox.log() == []  # refused before any request


def test_an_empty_reserve_variable_means_none(sandbox: Store) -> None:
    # What a workflow passes when the repository variable it names is not set.
    sandbox.segment("VIP")
    sandbox.config({"VIP": sandbox.profiles(1)})
    result = sandbox.run("plan", env=sandbox.env(RECONCILER_RATE_RESERVE=""))
    assert result.code == 0, result.out + result.err
