"""Every request the client builds, checked against BigCommerce's own OpenAPI specs: the path
and method exist, every query parameter is declared (and its values fit the declared schema),
required headers are sent, and JSON bodies validate against the operation's requestBody schema.
The fake responses are checked against the documented response schemas too, so the client is
exercised on documented shapes. The specs sit beside the checkout in CI; a clone lacks them."""

from __future__ import annotations

import asyncio
import inspect
import json
import re
import uuid
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import pytest
import yaml

from reconciler.client import MAX_ADD_BATCH, BigCommerceClient, ClientSettings, chunk_removals

REFERENCE = Path(__file__).resolve().parents[2].parent / "shared" / "reference"
STORE = "abc123"
PREFIX = f"/stores/{STORE}/v3"
SEG = "dfada416-eba1-49cf-ad21-0f48b48d50ad"
NOW = "2022-09-15T23:44:05Z"

Spec = dict[str, Any]


def ids(n: int, start: int = 0) -> list[str]:
    return [str(uuid.UUID(int=i + 1)) for i in range(start, start + n)]


def load(name: str) -> Spec:
    path = REFERENCE / name
    if not path.exists():
        pytest.skip(f"{name} is not beside the checkout (shared/reference/)")
    with path.open(encoding="utf-8") as handle:
        spec: Spec = yaml.safe_load(handle)
    return spec


@pytest.fixture(scope="module")
def specs() -> list[Spec]:
    found = [load("segments.v3.yml")]
    if (REFERENCE / "customers.v3.yml").exists():
        found.append(load("customers.v3.yml"))
    return found


def resolve(node: Any, root: Spec, depth: int = 0) -> Any:
    """Inline local `$ref`s (the specs only use `#/components/...`)."""
    assert depth < 40, "a $ref cycle"
    if isinstance(node, dict):
        if "$ref" in node:
            target: Any = root
            for part in node["$ref"].removeprefix("#/").split("/"):
                target = target[part]
            return resolve(target, root, depth + 1)
        return {k: resolve(v, root, depth + 1) for k, v in node.items()}
    if isinstance(node, list):
        return [resolve(v, root, depth + 1) for v in node]
    return node


def find_operation(specs: list[Spec], method: str, path: str) -> tuple[Spec, str, Spec, dict]:
    """(spec, template, operation, path item) for a concrete path; fails if none matches."""
    for spec in specs:
        for template, item in spec["paths"].items():
            pattern = "^" + re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(template)) + "$"
            if re.match(pattern, path):
                assert method.lower() in item, f"{method} is not an operation of {template}"
                return spec, template, item[method.lower()], item
    raise AssertionError(f"no path template in the specs matches {path}")


def coerce(value: str, schema: dict[str, Any]) -> Any:
    kind = schema.get("type")
    if kind == "array":
        return [coerce(v, schema.get("items", {})) for v in value.split(",")]
    if kind == "integer":
        return int(value)
    if kind == "number":
        return float(value)
    return value


def validate(instance: Any, schema: dict[str, Any]) -> None:
    # OpenAPI 3.0 schema objects are close enough to draft 4 for these simple shapes.
    jsonschema.Draft4Validator(schema, format_checker=jsonschema.FormatChecker()).validate(instance)


def check_request(specs: list[Spec], request: httpx.Request, response: httpx.Response) -> str:
    assert request.url.path.startswith(PREFIX)
    path = request.url.path.removeprefix(PREFIX)
    spec, template, operation, item = find_operation(specs, request.method, path)
    params = [resolve(p, spec) for p in [*item.get("parameters", []), *operation["parameters"]]]

    for param in params:
        if param["in"] == "path":
            value = dict(zip(template.split("/"), path.split("/"), strict=True))[
                "{" + param["name"] + "}"
            ]
            validate(value, param["schema"])

    declared = {p["name"]: p for p in params if p["in"] == "query"}
    for name, value in request.url.params.multi_items():
        assert name in declared, f"{request.method} {template}: query {name!r} is not declared"
        validate(coerce(value, declared[name]["schema"]), declared[name]["schema"])

    for param in params:
        if param["in"] == "header" and param.get("required"):
            assert param["name"] in request.headers, f"{template} needs header {param['name']}"
            assert request.headers[param["name"]] == param["schema"].get("default")
    assert request.headers["Accept"] == "application/json"

    body_spec = operation.get("requestBody")
    if request.content:
        assert body_spec is not None, f"{request.method} {template} takes no body"
        assert request.headers["Content-Type"] == "application/json"
        schema = resolve(body_spec["content"]["application/json"]["schema"], spec)
        validate(json.loads(request.content), schema)
    else:
        assert "Content-Type" not in request.headers
        assert not (body_spec or {}).get("required"), f"{template} requires a body"

    documented = resolve(operation["responses"].get(str(response.status_code)), spec)
    assert documented is not None, f"{response.status_code} is not documented for {template}"
    if response.content:
        validate(response.json(), documented["content"]["application/json"]["schema"])
    return f"{request.method} {template}"


# ---- a fake store answering in documented shapes ----------------------------------------


