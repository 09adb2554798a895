"""The sandbox's finer API rules: pagination edges, body validation, the DELETE traps in
every form, PUT/POST conflicts, customers, the request log, and the spec's schemas."""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from jsonschema import Draft7Validator

from reconciler.errors import SettingsError
from reconciler.sandbox.app import SandboxApp, SandboxConfig, create_app
from reconciler.sandbox.server import SandboxServer, run_sandbox
from reconciler.sandbox.store import SandboxStore

BASE = "/stores/sandbox/v3"
TOKEN = "sandbox-token"
SPECS = Path(__file__).resolve().parents[2].parent / "shared" / "reference"
RATE_HEADERS = (
    "X-Rate-Limit-Requests-Left",
    "X-Rate-Limit-Requests-Quota",
    "X-Rate-Limit-Time-Reset-Ms",
    "X-Rate-Limit-Time-Window-Ms",
)


def make(n_profiles: int = 0, **config: Any) -> tuple[SandboxStore, SandboxApp, list[str]]:
    store = SandboxStore()
    ids = []
    for i in range(n_profiles):
        customer = store.add_customer(f"shopper{i}@example.com", "Shopper", f"No{i}")
        ids.append(store.add_profile(customer["id"])["id"])
    return store, create_app(store, SandboxConfig(**config)), ids


def call(app: SandboxApp, method: str, path: str, **kw: Any) -> httpx.Response:
    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://sandbox") as c:
            headers = {"X-Auth-Token": TOKEN, **kw.pop("headers", {})}
            return await c.request(method, BASE + path, headers=headers, **kw)

    return asyncio.run(go())


def members_path(sid: str) -> str:
    return f"/segments/{sid}/shopper-profiles"


# --- pagination --------------------------------------------------------------------------


def test_empty_collection_has_zero_pages_and_no_next_link() -> None:
    _, app, _ = make()
    meta = call(app, "GET", "/segments").json()["meta"]["pagination"]
    assert meta == {
        "total": 0,
        "count": 0,
        "per_page": 50,
        "current_page": 1,
        "total_pages": 0,
        "links": {"current": "?page=1&limit=50"},
    }


def test_middle_page_links_and_a_page_past_the_end() -> None:
    store, app, ids = make(7)
    sid = store.add_segment("VIP")["id"]
    store.add_members(sid, ids)
    r = call(app, "GET", members_path(sid), params={"limit": 3, "page": 2})
    body = r.json()
    assert [p["id"] for p in body["data"]] == ids[3:6]
    assert body["meta"]["pagination"]["links"] == {
        "current": "?page=2&limit=3",
        "next": "?page=3&limit=3",
        "previous": "?page=1&limit=3",
    }
    past = call(app, "GET", members_path(sid), params={"limit": 3, "page": 9}).json()
    assert past["data"] == [] and past["meta"]["pagination"]["total_pages"] == 3


@pytest.mark.parametrize(
    "params", [{"limit": 0}, {"limit": -5}, {"limit": "ten"}, {"page": 0}, {"page": "x"}]
)
def test_bad_page_parameters_are_refused(params: dict[str, Any]) -> None:
    _, app, _ = make()
    r = call(app, "GET", "/shopper-profiles", params=params)
    assert r.status_code == 422
    assert r.json()["status"] == 422 and r.json()["title"]


def test_max_page_limit_is_configurable() -> None:
    _, app, _ = make(max_page_limit=10)
    assert call(app, "GET", "/segments", params={"limit": 11}).status_code == 422
    assert call(app, "GET", "/segments", params={"limit": 10}).status_code == 200


# --- gates: auth, store, method, rate headers -------------------------------------------


def test_missing_token_gets_401_with_a_v3_body_and_rate_headers() -> None:
    _, app, _ = make()
    r = call(app, "GET", "/segments", headers={"X-Auth-Token": ""})
    assert r.status_code == 401
    assert r.headers["content-type"] == "application/json"
    assert {"status", "title", "type"} <= r.json().keys() and r.json()["status"] == 401
    assert all(h in r.headers for h in RATE_HEADERS)


def test_wrong_method_on_a_known_path_is_405_and_unknown_path_404() -> None:
    _, app, _ = make()
    assert call(app, "PATCH", "/segments").status_code == 405
    assert call(app, "GET", "/nothing-here").status_code == 404


