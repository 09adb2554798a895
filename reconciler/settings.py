"""Connection settings from options and the environment. The token only ever comes
from BIGCOMMERCE_ACCESS_TOKEN: never from the config file or a command-line flag
(flags end up in shell history and CI logs)."""

from __future__ import annotations

import math
import os
from collections.abc import Mapping

from reconciler.client import (
    DEFAULT_API_URL,
    MAX_RETRIES_ENV,
    MAX_RETRY_WAIT_ENV,
    ClientSettings,
)
from reconciler.errors import SettingsError

TOKEN_ENV = "BIGCOMMERCE_ACCESS_TOKEN"
STORE_ENV = "BIGCOMMERCE_STORE_HASH"
API_URL_ENV = "BIGCOMMERCE_API_URL"
# Retry and timeout tuning; unset means the defaults of ClientSettings.
TIMEOUT_ENV = "RECONCILER_HTTP_TIMEOUT"  # seconds one attempt may take to answer
# RECONCILER_MAX_RETRIES and RECONCILER_MAX_RETRY_WAIT live in client: its give-up message
# names them.
BACKOFF_BASE_ENV = "RECONCILER_BACKOFF_BASE"  # seconds; the first retry's backoff

# (variable, ClientSettings field, type, lowest, highest, what the value is)
_TUNING: tuple[tuple[str, str, type, float, float, str], ...] = (
    (TIMEOUT_ENV, "timeout", float, 0.001, 3600, "a number of seconds above 0, at most 3600"),
    (MAX_RETRIES_ENV, "max_retries", int, 0, 100, "a whole number from 0 to 100"),
    (MAX_RETRY_WAIT_ENV, "max_retry_wait", float, 0, 86400, "a number of seconds, 0 to 86400"),
    (BACKOFF_BASE_ENV, "backoff_base", float, 0.001, 60, "a number of seconds above 0, at most 60"),
)


def resolve_store_hash(
    option: str | None,
    from_config: str | None,
    env: Mapping[str, str] | None = None,
    *,
    reads_config: bool = True,
) -> str:
    """`reads_config`: whether the command reads a config file, to name it as a source."""
    env = os.environ if env is None else env
    value = option or env.get(STORE_ENV) or from_config
    if not value:
        config = ", or put store_hash in the config file" if reads_config else ""
        raise SettingsError(
            f"no store hash: pass --store-hash or set BIGCOMMERCE_STORE_HASH{config}"
        )
    return value.strip()


def access_token(env: Mapping[str, str] | None = None) -> str:
    """The token as the environment gives it ("" when unset): the one place it is read."""
    return (os.environ if env is None else env).get(TOKEN_ENV, "").strip()


def retry_settings(env: Mapping[str, str] | None = None) -> dict[str, float | int]:
    """The retry and timeout tuning the environment sets (only the variables that are set)."""
    env = os.environ if env is None else env
    secret = access_token(env)
    found: dict[str, float | int] = {}
    for name, key, kind, low, high, meaning in _TUNING:
        raw = env.get(name, "").strip()
        if not raw:
            continue
        try:
            value = kind(raw)
        except ValueError:
            value = None
        if value is None or not math.isfinite(value) or not low <= value <= high:
            # Echo the value to help, unless it is (or holds) the token pasted by mistake.
            shown = "" if secret and secret in raw else f", not {raw!r:.24}"
            raise SettingsError(f"{name} must be {meaning}{shown}")
        found[key] = value
    return found


def client_settings(
    store_hash: str, env: Mapping[str, str] | None = None, **overrides: object
) -> ClientSettings:
    env = os.environ if env is None else env
    token = access_token(env)
    if not token:
        raise SettingsError(
            f"no access token: set {TOKEN_ENV} to the token of an API account with the "
            "Customers: modify scope"
        )
    api_url = env.get(API_URL_ENV, "").strip() or DEFAULT_API_URL
    tuning: dict[str, object] = {**retry_settings(env), **overrides}
    return ClientSettings(store_hash=store_hash, token=token, api_url=api_url, **tuning)  # type: ignore[arg-type]
