"""What the outside world can do to the client, and the one sentence each becomes: a 200
whose rows lack their ids, a body that fails to decode, an error httpx raises outside its
transport errors, a port out of range, a host that does not resolve, a TLS handshake
refused, a connection refused. Never a KeyError or an "internal error", never the token."""

from __future__ import annotations

import asyncio
import itertools
import logging
import socket
import ssl
from typing import Any

import httpx
import pytest

from reconciler.client import BigCommerceClient, ClientSettings
from reconciler.errors import (
    ApiError,
    MalformedResponseError,
    NetworkError,
    SettingsError,
    StoppedError,
)
from reconciler.live import read_live, read_members, read_segments
from reconciler.model import DesiredSegment, DesiredState
from tests.unit.test_client import (
    SEG,
    STORE,
    TOKEN,
    ids,
    make_client,
    page,
    run,
    sequence_handler,
)

API = "https://api.bigcommerce.com"
MEMBERS = f"GET /segments/{SEG}/shopper-profiles"


def chained(*chain: BaseException) -> Exception:
    """chain[0] wraps chain[1], which wraps chain[2]... (as context, suppressed)."""
    for outer, inner in itertools.pairwise(chain):
        outer.__context__ = inner
        outer.__suppress_context__ = True
    head = chain[0]
    assert isinstance(head, Exception)
    return head


def failing(make: Any, seen: list[httpx.Request], then: httpx.Response | None = None) -> Any:
    """A handler raising a fresh `make()` each time (an exception object is raised once
    per attempt, as a transport would), answering `then` from the second attempt if given."""

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if then is not None and len(seen) > 1:
            return then
        raise make()

    return handler


def reason_of(run_call: Any) -> BaseException:
    async def scenario() -> BaseException:
        with pytest.raises(Exception) as info:
            await run_call()
        return info.value

    return run(scenario())


# ---- 1. a 200 whose rows lack their ids ---------------------------------------------------


@pytest.mark.parametrize(
    ("row", "said"),
    [
        ({"name": "VIP"}, "without an id"),
        ({"id": None, "name": "VIP"}, "without an id"),
        ({"id": 12, "name": "VIP"}, "whose id is invalid (12)"),
        ({"id": " ", "name": "VIP"}, "whose id is invalid (' ')"),
    ],
)
def test_a_segment_row_without_an_id_is_an_api_error_sentence(
    row: dict[str, Any], said: str
) -> None:
    client, _ = make_client(lambda r: page([{"id": SEG, "name": "Other"}, row]))
    error = reason_of(client.list_segments)
    assert isinstance(error, MalformedResponseError) and isinstance(error, ApiError)
    assert str(error) == f"GET /segments answered 200 with a segment {said}"
    assert (error.status, error.method, error.path) == (200, "GET", "/segments")


def test_a_member_row_without_an_id_is_an_api_error_sentence() -> None:
    rows: list[dict[str, Any]] = [{"id": ids(1)[0], "customer_id": 1}, {"customer_id": 2}]
    client, _ = make_client(lambda r: page(rows))
    error = reason_of(lambda: read_members(client, [SEG]))
    assert isinstance(error, MalformedResponseError)
    assert str(error) == f"{MEMBERS} answered 200 with a shopper profile without an id"
    # The whole list too (export reads it so).
    error = reason_of(lambda: client.list_segment_members(SEG))
    assert str(error) == f"{MEMBERS} answered 200 with a shopper profile without an id"


def test_a_customer_row_without_an_id_is_an_api_error_sentence() -> None:
    rows = [{"email": "a@example.com", "shopper_profile_id": ids(1)[0]}]
    client, _ = make_client(lambda r: page(rows))
    error = reason_of(lambda: client.list_customers(ids=[1]))
    assert isinstance(error, MalformedResponseError)
    assert str(error) == "GET /customers answered 200 with a customer without an id"


@pytest.mark.parametrize(
    ("row", "said"),
    [
        ({"id": "abc", "name": "VIP"}, "whose id is not a UUID ('abc')"),
        ({"id": SEG}, f"without a name (id {SEG})"),
        ({"id": SEG, "name": None}, f"without a name (id {SEG})"),
    ],
)
def test_a_segment_the_plan_cannot_use_is_an_api_error_sentence(
    row: dict[str, Any], said: str
) -> None:
    client, _ = make_client(lambda r: page([row]))
    error = reason_of(lambda: read_segments(client))
    assert isinstance(error, MalformedResponseError)
    assert str(error) == f"GET /segments answered 200 with a segment {said}"


