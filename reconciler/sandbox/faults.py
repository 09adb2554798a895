"""Fault injection for the sandbox: the flaky network and overloaded API a reconciler
running unattended must survive.

`FaultConfig` says what to inject; `FaultInjector` decides, request by request, from a
seeded random generator, and `SandboxApp.__call__` (the gate every request passes) carries
it out. The kinds of fault:

- ``error``: a 5xx from `error_statuses`, before the request is handled (nothing changes);
- ``429``: a 429 with the rate-limit headers (`X-Rate-Limit-Requests-Left: 0` and a reset
  `retry_after_ms` away), before the request is handled;
- ``429_bare``: a 429 without any rate-limit header (the API under load);
- ``lost``: the request is handled (a write is committed), then the connection is closed
  without a byte of response: the client sees a connection error, the store has the change;
- ``drop``: the request is handled, the status line, headers and half the body are sent,
  then the connection is closed (an empty body degenerates to ``lost``);
- ``slow``: the request is handled, then the response waits `slow_response_s` (longer than
  the client's timeout, so the client gives up although the change was made);
- ``fail_nth``: the Nth request (1-based, counted by the sandbox) gets `nth_fault`.

`jitter_ms` adds a random delay of 0..jitter_ms to every request, on top of the sandbox's
fixed `latency_ms`. Dropping a connection needs a real server (uvicorn); under an in-process
ASGI transport it raises `ConnectionDropped` instead.
"""

from __future__ import annotations

import asyncio
import json
import math
import random
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from starlette.responses import JSONResponse, Response
from starlette.types import Send

from reconciler.errors import SettingsError

FAULT_KINDS = ("error", "429", "429_bare", "lost", "drop", "slow")
ERROR_TYPE = "https://developer.bigcommerce.com/api-docs/getting-started/api-status-codes"
RATE_HEADERS = (
    "X-Rate-Limit-Requests-Left",
    "X-Rate-Limit-Requests-Quota",
    "X-Rate-Limit-Time-Reset-Ms",
    "X-Rate-Limit-Time-Window-Ms",
    "X-Retry-After",
)


class ConnectionDropped(Exception):
    """Raised where the ASGI server gives no way to close the connection itself."""


