"""The BigCommerce Customer Segmentation API over httpx: auth, pagination, batching, pacing,
retries and error mapping.

Every request goes through `BigCommerceClient._send`: one semaphore caps the requests in flight
(the API allows 10 concurrent writes), the rate limiter keeps us inside the store's shared quota,
tenacity retries what is worth retrying, and every error becomes one sentence built from the
method, the path and the response body, never from the request headers (which hold the token).
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import functools
import ipaddress
import logging
import math
import os
import random
import re
import socket
import ssl
import time
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NoReturn, TypeVar

import httpx
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, retry_if_result

from reconciler.batching import (
    MAX_ADD_BATCH,
    MAX_REMOVAL_QUERY_BYTES,
    REMOVAL_PARAM,
    build_removal_request,
    check_removal_request,
    chunk_adds,
    chunk_query_values,
    chunk_removals,
)
from reconciler.errors import (
    ApiError,
    AuthenticationError,
    ConflictError,
    MalformedResponseError,
    NetworkError,
    NotFoundError,
    PermissionDeniedError,
    RetriesExhaustedError,
    SettingsError,
    StoppedError,
    UnprocessableError,
)
from reconciler.model import MIN_SECRET_LENGTH, UUID_PATTERN, is_uuid
from reconciler.pacing import HEADER_RESET_MS, RateLimiter

__all__ = [
    "DEFAULT_API_URL",
    "MAX_ADD_BATCH",
    "MAX_IN_FLIGHT",
    "MAX_REMOVAL_QUERY_BYTES",
    "BigCommerceClient",
    "ClientSettings",
    "RateLimiter",
    "RequestStats",
    "build_removal_request",
    "cancel_and_wait",
    "chunk_adds",
    "chunk_removals",
    "gather_cancelling",
]

logger = logging.getLogger("reconciler.client")

DEFAULT_API_URL = "https://api.bigcommerce.com"
MAX_IN_FLIGHT = 10  # the API's limit on concurrent requests to these endpoints
MAX_PAGE_SIZE = 250  # platform-wide maximum `limit`
FALLBACK_PAGE_SIZE = 50  # the documented default, used if 250 is refused
HEADER_RETRY_AFTER = "X-Retry-After"
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
# Failures where the request may not have been processed; retrying a POST after one of these
# may meet a 409 for what the lost attempt already did, which the caller handles. An answer
# whose body fails to decode (a corrupt gzip) is one cut off mid-way: the request reached
# the store. A name that does not resolve and a failed TLS handshake are not retried (see
# _hopeless): they cannot heal within a run.
RETRY_EXCEPTIONS = (
    httpx.TimeoutException,
    httpx.NetworkError,
    httpx.RemoteProtocolError,
    httpx.DecodingError,
)
BACKOFF_BASE = 1.0  # the first retry waits 0.5..1 x this, each later one up to twice as long
BACKOFF_CAP = 30.0  # no single wait between attempts is longer (except one the API asks for)
CONNECT_TIMEOUT = 10.0

# The scopes, for 403 messages.
SCOPE_READ = "Customers: read-only scope (store_v2_customers_read_only)"
SCOPE_MODIFY = "Customers: modify scope (store_v2_customers)"

_STORE_HASH_RE = re.compile(r"^[A-Za-z0-9_-]+$")
_TOKEN_RE = re.compile(r"^[\x21-\x7e]+$")  # printable ASCII, no whitespace: a valid header value
_UUID_IN_TEXT_RE = re.compile(UUID_PATTERN)

T = TypeVar("T")
PageSink = Callable[[int, list[dict[str, Any]]], None]
_Page = tuple[list[dict[str, Any]], int | None]  # a page's items, the page count it reports
Sleep = Callable[[float], Awaitable[None]]
Clock = Callable[[], float]


def _is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


# The variables that tune retries (settings reads them); the give-up message names them.
MAX_RETRIES_ENV = "RECONCILER_MAX_RETRIES"  # retries of one request after its first attempt
MAX_RETRY_WAIT_ENV = "RECONCILER_MAX_RETRY_WAIT"  # seconds of waiting between attempts, in all


@dataclass(frozen=True)
class ClientSettings:
    store_hash: str
    token: str = field(repr=False)  # never in repr, logs or messages
    api_url: str = DEFAULT_API_URL  # BIGCOMMERCE_API_URL replaces https://api.bigcommerce.com
    max_in_flight: int = MAX_IN_FLIGHT
    timeout: float = 30.0
    page_size: int = MAX_PAGE_SIZE  # falls back to 50 once if the API refuses it
    max_retries: int = 6  # retries after the first attempt
    max_retry_wait: float = 120.0  # cap on total time spent waiting between attempts of one request
    backoff_base: float = BACKOFF_BASE  # seconds; the first retry's backoff is 0.5..1 x this
    rate_reserve: int = 0  # requests of every quota window left to the store's other apps

    def __post_init__(self) -> None:
        if not self.store_hash or not _STORE_HASH_RE.match(self.store_hash):
            raise SettingsError(
                "the store hash must be non-empty and contain only letters, digits, '-' and '_'"
            )
        if not self.token:
            raise SettingsError("no access token: set BIGCOMMERCE_ACCESS_TOKEN")
        if not _TOKEN_RE.match(self.token):
            raise SettingsError(
                "the access token contains spaces or characters a header can't hold"
            )
        if self.store_hash.lower() == self.token.lower():
            # Both are random letters and digits, easily swapped; the store hash is shown in
            # messages, plans and URLs, so it must never be the token.
            raise SettingsError(
                "the store hash holds the access token: check BIGCOMMERCE_STORE_HASH, "
                "--store-hash and the config's store_hash (the hash is the code in "
                "https://api.bigcommerce.com/stores/HASH/v3)"
            )
        if len(self.token) >= MIN_SECRET_LENGTH and self.token.lower() in self.api_url.lower():
            # Checked before the URL is parsed or shown: its host would be printed, and
            # looked up in DNS.
            raise SettingsError("the API URL holds the access token: check BIGCOMMERCE_API_URL")
        try:
            url = httpx.URL(self.api_url)
        except httpx.InvalidURL:
            raise SettingsError("the API URL is not a valid URL") from None
        if url.scheme not in ("https", "http") or not url.host:
            raise SettingsError("the API URL must start with https:// and name a host")
        if url.scheme == "http" and not _is_loopback(url.host):
            raise SettingsError(
                f"refusing plain http:// to {url.host}: the access token would cross the network "
                "unencrypted; use https:// (http:// is allowed only for localhost)"
            )
        if url.userinfo or url.query or url.fragment:
            raise SettingsError("the API URL must not contain credentials, a query or a fragment")
        if url.port is not None and not 1 <= url.port <= 65535:
            # httpx accepts any number; the socket layer would fail with a traceback.
            raise SettingsError("the API URL's port must be 1-65535")
        if not 1 <= self.max_in_flight <= MAX_IN_FLIGHT:
            raise SettingsError(f"max_in_flight must be between 1 and {MAX_IN_FLIGHT}")
        if not 1 <= self.page_size <= MAX_PAGE_SIZE:
            raise SettingsError(f"page_size must be between 1 and {MAX_PAGE_SIZE}")
        if self.timeout <= 0 or self.max_retries < 0 or self.max_retry_wait < 0:
            raise SettingsError("timeout must be positive; max_retries and max_retry_wait >= 0")
        if not all(math.isfinite(v) for v in (self.timeout, self.max_retry_wait)):
            raise SettingsError("timeout and max_retry_wait must be finite numbers of seconds")
        if not (math.isfinite(self.backoff_base) and self.backoff_base > 0):
            raise SettingsError("backoff_base must be a positive number of seconds")
        if self.rate_reserve < 0:
            raise SettingsError("rate_reserve cannot be negative")

    @property
    def base_url(self) -> str:
        return f"{self.api_url.rstrip('/')}/stores/{self.store_hash}/v3"


@dataclass
class RequestStats:
    """What the client did; attempts, not logical calls (a retried request counts twice)."""

    requests: int = 0
    by_status: dict[int, int] = field(default_factory=dict)
    rate_limited: int = 0  # 429 responses
    retries: int = 0
    network_errors: int = 0
    in_flight: int = 0
    max_in_flight: int = 0
    rate_waits: int = 0  # pauses before sending, to stay inside the quota
    rate_wait_seconds: float = 0.0


# ---- error bodies ------------------------------------------------------------------------


_PARSED = "reconciler.json"  # where a response's parsed body is kept
_SENDING = "reconciler.sending"  # true while an attempt of the request is on its way
_DROPPED = "reconciler.dropped"  # its answer is not needed: no retry
_ANSWER = "reconciler.answer"  # the status its latest attempt was answered (None: no answer)


class SendMark:
    """Set while a caller's requests run (see sending): whether any attempt went out.
    Waiting for a slot or the rate window sends nothing; the apply engine needs to know
    which writes a cut-off run may have made."""

    sent = False


_MARK: contextvars.ContextVar[SendMark | None] = contextvars.ContextVar(
    "reconciler_send_mark", default=None
)


@contextlib.contextmanager
def sending(mark: SendMark) -> Iterator[SendMark]:
    """Requests made inside (in this task, and tasks it starts) set `mark.sent` as their
    first attempt goes out."""
    token = _MARK.set(mark)
    try:
        yield mark
    finally:
        _MARK.reset(token)


def _json_or_none(response: httpx.Response) -> Any:
    """The parsed body, or None; parsed once per response (pages are read several times:
    status check, data, pagination), which matters at hundreds of pages."""
    if _PARSED in response.extensions:
        return response.extensions[_PARSED]
    body = None
    if response.content:
        try:
            body = response.json()
        except (ValueError, RecursionError):  # not JSON, or nested past the parser's depth
            body = None
    response.extensions[_PARSED] = body
    return body


def _error_entries(body: Any) -> list[dict[str, Any]]:
    """Both documented shapes: v3 `{status, title, errors: {key: msg}}` and the list shape
    `{data, errors: [{status, title, errors: {"<index>": msg}}], meta}`."""
    if not isinstance(body, dict):
        return []
    errors = body.get("errors")
    if isinstance(errors, list):
        return [e for e in errors if isinstance(e, dict)]
    return [body]


def _title(body: Any) -> str:
    for entry in [body, *_error_entries(body)]:
        if isinstance(entry, dict) and isinstance(entry.get("title"), str) and entry["title"]:
            return entry["title"].strip()
    return ""


def _item_errors(body: Any, batch: Sequence[str] | None, segment_id: str | None) -> dict[str, str]:
    """Map each item error to the profile id it is about: an index key is the position in
    the request batch; otherwise the first UUID in the message (not the segment's)."""
    result: dict[str, str] = {}
    for entry in _error_entries(body):
        details = entry.get("errors")
        if not isinstance(details, dict):
            continue
        for key, message in details.items():
            text = message if isinstance(message, str) else str(message)
            result[_item_key(str(key), text, batch, segment_id)] = text
    return result


def _item_key(key: str, text: str, batch: Sequence[str] | None, segment_id: str | None) -> str:
    if batch is not None and key.isdigit() and int(key) < len(batch):
        return str(batch[int(key)])
    if is_uuid(key):
        return key
    found = _UUID_IN_TEXT_RE.findall(text)
    lowered = {str(b).lower() for b in batch} if batch else set()
    for candidate in found:  # prefer an id that was in the request
        if candidate.lower() in lowered:
            return candidate
    for candidate in found:
        if segment_id is None or candidate.lower() != segment_id.lower():
            return candidate
    return key


def _partial_failure(body: Any) -> bool:
    """A 2xx body saying some items failed: `meta.failed > 0` or non-empty `errors`."""
    if not isinstance(body, dict):
        return False
    meta = body.get("meta")
    failed = meta.get("failed") if isinstance(meta, dict) else None
    if isinstance(failed, int | float) and failed > 0:
        return True
    return bool(body.get("errors"))


# ---- the client --------------------------------------------------------------------------


@dataclass(frozen=True)
class _Call:
    """What a request is for, so an error can say so."""

    action: str  # e.g. "add members to a segment"
    scope: str = SCOPE_MODIFY
    batch: Sequence[str] | None = None  # the ids an index in an error body refers to
    rows: str | None = None  # what each row a read answers is: a key of _ROW_IDS


class BigCommerceClient:
    """Async client for the endpoints the reconciler uses. Use as `async with`."""

    def __init__(
        self,
        settings: ClientSettings,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        sleep: Sleep = asyncio.sleep,
        clock: Clock = time.monotonic,
        rng: Callable[[], float] = random.random,
    ) -> None:
        self.settings = settings
        self.stats = RequestStats()
        self._sleep = sleep
        self._clock = clock
        self._rng = rng
        self._page_size = settings.page_size
        self._base_path = httpx.URL(settings.base_url).path.rstrip("/")
        # One semaphore for every attempt of every request: the whole program never has more
        # than max_in_flight requests open, whatever mix of calls runs concurrently.
        self._semaphore = asyncio.Semaphore(settings.max_in_flight)
        self._limiter = RateLimiter(settings.rate_reserve, clock=clock, sleep=sleep)
        self._wrote = asyncio.Event()  # set each time an attempt is written out (or ends)
        self._stop: asyncio.Event | None = None  # see stop_on
        self._http = httpx.AsyncClient(
            base_url=settings.base_url,
            headers={
                "X-Auth-Token": settings.token,
                "Accept": "application/json",
                "User-Agent": "reconciler",
            },
            timeout=httpx.Timeout(settings.timeout, connect=min(CONNECT_TIMEOUT, settings.timeout)),
            # A redirect is an error: never carry the token to another host.
            follow_redirects=False,
            transport=transport,
            verify=_tls_context(settings.base_url),
        )

    def __repr__(self) -> str:
        return f"BigCommerceClient(store_hash={self.settings.store_hash!r})"

    async def __aenter__(self) -> BigCommerceClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    def stop_on(self, stop: asyncio.Event) -> None:
        """Once `stop` is set (an apply interrupted), a request waiting for the rate-limit
        window to reset is not sent and one waiting to be retried is not retried: each
        raises StoppedError at once. Requests already on the wire finish as usual."""
        self._stop = stop

    @property
    def _stopping(self) -> bool:
        return self._stop is not None and self._stop.is_set()

    def _stopped(self, request: httpx.Request, what: str, *, sent: bool) -> StoppedError:
        message = f"{request.method} {self._path(request)} {what}: apply was interrupted"
        return StoppedError(message, sent=sent, status=request.extensions.get(_ANSWER))

    async def _unless_stopped(
        self, waiting: Awaitable[T], request: httpx.Request, what: str, *, sent: bool
    ) -> T:
        """`waiting`, unless `stop` (see stop_on) is set first: then StoppedError."""
        if self._stop is None:
            return await waiting
        task = asyncio.ensure_future(waiting)
        stopped = asyncio.ensure_future(self._stop.wait())
        try:
            await asyncio.wait({task, stopped}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopped.cancel()
        if not task.done():
            await cancel_and_wait([task])
            raise self._stopped(request, what, sent=sent)
        return task.result()

    async def request_written(self, during: asyncio.Future[Any]) -> None:
        """Return once a request is written out (or its attempt has ended) after this call,
        or once `during` ends: a caller starts a call as `during`, then holds the
        interpreter for a while (digesting a big config, computing a plan) without holding
        back that call's request; only its answer, already on its way, waits. Any attempt
        of this client wakes it, not only `during`'s: call it when nothing else is being
        sent, and one caller at a time (each call resets the one event)."""
        self._wrote.clear()
        wrote = asyncio.ensure_future(self._wrote.wait())
        try:
            await asyncio.wait({wrote, during}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            wrote.cancel()

    @property
    def page_size(self) -> int:
        """The page size in use (250 until the API refuses it, then 50)."""
        return self._page_size

    # ---- public calls --------------------------------------------------------------------

    async def list_segments(self) -> list[dict[str, Any]]:
        """Every segment of the store (GET /segments, all pages)."""
        call = _Call("list segments", SCOPE_READ, rows="segment")
        return await self._paginate("/segments", {}, call)

    async def list_segment_members(self, segment_id: str) -> list[dict[str, Any]]:
        """Every shopper profile in a segment: [{id, customer_id, ...}]. Needs modify scope."""
        path = f"{_segment_path(segment_id)}/shopper-profiles"
        return await self._paginate(path, {}, _Call("read a segment's members", rows="profile"))

    async def each_segment_member_page(
        self, segment_id: str, take: PageSink, *, ahead: int = 0
    ) -> None:
        """The same members, handed to `take(page number, rows)` page by page as each
        arrives (in any order, unduplicated by nobody): a caller reduces rows as they come
        instead of holding every row (100,000 dicts) until the last page. `ahead` pages
        after page 1 are requested alongside it, before it says how many there are: the
        caller's guess, saving a round trip. Those past the end page 1 reports are dropped
        (cancelled if still on their way); one answered while the segment had another size
        is asked for again."""
        path = f"{_segment_path(segment_id)}/shopper-profiles"
        call = _Call("read a segment's members", rows="profile")
        await self._each_page(path, {}, call, take, ahead=ahead)

    async def count_segment_members(self, segment_id: str) -> int | None:
        """The member count from one page of one item (meta.pagination.total); None when the
        response has no total. Verification uses it: one request instead of a full read."""
        path = f"{_segment_path(segment_id)}/shopper-profiles"
        request = self._http.build_request("GET", path, params={"page": "1", "limit": "1"})
        response = await self._send(request, _Call("count a segment's members"))
        body = _json_or_none(response)
        meta = body.get("meta") if isinstance(body, dict) else None
        pagination = meta.get("pagination") if isinstance(meta, dict) else None
        total = pagination.get("total") if isinstance(pagination, dict) else None
        return total if isinstance(total, int) and not isinstance(total, bool) else None

    async def add_members(self, segment_id: str, profile_ids: Sequence[str]) -> None:
        """ONE POST of 1..50 profile ids; the caller chunks (see chunk_adds)."""
        path = f"{_segment_path(segment_id)}/shopper-profiles"
        if isinstance(profile_ids, str | bytes):
            raise ValueError("profile_ids must be a sequence of ids, not a single string")
        ids = list(profile_ids)
        if not 1 <= len(ids) <= MAX_ADD_BATCH:
            raise ValueError(f"add_members sends 1 to {MAX_ADD_BATCH} ids at once, not {len(ids)}")
        bad = next((i for i in ids if not is_uuid(i)), None)
        if bad is not None:
            raise ValueError(f"profile id {bad!r:.60} is not a UUID")
        if len({i.lower() for i in ids}) != len(ids):
            raise ValueError("profile ids in one batch must be distinct")
        request = self._http.build_request("POST", path, json=ids)
        await self._send(request, _Call("add members to a segment", batch=ids))

    async def remove_members(self, segment_id: str, profile_ids: Sequence[str]) -> None:
        """ONE DELETE of the given ids (see chunk_removals), built by build_removal_request."""
        request = build_removal_request(self._http, segment_id, profile_ids)
        batch = request.url.params[REMOVAL_PARAM].split(",")
        await self._send(request, _Call("remove members from a segment", batch=batch))

    async def create_segments(self, segments: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
        """ONE POST /segments of [{name, description?}]; returns the created segments.
        A duplicate name gives ConflictError."""
        body = [dict(s) for s in segments]
        if not body or any(not isinstance(s.get("name"), str) or not s["name"] for s in body):
            raise ValueError("create_segments needs at least one segment, each with a name")
        request = self._http.build_request("POST", "/segments", json=body)
        names = [s["name"] for s in body]
        response = await self._send(request, _Call("create segments", batch=names))
        return _data_list(self._what(request), response, required=False)

    async def update_segments(self, segments: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
        """ONE PUT /segments of [{id, name?, description?}]; returns the updated segments."""
        body = [dict(s) for s in segments]
        if not body or any(not is_uuid(s.get("id")) for s in body):
            raise ValueError("update_segments needs at least one segment, each with a UUID id")
        request = self._http.build_request("PUT", "/segments", json=body)
        ids = [s["id"] for s in body]
        response = await self._send(request, _Call("update segments", batch=ids))
        return _data_list(self._what(request), response, required=False)

    async def create_shopper_profiles(self, customer_ids: Sequence[int]) -> list[dict[str, Any]]:
        """ONE POST /shopper-profiles of [{customer_id}]; returns [{id, customer_id, ...}]."""
        ids = list(customer_ids)
        if not ids or any(isinstance(c, bool) or not isinstance(c, int) or c <= 0 for c in ids):
            raise ValueError("create_shopper_profiles needs registered customer ids (integers > 0)")
        request = self._http.build_request(
            "POST", "/shopper-profiles", json=[{"customer_id": c} for c in ids]
        )
        call = _Call("create shopper profiles", batch=[str(c) for c in ids])
        return _data_list(self._what(request), await self._send(request, call), required=False)

    async def list_customers(
        self,
        *,
        ids: Sequence[int] | None = None,
        emails: Sequence[str] | None = None,
        include: Sequence[str] = ("shopper_profile_id", "segment_ids"),
    ) -> list[dict[str, Any]]:
        """Customers by id or by email (GET /customers, v3), each with `shopper_profile_id` and
        `segment_ids` by default. Long filters are split so every query stays short."""
        if ids is not None and emails is not None:
            raise ValueError("list_customers filters by ids or by emails, not both")
        call = _Call("read customers", SCOPE_READ, rows="customer")
        base: dict[str, str] = {"include": ",".join(include)} if include else {}
        if ids is None and emails is None:
            return await self._paginate("/customers", base, call)
        if ids is not None:
            key = "id:in"
            values = [str(int(i)) for i in ids]
        else:
            key = "email:in"
            values = [e.strip() for e in emails or ()]  # as spelled: see CustomerRef
            if any("," in e or not e for e in values):
                raise ValueError("an email in the filter is empty or contains a comma")
        if not values:
            return []
        # Leave room for include/page/limit beside the filter.
        chunks = chunk_query_values(values, key, MAX_REMOVAL_QUERY_BYTES - 200)
        pages = await gather_cancelling(
            self._paginate("/customers", {**base, key: ",".join(c)}, call) for c in chunks
        )
        return _dedupe([c for page in pages for c in page])

    # ---- pagination ----------------------------------------------------------------------

    async def _paginate(
        self, path: str, params: Mapping[str, str], call: _Call
    ) -> list[dict[str, Any]]:
        pages: dict[int, list[dict[str, Any]]] = {}
        await self._each_page(path, params, call, pages.__setitem__)
        return _dedupe([item for page in sorted(pages) for item in pages[page]])

    async def _each_page(
        self, path: str, params: Mapping[str, str], call: _Call, take: PageSink, *, ahead: int = 0
    ) -> None:
        """Hand every page to `take(number, items)` as it arrives (in any order); pages
        2 to 1 + `ahead` are requested alongside page 1 (see each_segment_member_page)."""
        size = self._page_size
        # Tasks run only once this one waits: page 1 is ahead of them in the queue for a slot.
        built: dict[int, list[httpx.Request]] = {p: [] for p in range(2, 2 + max(0, ahead))}
        early = {
            page: asyncio.ensure_future(self._get_page(path, params, page, size, call, built[page]))
            for page in built
        }
        started = list(early.values())
        draining: list[asyncio.Future[_Page]] = []
        try:
            try:
                first, reported = await self._get_page(path, params, 1, size, call)
            except UnprocessableError as exc:
                if exc.status not in (400, 422) or size <= FALLBACK_PAGE_SIZE:
                    raise
                await cancel_and_wait(started)  # refused at this size too
                early = {}
                # Where the maximum isn't documented, 250 may be refused: use 50 from now
                # on, once 50 is taken. A 422 that is not about the limit (an unknown
                # segment may answer 422) is the error, and the page size stays.
                try:
                    first, reported = await self._get_page(
                        path, params, 1, FALLBACK_PAGE_SIZE, call
                    )
                except UnprocessableError:
                    raise exc from None
                logger.info(
                    "the API refused limit=%d on GET %s (%d); using limit=%d from now on",
                    size,
                    path,
                    exc.status,
                    FALLBACK_PAGE_SIZE,
                )
                self._page_size = size = FALLBACK_PAGE_SIZE
            take(1, first)
            last = max(reported or 1, 1)  # 0 pages: an empty collection is still page 1
            for page in [p for p in early if p > last]:
                # Past the end: not needed. Not on its way (not sent yet, or waiting to be
                # retried), it is cancelled; on its way, it runs to its answer, so its slot
                # is not taken while the store may still count it in flight (11 at once
                # could draw a 429).
                task = early.pop(page)
                if any(r.extensions.get(_SENDING) for r in built[page]):
                    for request in built[page]:
                        request.extensions[_DROPPED] = True  # one attempt, no retry
                    draining.append(task)
                else:
                    task.cancel()

            async def collect(page: int, answer: asyncio.Future[_Page]) -> None:
                try:
                    items, seen = await answer
                except ApiError:  # refused: maybe past the end when it was answered
                    items, seen = [], None
                if seen != reported:
                    # Answered while the segment had another size than page 1 says (it grew
                    # or shrank between the two): ask again rather than lose or fail a page.
                    items, _ = await self._get_page(path, params, page, size, call)
                take(page, items)

            # total_pages is known after page 1: fetch the rest concurrently. As many workers
            # as may be in flight, each building its next request only when it may send it:
            # a task per page would build every request up front, which delays the first
            # ones sent (400 pages at 100,000 members) and those of every other segment
            # read meanwhile.
            todo = iter(range(2 + len(early), last + 1))

            async def worker() -> None:
                for page in todo:
                    items, _ = await self._get_page(path, params, page, size, call)
                    take(page, items)

            workers = min(self.settings.max_in_flight, last - 1 - len(early))
            await gather_cancelling(
                [*(collect(page, answer) for page, answer in early.items())]
                + [worker() for _ in range(max(0, workers))]
            )
            # Answered with page 1 or soon after; their pages are dropped whatever they say.
            await asyncio.gather(*draining, return_exceptions=True)
        finally:
            # Whatever ended the read (a failed page, a `take` that raised, a cancel), no
            # page read ahead is left running or its failure unretrieved.
            await cancel_and_wait(started)

    async def _get_page(
        self,
        path: str,
        params: Mapping[str, str],
        page: int,
        size: int,
        call: _Call,
        built: list[httpx.Request] | None = None,
    ) -> _Page:
        """One page's items and the page count it reports (None: it reports none, so it
        is the only page). `built` gets the request, to tell later whether it went out."""
        request = self._http.build_request(
            "GET", path, params={**params, "page": str(page), "limit": str(size)}
        )
        if built is not None:
            built.append(request)
        response = await self._send(request, call)
        items = _data_list(self._what(request), response, required=True)
        if call.rows is not None:
            _check_ids(self._what(request), response, items, call.rows)
        body = _json_or_none(response)
        meta = body.get("meta") if isinstance(body, dict) else None
        pagination = meta.get("pagination") if isinstance(meta, dict) else None
        total_pages = pagination.get("total_pages") if isinstance(pagination, dict) else None
        if not isinstance(total_pages, int) or isinstance(total_pages, bool):
            return items, None
        return items, total_pages

    # ---- sending -------------------------------------------------------------------------

    async def _send(self, request: httpx.Request, call: _Call) -> httpx.Response:
        """The one way out: safety check, retries, then error mapping."""
        if request.method == "DELETE":
            check_removal_request(request)  # whatever built it, never a DELETE without ids
        start = self._clock()
        earlier: list[str] = []  # why each attempt before the last failed

        async def sleep(seconds: float) -> None:
            await self._unless_stopped(self._sleep(seconds), request, "was not retried", sent=True)

        retrying = AsyncRetrying(
            sleep=sleep,
            retry=(
                retry_if_exception(_worth_retrying)
                | retry_if_result(lambda r: r.status_code in RETRY_STATUSES)
            ),
            wait=self._retry_wait,
            stop=self._retry_stop,
            before_sleep=functools.partial(self._log_retry, request, earlier),
            retry_error_callback=functools.partial(self._give_up, request, start, earlier),
        )
        try:
            response: httpx.Response = await retrying(self._attempt, request)
        except httpx.RequestError as exc:  # not worth retrying (see _worth_retrying)
            raise NetworkError(self._scrub(self._not_retried(request, exc))) from None
        self._check_response(request, response, call)
        return response

    async def _attempt(self, request: httpx.Request) -> httpx.Response:
        async with self._semaphore:  # released while tenacity sleeps between attempts
            paused = await self._unless_stopped(
                self._limiter.acquire(),
                request,
                "was not sent",
                sent="trace" in request.extensions,  # set by an earlier attempt (a retry)
            )
            if paused:
                self.stats.rate_waits += 1
                self.stats.rate_wait_seconds += paused
            self.stats.requests += 1
            self.stats.in_flight += 1
            self.stats.max_in_flight = max(self.stats.max_in_flight, self.stats.in_flight)
            started = time.perf_counter()
            headers: httpx.Headers | None = None
            throttled = False
            written = self._report_written(request)
            request.extensions[_SENDING] = True
            request.extensions[_ANSWER] = None
            mark = _MARK.get()
            if mark is not None:
                mark.sent = True
            try:
                response = await self._http.send(request)
                request.extensions[_ANSWER] = response.status_code
                headers = response.headers
                throttled = response.status_code == 429 or response.status_code >= 500
            except (httpx.RequestError, ExceptionGroup) as exc:
                self.stats.network_errors += 1
                logger.debug(
                    "%s %s -> %s (%d ms)",
                    request.method,
                    self._path(request, query=True),
                    type(exc).__name__,
                    (time.perf_counter() - started) * 1000,
                )
                if isinstance(exc, ExceptionGroup):
                    raise self._group_failure(request, exc) from None
                raise
            finally:
                request.extensions[_SENDING] = False
                written()
                self.stats.in_flight -= 1
                self._limiter.release(headers, throttled=throttled)
        status = response.status_code
        self.stats.by_status[status] = self.stats.by_status.get(status, 0) + 1
        if status == 429:
            self.stats.rate_limited += 1
        logger.debug(
            "%s %s -> %d (%d ms)",
            request.method,
            self._path(request, query=True),
            status,
            (time.perf_counter() - started) * 1000,
        )
        return response

    def _report_written(self, request: httpx.Request) -> Callable[[], None]:
        """Have this attempt wake request_written once httpcore's trace says its body is
        sent; returns the call that does it when the attempt ends (a transport without
        that trace, or a failure before the body went out)."""

        async def trace(event: str, info: object) -> None:
            if event.endswith(".send_request_body.complete"):
                self._wrote.set()

        request.extensions["trace"] = trace
        return self._wrote.set

    def _backoff(self, attempt: int) -> float:
        # Exponential with jitter in [b/2, b]: growing, yet concurrent retries spread out.
        ceiling = min(BACKOFF_CAP, self.settings.backoff_base * 2 ** min(attempt - 1, 30))
        return ceiling * (0.5 + 0.5 * self._rng())

    def _retry_wait(self, state: RetryCallState) -> float:
        backoff = self._backoff(state.attempt_number)
        outcome = state.outcome
        if outcome is None or outcome.failed:
            return backoff
        response: httpx.Response = outcome.result()
        if response.status_code == 429:
            # With the headers: wait what they say. Without (or saying "now", which would
            # spend every retry at once): platform load, back off.
            hinted = _hinted_wait(response.headers)
            return hinted if hinted else backoff
        # A 5xx: back off, longer if the server asks for it (every response carries the
        # quota's reset time, which says nothing about a 5xx, so only X-Retry-After counts).
        return max(backoff, _seconds(response.headers.get(HEADER_RETRY_AFTER)) or 0.0)

    def _retry_stop(self, state: RetryCallState) -> bool:
        request = state.args[0] if state.args else None
        return (
            self._stopping
            or (isinstance(request, httpx.Request) and bool(request.extensions.get(_DROPPED)))
            or state.attempt_number > self.settings.max_retries
            or state.idle_for + state.upcoming_sleep > self.settings.max_retry_wait
        )

    def _log_retry(self, request: httpx.Request, earlier: list[str], state: RetryCallState) -> None:
        self.stats.retries += 1
        earlier.append(self._scrub(_outcome_reason(state)))
        logger.warning(
            "retrying %s %s in %.1f s (attempt %d of at most %d): %s",
            request.method,
            self._path(request),
            state.upcoming_sleep,
            state.attempt_number + 1,
            self.settings.max_retries + 1,
            earlier[-1],
        )

    def _give_up(
        self, request: httpx.Request, start: float, earlier: list[str], state: RetryCallState
    ) -> NoReturn:
        if self._stopping:
            raise self._stopped(request, "was not retried", sent=True)
        outcome = state.outcome
        failed = outcome is not None and outcome.failed
        attempts = state.attempt_number
        last = self._scrub(_outcome_reason(state))
        # "Kept answering 503" only when every attempt did; else what the last one got.
        if not earlier:
            why = last
        elif all(reason == last for reason in earlier):
            why = self._scrub(_outcome_reason(state, kept=True))
        else:
            why = f"on the last attempt, {last}"
        message = (
            f"gave up on {request.method} {self._path(request)} after {attempts} "
            f"attempt{'s' if attempts != 1 else ''} over {self._clock() - start:.0f} s: "
            f"{why}; {self._limit_reached(state)}"
        )
        if failed:
            raise NetworkError(message)
        raise RetriesExhaustedError(message)

    def _limit_reached(self, state: RetryCallState) -> str:
        """Which limit ended the retries, and the variable that sets it."""
        retries = self.settings.max_retries
        if state.attempt_number > retries:
            allowed = (
                "no retries" if retries == 0 else f"{retries} retr{'y' if retries == 1 else 'ies'}"
            )
            return f"{MAX_RETRIES_ENV} allows {allowed}"
        return (
            f"waiting {state.upcoming_sleep:.1f} s more would pass {MAX_RETRY_WAIT_ENV} "
            f"({self.settings.max_retry_wait:g} s of waiting in all)"
        )

    def _not_retried(self, request: httpx.Request, exc: httpx.RequestError) -> str:
        """The sentence for a failure given up at once: one that cannot heal within a run
        (see _hopeless), or one of httpx's own (an unsupported protocol, a proxy error)."""
        origin, what = _origin(request.url), self._what(request)
        kind, words = _kind(exc), _said(exc)
        custom = self.settings.api_url != DEFAULT_API_URL
        hint = "; check BIGCOMMERCE_API_URL" if custom else ""
        if kind == "dns":
            return f"cannot resolve host {request.url.host}: {words} ({what}){hint}"
        if kind == "tls":
            if words in _PLAIN_HTTP:  # what OpenSSL says when a plain-HTTP server answers
                hint = "; is the server speaking plain http://? check BIGCOMMERCE_API_URL"
            return f"TLS handshake with {origin} failed: {words} ({what}){hint}"
        detail = f"{type(exc).__name__}: {words}" if words else type(exc).__name__
        return f"could not send {what} to {origin}: {detail}"

    def _group_failure(self, request: httpx.Request, exc: ExceptionGroup[Any]) -> NetworkError:
        """What the transport's task group let through, not an httpx error (anyio's connect
        lets an OverflowError out so): a sentence, and not retried."""
        leaf = _causes(exc)[-1]
        where = f"{_origin(request.url)} for {self._what(request)}"
        reason = f"{type(leaf).__name__}: {_words(leaf)}"
        return NetworkError(self._scrub(f"could not connect to {where}: {reason}"))

    def _scrub(self, text: str) -> str:
        """The token never reaches a message: httpx puts only URLs into its errors (the
        token is a header), but a text of the OS's or a library's is not ours to vouch
        for. A stand-in shorter than MIN_SECRET_LENGTH is too common a string to replace
        (as in output.redact, which the CLI applies to everything it prints)."""
        token = self.settings.token
        return text if len(token) < MIN_SECRET_LENGTH else text.replace(token, "[REDACTED]")

    # ---- responses -----------------------------------------------------------------------

    def _what(self, request: httpx.Request) -> str:
        return f"{request.method} {self._path(request)}"

    def _path(self, request: httpx.Request, *, query: bool = False) -> str:
        """The path below /stores/{hash}/v3, for messages and logs (never headers)."""
        path = request.url.path
        if path.startswith(self._base_path):
            path = path[len(self._base_path) :] or "/"
        if query and request.url.query:
            path += "?" + request.url.query.decode("ascii", "replace")
        return path

    def _check_response(
        self, request: httpx.Request, response: httpx.Response, call: _Call
    ) -> None:
        status = response.status_code
        body = _json_or_none(response)
        what = f"{request.method} {self._path(request)}"
        segment_id = _segment_in_path(self._path(request))
        title = _title(body)
        said = f": {title.rstrip('.')}" if title else ""
        items = _item_errors(body, call.batch, segment_id)
        common: dict[str, Any] = {
            "status": status,
            "method": request.method,
            "path": self._path(request),
        }
        if 200 <= status < 300:
            if _partial_failure(body):
                raise UnprocessableError(
                    f"{what} partly failed ({status}){said}; {_count(items)} refused",
                    item_errors=items,
                    **common,
                )
            return
        if 300 <= status < 400:
            raise ApiError(
                f"{what} answered with a redirect ({status}); not following it, so the token is "
                "not sent elsewhere: check BIGCOMMERCE_API_URL",
                **common,
            )
        if status == 401:
            raise AuthenticationError(
                "the API rejected the access token (401); check BIGCOMMERCE_ACCESS_TOKEN", **common
            )
        if status == 403:
            # Customers v3 works on every plan; the segmentation family needs Enterprise.
            plan = (
                ""
                if common["path"].startswith("/customers")
                else ("; the Customer Segmentation API also needs an Enterprise plan")
            )
            raise PermissionDeniedError(
                f"the access token lacks the {call.scope} needed to {call.action} "
                f"(403 on {what}){plan}",
                **common,
            )
        # Some stores answer an unknown segment 422 (api-facts): one that says so is a 404.
        unknown = (
            status == 422
            and segment_id is not None
            and not items  # a partial answer naming refused items is about those
            and _SEGMENT_NOT_FOUND(title) is not None
        )
        if status == 404 or unknown:
            if segment_id is not None:
                thing = f"segment {segment_id} does not exist in store {self.settings.store_hash}"
            else:
                thing = f"store {self.settings.store_hash} was not found: check the store hash"
            raise NotFoundError(f"{thing} ({status} on {what})", **common)
        if status == 409:
            raise ConflictError(
                f"{what} was refused with a conflict (409){said}; {_count(items)} in conflict",
                item_errors=items,
                **common,
            )
        if status in (400, 422):
            raise UnprocessableError(
                f"{what} was refused as invalid ({status}){said}; {_count(items)} refused",
                item_errors=items,
                **common,
            )
        raise ApiError(f"{what} failed ({status}){said}", item_errors=items, **common)


def _count(items: Mapping[str, str]) -> str:
    return f"{len(items)} item{'s' if len(items) != 1 else ''}"


def _segment_path(segment_id: str) -> str:
    # A segment id goes into the path: anything but a UUID could name another resource.
    if not is_uuid(segment_id):
        raise ValueError(f"segment id {segment_id!r:.60} is not a UUID")
    return f"/segments/{segment_id}"


def _segment_in_path(path: str) -> str | None:
    parts = path.strip("/").split("/")
    if len(parts) >= 2 and parts[0] == "segments" and is_uuid(parts[1]):
        return parts[1]
    return None


def _seconds(value: str | None, scale: float = 1.0) -> float | None:
    if value is None:
        return None
    try:
        return max(0.0, float(value) / scale)
    except ValueError:
        return None


def _hinted_wait(headers: httpx.Headers) -> float | None:
    """The longer of X-Rate-Limit-Time-Reset-Ms and X-Retry-After (seconds), if either is set."""
    waits = [
        w
        for w in (
            _seconds(headers.get(HEADER_RESET_MS), 1000.0),
            _seconds(headers.get(HEADER_RETRY_AFTER)),
        )
        if w is not None
    ]
    return max(waits) if waits else None


def _outcome_reason(state: RetryCallState, *, kept: bool = False) -> str:
    outcome = state.outcome
    if outcome is None:
        return "no attempt was made"
    if outcome.failed:
        exc = outcome.exception()
        request = state.args[0] if state.args else None
        where = _origin(request.url) if isinstance(request, httpx.Request) else "the API"
        return _failure_reason(exc, where, kept=kept) if exc else "the attempt failed"
    status = outcome.result().status_code
    extra = " (rate limited)" if status == 429 else ""
    return f"the API {'kept answering' if kept else 'answered'} {status}{extra}"


# ---- connection failures -----------------------------------------------------------------

# How a failure of each kind reads: its subject, then once and every time.
_FAILURES = {
    "timeout": ("the connection to", "timed out", "kept timing out"),
    "decoding": ("the answer from", "could not be decoded", "kept failing to decode"),
    "other": ("the connection to", "failed", "kept failing"),
}
_SEGMENT_NOT_FOUND = re.compile(r"\bsegment\b.*\bnot found\b", re.IGNORECASE).search
_PLAIN_HTTP = frozenset({"wrong version number", "record layer failure", "packet length too long"})
_SSL_NOISE = re.compile(r"^\[[A-Z]+: [A-Z0-9_]+\] | \(_ssl\.c:\d+\)$")


def _failure_reason(exc: BaseException, where: str, *, kept: bool) -> str:
    """E.g. `the connection to https://x.example failed (ConnectError: Connection refused)`:
    the host (never the token: the URL holds none) and the OS's words for what happened."""
    subject, once, again = _FAILURES.get(_kind(exc), _FAILURES["other"])
    said = _said(exc)
    detail = f"{type(exc).__name__}: {said}" if said else type(exc).__name__
    return f"{subject} {where} {again if kept else once} ({detail})"


def _worth_retrying(exc: BaseException) -> bool:
    return isinstance(exc, RETRY_EXCEPTIONS) and not _hopeless(exc)


def _hopeless(exc: BaseException) -> bool:
    """A failure no retry within a run can heal: a host name that does not resolve, a TLS
    handshake that cannot succeed (a certificate refused, a server that speaks no TLS)."""
    return _kind(exc) in ("dns", "tls")


def _kind(exc: BaseException) -> str:
    """dns, tls (both only while connecting), timeout, decoding or other."""
    if isinstance(exc, httpx.ConnectError):
        for cause in _causes(exc):
            if isinstance(cause, socket.gaierror):
                # EAI_AGAIN is the resolver failing for now, not the name being unknown.
                return "other" if cause.errno == socket.EAI_AGAIN else "dns"
            if isinstance(cause, ssl.SSLError):
                # Only a certificate refused or a server that speaks no TLS is for good;
                # an alert (internal_error from a loaded terminator) or a hang-up
                # mid-handshake may pass, as other connection failures may.
                cert = isinstance(cause, ssl.SSLCertVerificationError)
                return "tls" if cert or _words(cause) in _PLAIN_HTTP else "other"
    if isinstance(exc, httpx.TimeoutException):
        return "timeout"
    if isinstance(exc, httpx.DecodingError):
        return "decoding"
    return "other"


def _causes(exc: BaseException) -> list[BaseException]:
    """`exc` and what it wraps, outermost first: httpx's error wraps httpcore's, which wraps
    the socket's or ssl's, or anyio's group of one error per address tried."""
    found: list[BaseException] = []
    todo = [exc]
    while todo and len(found) < 32:  # a bound, should a chain ever loop
        cause = todo.pop(0)
        if any(cause is seen for seen in found):
            continue
        found.append(cause)
        if isinstance(cause, BaseExceptionGroup):
            todo.extend(cause.exceptions)
        # The context even when suppressed: httpcore's pool re-raises its error `from None`,
        # which hides the OS's error it was raised from.
        wrapped = cause.__cause__ or cause.__context__
        if wrapped is not None:
            todo.append(wrapped)
    return found


def _said(exc: BaseException) -> str:
    """The most telling words in the chain: the TLS library's or the resolver's, else the
    OS's error (`Connection refused`), else the innermost message."""
    causes = _causes(exc)
    for cause in causes:
        if isinstance(cause, ssl.SSLError | socket.gaierror):
            return _words(cause)
    for cause in causes:
        if isinstance(cause, OSError) and isinstance(cause.errno, int) and cause.errno > 0:
            return _words(cause)
    return _words(causes[-1])


def _words(exc: BaseException) -> str:
    if isinstance(exc, ssl.SSLCertVerificationError) and exc.verify_message:
        return f"certificate verify failed: {exc.verify_message}".rstrip(".")
    if isinstance(exc, ssl.SSLError):
        return _SSL_NOISE.sub("", str(exc)) or str(exc.reason or type(exc).__name__)
    if isinstance(exc, socket.gaierror) and exc.strerror:
        return exc.strerror
    if isinstance(exc, OSError) and isinstance(exc.errno, int) and exc.errno > 0:
        return os.strerror(exc.errno)  # asyncio's own text names the address, not the cause
    return str(exc).strip().rstrip(".")


def _origin(url: httpx.URL) -> str:
    """scheme://host[:port], for messages (the API URL has no credentials: see
    ClientSettings)."""
    return f"{url.scheme}://{url.netloc.decode('ascii')}"


def _data_list(what: str, response: httpx.Response, *, required: bool) -> list[dict[str, Any]]:
    body = _json_or_none(response)
    data = body.get("data") if isinstance(body, dict) else None
    if isinstance(data, list) and all(isinstance(d, dict) for d in data):
        return data
    if not required and data is None:
        return []
    raise _malformed(what, response, "without the expected `data` list")


# Each kind of row a read answers: how a message names one, and whether its id is valid.
_ROW_IDS: dict[str, tuple[str, Callable[[object], bool]]] = {
    "segment": ("a segment", lambda v: isinstance(v, str) and bool(v.strip())),
    "profile": ("a shopper profile", lambda v: isinstance(v, str) and bool(v.strip())),
    "customer": ("a customer", lambda v: isinstance(v, int) and not isinstance(v, bool)),
}


def _check_ids(what: str, response: httpx.Response, rows: list[dict[str, Any]], kind: str) -> None:
    """Every row has its id: a row without one names a member or a segment nobody can
    act on, so the whole answer is refused (a sentence, not a KeyError later)."""
    noun, valid = _ROW_IDS[kind]
    bad = next((row for row in rows if not valid(row.get("id"))), None)
    if bad is None:
        return
    value = bad.get("id")
    problem = "without an id" if value is None else f"whose id is invalid ({value!r:.40})"
    raise _malformed(what, response, f"with {noun} {problem}")


def _malformed(what: str, response: httpx.Response, problem: str) -> MalformedResponseError:
    method, _, path = what.partition(" ")
    return MalformedResponseError(
        f"{what} answered {response.status_code} {problem}",
        status=response.status_code,
        method=method,
        path=path,
    )


def _dedupe(items: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    # Pages fetched concurrently can overlap if the collection shifts between requests.
    seen: set[object] = set()
    result = []
    for item in items:
        key = item.get("id")
        if key is not None:
            if key in seen:
                continue
            seen.add(key)
        result.append(item)
    return result


def _tls_context(base_url: str) -> ssl.SSLContext | bool:
    """Plain http:// (allowed only to loopback, see ClientSettings) makes no TLS connection:
    a context that trusts no certificate at all spares loading the CA bundle (25 ms of every
    run against the sandbox). https:// gets httpx's default verification."""
    if httpx.URL(base_url).scheme == "http":
        return ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # verifies hostnames, trusts nothing
    return True


async def cancel_and_wait(tasks: Iterable[asyncio.Future[Any]]) -> None:
    """Cancel these tasks and wait for them, their outcomes dropped (none left running,
    no failure left unretrieved)."""
    pending = list(tasks)
    for task in pending:
        task.cancel()
    await asyncio.gather(*pending, return_exceptions=True)


async def gather_cancelling(aws: Iterable[Awaitable[T]]) -> list[T]:
    """asyncio.gather that cancels the siblings when one fails (no orphaned requests)."""
    tasks = [asyncio.ensure_future(a) for a in aws]
    try:
        return list(await asyncio.gather(*tasks))
    except BaseException:
        await cancel_and_wait(tasks)
        raise
