"""The access token never leaks: not to stdout or stderr at any verbosity (the HTTP
library's own debug log included), not to saved plans, reports, error messages or the
sandbox's logs, and never to another host through a redirect."""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import threading
import time
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from reconciler.render.markdown import escape_inline
from reconciler.sandbox.app import SandboxConfig
from reconciler.sandbox.faults import FaultConfig, api_rule_violations
from reconciler.sandbox.server import SandboxServer
from reconciler.sandbox.store import SandboxStore
from tests.integration.conftest import STORE, Result, Store

# Tokens full of characters that are special to regexes, shells, JSON and URLs.
SECRET = r"Zq9x.*+?^$[](){}|\-7d3fK2"
WRONG = r"Wv4y'&%<>\"#;`~=!-8c2bJ7"
# Letters and digits only, as real tokens (and store hashes) are.
REAL_SHAPED = "k3x9q2m7v8w1p4z6r5t0y2u8i9o1a3s"


def needles(token: str) -> set[str]:
    """The token and the forms it would take if something escaped it on the way out."""
    return {
        token,
        json.dumps(token)[1:-1],
        repr(token)[1:-1],
        urllib.parse.quote(token, safe=""),
        urllib.parse.quote_plus(token),
        token[:8],  # a leading fragment: a truncated message still leaks
        token[-8:],
    }


