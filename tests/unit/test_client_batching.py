"""Chunking of adds and removals, and the one builder of removal requests."""

from __future__ import annotations

import itertools
import uuid

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reconciler.batching import REMOVAL_PARAM, check_removal_request, chunk_query_values
from reconciler.client import (
    MAX_ADD_BATCH,
    MAX_REMOVAL_QUERY_BYTES,
    build_removal_request,
    chunk_adds,
    chunk_removals,
)
from reconciler.errors import UnsafeRequestError

SEG = "dfada416-eba1-49cf-ad21-0f48b48d50ad"
BASE = "https://api.bigcommerce.com/stores/abc123/v3"


def ids(n: int, start: int = 0) -> list[str]:
    return [str(uuid.UUID(int=i + 1)) for i in range(start, start + n)]


# ---- chunk_adds --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("n", "sizes"),
    [(0, []), (1, [1]), (50, [50]), (51, [50, 1]), (10_000, [50] * 200)],
)
def test_chunk_adds_splits_into_batches_of_at_most_fifty(n: int, sizes: list[int]) -> None:
    values = ids(n)
    chunks = chunk_adds(values)
    assert [len(c) for c in chunks] == sizes
    assert [i for c in chunks for i in c] == values  # order kept, nothing lost


def test_chunk_adds_refuses_sizes_the_api_refuses() -> None:
    with pytest.raises(ValueError):
        chunk_adds(ids(3), size=MAX_ADD_BATCH + 1)
    with pytest.raises(ValueError):
        chunk_adds(ids(3), size=0)
    assert [len(c) for c in chunk_adds(ids(7), size=3)] == [3, 3, 1]


def test_chunk_adds_refuses_a_single_string() -> None:
    with pytest.raises(TypeError):
        chunk_adds(SEG)


# ---- chunk_removals ----------------------------------------------------------------------


def encoded_bytes(chunk: list[str]) -> int:
    return len(str(httpx.QueryParams({REMOVAL_PARAM: ",".join(chunk)})))


@pytest.mark.parametrize("n", [0, 1, 50, 51, 102, 103, 10_000])
def test_chunk_removals_never_exceed_the_byte_cap_and_are_never_empty(n: int) -> None:
    values = ids(n)
    chunks = chunk_removals(values)
    assert [i for c in chunks for i in c] == values
    assert all(chunks), "an empty chunk would be a DELETE without ids"
    for chunk in chunks:
        # What is actually sent, not just the arithmetic: every chunk builds.
        assert len(build_removal_request(BASE, SEG, chunk).url.query) <= MAX_REMOVAL_QUERY_BYTES
    # Greedy: each chunk but the last is full (one more id would not fit).
    for chunk, following in itertools.pairwise(chunks):
        assert encoded_bytes([*chunk, following[0]]) > MAX_REMOVAL_QUERY_BYTES


def test_chunk_removals_packs_102_uuids_into_4000_bytes() -> None:
    # id%3Ain= (8) + 102 * 36 + 101 * len("%2C") = 3,983 bytes; 103 would be 4,022.
    assert [len(c) for c in chunk_removals(ids(205))] == [102, 102, 1]


def test_chunk_removals_respects_a_smaller_cap() -> None:
    chunks = chunk_removals(ids(10), max_query_bytes=8 + 36 * 2 + 3)
    assert [len(c) for c in chunks] == [2] * 5


@settings(max_examples=200, deadline=None)
@given(n=st.integers(0, 400), cap=st.integers(1, MAX_REMOVAL_QUERY_BYTES))
def test_chunk_removals_are_the_greedy_packing_for_every_cap(n: int, cap: int) -> None:
    # The slicing shortcut must give exactly the general greedy packing (or its refusal).
    values = ids(n)
    try:
        expected = chunk_query_values(values, REMOVAL_PARAM, cap)
    except UnsafeRequestError:
        with pytest.raises(UnsafeRequestError):
            chunk_removals(values, max_query_bytes=cap)
        return
    assert chunk_removals(values, max_query_bytes=cap) == expected


def test_chunk_removals_refuses_a_cap_above_the_maximum() -> None:
    with pytest.raises(ValueError):
        chunk_removals(ids(1), max_query_bytes=MAX_REMOVAL_QUERY_BYTES + 1)