def test_a_segment_with_an_odd_description_reads_as_none() -> None:
    client, _ = make_client(lambda r: page([{"id": SEG.upper(), "name": "VIP", "description": 7}]))
    (segment,) = run(read_segments(client))
    assert (segment.id, segment.name, segment.description) == (SEG, "VIP", "")


def test_reading_the_store_with_a_row_without_an_id_is_no_key_error() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/segments"):
            return page([{"id": SEG, "name": "VIP"}])
        return page([{"customer_id": 1}])

    desired = DesiredState(
        segments=(DesiredSegment(name="VIP", id=None, profiles=frozenset(ids(1))),)
    )
    client, _ = make_client(handler)
    error = reason_of(lambda: read_live(client, desired))
    assert isinstance(error, MalformedResponseError), repr(error)


def test_data_that_is_not_a_list_of_objects_is_the_same_kind_of_error() -> None:
    client, _ = make_client(lambda r: httpx.Response(200, json={"data": ["x"]}))
    error = reason_of(client.list_segments)
    assert isinstance(error, MalformedResponseError)
    assert str(error) == "GET /segments answered 200 without the expected `data` list"


# ---- 2. a body that fails to decode, and httpx's other request errors -----------------------


def corrupt_gzip() -> httpx.Response:
    """Said to be gzip, and plain: decoding fails as the client reads the body."""
    stream = httpx.ByteStream(b"hello")
    return httpx.Response(200, headers={"Content-Encoding": "gzip"}, stream=stream)


def test_an_answer_that_fails_to_decode_is_retried_like_one_cut_off() -> None:
    seen: list[httpx.Request] = []
    handler = sequence_handler([corrupt_gzip(), page([{"id": SEG, "name": "VIP"}])], seen)
    client, _ = make_client(handler)
    assert run(client.list_segments()) == [{"id": SEG, "name": "VIP"}]
    assert len(seen) == 2 and client.stats.retries == 1 and client.stats.network_errors == 1


def test_answers_that_keep_failing_to_decode_give_up_with_a_sentence() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return corrupt_gzip()

    client, _ = make_client(handler, max_retries=2)
    error = reason_of(lambda: client.add_members(SEG, ids(1)))
    assert isinstance(error, NetworkError)
    assert str(error) == (
        f"gave up on POST /segments/{SEG}/shopper-profiles after 3 attempts over 3 s: "
        f"the answer from {API} kept failing to decode (DecodingError: Error -3 while "
        "decompressing data: incorrect header check); RECONCILER_MAX_RETRIES allows 2 retries"
    )
    assert len(seen) == 3


def test_a_write_stopped_after_an_answer_that_failed_to_decode_may_have_been_made() -> None:
    stop = asyncio.Event()

    def handler(request: httpx.Request) -> httpx.Response:
        stop.set()  # Ctrl-C while the answer is arriving
        return corrupt_gzip()

    async def scenario() -> StoppedError:
        client, _ = make_client(handler)
        client.stop_on(stop)
        with pytest.raises(StoppedError) as info:
            await client.add_members(SEG, ids(1))
        return info.value

    error = run(scenario())
    assert error.sent and error.status is None  # no answer read: the store may have it


@pytest.mark.parametrize(
    ("failure", "said"),
    [
        (lambda: httpx.TooManyRedirects("Exceeded maximum allowed redirects."), "TooManyRedirects"),
        (lambda: httpx.UnsupportedProtocol("Request URL has an unsupported protocol"), "Unsup"),
        (lambda: httpx.ProxyError(""), "ProxyError"),
    ],
)
def test_httpx_errors_not_worth_retrying_are_one_sentence(failure: Any, said: str) -> None:
    seen: list[httpx.Request] = []
    client, _ = make_client(failing(failure, seen))
    error = reason_of(client.list_segments)
    assert isinstance(error, NetworkError)
    assert str(error).startswith(f"could not send GET /segments to {API}: {said}")
    assert len(seen) == 1 and error.__cause__ is None and error.__suppress_context__


