"""Connection settings from options and the environment. The token only ever comes
from BIGCOMMERCE_ACCESS_TOKEN: never from the config file or a command-line flag
(flags end up in shell history and CI logs)."""

from __future__ import annotations

import os
from collections.abc import Mapping

from reconciler.client import DEFAULT_API_URL, ClientSettings
from reconciler.errors import SettingsError

TOKEN_ENV = "BIGCOMMERCE_ACCESS_TOKEN"
STORE_ENV = "BIGCOMMERCE_STORE_HASH"
API_URL_ENV = "BIGCOMMERCE_API_URL"


def resolve_store_hash(
    option: str | None, from_config: str | None, env: Mapping[str, str] | None = None
) -> str:
    env = os.environ if env is None else env
    value = option or env.get(STORE_ENV) or from_config
    if not value:
        raise SettingsError(
            "no store hash: pass --store-hash, set BIGCOMMERCE_STORE_HASH, "
            "or put store_hash in the config file"
        )
    return value.strip()


def client_settings(
    store_hash: str, env: Mapping[str, str] | None = None, **overrides: object
) -> ClientSettings:
    env = os.environ if env is None else env
    token = env.get(TOKEN_ENV, "").strip()
    if not token:
        raise SettingsError(
            f"no access token: set {TOKEN_ENV} to the token of an API account with the "
            "Customers: modify scope"
        )
    api_url = env.get(API_URL_ENV, "").strip() or DEFAULT_API_URL
    return ClientSettings(store_hash=store_hash, token=token, api_url=api_url, **overrides)  # type: ignore[arg-type]
