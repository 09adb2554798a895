"""Retry and timeout tuning from the environment, the backoff it drives, and the transport
rules that keep the token at home (https only, except to loopback; no redirects)."""

from __future__ import annotations

import pytest

from reconciler.client import BigCommerceClient, ClientSettings
from reconciler.errors import SettingsError
from reconciler.settings import client_settings, retry_settings

TOKEN = "settings-test-token-42"
ENV = {"BIGCOMMERCE_ACCESS_TOKEN": TOKEN}


def test_unset_tuning_keeps_the_defaults() -> None:
    settings = client_settings("store", env=ENV)
    defaults = ClientSettings(store_hash="store", token=TOKEN)
    assert (settings.timeout, settings.max_retries, settings.max_retry_wait) == (
        defaults.timeout,
        defaults.max_retries,
        defaults.max_retry_wait,
    )
    assert settings.backoff_base == defaults.backoff_base == 1.0


def test_every_tuning_variable_reaches_the_client_settings() -> None:
    env = {
        **ENV,
        "RECONCILER_HTTP_TIMEOUT": "2.5",
        "RECONCILER_MAX_RETRIES": " 9 ",
        "RECONCILER_MAX_RETRY_WAIT": "45",
        "RECONCILER_BACKOFF_BASE": "0.05",
    }
    settings = client_settings("store", env=env)
    assert settings.timeout == 2.5
    assert settings.max_retries == 9
    assert settings.max_retry_wait == 45.0
    assert settings.backoff_base == 0.05
    # An explicit override (what a caller passes) wins over the environment.
    assert client_settings("store", env=env, max_retries=1).max_retries == 1


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("RECONCILER_HTTP_TIMEOUT", "0"),
        ("RECONCILER_HTTP_TIMEOUT", "-1"),
        ("RECONCILER_HTTP_TIMEOUT", "30s"),
        ("RECONCILER_HTTP_TIMEOUT", "nan"),
        ("RECONCILER_HTTP_TIMEOUT", "inf"),
        ("RECONCILER_MAX_RETRIES", "1.5"),
        ("RECONCILER_MAX_RETRIES", "-1"),
        ("RECONCILER_MAX_RETRIES", "101"),
        ("RECONCILER_MAX_RETRY_WAIT", "-0.5"),
        ("RECONCILER_MAX_RETRY_WAIT", "1e9"),
        ("RECONCILER_BACKOFF_BASE", "0"),
        ("RECONCILER_BACKOFF_BASE", "lots"),
    ],
)
def test_a_bad_value_is_a_clear_error_naming_the_variable(name: str, value: str) -> None:
    with pytest.raises(SettingsError) as info:
        client_settings("store", env={**ENV, name: value})
    message = info.value.message
    assert message.startswith(f"{name} must be ")
    assert repr(value) in message


def test_a_token_pasted_into_a_setting_is_not_echoed() -> None:
    with pytest.raises(SettingsError) as info:
        retry_settings({**ENV, "RECONCILER_MAX_RETRIES": f"x{TOKEN}"})
    assert TOKEN not in info.value.message
    assert info.value.message.startswith("RECONCILER_MAX_RETRIES must be a whole number")


def test_backoff_grows_from_the_base_with_jitter_and_a_cap() -> None:
    settings = ClientSettings(store_hash="s", token=TOKEN, backoff_base=0.1)
    low = BigCommerceClient(settings, rng=lambda: 0.0)
    high = BigCommerceClient(settings, rng=lambda: 1.0)
    assert [low._backoff(n) for n in (1, 2, 3)] == pytest.approx([0.05, 0.1, 0.2])
    assert [high._backoff(n) for n in (1, 2, 3)] == pytest.approx([0.1, 0.2, 0.4])
    assert high._backoff(100) == 30.0  # capped, and no overflow for a huge attempt number


def test_the_connect_timeout_never_exceeds_the_timeout() -> None:
    short = BigCommerceClient(ClientSettings(store_hash="s", token=TOKEN, timeout=0.5))
    assert short._http.timeout.connect == 0.5 and short._http.timeout.read == 0.5
    long = BigCommerceClient(ClientSettings(store_hash="s", token=TOKEN, timeout=60))
    assert long._http.timeout.connect == 10.0 and long._http.timeout.read == 60
    assert long._http.follow_redirects is False


@pytest.mark.parametrize(
    "url",
    [
        "http://example.com",
        "http://api.bigcommerce.com",
        "http://localhost.example.com",
        "http://127.0.0.1.nip.io",
        "http://10.0.0.1:8787",
        "http://192.168.1.10",
        "http://[::ffff:10.0.0.1]",
        "http://0.0.0.0:8787",
        "ftp://127.0.0.1",
        "file:///etc/passwd",
    ],
)
def test_plain_http_is_refused_for_every_host_but_loopback(url: str) -> None:
    with pytest.raises(SettingsError) as info:
        client_settings("store", env={**ENV, "BIGCOMMERCE_API_URL": url})
    assert TOKEN not in info.value.message


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8787",
        "http://127.8.9.10",
        "http://localhost:8787",
        "http://[::1]:8787",
        "https://api.bigcommerce.com",
        "https://proxy.example.com/base",
    ],
)
def test_https_anywhere_and_http_to_loopback_are_accepted(url: str) -> None:
    assert client_settings("store", env={**ENV, "BIGCOMMERCE_API_URL": url}).api_url == url