def test_the_token_in_a_library_message_never_reaches_ours(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="reconciler")
    for failure in (
        lambda: httpx.LocalProtocolError(f"Illegal header value b'{TOKEN}'"),
        lambda: httpx.ReadError(f"echoed {TOKEN}"),
    ):
        client, _ = make_client(failing(failure, []), max_retries=1)
        message = str(reason_of(client.list_segments))
        assert TOKEN not in message and "[REDACTED]" in message
    assert TOKEN not in caplog.text


# ---- 3. a port out of range, an ExceptionGroup from the transport ------------------------


@pytest.mark.parametrize("port", ["0", "65536", "99999", "-1", "123456789012"])
def test_a_port_outside_1_to_65535_is_a_settings_error(port: str) -> None:
    with pytest.raises(SettingsError, match=r"^the API URL's port must be 1-65535$"):
        ClientSettings(STORE, TOKEN, api_url=f"http://127.0.0.1:{port}")


@pytest.mark.parametrize("port", ["1", "65535"])
def test_ports_1_and_65535_are_fine(port: str) -> None:
    assert ClientSettings(STORE, TOKEN, api_url=f"http://127.0.0.1:{port}").api_url


def test_an_exception_group_from_the_transport_is_a_network_error_not_retried() -> None:
    seen: list[httpx.Request] = []

    def group() -> Exception:
        inner = OverflowError("connect(): port must be 0-65535.")
        return ExceptionGroup("unhandled errors in a TaskGroup", [inner])

    client, _ = make_client(failing(group, seen))
    error = reason_of(client.list_segments)
    assert isinstance(error, NetworkError)
    assert str(error) == (
        f"could not connect to {API} for GET /segments: "
        "OverflowError: connect(): port must be 0-65535"
    )
    assert len(seen) == 1 and client.stats.network_errors == 1
    assert client.stats.in_flight == 0  # the attempt's slot was given back


# ---- 4. connection failures: the host, the cause, and no retry of the hopeless ---------------


def unresolvable(errno: int = socket.EAI_NONAME, text: str = "Name or service not known") -> Any:
    return lambda: chained(
        httpx.ConnectError(f"[Errno {errno}] {text}"),
        httpx.ConnectError(f"[Errno {errno}] {text}"),  # httpcore's
        socket.gaierror(errno, text),
    )


def test_a_host_that_does_not_resolve_fails_at_once_naming_it() -> None:
    seen: list[httpx.Request] = []
    client, _ = make_client(failing(unresolvable(), seen))
    error = reason_of(client.list_segments)
    assert isinstance(error, NetworkError)
    assert str(error) == (
        "cannot resolve host api.bigcommerce.com: Name or service not known (GET /segments)"
    )
    assert len(seen) == 1

    seen.clear()
    client, _ = make_client(failing(unresolvable(), seen), api_url="https://nonexistent.invalid")
    assert str(reason_of(client.list_segments)) == (
        "cannot resolve host nonexistent.invalid: Name or service not known (GET /segments); "
        "check BIGCOMMERCE_API_URL"
    )
    assert len(seen) == 1


def test_a_resolver_failing_for_now_is_retried() -> None:
    seen: list[httpx.Request] = []
    failure = unresolvable(socket.EAI_AGAIN, "Temporary failure in name resolution")
    client, _ = make_client(failing(failure, seen, then=page([])))
    assert run(client.list_segments()) == []
    assert len(seen) == 2


def bad_certificate() -> Exception:
    cert = ssl.SSLCertVerificationError(
        1,
        "[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: self-signed "
        "certificate (_ssl.c:1006)",
    )
    cert.verify_message = "self-signed certificate"
    return chained(httpx.ConnectError(str(cert)), httpx.ConnectError(str(cert)), cert)


def plain_http_server() -> Exception:
    wrong = ssl.SSLError(1, "[SSL: WRONG_VERSION_NUMBER] wrong version number (_ssl.c:1006)")
    return chained(httpx.ConnectError(str(wrong)), wrong)