@pytest.fixture
def secret_store(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> Iterator[Store]:
    caplog.set_level(logging.DEBUG)  # everything the sandbox (and uvicorn) logs, at any level
    config = SandboxConfig(
        store_hash=STORE, token=SECRET, latency_ms=2, log_file=tmp_path / "sandbox.log"
    )
    workdir = tmp_path / "work"
    workdir.mkdir()
    with SandboxServer(store=SandboxStore(), config=config) as server:
        yield Store(server, workdir)


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


FAST = {"RECONCILER_BACKOFF_BASE": "0.01", "RECONCILER_HTTP_TIMEOUT": "0.5"}


def test_the_token_appears_in_no_output_file_or_log(
    secret_store: Store, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    sb = secret_store
    members = sb.profiles(30)
    sid = sb.segment("VIP", members[:20])
    sb.config({"VIP": members[:18] + members[20:]})
    env = sb.env(BIGCOMMERCE_ACCESS_TOKEN=SECRET, **FAST)
    runs: dict[str, Result] = {}

    def run(label: str, *args: str, env_: dict[str, str] | None = None) -> Result:
        runs[label] = result = sb.run(*args, env=env_ or env)
        return result

    for v in ("-v", "-vv", "-vvv"):
        assert run(f"validate {v}", v, "validate").code == 0
        assert run(f"plan {v}", v, "plan", "--out", f"plan{v}.json").code == 0
        assert run(f"show {v}", v, "show", f"plan{v}.json", "--format", "json").code == 0
    # Apply through retries, lost responses and timeouts, at the highest verbosity.
    sb.server.set_faults(
        FaultConfig(
            fail_nth=frozenset({2, 4}),
            nth_fault="lost",
            error_rate=0.2,
            slow_rate=0.1,
            slow_response_s=1.0,
        )
    )
    applied = run("apply -vvv", "-vvv", "apply", "--auto-approve", "--report", "report.json")
    sb.server.set_faults(None)
    assert applied.code == 0, applied.out + applied.err
    assert sb.members(sid) == set(members[:18] + members[20:])
    run("apply saved -vvv", "-vvv", "apply", "plan-v.json", "--report", "report2.json")

    # -vv shows each request's method, path and status; -vvv adds the HTTP library's log.
    assert "GET /segments?page=1&limit=250 -> 200" in runs["plan -vv"].err
    assert "httpcore" in runs["plan -vvv"].err and "httpx" in runs["plan -vvv"].err
    assert "retrying" in applied.err  # the faults were met and logged

    # Error paths, each at -vvv.
    wrong_store = sb.env(BIGCOMMERCE_ACCESS_TOKEN=SECRET, BIGCOMMERCE_STORE_HASH="elsewhere")
    assert run("404", "-vvv", "plan", env_=wrong_store).code == 1
    assert "was not found" in runs["404"].err
    assert run("401", "-vvv", "plan", env_=sb.env(BIGCOMMERCE_ACCESS_TOKEN=WRONG)).code == 1
    assert "rejected the access token (401)" in runs["401"].err
    refused = sb.env(
        BIGCOMMERCE_ACCESS_TOKEN=SECRET,
        BIGCOMMERCE_API_URL=f"http://127.0.0.1:{closed_port()}",
        RECONCILER_MAX_RETRIES="1",
        **FAST,
    )
    assert run("refused", "-vvv", "plan", env_=refused).code == 1
    assert "ConnectError" in runs["refused"].err
    plain = sb.env(BIGCOMMERCE_ACCESS_TOKEN=SECRET, BIGCOMMERCE_API_URL="http://example.com")
    assert run("plain http", "-vvv", "plan", env_=plain).code == 1
    assert "refusing plain http://" in runs["plain http"].err
    pasted = sb.env(BIGCOMMERCE_ACCESS_TOKEN=SECRET, RECONCILER_HTTP_TIMEOUT=SECRET)
    assert run("token as a setting", "-vvv", "plan", env_=pasted).code == 1
    assert "RECONCILER_HTTP_TIMEOUT must be" in runs["token as a setting"].err
    reserve = sb.env(BIGCOMMERCE_ACCESS_TOKEN=SECRET, RECONCILER_RATE_RESERVE=SECRET)
    assert run("token as the reserve", "-vvv", "plan", env_=reserve).code == 1
    assert "RECONCILER_RATE_RESERVE" in runs["token as the reserve"].err
    spaced = sb.env(BIGCOMMERCE_ACCESS_TOKEN="Zq9x abc 7d3fK2")
    assert run("bad token", "-vvv", "plan", env_=spaced).code == 1

    channels: dict[str, str] = {}
    for label, result in runs.items():
        channels[f"{label}: stdout"] = result.out
        channels[f"{label}: stderr"] = result.err
    files = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert {"report.json", "plan-vvv.json", "sandbox.log"} <= {p.name for p in files}
    for path in files:
        channels[str(path.relative_to(tmp_path))] = path.read_text("utf-8", "replace")
    channels["sandbox log (memory)"] = json.dumps(sb.log())
    channels["sandbox and server logging"] = caplog.text
    for token in (SECRET, WRONG):
        for needle in needles(token):
            leaks = [name for name, text in channels.items() if needle in text]
            assert not leaks, f"{needle!r} found in {leaks}"
    assert api_rule_violations(sb.log()) == []


def test_a_token_in_the_stores_data_is_redacted_from_everything_written(
    secret_store: Store, tmp_path: Path
) -> None:
    """Someone pasted the token into a segment's description: the plan (text, JSON, saved),
    the export and the apply report show it redacted."""
    sb = secret_store
    members = sb.profiles(2)
    sid = sb.segment("VIP", members[:1])
    sb.store.update_segment(sid, description=f"api key {SECRET}")
    sb.config({"VIP": members}, VIP="description: clean")
    summary = tmp_path / "work" / "summary.md"
    env = sb.env(
        BIGCOMMERCE_ACCESS_TOKEN=SECRET, GITHUB_ACTIONS="true", GITHUB_STEP_SUMMARY=str(summary)
    )
    ascii_out = {**env, "PYTHONIOENCODING": "ascii"}  # click then writes bytes to the buffer
    runs = [
        sb.run("plan", env=env),
        sb.run("plan", env=ascii_out),
        sb.run("plan", "--format", "json", env=env),
        sb.run("plan", "--format", "markdown", env=env),
        sb.run("plan", "--out", "plan.json", env=env),
        sb.run("export", env=env),
        sb.run("export", "-o", "exported.yaml", env=env),
    ]
    assert all(r.code == 0 for r in runs), [r.err for r in runs]
    assert '~ description: "api key [REDACTED]" -> "clean"' in runs[0].out
    assert '~ description: "api key [REDACTED]" -> "clean"' in runs[1].out
    written = [
        (tmp_path / "work" / name).read_text() for name in ("plan.json", "exported.yaml")
    ] + [summary.read_text()]
    assert all("[REDACTED]" in text for text in written)
    texts = [r.out + r.err for r in runs] + written
    for needle in {*needles(SECRET), escape_inline(SECRET)}:
        assert not [t for t in texts if needle in t], needle


def test_a_token_in_the_config_file_is_refused_and_not_echoed(secret_store: Store) -> None:
    sb = secret_store
    path = sb.workdir / "leaky.yaml"
    path.write_text(f"version: 1\ntoken: '{SECRET}'\nsegments: []\n")
    for args in (("-vvv", "validate", "-f", "leaky.yaml"), ("-vvv", "plan", "-f", "leaky.yaml")):
        result = sb.run(*args, env=sb.env(BIGCOMMERCE_ACCESS_TOKEN=SECRET))
        assert result.code == 1
        assert "token" in result.err
        for needle in needles(SECRET):
            assert needle not in result.out + result.err
    assert sb.log() == []  # refused before any request


def test_a_token_given_as_the_store_hash_is_refused_and_not_echoed(
    secret_store: Store,
) -> None:
    # Real tokens are letters and digits, as store hashes are: swapping the two variables
    # must not print the token as "store ... was not found".
    token = REAL_SHAPED
    sb = secret_store
    sb.config({"VIP": sb.profiles(1)})
    swapped = sb.env(BIGCOMMERCE_ACCESS_TOKEN=token, BIGCOMMERCE_STORE_HASH=token)
    for args in (("-vvv", "plan"), ("-vvv", "apply", "--auto-approve"), ("export",)):
        result = sb.run(*args, env=swapped)
        assert result.code == 1
        assert "the store hash holds the access token" in result.err, result.err
        for needle in needles(token):
            assert needle not in result.out + result.err
    assert sb.log() == []  # refused before any request


def test_a_config_holding_the_token_as_a_value_is_refused_unread(secret_store: Store) -> None:
    token = REAL_SHAPED
    sb = secret_store
    path = sb.workdir / "pasted.yaml"
    path.write_text(f"version: 1\nsegments:\n  - name: VIP\n    shopper_profiles: [{token}]\n")
    env = sb.env(BIGCOMMERCE_ACCESS_TOKEN=token)
    for args in (("validate", "pasted.yaml"), ("-vvv", "plan", "-f", "pasted.yaml")):
        result = sb.run(*args, env=env)
        assert result.code == 1
        assert "pasted.yaml:4:24: this file holds the access token" in result.err, result.err
        for needle in needles(token):
            assert needle not in result.out + result.err
    assert sb.log() == []  # refused before any request


# --- redirects ---------------------------------------------------------------------------


class Recorder:
    """A tiny ASGI app that records each request's headers and answers `status`."""

    def __init__(self, status: int = 200, location: str | None = None) -> None:
        self.status, self.location = status, location
        self.seen: list[dict[str, str]] = []

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        self.seen.append({k.decode().lower(): v.decode() for k, v in scope["headers"]})
        headers = [(b"content-type", b"application/json")]
        if self.location:
            path = scope["path"] + ("?" + scope["query_string"].decode())
            headers.append((b"location", (self.location + path).encode()))
        await send({"type": "http.response.start", "status": self.status, "headers": headers})
        await send({"type": "http.response.body", "body": b'{"data": []}'})


class Serve:
    """Serve an ASGI app on a free loopback port in a background thread."""

    def __init__(self, app: Any) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        config = uvicorn.Config(app, log_level="warning", lifespan="off", loop="asyncio")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        asyncio.run(self.server.serve(sockets=[self.sock]))

    def __enter__(self) -> Serve:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            assert time.monotonic() < deadline
            time.sleep(0.005)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


@pytest.mark.parametrize("status", [302, 307])
def test_a_redirect_is_not_followed_and_the_token_stays_home(
    secret_store: Store, status: int
) -> None:
    sb = secret_store
    sb.config({"VIP": sb.profiles(1)})
    other = Recorder()
    with Serve(other) as elsewhere:
        origin = Recorder(status, location=elsewhere.url)
        with Serve(origin) as first:
            env = sb.env(BIGCOMMERCE_ACCESS_TOKEN=SECRET, BIGCOMMERCE_API_URL=first.url)
            result = sb.run("-vvv", "plan", env=env)
    assert result.code == 1
    assert f"answered with a redirect ({status}); not following it" in result.err
    assert len(origin.seen) == 1 and origin.seen[0]["x-auth-token"] == SECRET
    assert other.seen == []  # the other host was never contacted at all
    for needle in needles(SECRET):
        assert needle not in result.out + result.err
