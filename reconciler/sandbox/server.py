"""Serving the sandbox: in a background thread (tests, `reconciler demo`) or in the
foreground (`reconciler sandbox`). Loopback only: it is a test double, not a service."""

from __future__ import annotations

import ipaddress
import logging
import socket
import threading
import time
from pathlib import Path
from types import TracebackType
from typing import Any

import uvicorn

from reconciler.errors import SettingsError
from reconciler.sandbox.app import SandboxApp, SandboxConfig, create_app
from reconciler.sandbox.faults import FaultConfig
from reconciler.sandbox.store import SandboxStore


def _check_loopback(host: str) -> None:
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise SettingsError(f"the sandbox only listens on loopback addresses, not {host}")


def _bind(host: str, port: int) -> socket.socket:
    _check_loopback(host)
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    # Accepted connections inherit this: without it, a response written in two parts
    # (headers, body) waits ~40 ms for a delayed ACK (Nagle), which no real API adds.
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise SettingsError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    sock.listen(128)
    return sock


def _uvicorn(app: SandboxApp) -> uvicorn.Server:
    config = uvicorn.Config(
        app,
        log_level="warning",
        access_log=False,
        lifespan="off",
        loop="asyncio",
        timeout_graceful_shutdown=2,
    )
    return uvicorn.Server(config)


class SandboxServer:
    """The sandbox on 127.0.0.1 in a daemon thread; a context manager for tests."""

    def __init__(
        self, store: SandboxStore | None = None, config: SandboxConfig | None = None, port: int = 0
    ) -> None:
        self.store = store or SandboxStore()
        self.config = config or SandboxConfig()
        self.app = create_app(self.store, self.config)
        self._port = port
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self.url = ""

    @property
    def log(self) -> list[dict[str, Any]]:
        return self.app.log

    def reset_log(self) -> None:
        self.app.log.clear()

    def set_faults(self, faults: FaultConfig | None) -> None:
        """Inject these faults from the next request on (None: stop injecting)."""
        self.app.set_faults(faults)

    def start(self) -> SandboxServer:
        sock = _bind("127.0.0.1", self._port)
        self.url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        self._server = server = _uvicorn(self.app)
        self._thread = threading.Thread(
            target=server.run, kwargs={"sockets": [sock]}, daemon=True, name="sandbox"
        )
        self._thread.start()
        deadline = time.monotonic() + 10
        while not server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the sandbox server did not start")
            time.sleep(0.005)
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._server = self._thread = None

    def __enter__(self) -> SandboxServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def run_sandbox(
    host: str = "127.0.0.1",
    port: int = 8787,
    state_file: Path | None = None,
    token: str = "sandbox-token",
    store_hash: str = "sandbox",
    quota: int | None = None,
    window_ms: int = 30_000,
    latency_ms: int = 0,
    log_file: Path | None = None,
    seed: SandboxStore | None = None,
    announce: Any = print,
    faults: FaultConfig | None = None,
    unknown_segment_status: int = 404,
) -> None:
    """Serve in the foreground until Ctrl-C. An existing state file wins over `seed`."""
    if state_file is not None and state_file.exists():
        try:
            store = SandboxStore.load(state_file)
        except (ValueError, KeyError, OSError) as exc:
            raise SettingsError(f"cannot read the sandbox state file {state_file}: {exc}") from None
    else:
        store = seed or SandboxStore()
        if state_file is not None:
            store.save(state_file)
    config = SandboxConfig(
        store_hash=store_hash,
        token=token,
        quota=quota,
        window_ms=window_ms,
        latency_ms=latency_ms,
        state_file=state_file,
        log_file=log_file,
        faults=faults,
        unknown_segment_status=unknown_segment_status,
    )
    sock = _bind(host, port)
    bound = sock.getsockname()[1]
    shown = f"[{host}]" if ":" in host else host
    announce(
        f"Sandbox store listening on http://{shown}:{bound} "
        f"({len(store.segments)} segments, {len(store.profiles)} shopper profiles)\n"
        f"  export BIGCOMMERCE_API_URL=http://{shown}:{bound}\n"
        f"  export BIGCOMMERCE_STORE_HASH={store_hash}\n"
        f"  export BIGCOMMERCE_ACCESS_TOKEN={token}   # the sandbox's test token\n"
        + (f"Injecting faults: {faults.describe()}\n" if faults and faults.active else "")
        + "Press Ctrl-C to stop."
    )
    logging.getLogger("reconciler.sandbox").setLevel(logging.INFO)
    _uvicorn(create_app(store, config)).run(sockets=[sock])
