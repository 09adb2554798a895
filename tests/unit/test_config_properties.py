"""Property tests: no input, however broken, makes validation raise."""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reconciler.config import LoadResult, validate_config

EXAMPLE = (Path(__file__).resolve().parents[2] / "segments.yaml.example").read_bytes()
FRAGMENTS = [
    *EXAMPLE.splitlines(keepends=True),
    b"---\n",
    b"&a ",
    b"*a",
    b"!!python/object:os.system ",
    b"\t",
    b"[",
    b"]",
    b"{",
    b"}",
    b"? ",
    b": ",
    b"- ",
    b"\xff",
    b"\xef\xbb\xbf",
    b"\r\n",
    b"token: x\n",
    b"'",
    b'"',
    b"\x00",
]
SETTINGS = settings(max_examples=200, deadline=5000, suppress_health_check=[HealthCheck.too_slow])


def check(data: bytes) -> LoadResult:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "c.yaml"
        path.write_bytes(data)
        result = validate_config(path)
    assert isinstance(result, LoadResult)
    # The invariant every caller relies on: a state exactly when there are no errors.
    assert (result.state is None) == bool(result.errors)
    assert all(p.severity in ("error", "warning") for p in result.problems)
    assert all("internal error" not in p.message for p in result.problems)
    return result


@SETTINGS
@given(st.binary(max_size=400))
def test_random_bytes_never_raise(data: bytes) -> None:
    check(data)


@SETTINGS
@given(st.text(max_size=400))
def test_random_text_never_raises(text: str) -> None:
    check(text.encode("utf-8", "surrogatepass"))


@SETTINGS
@given(
    st.lists(
        st.tuples(
            st.integers(min_value=0, max_value=len(EXAMPLE)),
            st.integers(min_value=0, max_value=40),
            st.sampled_from(FRAGMENTS) | st.binary(max_size=8),
        ),
        min_size=1,
        max_size=6,
    )
)
def test_mutated_examples_never_raise(edits: list[tuple[int, int, bytes]]) -> None:
    data = EXAMPLE
    for at, cut, insert in edits:
        at = min(at, len(data))
        data = data[:at] + insert + data[at + cut :]
    check(data)


@SETTINGS
@given(st.lists(st.sampled_from(FRAGMENTS), max_size=30))
def test_shuffled_example_lines_never_raise(parts: list[bytes]) -> None:
    check(b"".join(parts))
