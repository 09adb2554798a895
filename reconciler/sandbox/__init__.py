"""A local emulator of the BigCommerce Customer Segmentation API, for users and tests.

`SandboxStore` (store.py) holds the data, `create_app` (app.py) serves it with the API's
rules (pagination, 50 profiles per POST, 10 requests in flight, the rate quota and its
headers, 409/422, and the real API's trap: a DELETE without `id:in` empties the segment),
and `SandboxServer`/`run_sandbox` (server.py) run it on loopback. faults.py injects the
failures of a flaky network and an overloaded API.

The names below are loaded on first use, so importing the store (pure Python) does not pull
in starlette and uvicorn."""

from __future__ import annotations

from importlib import import_module
from typing import Any

_EXPORTS = {
    "SandboxStore": "reconciler.sandbox.store",
    "SandboxConfig": "reconciler.sandbox.app",
    "SandboxApp": "reconciler.sandbox.app",
    "create_app": "reconciler.sandbox.app",
    "SandboxServer": "reconciler.sandbox.server",
    "run_sandbox": "reconciler.sandbox.server",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(module), name)