@pytest.mark.parametrize("bad", ["", "   ", "not-a-uuid", SEG + "x", "12345"])
def test_chunk_removals_refuses_bad_ids_before_any_batch(bad: str) -> None:
    with pytest.raises(UnsafeRequestError):
        chunk_removals([*ids(200), bad])


@given(st.lists(st.uuids().map(str), max_size=400), st.integers(min_value=45, max_value=4000))
def test_chunk_removals_property(values: list[str], cap: int) -> None:
    chunks = chunk_removals(values, max_query_bytes=cap)
    assert [i for c in chunks for i in c] == values
    for chunk in chunks:
        assert chunk
        assert encoded_bytes(chunk) <= cap


# ---- build_removal_request ---------------------------------------------------------------


def test_removal_request_sends_one_comma_separated_id_in() -> None:
    batch = ids(3)
    request = build_removal_request(BASE, SEG, batch)
    assert request.method == "DELETE"
    assert request.url.path == f"/stores/abc123/v3/segments/{SEG}/shopper-profiles"
    assert request.url.params.multi_items() == [("id:in", ",".join(batch))]
    # httpx percent-encodes the colon and the commas; the API decodes both.
    assert request.url.query.decode() == "id%3Ain=" + "%2C".join(batch)
    assert request.content == b""


def test_removal_request_from_a_client_carries_its_headers() -> None:
    client = httpx.AsyncClient(base_url=BASE, headers={"X-Auth-Token": "t"})
    request = build_removal_request(client, SEG, ids(1))
    assert request.headers["X-Auth-Token"] == "t"
    assert str(request.url).startswith(BASE + "/segments/")


@pytest.mark.parametrize(
    "profile_ids",
    [
        [],
        (),
        [""],
        ["   "],
        [*ids(2), ""],
        ["not-a-uuid"],
        [SEG.replace("-", "")],
        [SEG + ",x"],
        [None],
        [123],
        SEG,  # a single string is a sequence of characters: refused, not split
    ],
)
def test_removal_request_refuses_empty_blank_and_non_uuid_ids(profile_ids: object) -> None:
    with pytest.raises(UnsafeRequestError):
        build_removal_request(BASE, SEG, profile_ids)  # type: ignore[arg-type]


@pytest.mark.parametrize("segment_id", ["", "  ", "x", f"{SEG}/../..", f"{SEG}?id:in=1"])
def test_removal_request_refuses_a_segment_id_that_is_not_a_uuid(segment_id: str) -> None:
    with pytest.raises(UnsafeRequestError):
        build_removal_request(BASE, segment_id, ids(1))


def test_removal_request_refuses_an_oversized_query() -> None:
    fits = chunk_removals(ids(103))[0]
    build_removal_request(BASE, SEG, fits)
    with pytest.raises(UnsafeRequestError, match="query"):
        build_removal_request(BASE, SEG, ids(len(fits) + 1))


def test_removal_request_refuses_a_client_with_default_params() -> None:
    # Extra query params merged in from the client would make the request something else.
    client = httpx.AsyncClient(base_url=BASE, params={"page": "1"})
    with pytest.raises(UnsafeRequestError):
        build_removal_request(client, SEG, ids(1))


@pytest.mark.parametrize(
    "url",
    [
        f"{BASE}/segments/{SEG}/shopper-profiles",
        f"{BASE}/segments/{SEG}/shopper-profiles?id:in=",
        f"{BASE}/segments/{SEG}/shopper-profiles?id%3Ain=",
        f"{BASE}/segments/{SEG}/shopper-profiles?id:in=,",
        f"{BASE}/segments/{SEG}/shopper-profiles?id=" + SEG,
        f"{BASE}/segments/{SEG}/shopper-profiles?id:in={SEG}&page=1",
        f"{BASE}/segments/{SEG}/shopper-profiles?id:in={SEG}&id:in={SEG}",
        f"{BASE}/segments?id:in=abc",
    ],
)
def test_check_removal_request_refuses_any_delete_without_a_proper_id_in(url: str) -> None:
    with pytest.raises(UnsafeRequestError):
        check_removal_request(httpx.Request("DELETE", url))


def test_check_removal_request_accepts_the_unencoded_form_too() -> None:
    check_removal_request(httpx.Request("DELETE", f"{BASE}/segments?id:in={SEG},{SEG}"))