def test_a_handler_crash_is_a_500_in_the_v3_shape_and_frees_its_slot() -> None:
    _, app, _ = make()

    def boom(method: str, path: str) -> None:
        raise RuntimeError("bug")

    app.before_handler = boom
    r = call(app, "GET", "/segments")
    assert r.status_code == 500 and r.json()["status"] == 500
    assert app.log[-1]["status"] == 500 and app.in_flight == 0


# --- adding members ------------------------------------------------------------------


@pytest.mark.parametrize("body", [b"not json", b'{"ids": []}', b'"abc"'])
def test_add_members_needs_a_json_array(body: bytes) -> None:
    store, app, _ = make()
    sid = store.add_segment("VIP")["id"]
    r = call(app, "POST", members_path(sid), content=body)
    assert r.status_code in (400, 422) and r.json()["status"] == r.status_code


def test_add_members_refuses_an_empty_array_and_logs_51_ids() -> None:
    store, app, ids = make(51)
    sid = store.add_segment("VIP")["id"]
    assert call(app, "POST", members_path(sid), json=[]).status_code == 422
    assert call(app, "POST", members_path(sid), json=ids).status_code == 422
    assert app.log[-1]["ids"] == 51 and store.members(sid) == []
    assert call(app, "POST", members_path(sid), json=ids[:50]).status_code == 201
    assert app.log[-1]["ids"] == 50 and len(store.members(sid)) == 50


def test_a_conflict_beats_unknown_ids_and_nothing_is_added() -> None:
    store, app, ids = make(3)
    sid = store.add_segment("VIP")["id"]
    store.add_members(sid, [ids[0]])
    r = call(app, "POST", members_path(sid), json=[ids[1], str(uuid.uuid4()), ids[0]])
    assert r.status_code == 409
    assert list(r.json()["errors"][0]["errors"]) == ["2"]
    assert store.members(sid) == [ids[0]]


def test_malformed_ids_are_reported_by_index_and_the_valid_ones_added() -> None:
    store, app, ids = make(2)
    sid = store.add_segment("VIP")["id"]
    r = call(app, "POST", members_path(sid), json=["not-a-uuid", ids[1], 7, ids[0]])
    assert r.status_code == 422
    body = r.json()
    assert body["errors"][0]["errors"] == {
        "0": "Shopper profile `not-a-uuid` does not exist.",
        "2": "Shopper profile `7` does not exist.",
    }
    assert [p["id"] for p in body["data"]] == [ids[1], ids[0]]
    assert body["meta"] == {"total": 4, "success": 2, "failed": 2}
    assert store.members(sid) == [ids[1], ids[0]]


def test_upper_case_ids_are_the_same_profiles() -> None:
    store, app, ids = make(1)
    sid = store.add_segment("VIP")["id"]
    r = call(app, "POST", members_path(sid.upper()), json=[ids[0].upper()])
    assert r.status_code == 201 and r.json()["data"][0]["id"] == ids[0]
    assert call(app, "POST", members_path(sid), json=[ids[0]]).status_code == 409


def test_unknown_segment_is_404_for_every_member_route() -> None:
    _, app, ids = make(1)
    ghost = str(uuid.uuid4())
    assert call(app, "GET", members_path(ghost)).status_code == 404
    assert call(app, "POST", members_path(ghost), json=ids).status_code == 404
    r = call(app, "DELETE", members_path(ghost), params={"id:in": ids[0]})
    assert r.status_code == 404 and not app.log[-1]["trap"]


# --- the DELETE traps ------------------------------------------------------------------


def test_exploded_id_in_collects_every_value() -> None:
    store, app, ids = make(4)
    sid = store.add_segment("VIP")["id"]
    store.add_members(sid, ids)
    query = f"id:in={ids[0]}&id:in={ids[1]},{ids[2]}"
    r = call(app, "DELETE", members_path(sid) + "?" + query)
    assert r.status_code == 204 and r.content == b""
    assert store.members(sid) == [ids[3]]
    assert app.log[-1]["ids"] == 3 and app.log[-1]["query"]["id:in"] == [
        ids[0],
        f"{ids[1]},{ids[2]}",
    ]