@pytest.mark.parametrize(
    ("failure", "said"),
    [
        (
            bad_certificate,
            f"TLS handshake with {API} failed: certificate verify failed: self-signed "
            "certificate (GET /segments)",
        ),
        (
            plain_http_server,
            f"TLS handshake with {API} failed: wrong version number (GET /segments); is the "
            "server speaking plain http://? check BIGCOMMERCE_API_URL",
        ),
    ],
)
def test_a_failed_tls_handshake_fails_at_once_naming_the_host(failure: Any, said: str) -> None:
    seen: list[httpx.Request] = []
    client, _ = make_client(failing(failure, seen))
    error = reason_of(client.list_segments)
    assert isinstance(error, NetworkError) and str(error) == said
    assert len(seen) == 1


def hang_up() -> Exception:
    cause = ssl.SSLEOFError(8, "EOF occurred in violation of protocol (_ssl.c:1006)")
    return chained(httpx.ConnectError(""), cause)


def alert() -> Exception:
    # A TLS terminator under load answering the handshake with alert 80 (internal_error).
    cause = ssl.SSLError(1, "[SSL: TLSV1_ALERT_INTERNAL_ERROR] tlsv1 alert internal error")
    return chained(httpx.ConnectError(str(cause)), cause)


@pytest.mark.parametrize("failure", [hang_up, alert])
def test_a_handshake_failure_that_may_pass_is_retried(failure: Any) -> None:
    seen: list[httpx.Request] = []
    client, _ = make_client(failing(failure, seen, then=page([])))
    assert run(client.list_segments()) == []
    assert len(seen) == 2


def refused() -> Exception:
    """As anyio says it: one OSError per address tried, under `All connection attempts
    failed`, whose own text names the address, not the cause."""
    attempts = [
        ConnectionRefusedError(111, "Connect call failed ('::1', 443, 0, 0)"),
        ConnectionRefusedError(111, "Connect call failed ('127.0.0.1', 443)"),
    ]
    every = OSError("All connection attempts failed")
    every.__cause__ = ExceptionGroup("multiple connection attempts failed", attempts)
    return chained(
        httpx.ConnectError("All connection attempts failed"),
        httpx.ConnectError("All connection attempts failed"),
        every,
    )


def test_a_refused_connection_is_retried_then_names_the_host_and_the_cause(
    caplog: pytest.LogCaptureFixture,
) -> None:
    seen: list[httpx.Request] = []
    client, _ = make_client(failing(refused, seen), max_retries=2)
    error = reason_of(client.list_segments)
    assert isinstance(error, NetworkError)
    assert str(error) == (
        "gave up on GET /segments after 3 attempts over 3 s: the connection to "
        f"{API} kept failing (ConnectError: Connection refused); "
        "RECONCILER_MAX_RETRIES allows 2 retries"
    )
    assert len(seen) == 3
    assert f"the connection to {API} failed (ConnectError: Connection refused)" in caplog.text


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def real_client(api_url: str, **settings: Any) -> BigCommerceClient:
    """The real transport (httpx, httpcore, anyio, the OS), with no waits between tries."""

    async def no_wait(_: float) -> None:
        await asyncio.sleep(0)

    return BigCommerceClient(
        ClientSettings(STORE, TOKEN, api_url=api_url, **settings), sleep=no_wait
    )


def test_a_real_refused_port_names_the_host_and_connection_refused() -> None:
    url = f"http://127.0.0.1:{closed_port()}"

    async def scenario() -> str:
        async with real_client(url, max_retries=1) as client:
            with pytest.raises(NetworkError) as info:
                await client.list_segments()
            assert client.stats.requests == 2  # refused may be a restart: retried
            return str(info.value)

    message = asyncio.run(scenario())
    assert f"the connection to {url} kept failing (ConnectError: Connection refused)" in message


def test_real_tls_spoken_to_a_plain_http_server_fails_at_once() -> None:
    async def scenario() -> tuple[str, int]:
        async def plain(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await reader.read(100)
            writer.write(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
            await writer.drain()
            writer.close()

        server = await asyncio.start_server(plain, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        async with server, real_client(f"https://127.0.0.1:{port}") as client:
            with pytest.raises(NetworkError) as info:
                await client.list_segments()
            return str(info.value), client.stats.requests

    message, requests = asyncio.run(scenario())
    assert message.startswith("TLS handshake with https://127.0.0.1:")
    assert "failed: " in message and "(GET /segments)" in message
    assert requests == 1
