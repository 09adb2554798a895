"""The sandbox keeps the API's rules; tests here talk to its ASGI app directly."""

from __future__ import annotations

import asyncio
import json
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from jsonschema import Draft7Validator

from reconciler.sandbox.app import SandboxApp, SandboxConfig, create_app
from reconciler.sandbox.server import SandboxServer
from reconciler.sandbox.store import SandboxStore
from tests.conftest import REFERENCE

BASE = "/stores/sandbox/v3"
TOKEN = "sandbox-token"


def make(n_profiles: int = 0, **config: Any) -> tuple[SandboxStore, SandboxApp, list[str]]:
    store = SandboxStore()
    ids = []
    for i in range(n_profiles):
        customer = store.add_customer(email=f"Shopper{i}@Example.com")
        ids.append(store.add_profile(customer["id"])["id"])
    return store, create_app(store, SandboxConfig(**config)), ids


def call(app: SandboxApp, method: str, path: str, **kw: Any) -> httpx.Response:
    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://sandbox") as c:
            headers = {"X-Auth-Token": TOKEN, **kw.pop("headers", {})}
            return await c.request(method, BASE + path, headers=headers, **kw)

    return asyncio.run(go())


def test_pagination_meta_and_limits() -> None:
    store, app, ids = make(120)
    sid = store.add_segment("VIP")["id"]
    store.add_members(sid, ids)
    r = call(app, "GET", f"/segments/{sid}/shopper-profiles", params={"limit": 50, "page": 3})
    meta = r.json()["meta"]["pagination"]
    assert (meta["total"], meta["count"], meta["total_pages"], meta["current_page"]) == (
        120,
        20,
        3,
        3,
    )
    assert [p["id"] for p in r.json()["data"]] == ids[100:]
    assert "next" not in meta["links"]
    default = call(app, "GET", f"/segments/{sid}/shopper-profiles")
    assert default.json()["meta"]["pagination"]["per_page"] == 50
    assert call(app, "GET", "/segments", params={"limit": 251}).status_code == 422
    assert call(app, "GET", "/segments", params={"limit": 250}).status_code == 200


def test_auth_store_and_segment_errors() -> None:
    _, app, _ = make()
    assert call(app, "GET", "/segments", headers={"X-Auth-Token": "nope"}).status_code == 401
    r = call(app, "GET", f"/segments/{uuid.uuid4()}/shopper-profiles")
    assert r.status_code == 404 and r.json()["status"] == 404

    async def other_store() -> int:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app)) as c:
            resp = await c.get("http://x/stores/other/v3/segments", headers={"X-Auth-Token": TOKEN})
            return resp.status_code

    assert asyncio.run(other_store()) == 404


def test_adds_are_capped_at_50_and_conflicts_are_atomic() -> None:
    store, app, ids = make(60)
    sid = store.add_segment("VIP")["id"]
    assert call(app, "POST", f"/segments/{sid}/shopper-profiles", json=ids[:51]).status_code == 422
    assert store.members(sid) == []
    store.add_members(sid, [ids[3]])
    r = call(app, "POST", f"/segments/{sid}/shopper-profiles", json=ids[:5])
    assert r.status_code == 409
    body = r.json()
    assert body["errors"][0]["errors"] == {
        "3": f"Shopper profile `{ids[3]}` already exists for segment `{sid}`."
    }
    assert body["meta"] == {"total": 5, "success": 0, "failed": 1}
    assert store.members(sid) == [ids[3]]  # nothing else from the batch landed


def test_unknown_profiles_give_422_with_partial_success() -> None:
    store, app, ids = make(3)
    sid = store.add_segment("VIP")["id"]
    ghost = str(uuid.uuid4())
    r = call(app, "POST", f"/segments/{sid}/shopper-profiles", json=[ids[0], ghost, ids[1]])
    assert r.status_code == 422
    assert r.json()["errors"][0]["errors"] == {"1": f"Shopper profile `{ghost}` does not exist."}
    assert r.json()["meta"] == {"total": 3, "success": 2, "failed": 1}
    assert store.members(sid) == [ids[0], ids[1]]


def test_delete_with_ids_and_the_empty_id_in_trap() -> None:
    store, app, ids = make(6)
    sid = store.add_segment("VIP")["id"]
    store.add_members(sid, ids)
    r = call(
        app,
        "DELETE",
        f"/segments/{sid}/shopper-profiles",
        params={"id:in": ",".join([*ids[:2], str(uuid.uuid4())])},
    )
    assert r.status_code == 204 and r.content == b""
    assert store.members(sid) == ids[2:]
    assert app.log[-1]["ids"] == 3 and not app.log[-1]["trap"]
    # The real API empties the segment when id:in is missing or empty.
    call(app, "DELETE", f"/segments/{sid}/shopper-profiles", params={"id:in": ""})
    assert store.members(sid) == [] and app.log[-1]["trap"]
    store.add_members(sid, ids)
    call(app, "DELETE", f"/segments/{sid}/shopper-profiles")
    assert store.members(sid) == [] and app.log[-1]["trap"]