@pytest.mark.parametrize("query", ["", "?id:in=", "?id:in=,", "?id%3Ain=", "?other=1"])
def test_every_delete_without_ids_empties_the_segment_loudly(
    query: str, caplog: pytest.LogCaptureFixture
) -> None:
    store, app, ids = make(3)
    sid = store.add_segment("VIP")["id"]
    keep = store.add_segment("Other")["id"]
    store.add_members(sid, ids)
    store.add_members(keep, ids)
    with caplog.at_level(logging.WARNING, logger="reconciler.sandbox"):
        r = call(app, "DELETE", members_path(sid) + query)
    assert r.status_code == 204
    assert store.members(sid) == [] and store.members(keep) == ids
    assert app.log[-1]["trap"] is True and app.log[-1]["ids"] == 0
    assert any("EMPTIED" in rec.getMessage() for rec in caplog.records)


def test_delete_segments_by_id_and_the_delete_everything_trap() -> None:
    store, app, ids = make(1)
    a, b, c = (store.add_segment(n)["id"] for n in ("A", "B", "C"))
    store.add_members(a, ids)
    assert call(app, "DELETE", "/segments", params={"id:in": a}).status_code == 204
    assert list(store.segments) == [b, c] and not app.log[-1]["trap"]
    assert store.profiles  # deleting a segment leaves its profiles
    assert call(app, "DELETE", "/segments").status_code == 204
    assert store.segments == {} and app.log[-1]["trap"] is True


def test_delete_profiles_drops_their_memberships_and_the_trap_deletes_all() -> None:
    store, app, ids = make(3)
    sid = store.add_segment("VIP")["id"]
    store.add_members(sid, ids)
    assert call(app, "DELETE", "/shopper-profiles", params={"id:in": ids[0]}).status_code == 204
    assert store.members(sid) == ids[1:] and ids[0] not in store.profiles
    # the customer is free to get a new profile
    customer_id = next(c for c in store.customers if store.profile_of(c) is None)
    assert (
        call(app, "POST", "/shopper-profiles", json=[{"customer_id": customer_id}]).status_code
        == 201
    )
    call(app, "DELETE", "/shopper-profiles", params={"id:in": ""})
    assert store.profiles == {} and store.members(sid) == [] and app.log[-1]["trap"] is True


# --- segments: create and update -------------------------------------------------------


def test_update_renaming_onto_a_taken_name_is_409_and_changes_nothing() -> None:
    store, app, _ = make()
    a = store.add_segment("A")["id"]
    b = store.add_segment("B")["id"]
    r = call(app, "PUT", "/segments", json=[{"id": a, "description": "x"}, {"id": b, "name": "A"}])
    assert r.status_code == 409 and r.json()["meta"]["failed"] == 1
    assert store.segments[a]["description"] == "" and store.segments[b]["name"] == "B"
    # swapping names inside one batch is fine: names are unique afterwards
    swap = call(app, "PUT", "/segments", json=[{"id": a, "name": "B"}, {"id": b, "name": "A"}])
    assert swap.status_code == 201
    assert (store.segments[a]["name"], store.segments[b]["name"]) == ("B", "A")


def test_update_with_an_unknown_id_is_404_and_changes_nothing() -> None:
    store, app, _ = make()
    a = store.add_segment("A")["id"]
    r = call(app, "PUT", "/segments", json=[{"id": a, "name": "Z"}, {"id": str(uuid.uuid4())}])
    assert r.status_code == 404 and store.segments[a]["name"] == "A"


def test_update_naming_one_id_twice_is_422_and_changes_nothing() -> None:
    store, app, _ = make()
    a = store.add_segment("A")["id"]
    r = call(app, "PUT", "/segments", json=[{"id": a, "name": "X1"}, {"id": a, "name": "X2"}])
    assert r.status_code == 422 and store.segments[a]["name"] == "A"


