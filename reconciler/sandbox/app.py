"""The sandbox's HTTP surface: the endpoints reconciler uses, with the API's rules.

Every request goes through `SandboxApp.__call__`, which enforces the in-flight limit, the
rate quota and auth, adds the rate-limit headers, injects the configured faults (see
faults.py) and records one log entry (never a header, so never the token). Handlers only
see admitted requests.

Choices where BigCommerce's documentation is silent (a client must cope with the others):
- Order of the gates: in-flight limit and quota (429) first, then auth (401), then the
  store hash (404), then routing (404/405), then the handler.
- Every request costs one unit of the quota, refused ones (429, 401, 404) included, as the
  rate-limit guide says of the real API; a 429 for the quota carries `X-Retry-After`
  (whole seconds, rounded up), a 429 for the in-flight limit does not.
- In-flight: a request counts from its arrival until its response is ready; one arriving
  while `max_in_flight` are being handled gets 429 and changes nothing. The log records
  the count at arrival including the request itself (so a refused one shows 11).
- Empty collections answer `total_pages: 0` (as the customers spec's example does) with
  `current_page` echoing the page asked for; a page past the end is empty, not an error.
- An unknown segment: 404 (`unknown_segment_status` 422 plays the other answer the API
  may give). PUT /segments with an unknown id: that status, nothing updated; an id given
  twice: 422. Renaming onto an existing name: 409 in the conflict shape, nothing updated.
- POST /segments/{id}/shopper-profiles: 409 (any already-member) is atomic; 422 (unknown or
  malformed ids) is a partial success that adds the valid ids. With both kinds in one
  batch, 409 wins and nothing is added. An id given twice in one batch is added once.
- Bad JSON or a body of the wrong type: 400. A well-formed but unacceptable body: 422.
- `id:in` accepts both `id:in=a,b` and the exploded `id:in=a&id:in=b`. A DELETE whose
  `id:in` is missing or holds no id deletes EVERYTHING in scope, like the real API; the log
  marks it `trap: true` and a warning is logged. A GET's empty `id:in` is ignored the same
  way: the whole collection is listed.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.types import Receive, Scope, Send

from reconciler.errors import SettingsError
from reconciler.sandbox.faults import FaultConfig, FaultInjector, close_connection, send_partial
from reconciler.sandbox.store import MAX_SEGMENTS, SandboxStore, now

log = logging.getLogger("reconciler.sandbox")

MAX_ADD = 50
ERROR_TYPE = "https://developer.bigcommerce.com/api-docs/getting-started/api-status-codes"
# Fields every v3 customer carries; the store keeps only the ones reconciler reads.
CUSTOMER_DEFAULTS: dict[str, Any] = {
    "company": "",
    "phone": "",
    "notes": "",
    "registration_ip_address": "",
    "tax_exempt_category": "",
    "customer_group_id": 0,
    "address_count": 0,
    "attribute_count": 0,
    "accepts_product_review_abandoned_cart_emails": False,
}
UUID_RE = re.compile(r"^[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$")


@dataclass
class SandboxConfig:
    store_hash: str = "sandbox"
    token: str = "sandbox-token"
    max_in_flight: int = 10
    quota: int | None = None  # requests per window; None: effectively unlimited
    window_ms: int = 30_000
    latency_ms: int = 0  # each answer is held until this long after its request arrived
    max_page_limit: int = 250
    default_page_limit: int = 50
    state_file: Path | None = None
    log_file: Path | None = None
    faults: FaultConfig | None = None  # injected faults (see faults.py); None: a healthy API
    unknown_segment_status: int = 404  # the API may answer 404 or 422: both are played

    def __post_init__(self) -> None:
        if self.quota is not None and self.quota < 1:
            raise SettingsError("the quota must be 1 or more requests a window")
        if self.window_ms < 1:
            raise SettingsError("the window must be 1 ms or more")
        if self.latency_ms < 0:
            raise SettingsError("the latency cannot be negative")
        if self.unknown_segment_status not in (404, 422):
            raise SettingsError("an unknown segment is answered with 404 or 422")


class ApiError(Exception):
    def __init__(self, status: int, title: str, body: dict[str, Any] | None = None) -> None:
        super().__init__(title)
        self.status, self.title, self.body = status, title, body


def error_body(status: int, title: str) -> dict[str, Any]:
    return {"status": status, "title": title, "type": ERROR_TYPE, "errors": {}}


def batch_error(
    status: int, title: str, errors: dict[str, str], total: int, data: list[Any] | None = None
) -> dict[str, Any]:
    """The list shape the spec documents for 409 (and the newer spec for 422)."""
    return {
        "data": data or [],
        "errors": [{"status": status, "title": title, "type": ERROR_TYPE, "errors": errors}],
        "meta": {"total": total, "success": len(data or []), "failed": len(errors)},
    }


class SandboxApp:
    def __init__(self, store: SandboxStore, config: SandboxConfig) -> None:
        self.store = store
        self.config = config
        self.log: list[dict[str, Any]] = []
        # Tests set this to act as "another actor" just before a request is handled.
        self.before_handler: Callable[[str, str], None] | None = None
        self.faults: FaultInjector | None = None
        self.set_faults(config.faults)
        self.in_flight = 0
        self._seq = 0
        self._window_start = time.monotonic()
        self._window_used = 0
        self.routes: list[tuple[str, re.Pattern[str], Callable[..., Awaitable[Response]]]] = [
            ("GET", re.compile(r"^/segments$"), self.list_segments),
            ("POST", re.compile(r"^/segments$"), self.create_segments),
            ("PUT", re.compile(r"^/segments$"), self.update_segments),
            ("DELETE", re.compile(r"^/segments$"), self.delete_segments),
            ("GET", re.compile(r"^/segments/([^/]+)/shopper-profiles$"), self.list_members),
            ("POST", re.compile(r"^/segments/([^/]+)/shopper-profiles$"), self.add_members),
            ("DELETE", re.compile(r"^/segments/([^/]+)/shopper-profiles$"), self.remove_members),
            ("GET", re.compile(r"^/shopper-profiles$"), self.list_profiles),
            ("POST", re.compile(r"^/shopper-profiles$"), self.create_profiles),
            ("DELETE", re.compile(r"^/shopper-profiles$"), self.delete_profiles),
            ("GET", re.compile(r"^/customers$"), self.list_customers),
        ]

    def set_faults(self, faults: FaultConfig | None) -> None:
        """Start (or stop, with None) injecting faults; takes effect with the next request."""
        self.config.faults = faults
        self.faults = FaultInjector(faults) if faults is not None and faults.active else None

    # --- the gate every request passes ---------------------------------------------------
    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        request = Request(scope, receive)
        t_start = time.monotonic()
        self._seq += 1
        faults = self.faults
        fault = faults.decide(self._seq, request.method) if faults is not None else None
        record: dict[str, Any] = {
            "seq": self._seq,
            "method": request.method,
            "path": request.url.path,
            "query": parse_qs(request.url.query, keep_blank_values=True),
            "status": 0,
            "ids": 0,
            # at arrival, counting this request: a refused one shows max_in_flight + 1
            "in_flight": self.in_flight + 1,
            "trap": False,
            "t_start": t_start,
            "t_end": t_start,
        }
        if fault is not None:
            record["fault"] = fault
        if request.method == "DELETE":  # counted here too, for DELETEs a fault refuses
            self._id_in(request, record)
        self.log.append(record)
        admitted = self.in_flight < self.config.max_in_flight
        if admitted:
            self.in_flight += 1
        try:
            # The whole request is received before any delay, as a real server would: a
            # client that goes away afterwards (killed, timed out) doesn't undo its request.
            await request.body()
            if faults is not None and faults.config.jitter_ms:
                await asyncio.sleep(faults.extra_latency())
            if faults is not None and fault in ("error", "429", "429_bare"):
                self._window_used += 1  # a refused request costs a unit too
                response = faults.refusal(fault, self._quota_headers())
            else:
                response = await self._handle(request, record, admitted)
        except ClientDisconnect:  # gone before its request was even received in full
            record["status"] = 499
            record["t_end"] = time.monotonic()
            self._write_log(record)
            return
        finally:
            if admitted:
                self.in_flight -= 1
        record["status"] = response.status_code
        record["t_end"] = time.monotonic()
        if fault == "drop" and not response.body:
            record["fault"] = fault = "lost"  # no body to cut: nothing will be sent
        self._write_log(record)
        if fault == "lost":  # the change is made; the client never hears of it
            await close_connection(send)
        elif fault == "drop":  # the change is made; the response stops halfway
            await send_partial(response, send)
        else:
            if fault == "slow" and faults is not None:
                await asyncio.sleep(faults.config.slow_response_s)
            await response(scope, receive, send)

    @property
    def quota(self) -> int:
        return 10_000_000 if self.config.quota is None else self.config.quota

    def _quota_headers(self) -> dict[str, str]:
        quota = self.quota
        window = self.config.window_ms / 1000
        now_ = time.monotonic()
        if now_ - self._window_start >= window:
            elapsed_windows = math.floor((now_ - self._window_start) / window)
            self._window_start += elapsed_windows * window
            self._window_used = 0
        reset_ms = max(0, int((self._window_start + window - now_) * 1000))
        return {
            "X-Rate-Limit-Requests-Left": str(max(0, quota - self._window_used)),
            "X-Rate-Limit-Requests-Quota": str(quota),
            "X-Rate-Limit-Time-Reset-Ms": str(reset_ms),
            "X-Rate-Limit-Time-Window-Ms": str(self.config.window_ms),
        }

    async def _handle(self, request: Request, record: dict[str, Any], admitted: bool) -> Response:
        headers = self._quota_headers()
        quota = self.quota
        over_quota = self._window_used >= quota
        self._window_used += 1  # every request costs a unit, refused ones too
        headers["X-Rate-Limit-Requests-Left"] = str(max(0, quota - self._window_used))
        # The latency is the API's whole time on a request, its work included: the answer
        # is held until `latency_ms` after the request was received, however long the
        # emulator itself took (a real store's own work is part of its latency).
        ready_at = time.monotonic() + self.config.latency_ms / 1000
        response = await self._respond(request, record, headers, over_quota, admitted)
        if self.config.latency_ms and admitted:
            await asyncio.sleep(max(0.0, ready_at - time.monotonic()))
        return response

    async def _respond(
        self,
        request: Request,
        record: dict[str, Any],
        headers: dict[str, str],
        over_quota: bool,
        admitted: bool,
    ) -> Response:
        if over_quota:
            reset_s = int(headers["X-Rate-Limit-Time-Reset-Ms"]) / 1000
            headers["X-Retry-After"] = str(max(1, math.ceil(reset_s)))
            return JSONResponse(error_body(429, "Too many requests"), 429, headers)
        if not admitted:
            return JSONResponse(error_body(429, "Too many concurrent requests"), 429, headers)
        prefix = f"/stores/{self.config.store_hash}/v3"
        path = request.url.path
        if request.headers.get("x-auth-token") != self.config.token:
            return JSONResponse(error_body(401, "You are not authorized."), 401, headers)
        if not path.startswith(prefix + "/"):
            return JSONResponse(error_body(404, "Store not found"), 404, headers)
        sub = path[len(prefix) :]
        try:
            for method, pattern, handler in self.routes:
                match = pattern.match(sub)
                if match and method == request.method:
                    if self.before_handler is not None:
                        self.before_handler(method, sub)
                    response = await handler(request, record, *match.groups())
                    break
            else:
                known = any(p.match(sub) for _, p, _ in self.routes)
                if known:
                    response = JSONResponse(error_body(405, "Method not allowed."), 405)
                else:
                    response = JSONResponse(error_body(404, "Not found."), 404)
        except ApiError as exc:
            body = exc.body if exc.body is not None else error_body(exc.status, exc.title)
            response = JSONResponse(body, exc.status)
        except Exception:  # a sandbox bug: answer like the API would, and say so loudly
            log.exception("sandbox error handling %s %s", request.method, path)
            response = JSONResponse(error_body(500, "Internal server error."), 500)
        response.headers.update(headers)
        return response

    def _write_log(self, record: dict[str, Any]) -> None:
        if self.config.log_file is not None:
            with self.config.log_file.open("a", encoding="utf-8") as fh:
                fh.write(json.dumps(record) + "\n")

    def _saved(self) -> None:
        if self.config.state_file is not None:
            self.store.save(self.config.state_file)

    # --- helpers -------------------------------------------------------------------------
    def _page(
        self,
        request: Request,
        items: list[Any],
        render: Callable[[Any], dict[str, Any]] = dict,
    ) -> JSONResponse:
        """One page of `items`; only the page's rows are rendered, so paging through a
        large segment costs O(page), not O(segment), per request."""
        q = request.query_params
        try:
            limit = int(q.get("limit", self.config.default_page_limit))
            page = int(q.get("page", 1))
        except ValueError:
            raise ApiError(422, "The limit and page parameters must be integers.") from None
        if limit < 1 or limit > self.config.max_page_limit:
            raise ApiError(422, f"The limit must be between 1 and {self.config.max_page_limit}.")
        if page < 1:
            raise ApiError(422, "The page must be 1 or more.")
        total = len(items)
        total_pages = math.ceil(total / limit)
        chunk = [render(item) for item in items[(page - 1) * limit : page * limit]]
        links = {"current": f"?page={page}&limit={limit}"}
        if page < total_pages:
            links["next"] = f"?page={page + 1}&limit={limit}"
        if page > 1:
            links["previous"] = f"?page={page - 1}&limit={limit}"
        meta = {
            "pagination": {
                "total": total,
                "count": len(chunk),
                "per_page": limit,
                "current_page": page,
                "total_pages": total_pages,
                "links": links,
            }
        }
        return JSONResponse({"data": chunk, "meta": meta})

    @staticmethod
    def _id_in(request: Request, record: dict[str, Any], name: str = "id:in") -> list[str] | None:
        """`id:in=a,b` and the exploded `id:in=a&id:in=b`; None when absent."""
        values = record["query"].get(name)
        if values is None:
            return None
        ids = [v.strip() for value in values for v in value.split(",") if v.strip()]
        record["ids"] = len(ids)
        return ids

    async def _json(self, request: Request) -> Any:
        try:
            return json.loads(await request.body())
        except ValueError:
            raise ApiError(400, "The request body is not valid JSON.") from None

    def _segment(self, segment_id: str) -> dict[str, Any]:
        seg = self.store.segments.get(segment_id.lower())
        if seg is None:
            raise ApiError(self.config.unknown_segment_status, f"Segment {segment_id} not found.")
        return seg

    # --- segments ------------------------------------------------------------------------
    async def list_segments(self, request: Request, record: dict[str, Any]) -> Response:
        ids = self._id_in(request, record)
        with self.store.lock:
            items = list(self.store.segments.values())
            if ids:  # an empty filter is no filter (see the DELETE trap)
                wanted = {i.lower() for i in ids}
                items = [s for s in items if s["id"] in wanted]
            return self._page(request, items)

    async def create_segments(self, request: Request, record: dict[str, Any]) -> Response:
        body = await self._json(request)
        if not isinstance(body, list) or not body:
            raise ApiError(422, "The body must be a non-empty array of segments.")
        for i, item in enumerate(body):
            if not isinstance(item, dict) or not isinstance(item.get("name"), str):
                raise ApiError(422, f"Segment {i} needs a name (a string).")
            if not isinstance(item.get("description", ""), str):
                raise ApiError(422, f"The description of segment {i} must be a string.")
        with self.store.lock:
            names = {s["name"] for s in self.store.segments.values()}
            errors = {}
            for i, item in enumerate(body):
                if item["name"] in names:
                    errors[str(i)] = f"A segment named `{item['name']}` already exists."
                names.add(item["name"])
            if errors:  # atomic: none of the batch is created
                raise ApiError(
                    409,
                    "",
                    batch_error(
                        409, "Cannot have multiple segments with the same name.", errors, len(body)
                    ),
                )
            if len(self.store.segments) + len(body) > MAX_SEGMENTS:
                raise ApiError(422, f"A store can have at most {MAX_SEGMENTS} segments.")
            created = [
                self.store.add_segment(i["name"], i.get("description", "") or "") for i in body
            ]
        self._saved()
        return JSONResponse({"data": created, "meta": {}}, 201)

    async def update_segments(self, request: Request, record: dict[str, Any]) -> Response:
        body = await self._json(request)
        if not isinstance(body, list) or not body:
            raise ApiError(422, "The body must be a non-empty array of segments.")
        for i, item in enumerate(body):
            if not isinstance(item, dict) or not isinstance(item.get("id"), str):
                raise ApiError(422, f"Segment {i} needs an id.")
            for key in ("name", "description"):
                if key in item and not isinstance(item[key], str):
                    raise ApiError(422, f"The {key} of segment {i} must be a string.")
        with self.store.lock:
            # Check the whole batch first, so a refused batch changes nothing.
            seen: set[str] = set()
            for item in body:
                sid = item["id"].lower()
                if sid in seen:
                    raise ApiError(422, f"Segment {item['id']} is given more than once.")
                seen.add(sid)
                self._segment(sid)
            names = {sid: s["name"] for sid, s in self.store.segments.items()}
            for item in body:
                if "name" in item:
                    names[item["id"].lower()] = item["name"]
            taken: dict[str, int] = {}
            for name in names.values():
                taken[name] = taken.get(name, 0) + 1
            errors = {
                str(i): f"A segment named `{item['name']}` already exists."
                for i, item in enumerate(body)
                if "name" in item and taken[item["name"]] > 1
            }
            if errors:
                raise ApiError(
                    409,
                    "",
                    batch_error(
                        409, "Cannot have multiple segments with the same name.", errors, len(body)
                    ),
                )
            updated = []
            for item in body:
                seg = self.store.segments[item["id"].lower()]
                for key in ("name", "description"):
                    if key in item:
                        seg[key] = item[key]
                seg["updated_at"] = now()
                updated.append(dict(seg))
        self._saved()
        return JSONResponse({"data": updated, "meta": {}}, 201)  # 201 (sic), as documented

    async def delete_segments(self, request: Request, record: dict[str, Any]) -> Response:
        ids = self._id_in(request, record)
        if not ids:
            record["trap"] = True
            log.warning("DELETE /segments without id:in: EVERY segment is deleted")
        self.store.delete_segments(ids or None)
        self._saved()
        return Response(status_code=204)

    # --- a segment's shopper profiles ------------------------------------------------
    async def list_members(self, request: Request, record: dict[str, Any], sid: str) -> Response:
        with self.store.lock:
            self._segment(sid)
            ids = list(self.store.memberships[sid.lower()])
            profiles = self.store.profiles
            return self._page(request, ids, lambda pid: dict(profiles[pid]))

    async def add_members(self, request: Request, record: dict[str, Any], sid: str) -> Response:
        body = await self._json(request)
        if not isinstance(body, list):
            raise ApiError(400, "The body must be an array of shopper profile ids.")
        record["ids"] = len(body)
        if not body:
            raise ApiError(422, "At least one shopper profile id is required.")
        if len(body) > MAX_ADD:
            raise ApiError(422, f"At most {MAX_ADD} shopper profiles can be added per request.")
        with self.store.lock:
            seg = self._segment(sid)
            members = self.store.memberships[seg["id"]]
            conflicts, unknown, valid = {}, {}, []
            for i, pid in enumerate(body):
                key = pid.lower() if isinstance(pid, str) else None
                if key is None or not UUID_RE.match(key) or key not in self.store.profiles:
                    shown = pid if isinstance(pid, str) else json.dumps(pid)
                    unknown[str(i)] = f"Shopper profile `{shown}` does not exist."
                elif key in members:
                    conflicts[str(i)] = (
                        f"Shopper profile `{key}` already exists for segment `{seg['id']}`."
                    )
                else:
                    valid.append(key)
            if conflicts:  # atomic: nothing from this batch is added
                raise ApiError(
                    409,
                    "",
                    batch_error(
                        409,
                        "Unable to add shopper profiles to segment due to conflicts.",
                        conflicts,
                        len(body),
                    ),
                )
            added = []
            for key in dict.fromkeys(valid):
                members[key] = None
                added.append(dict(self.store.profiles[key]))
        if added:
            self._saved()
        if unknown:  # partial success: the valid ones were added
            raise ApiError(
                422,
                "",
                batch_error(
                    422, "Unable to add shopper profiles to segment.", unknown, len(body), added
                ),
            )
        return JSONResponse({"data": added}, 201)

    async def remove_members(self, request: Request, record: dict[str, Any], sid: str) -> Response:
        ids = self._id_in(request, record)
        with self.store.lock:
            seg = self._segment(sid)
            if not ids:
                # The real API's trap, emulated faithfully so a client bug shows in tests.
                record["trap"] = True
                removed = self.store.remove_members(seg["id"], None)
                log.warning(
                    "DELETE without id:in EMPTIED segment %s (%d members removed)",
                    seg["id"],
                    removed,
                )
            else:
                self.store.remove_members(seg["id"], ids)
        self._saved()
        return Response(status_code=204)

    # --- shopper profiles and customers ----------------------------------------------
    async def list_profiles(self, request: Request, record: dict[str, Any]) -> Response:
        with self.store.lock:
            return self._page(request, list(self.store.profiles.values()))

    async def create_profiles(self, request: Request, record: dict[str, Any]) -> Response:
        body = await self._json(request)
        if not isinstance(body, list) or not body:
            raise ApiError(422, "The body must be a non-empty array.")
        with self.store.lock:
            errors: dict[str, str] = {}
            conflicts: dict[str, str] = {}
            seen: dict[int, None] = {}  # an ordered set: profiles come back in body order
            for i, item in enumerate(body):
                cid = item.get("customer_id") if isinstance(item, dict) else None
                if isinstance(cid, float) and cid.is_integer():
                    cid = int(cid)  # the spec types customer_id as a number
                if isinstance(cid, bool) or not isinstance(cid, int):
                    errors[str(i)] = f"Customer `{json.dumps(cid)}` does not exist."
                elif cid not in self.store.customers:
                    errors[str(i)] = f"Customer `{cid}` does not exist."
                elif cid in seen or self.store.profile_of(cid) is not None:
                    conflicts[str(i)] = f"Customer `{cid}` already has a shopper profile."
                else:
                    seen[cid] = None
            if conflicts:
                raise ApiError(
                    409,
                    "",
                    batch_error(
                        409,
                        "Unable to create shopper profiles due to conflicts.",
                        conflicts,
                        len(body),
                    ),
                )
            if errors:
                raise ApiError(
                    422,
                    "",
                    batch_error(422, "Unable to create shopper profiles.", errors, len(body)),
                )
            created = [self.store.add_profile(cid) for cid in seen]
        self._saved()
        return JSONResponse({"data": created, "meta": {}}, 201)

    async def delete_profiles(self, request: Request, record: dict[str, Any]) -> Response:
        ids = self._id_in(request, record)
        if not ids:
            record["trap"] = True
            log.warning("DELETE /shopper-profiles without id:in: EVERY profile is deleted")
        self.store.delete_profiles(ids or None)
        self._saved()
        return Response(status_code=204)

    async def list_customers(self, request: Request, record: dict[str, Any]) -> Response:
        id_values = record["query"].get("id:in")
        ids: set[int] | None = None
        parts = [v.strip() for value in id_values or () for v in value.split(",") if v.strip()]
        if parts:  # an empty filter is no filter (see the DELETE trap)
            if not all(p.isdigit() for p in parts):
                raise ApiError(422, "The id:in filter takes customer ids (integers).")
            ids = {int(p) for p in parts}
            record["ids"] = len(parts)
        email_values = record["query"].get("email:in")
        emails = [e.strip() for value in email_values or () for e in value.split(",") if e.strip()]
        include = {part for v in record["query"].get("include", []) for part in v.split(",")}
        with self.store.lock:
            items = list(self.store.customers.values())
            if ids is not None:
                items = [c for c in items if c["id"] in ids]
            if emails:
                wanted_emails = {e.lower() for e in emails}
                items = [c for c in items if c["email"].lower() in wanted_emails]
            store = self.store

            def render(customer: dict[str, Any]) -> dict[str, Any]:
                row = {**CUSTOMER_DEFAULTS, **customer}
                profile = store.profile_of(customer["id"])
                if "shopper_profile_id" in include:
                    row["shopper_profile_id"] = profile["id"] if profile else None
                if "segment_ids" in include:
                    row["segment_ids"] = store.segments_of(profile["id"]) if profile else []
                return row

            return self._page(request, items, render)


def create_app(store: SandboxStore, config: SandboxConfig | None = None) -> SandboxApp:
    return SandboxApp(store, config or SandboxConfig())
