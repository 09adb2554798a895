"""The real CLI, run as a subprocess, against the sandbox over loopback.

Every test that writes also checks the sandbox's own request log for the API's hard
rules: no POST over 50 ids, never more than 10 in flight, no DELETE without ids."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from reconciler.sandbox.app import SandboxConfig
from reconciler.sandbox.server import SandboxServer
from reconciler.sandbox.store import SandboxStore

TOKEN = "integration-test-token-5f1d2c"
STORE = "itest"


@dataclass
class Result:
    code: int
    out: str
    err: str


class Store:
    """A seeded sandbox plus helpers to run the CLI against it."""

    def __init__(self, server: SandboxServer, workdir: Path) -> None:
        self.server = server
        self.store: SandboxStore = server.store
        self.workdir = workdir
        self._customer = 0

    # --- seeding -----------------------------------------------------------------
    def profiles(self, n: int) -> list[str]:
        ids = []
        for _ in range(n):
            self._customer += 1
            customer = self.store.add_customer(email=f"c{self._customer}@example.com")
            ids.append(str(self.store.add_profile(customer["id"])["id"]))
        return ids

    def segment(self, name: str, members: list[str] | None = None) -> str:
        sid = str(self.store.add_segment(name)["id"])
        if members:
            self.store.add_members(sid, members)
        return sid

    def members(self, segment_id: str) -> set[str]:
        return set(self.store.members(segment_id))

    # --- config ------------------------------------------------------------------
    def config(self, segments: dict[str, list[str]], extra: str = "", **per_segment: str) -> Path:
        lines = ["version: 1", *extra.splitlines(), "segments:"]
        for name, members in segments.items():
            lines.append(f"  - name: {name}")
            if name in per_segment:
                lines += ["    " + ln for ln in textwrap.dedent(per_segment[name]).splitlines()]
            if members:
                lines.append("    shopper_profiles:")
                lines += [f"      - {m}" for m in members]
            else:
                lines.append("    shopper_profiles: []")
        path = self.workdir / "segments.yaml"
        path.write_text("\n".join(lines) + "\n")
        return path

    # --- running -----------------------------------------------------------------
    def env(self, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("BIGCOMMERCE_")}
        env.update(
            BIGCOMMERCE_API_URL=self.server.url,
            BIGCOMMERCE_STORE_HASH=STORE,
            BIGCOMMERCE_ACCESS_TOKEN=TOKEN,
            NO_COLOR="1",
        )
        env.update(extra)
        return env

    def run(
        self,
        *args: str,
        env: dict[str, str] | None = None,
        input: str | None = None,
        timeout: float = 120,
    ) -> Result:
        proc = subprocess.run(
            [sys.executable, "-m", "reconciler", *args],
            cwd=self.workdir,
            env=env or self.env(),
            input=input,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        assert "Traceback" not in proc.stderr, proc.stderr
        return Result(proc.returncode, proc.stdout, proc.stderr)

    # --- the API's hard rules, from the sandbox's own log --------------------------
    def log(self) -> list[dict[str, Any]]:
        return list(self.server.log)

    def assert_api_rules(self) -> None:
        records = self.log()
        for r in records:
            if r["method"] == "POST" and r["path"].endswith("/shopper-profiles"):
                assert r["ids"] <= 50, r
            if r["method"] == "DELETE":
                assert not r["trap"], f"a DELETE without ids was sent: {r}"
                assert r["ids"] >= 1, r
            assert r["in_flight"] <= 10, r
        assert not any(r["status"] == 429 for r in records), "the client was throttled"


@pytest.fixture
def sandbox(tmp_path: Path) -> Iterator[Store]:
    config = SandboxConfig(store_hash=STORE, token=TOKEN, latency_ms=5)
    with SandboxServer(store=SandboxStore(), config=config) as server:
        yield Store(server, tmp_path)
        # Every integration test, whatever it asserts itself: never a DELETE without ids.
        unsafe = [r for r in server.log if r["method"] == "DELETE" and (r["trap"] or r["ids"] < 1)]
        assert not unsafe, f"a DELETE without ids was sent: {unsafe[0]}"