@pytest.mark.parametrize("status", [404, 422])
def test_an_unknown_segment_is_answered_with_the_configured_status(status: int) -> None:
    _, app, ids = make(1, unknown_segment_status=status)
    ghost = str(uuid.uuid4())
    assert call(app, "GET", members_path(ghost)).status_code == status
    assert call(app, "POST", members_path(ghost), json=ids).status_code == status
    r = call(app, "PUT", "/segments", json=[{"id": ghost, "name": "Z"}])
    assert r.status_code == status and r.json()["title"] == f"Segment {ghost} not found."


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ({"quota": 0}, "quota must be 1 or more"),
        ({"quota": -5}, "quota must be 1 or more"),
        ({"window_ms": 0}, "window must be 1 ms or more"),
        ({"latency_ms": -1}, "latency cannot be negative"),
        ({"unknown_segment_status": 500}, "404 or 422"),
    ],
)
def test_impossible_settings_are_refused_up_front(setting: dict[str, int], message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        SandboxConfig(**setting)


def test_create_refuses_duplicates_in_one_batch_and_the_1001st_segment() -> None:
    store, app, _ = make()
    r = call(app, "POST", "/segments", json=[{"name": "X"}, {"name": "X"}])
    assert r.status_code == 409 and store.segments == {}
    assert r.json()["errors"][0]["title"] == "Cannot have multiple segments with the same name."
    for i in range(999):
        store.add_segment(f"S{i}")
    r = call(app, "POST", "/segments", json=[{"name": "last"}, {"name": "one too many"}])
    assert r.status_code == 422 and len(store.segments) == 999
    assert call(app, "POST", "/segments", json=[{"name": "last"}]).status_code == 201
    assert call(app, "POST", "/segments", json=[{"name": "nope"}]).status_code == 422


def test_create_needs_a_name() -> None:
    store, app, _ = make()
    assert call(app, "POST", "/segments", json=[{"description": "d"}]).status_code == 422
    assert call(app, "POST", "/segments", json={"name": "A"}).status_code == 422
    assert store.segments == {}


# --- shopper profiles and customers ----------------------------------------------------


def test_profile_creation_keeps_order_and_refuses_a_customer_twice_in_a_batch() -> None:
    store, app, _ = make()
    c1, c2 = (store.add_customer(f"c{i}@example.com")["id"] for i in (1, 2))
    twice = call(app, "POST", "/shopper-profiles", json=[{"customer_id": c1}] * 2)
    assert twice.status_code == 409 and store.profiles == {}
    assert call(app, "POST", "/shopper-profiles", json=[{"customer_id": True}]).status_code == 422
    r = call(app, "POST", "/shopper-profiles", json=[{"customer_id": c2}, {"customer_id": c1}])
    assert r.status_code == 201
    assert [p["customer_id"] for p in r.json()["data"]] == [c2, c1]
    listed = call(app, "GET", "/shopper-profiles").json()["data"]
    assert [p["customer_id"] for p in listed] == [c2, c1]


def test_customers_include_segment_ids_only_when_asked() -> None:
    store, app, ids = make(2)
    sid = store.add_segment("VIP")["id"]
    store.add_members(sid, [ids[1]])
    plain = call(app, "GET", "/customers").json()["data"]
    assert "shopper_profile_id" not in plain[0] and "segment_ids" not in plain[0]
    r = call(app, "GET", "/customers", params={"include": "segment_ids", "id:in": "2,1"})
    rows = r.json()["data"]
    assert [c["id"] for c in rows] == [1, 2]  # store order, not the filter's
    assert [c["segment_ids"] for c in rows] == [[], [sid]]
    assert r.json()["meta"]["pagination"]["total"] == 2


@pytest.mark.parametrize("query", ["id:in=", "id:in=,", "email:in=", "email:in= "])
def test_an_empty_get_filter_is_no_filter_as_on_delete(query: str) -> None:
    # The API ignores an empty id:in (hence the DELETE trap): a GET then lists everything.
    store, app, _ = make(3)
    store.add_segment("A")
    assert len(call(app, "GET", "/customers?" + query).json()["data"]) == 3
    if query.startswith("id"):
        assert len(call(app, "GET", "/segments?" + query).json()["data"]) == 1


def test_customers_id_filter_must_be_integers() -> None:
    _, app, _ = make(1)
    assert call(app, "GET", "/customers", params={"id:in": "1,abc"}).status_code == 422


# --- limits: in flight and quota -------------------------------------------------------


def test_refused_by_the_in_flight_limit_changes_nothing() -> None:
    store, app, ids = make(12, latency_ms=80)
    sid = store.add_segment("VIP")["id"]

    async def burst() -> list[int]:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://x"
        ) as c:
            rs = await asyncio.gather(
                *(
                    c.post(BASE + members_path(sid), json=[pid], headers={"X-Auth-Token": TOKEN})
                    for pid in ids
                )
            )
            return [r.status_code for r in rs]

    statuses = asyncio.run(burst())
    assert statuses == [201] * 10 + [429] * 2
    assert store.members(sid) == ids[:10]
    assert [r["in_flight"] for r in app.log] == [*range(1, 11), 11, 11]