def test_in_flight_limit_answers_429_beyond_ten() -> None:
    _, app, _ = make(latency_ms=100)

    async def burst() -> list[int]:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://x"
        ) as c:
            rs = await asyncio.gather(
                *(c.get(BASE + "/segments", headers={"X-Auth-Token": TOKEN}) for _ in range(14))
            )
            return [r.status_code for r in rs]

    statuses = asyncio.run(burst())
    assert statuses.count(200) == 10 and statuses.count(429) == 4
    served = [r for r in app.log if r["status"] == 200]
    refused = [r for r in app.log if r["status"] == 429]
    assert max(r["in_flight"] for r in served) == 10
    # recorded at arrival including itself: the client had 11+ requests out
    assert {r["in_flight"] for r in refused} == {11}
    assert app.in_flight == 0


def test_quota_headers_and_429_when_spent() -> None:
    _, app, _ = make(quota=3, window_ms=60_000)
    lefts = [call(app, "GET", "/segments").headers["X-Rate-Limit-Requests-Left"] for _ in range(3)]
    assert lefts == ["2", "1", "0"]
    r = call(app, "GET", "/segments")
    assert r.status_code == 429
    assert r.headers["X-Rate-Limit-Requests-Quota"] == "3"
    assert r.headers["X-Rate-Limit-Time-Window-Ms"] == "60000"
    assert 0 < int(r.headers["X-Rate-Limit-Time-Reset-Ms"]) <= 60_000
    assert int(r.headers["X-Retry-After"]) >= 1


def test_segments_create_update_and_duplicate_name() -> None:
    store, app, _ = make()
    r = call(app, "POST", "/segments", json=[{"name": "VIP", "description": "d"}])
    assert r.status_code == 201
    sid = r.json()["data"][0]["id"]
    assert call(app, "POST", "/segments", json=[{"name": "VIP"}]).status_code == 409
    r = call(app, "PUT", "/segments", json=[{"id": sid, "description": "new"}])
    assert r.status_code == 201 and store.segments[sid]["description"] == "new"
    r = call(app, "GET", "/segments", params={"id:in": sid})
    assert [s["id"] for s in r.json()["data"]] == [sid]


def test_customers_filters_and_profile_creation() -> None:
    store, app, ids = make(2)
    loner = store.add_customer(email="Jane@Example.com")
    r = call(
        app,
        "GET",
        "/customers",
        params={
            "email:in": "jane@example.com,shopper0@example.com",
            "include": "shopper_profile_id,segment_ids",
        },
    )
    rows = {c["email"]: c for c in r.json()["data"]}
    assert rows["Jane@Example.com"]["shopper_profile_id"] is None
    assert rows["Shopper0@Example.com"]["shopper_profile_id"] == ids[0]
    r = call(app, "GET", "/customers", params={"id:in": str(loner["id"])})
    assert [c["id"] for c in r.json()["data"]] == [loner["id"]]
    created = call(app, "POST", "/shopper-profiles", json=[{"customer_id": loner["id"]}])
    assert created.status_code == 201
    again = call(app, "POST", "/shopper-profiles", json=[{"customer_id": loner["id"]}])
    assert again.status_code == 409
    unknown = call(app, "POST", "/shopper-profiles", json=[{"customer_id": 999}])
    assert unknown.status_code == 422


def test_state_file_round_trip_and_saved_after_writes(tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    store, app, ids = make(3, state_file=state)
    sid = store.add_segment("VIP")["id"]
    call(app, "POST", f"/segments/{sid}/shopper-profiles", json=ids)
    reloaded = SandboxStore.load(state)
    assert reloaded.members(sid) == ids
    assert reloaded.to_dict() == store.to_dict()


def test_log_never_holds_the_token(tmp_path: Path) -> None:
    log_file = tmp_path / "log.jsonl"
    _, app, _ = make(log_file=log_file)
    call(app, "GET", "/segments")
    assert TOKEN not in log_file.read_text()
    assert TOKEN not in json.dumps(app.log)


def test_server_over_loopback_starts_and_stops() -> None:
    with SandboxServer() as server:
        r = httpx.get(server.url + BASE + "/segments", headers={"X-Auth-Token": TOKEN})
        assert r.status_code == 200
        assert server.url.startswith("http://127.0.0.1:")
    with pytest.raises(httpx.ConnectError):
        httpx.get(server.url + BASE + "/segments", timeout=1)


@pytest.mark.skipif(not (REFERENCE / "segments.v3.yml").exists(), reason="no reference specs")
def test_responses_match_bigcommerce_spec_schemas() -> None:
    spec = yaml.safe_load((REFERENCE / "segments.v3.yml").read_text())
    schemas = spec["components"]["schemas"]

    def check(name: str, body: object) -> None:
        # Refs point at #/components/schemas/..., so the schema carries its components.
        schema = {**schemas[name], "components": {"schemas": schemas}}
        Draft7Validator(schema).validate(body)

    store, app, ids = make(3)
    sid = store.add_segment("VIP")["id"]
    check("SegmentCollectionResponse", call(app, "GET", "/segments").json())
    added = call(app, "POST", f"/segments/{sid}/shopper-profiles", json=ids)
    check("ShopperProfilesAddResponse", added.json())
    members = call(app, "GET", f"/segments/{sid}/shopper-profiles")
    check("ShopperProfilesGetResponse", members.json())
    conflict = call(app, "POST", f"/segments/{sid}/shopper-profiles", json=ids[:1])
    post = spec["paths"]["/segments/{segmentId}/shopper-profiles"]["post"]
    schema_409 = post["responses"]["409"]["content"]["application/json"]["schema"]
    Draft7Validator(schema_409).validate(conflict.json())