def _rate(name: str, value: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
        raise SettingsError(f"{name} must be a fraction between 0 and 1, not {value!r}")
    return float(value)


@dataclass(frozen=True)
class FaultConfig:
    error_rate: float = 0.0  # fraction of requests answered with a 5xx
    error_statuses: tuple[int, ...] = (500, 502, 503)
    rate_429: float = 0.0  # fraction answered 429 with the rate-limit headers
    rate_429_bare: float = 0.0  # fraction answered 429 without them
    retry_after_ms: int = 200  # the reset time a 429 with headers announces
    lost_response_rate: float = 0.0  # handled, then closed without a response
    drop_mid_response_rate: float = 0.0  # handled, then closed halfway through the body
    slow_rate: float = 0.0  # handled, then answered only after slow_response_s
    slow_response_s: float = 2.0
    jitter_ms: int = 0  # random extra latency 0..jitter_ms on every request
    fail_nth: frozenset[int] = field(default_factory=frozenset)  # 1-based request numbers
    nth_fault: str = "error"  # what happens to those: one of FAULT_KINDS
    # Only requests with these methods get random faults (None: all). fail_nth ignores it.
    methods: frozenset[str] | None = None
    seed: int | None = 0  # None: a different sequence every run

    def __post_init__(self) -> None:
        rates = {
            "error_rate": self.error_rate,
            "rate_429": self.rate_429,
            "rate_429_bare": self.rate_429_bare,
            "lost_response_rate": self.lost_response_rate,
            "drop_mid_response_rate": self.drop_mid_response_rate,
            "slow_rate": self.slow_rate,
        }
        total = sum(_rate(name, value) for name, value in rates.items())
        if total > 1 + 1e-9:
            raise SettingsError(f"the fault rates add up to {total:g}; at most 1 is possible")
        statuses = tuple(self.error_statuses)
        if not statuses or any(
            isinstance(s, bool) or not isinstance(s, int) or not 500 <= s <= 599 for s in statuses
        ):
            raise SettingsError("error_statuses must be one or more 5xx status codes")
        object.__setattr__(self, "error_statuses", statuses)
        if not 0 <= self.retry_after_ms <= 3_600_000:
            raise SettingsError("retry_after_ms must be between 0 and 3600000")
        if not (math.isfinite(self.slow_response_s) and 0 < self.slow_response_s <= 3600):
            raise SettingsError("slow_response_s must be between 0 and 3600 seconds")
        if not 0 <= self.jitter_ms <= 60_000:
            raise SettingsError("jitter_ms must be between 0 and 60000")
        nth = frozenset(self.fail_nth)
        if any(isinstance(n, bool) or not isinstance(n, int) or n < 1 for n in nth):
            raise SettingsError("fail_nth must hold request numbers of 1 or more")
        object.__setattr__(self, "fail_nth", nth)
        if self.nth_fault not in FAULT_KINDS:
            raise SettingsError(f"nth_fault must be one of {', '.join(FAULT_KINDS)}")
        if self.methods is not None:
            object.__setattr__(self, "methods", frozenset(m.upper() for m in self.methods))

    @property
    def active(self) -> bool:
        return bool(
            self.jitter_ms
            or self.fail_nth
            or self.error_rate
            or self.rate_429
            or self.rate_429_bare
            or self.lost_response_rate
            or self.drop_mid_response_rate
            or self.slow_rate
        )

    def describe(self) -> str:
        """One line for the sandbox's start-up banner."""
        parts = [
            f"{label} {value:.0%}"
            for label, value in (
                ("5xx", self.error_rate),
                ("429", self.rate_429),
                ("bare 429", self.rate_429_bare),
                ("lost responses", self.lost_response_rate),
                ("dropped mid-response", self.drop_mid_response_rate),
                (f"slow ({self.slow_response_s:g} s)", self.slow_rate),
            )
            if value
        ]
        if self.jitter_ms:
            parts.append(f"jitter up to {self.jitter_ms} ms")
        if self.fail_nth:
            shown = ",".join(str(n) for n in sorted(self.fail_nth)[:10])
            more = "..." if len(self.fail_nth) > 10 else ""
            parts.append(f"request {shown}{more}: {self.nth_fault}")
        return "; ".join(parts) if parts else "none"


def parse_request_numbers(text: str) -> frozenset[int]:
    """`"3,7,12"` -> {3, 7, 12}, for a `--fail-nth` option."""
    numbers: set[int] = set()
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        if not part.isdigit() or int(part) < 1:
            raise SettingsError(
                "--fail-nth takes request numbers of 1 or more separated by commas, "
                f"not {part!r:.20}"
            )
        numbers.add(int(part))
    return frozenset(numbers)


def parse_statuses(text: str) -> tuple[int, ...]:
    """`"500,503"` -> (500, 503), for an `--error-statuses` option."""
    try:
        return tuple(int(p) for p in text.split(",") if p.strip())
    except ValueError:
        raise SettingsError("--error-statuses takes 5xx codes separated by commas") from None


class FaultInjector:
    """Decides each request's fault; one per app, used from the server's event loop."""

    def __init__(self, config: FaultConfig) -> None:
        self.config = config
        self.rng = random.Random(config.seed)
        self.counts: Counter[str] = Counter()  # faults injected, by kind

    def decide(self, seq: int, method: str) -> str | None:
        cfg = self.config
        if seq in cfg.fail_nth:
            return self._count(cfg.nth_fault)
        if cfg.methods is not None and method.upper() not in cfg.methods:
            return None
        draw = self.rng.random()
        for kind, rate in (
            ("error", cfg.error_rate),
            ("429", cfg.rate_429),
            ("429_bare", cfg.rate_429_bare),
            ("lost", cfg.lost_response_rate),
            ("drop", cfg.drop_mid_response_rate),
            ("slow", cfg.slow_rate),
        ):
            if draw < rate:
                return self._count(kind)
            draw -= rate
        return None

    def _count(self, kind: str) -> str:
        self.counts[kind] += 1
        return kind

    def extra_latency(self) -> float:
        return self.rng.uniform(0, self.config.jitter_ms) / 1000 if self.config.jitter_ms else 0.0

    def refusal(self, kind: str, quota_headers: Mapping[str, str]) -> Response:
        """The response of a fault that refuses the request before it is handled."""
        if kind == "error":
            status = self.rng.choice(self.config.error_statuses)
            body = {"status": status, "title": "Internal error (injected)", "type": ERROR_TYPE}
            return JSONResponse({**body, "errors": {}}, status, dict(quota_headers))
        body = {"status": 429, "title": "Too many requests (injected)", "type": ERROR_TYPE}
        if kind == "429_bare":
            return JSONResponse({**body, "errors": {}}, 429)
        reset_ms = self.config.retry_after_ms
        headers = {
            **quota_headers,
            "X-Rate-Limit-Requests-Left": "0",
            "X-Rate-Limit-Time-Reset-Ms": str(reset_ms),
        }
        if reset_ms >= 1000:  # X-Retry-After is whole seconds on the real API
            headers["X-Retry-After"] = str(math.ceil(reset_ms / 1000))
        return JSONResponse({**body, "errors": {}}, 429, headers)


async def close_connection(send: Send) -> None:
    """Close the client's connection now, whatever has been sent on it so far.

    uvicorn's `send` is a bound method of the request cycle, which holds the transport;
    closing it is what a crashed server or a cut network looks like to the client."""
    transport = getattr(getattr(send, "__self__", None), "transport", None)
    if transport is None or not hasattr(transport, "close"):
        raise ConnectionDropped("the connection was dropped by an injected fault")
    transport.close()
    # Let the server see the connection go, so it doesn't complain about the lost response.
    for _ in range(3):
        await asyncio.sleep(0)


async def send_partial(response: Response, send: Send) -> None:
    """Send the status line, the headers and half the body, then close the connection.
    With no body to cut, nothing is sent before the connection closes."""
    body = bytes(response.body or b"")
    if not body:
        await close_connection(send)
        return
    await send(
        {
            "type": "http.response.start",
            "status": response.status_code,
            "headers": response.raw_headers,
        }
    )
    await send({"type": "http.response.body", "body": body[: len(body) // 2], "more_body": True})
    await close_connection(send)


# ---- checking a sandbox log -------------------------------------------------------------


def api_rule_violations(log: Iterable[Mapping[str, Any]]) -> list[str]:
    """The API's hard rules, checked on the sandbox's request log: no POST of more than 50
    profiles, never a DELETE without ids, never more than 10 requests in flight, and no 429
    except the ones injected as faults (a client that provokes 429s is misbehaving)."""
    problems: list[str] = []
    for r in log:
        method, path = r.get("method"), str(r.get("path", ""))
        what = f"request {r.get('seq')} ({method} {path})"
        if method == "POST" and path.endswith("/shopper-profiles") and r.get("ids", 0) > 50:
            problems.append(f"{what} added {r['ids']} profiles at once")
        if method == "DELETE" and (r.get("trap") or r.get("ids", 0) < 1):
            problems.append(f"{what} was a DELETE without ids")
        if r.get("in_flight", 0) > 10:
            problems.append(f"{what} had {r['in_flight']} requests in flight")
        if r.get("status") == 429 and not r.get("fault"):
            problems.append(f"{what} was throttled (429) without an injected fault")
    return problems


def read_log_file(path: Any) -> list[dict[str, Any]]:
    """The JSON lines a sandbox wrote with `log_file` (skipping a torn last line)."""
    records = []
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            try:
                records.append(json.loads(line))
            except ValueError:
                continue
    return records