def test_sequential_requests_are_one_in_flight_each() -> None:
    _, app, _ = make(latency_ms=5)
    for _ in range(3):
        call(app, "GET", "/segments")
    assert [r["in_flight"] for r in app.log] == [1, 1, 1]
    assert all(r["t_end"] - r["t_start"] >= 0.004 for r in app.log)


def test_latency_is_the_whole_time_to_an_answer_the_emulators_work_included() -> None:
    _, app, _ = make(latency_ms=100)
    app.before_handler = lambda method, path: time.sleep(0.06)  # a slow handler
    call(app, "GET", "/segments")
    app.before_handler = lambda method, path: time.sleep(0.15)  # slower than the latency
    call(app, "GET", "/segments")
    held, late = (r["t_end"] - r["t_start"] for r in app.log)
    # Held until 100 ms after arrival, not 100 ms on top of the 60 ms of work.
    assert 0.099 <= held < 0.14
    # Work beyond the latency delays the answer by that much, nothing added.
    assert 0.15 <= late < 0.2


def test_the_quota_window_refills() -> None:
    _, app, _ = make(quota=2, window_ms=150)
    assert [call(app, "GET", "/segments").status_code for _ in range(3)] == [200, 200, 429]
    time.sleep(0.2)
    r = call(app, "GET", "/segments")
    assert r.status_code == 200 and r.headers["X-Rate-Limit-Requests-Left"] == "1"


def test_refused_requests_cost_quota_too() -> None:
    _, app, _ = make(quota=5, window_ms=60_000)
    assert call(app, "GET", "/segments", headers={"X-Auth-Token": "bad"}).status_code == 401
    assert call(app, "GET", "/segments").headers["X-Rate-Limit-Requests-Left"] == "3"


# --- log and persistence ------------------------------------------------------------------


def test_log_file_lines_equal_the_in_memory_records(tmp_path: Path) -> None:
    log_file = tmp_path / "log.jsonl"
    store, app, ids = make(2, log_file=log_file)
    sid = store.add_segment("VIP")["id"]
    call(app, "POST", members_path(sid), json=ids)
    call(app, "DELETE", members_path(sid), params={"id:in": ids[0]})
    lines = [json.loads(line) for line in log_file.read_text().splitlines()]
    assert lines == app.log
    assert [(r["seq"], r["method"], r["status"], r["ids"]) for r in lines] == [
        (1, "POST", 201, 2),
        (2, "DELETE", 204, 1),
    ]
    assert set(lines[0]) >= {"path", "query", "in_flight", "trap", "t_start", "t_end"}


def test_store_rules_for_seeding() -> None:
    store = SandboxStore()
    c = store.add_customer("Jane@Example.com")
    with pytest.raises(ValueError):
        store.add_customer("jane@example.com")
    store.add_profile(c["id"])
    with pytest.raises(ValueError):
        store.add_profile(c["id"])
    with pytest.raises(KeyError):
        store.add_profile(999)
    store.add_segment("A")
    with pytest.raises(ValueError):
        store.add_segment("A")
    assert store.customer_by_email("JANE@example.com") == c


def test_state_file_keeps_indexes_and_no_temp_files(tmp_path: Path) -> None:
    store, _, ids = make(2)
    sid = store.add_segment("VIP", id=str(uuid.uuid4()).upper())["id"]
    store.add_members(sid, ids)
    state = tmp_path / "state.json"
    store.save(state)
    store.save(state)
    assert [p.name for p in tmp_path.iterdir()] == ["state.json"]
    loaded = SandboxStore.load(state)
    assert loaded.to_dict() == store.to_dict() and sid == sid.lower()
    assert loaded.profile_of(1) == store.profile_of(1)
    with pytest.raises(ValueError):
        loaded.add_customer("SHOPPER0@example.com")
    with pytest.raises(ValueError):
        SandboxStore.from_dict({"format": "something-else"})