def fake_store(request: httpx.Request) -> httpx.Response:
    path = request.url.path.removeprefix(PREFIX)
    pagination = {"total": 1, "count": 1, "per_page": 50, "current_page": 1, "total_pages": 1}
    if request.method == "DELETE":
        return httpx.Response(204)
    if request.method in ("POST", "PUT"):
        body = json.loads(request.content)
        if path == "/segments":
            rows = [
                {"id": s.get("id", SEG), "name": s.get("name", "n"), "created_at": NOW}
                for s in body
            ]
        elif path == "/shopper-profiles":
            rows = [{"id": ids(1)[0], "customer_id": c["customer_id"]} for c in body]
        else:
            rows = [{"id": p, "customer_id": 1} for p in body]
        return httpx.Response(201, json={"data": rows, "meta": {}})
    if path == "/customers":
        customer = {
            "id": 1,
            "email": "jane@example.com",
            "first_name": "Jane",
            "last_name": "Smith",
            "shopper_profile_id": ids(1)[0],
            "segment_ids": [SEG],
        }
        return httpx.Response(200, json={"data": [customer], "meta": {"pagination": pagination}})
    if path == "/segments":
        row: dict[str, Any] = {"id": SEG, "name": "VIP", "description": "", "created_at": NOW}
    else:
        row = {"id": ids(1)[0], "customer_id": 1, "created_at": NOW, "updated_at": NOW}
    return httpx.Response(200, json={"data": [row], "meta": {"pagination": pagination}})


CALLS: dict[str, Callable[[BigCommerceClient], Coroutine[Any, Any, Any]]] = {
    "list_segments": lambda c: c.list_segments(),
    "list_segment_members": lambda c: c.list_segment_members(SEG),
    "each_segment_member_page": lambda c: c.each_segment_member_page(SEG, lambda n, rows: None),
    "count_segment_members": lambda c: c.count_segment_members(SEG),
    "add_members": lambda c: c.add_members(SEG, ids(MAX_ADD_BATCH)),
    "remove_members": lambda c: c.remove_members(SEG, chunk_removals(ids(500))[0]),
    "create_segments": lambda c: c.create_segments([{"name": "VIP", "description": "d"}]),
    "update_segments": lambda c: c.update_segments([{"id": SEG, "name": "VIP 2"}]),
    "create_shopper_profiles": lambda c: c.create_shopper_profiles([1, 2]),
    "list_customers": lambda c: c.list_customers(ids=[1, 2, 3]),
}


def capture(call: Callable[[BigCommerceClient], Coroutine[Any, Any, Any]]) -> list[Any]:
    exchanges: list[tuple[httpx.Request, httpx.Response]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        response = fake_store(request)
        exchanges.append((request, response))
        return response

    async def scenario() -> None:
        settings = ClientSettings(store_hash=STORE, token="t0ken")
        async with BigCommerceClient(settings, transport=httpx.MockTransport(handler)) as client:
            await call(client)

    asyncio.run(scenario())
    assert exchanges, "the call sent nothing"
    return exchanges


def test_every_public_call_is_checked_here() -> None:
    public = {
        name
        for name, member in inspect.getmembers(BigCommerceClient, inspect.iscoroutinefunction)
        if not name.startswith("_") and name not in ("aclose", "request_written")  # send nothing
    }
    assert public == set(CALLS)


@pytest.mark.parametrize("name", sorted(CALLS))
def test_requests_conform_to_the_spec(specs: list[Spec], name: str) -> None:
    for request, response in capture(CALLS[name]):
        check_request(specs, request, response)


def test_customer_lookups_by_email_conform(specs: list[Spec]) -> None:
    if len(specs) < 2:
        pytest.skip("customers.v3.yml is not beside the checkout")
    exchanges = capture(lambda c: c.list_customers(emails=["jane@example.com", "b@example.com"]))
    assert [check_request(specs, *e) for e in exchanges] == ["GET /customers"]
    assert exchanges[0][0].url.params["email:in"] == "jane@example.com,b@example.com"
    assert exchanges[0][0].url.params["include"] == "shopper_profile_id,segment_ids"


def test_maximum_batches_are_what_the_client_sends(specs: list[Spec]) -> None:
    ((add, _),) = capture(CALLS["add_members"])
    assert len(json.loads(add.content)) == MAX_ADD_BATCH
    ((remove, _),) = capture(CALLS["remove_members"])
    assert len(remove.url.params["id:in"].split(",")) == 102  # a full 4,000-byte chunk
    assert check_request(specs, remove, httpx.Response(204)) == (
        "DELETE /segments/{segmentId}/shopper-profiles"
    )


def test_the_checker_catches_an_undeclared_parameter(specs: list[Spec]) -> None:
    # The checker itself must be able to fail, or the tests above prove nothing.
    bad = httpx.Request(
        "GET",
        f"https://api.bigcommerce.com{PREFIX}/segments/{SEG}/shopper-profiles?id:in={SEG}",
        headers={"Accept": "application/json"},
    )
    with pytest.raises(AssertionError, match="not declared"):
        check_request(specs, bad, httpx.Response(200, json={"data": []}))
    bad_body = httpx.Request(
        "POST",
        f"https://api.bigcommerce.com{PREFIX}/segments/{SEG}/shopper-profiles",
        headers={"Accept": "application/json"},
        json=[{"id": SEG}],
    )
    with pytest.raises(jsonschema.ValidationError):
        check_request(specs, bad_body, httpx.Response(201, json={"data": []}))