# --- over real loopback -------------------------------------------------------------------


def test_server_starts_and_stops_fast_and_serves_concurrently(tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    store, _, ids = make(12)
    sid = store.add_segment("VIP")["id"]
    began = time.monotonic()
    with SandboxServer(store, SandboxConfig(latency_ms=150, state_file=state)) as server:

        async def burst() -> list[int]:
            limits = httpx.Limits(max_connections=20)
            async with httpx.AsyncClient(base_url=server.url, limits=limits) as c:
                rs = await asyncio.gather(
                    *(
                        c.post(BASE + members_path(sid), json=[p], headers={"X-Auth-Token": TOKEN})
                        for p in ids
                    )
                )
                return [r.status_code for r in rs]

        statuses = asyncio.run(burst())
        assert sorted(statuses) == [201] * 10 + [429] * 2
        assert max(r["in_flight"] for r in server.log if r["status"] == 201) <= 10
        server.reset_log()
        assert server.log == []
    assert time.monotonic() - began < 1.5  # 150 ms of latency included
    assert len(SandboxStore.load(state).members(sid)) == 10


def test_run_sandbox_refuses_a_non_loopback_host() -> None:
    with pytest.raises(SettingsError):
        run_sandbox(host="0.0.0.0", port=0)


# --- the spec's schemas --------------------------------------------------------------------


@pytest.mark.skipif(not (SPECS / "segments.v3.yml").exists(), reason="no reference specs")
def test_more_responses_match_the_spec_schemas() -> None:
    spec = yaml.safe_load((SPECS / "segments.v3.yml").read_text())
    schemas = spec["components"]["schemas"]

    def check(schema: dict[str, Any], body: object) -> None:
        Draft7Validator({**schema, "components": {"schemas": schemas}}).validate(body)

    def named(name: str) -> dict[str, Any]:
        return dict(schemas[name])

    store, app, _ = make()
    c = store.add_customer("a@example.com", "A", "B")
    created = call(app, "POST", "/segments", json=[{"name": "VIP", "description": "d"}])
    check(named("SegmentsResponse"), created.json())
    sid = created.json()["data"][0]["id"]
    check(named("SegmentsResponse"), call(app, "PUT", "/segments", json=[{"id": sid}]).json())
    dup = call(app, "POST", "/segments", json=[{"name": "VIP"}])
    post_segments = spec["paths"]["/segments"]["post"]["responses"]
    check(post_segments["409"]["content"]["application/json"]["schema"], dup.json())
    profiles = call(app, "POST", "/shopper-profiles", json=[{"customer_id": c["id"]}])
    check(named("ShopperProfilesResponse"), profiles.json())
    listed = call(app, "GET", "/shopper-profiles")
    check(named("ShopperProfilesCollectionResponse"), listed.json())
    # The error body of a plain refusal (401, 404, 422)
    for r in (
        call(app, "GET", "/segments", headers={"X-Auth-Token": "bad"}),
        call(app, "GET", members_path(str(uuid.uuid4()))),
        call(app, "GET", "/segments", params={"limit": 999}),
    ):
        check(named("ErrorResponse"), r.json())
    # Every schema's properties are present, not merely allowed
    segment = created.json()["data"][0]
    assert set(segment) == set(schemas["Segment"]["properties"])
    assert set(profiles.json()["data"][0]) == set(schemas["ShopperProfile"]["properties"])
    meta = listed.json()["meta"]["pagination"]
    assert set(schemas["Pagination"]["properties"]) <= set(meta)


@pytest.mark.skipif(not (SPECS / "customers.v3.yml").exists(), reason="no reference specs")
def test_customers_match_the_customers_spec() -> None:
    spec = yaml.safe_load((SPECS / "customers.v3.yml").read_text())
    components = spec["components"]
    response = components["responses"]["GetCustomerCollectionResponse"]
    schema = response["content"]["application/json"]["schema"]
    store, app, ids = make(2)
    store.add_members(store.add_segment("VIP")["id"], ids)
    r = call(app, "GET", "/customers", params={"include": "shopper_profile_id,segment_ids"})
    Draft7Validator({**schema, "components": components}).validate(r.json())
    assert [c["shopper_profile_id"] for c in r.json()["data"]] == ids
