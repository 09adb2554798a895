"""Hostile config files through the real CLI: `reconciler validate -f FILE` exits 0 or 1,
never prints a traceback, and stays inside bounded time and memory.

test_config*.py cover the loader function by function; these go through the command line,
in-process for the property tests (hundreds of examples) and as a subprocess for the
fixed hostile files, where time and peak memory are measured."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reconciler.cli import run

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = (REPO / "segments.yaml.example").read_bytes()
P1 = "497f6eca-6276-4993-bfeb-53cbbbba6f08"
VALID = f"version: 1\nsegments:\n  - name: VIP\n    shopper_profiles:\n      - {P1}\n"
MB = 1024 * 1024


@pytest.fixture(autouse=True)
def _keep_logging() -> Iterator[None]:
    """The CLI installs its own root handler; put pytest's back afterwards."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def validate_in_process(path: Path, capfd: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = run(["validate", "-f", str(path)])
    out, err = capfd.readouterr()
    return code, out + err


def check_output(code: int, text: str) -> None:
    assert code in (0, 1), text
    assert "Traceback" not in text
    assert "internal error" not in text


# --- property tests through the CLI ------------------------------------------------------

FRAGMENTS = [
    *EXAMPLE.splitlines(keepends=True),
    b"---\n",
    b"&a [1, 2]\n",
    b"*a\n",
    b"<<: *a\n",
    b"!!python/object/apply:os.system ['true']\n",
    b"!!python/name:os.system\n",
    b"!!binary aGVsbG8=\n",
    b"!custom x\n",
    b"\t",
    b"\r\n",
    b"\r",
    b"\xef\xbb\xbf",
    b"\xff\xfe",
    b"\xc3\x28",
    b"\x00",
    b"[" * 80,
    b"{a: " * 80,
    b"? [a]\n: b\n",
    b"%YAML 1.1\n",
    b"%TAG ! tag:example.com,2000:\n",
    b"token: x\n",
    b"version: 1\n",
    b"segments:\n",
    b"  - name: x\n",
    b"    shopper_profiles: []\n",
    f"      - {P1}\n".encode(),
    b"'",
    b'"',
]
PROPS = settings(max_examples=60, deadline=5000, suppress_health_check=list(HealthCheck))


@PROPS
@given(data=st.binary(max_size=300))
def test_random_bytes_through_the_cli(
    tmp_path_factory: pytest.TempPathFactory, capfd: pytest.CaptureFixture[str], data: bytes
) -> None:
    path = tmp_path_factory.mktemp("h") / "c.yaml"
    path.write_bytes(data)
    check_output(*validate_in_process(path, capfd))


@PROPS
@given(
    edits=st.lists(
        st.tuples(
            st.integers(min_value=0, max_value=len(EXAMPLE)),
            st.integers(min_value=0, max_value=30),
            st.sampled_from(FRAGMENTS) | st.binary(max_size=6),
        ),
        min_size=1,
        max_size=8,
    )
)
def test_mutated_examples_through_the_cli(
    tmp_path_factory: pytest.TempPathFactory,
    capfd: pytest.CaptureFixture[str],
    edits: list[tuple[int, int, bytes]],
) -> None:
    data = EXAMPLE
    for at, cut, insert in edits:
        at = min(at, len(data))
        data = data[:at] + insert + data[at + cut :]
    path = tmp_path_factory.mktemp("h") / "c.yaml"
    path.write_bytes(data)
    check_output(*validate_in_process(path, capfd))


@PROPS
@given(parts=st.lists(st.sampled_from(FRAGMENTS), max_size=25))
def test_assembled_fragments_through_the_cli(
    tmp_path_factory: pytest.TempPathFactory,
    capfd: pytest.CaptureFixture[str],
    parts: list[bytes],
) -> None:
    path = tmp_path_factory.mktemp("h") / "c.yaml"
    path.write_bytes(b"".join(parts))
    check_output(*validate_in_process(path, capfd))


# --- fixed hostile files, as a subprocess, with time and memory measured -------------------


def cli(path: Path, timeout: float = 30) -> tuple[int, str, float, int]:
    """Exit code, output, seconds and peak memory (MB) of `reconciler validate -f path`."""
    started = time.monotonic()
    proc = subprocess.Popen(
        [sys.executable, "-m", "reconciler", "validate", "-f", str(path)],
        cwd=path.parent,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    timer = threading.Timer(timeout, proc.kill)
    timer.start()
    try:
        assert proc.stdout is not None
        out = proc.stdout.read()  # until the process ends (or is killed at the timeout)
        _, status, usage = os.wait4(proc.pid, 0)  # reaps it, with its resource usage
    finally:
        timer.cancel()
    proc.returncode = code = os.waitstatus_to_exitcode(status)
    proc.stdout.close()
    return code, out.decode("utf-8", "replace"), time.monotonic() - started, usage.ru_maxrss // 1024


def alias_bomb() -> bytes:
    lines = ['a0: &a0 ["lol"]']
    lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]" for i in range(1, 30)]
    return ("\n".join(lines) + "\nversion: 1\nsegments: *a29\n").encode()


HOSTILE: dict[str, tuple[bytes, int, str]] = {
    # name: (content, expected exit code, a fragment of the output)
    "alias-bomb": (alias_bomb(), 1, "anchors (&name) and aliases (*name) are not supported"),
    "deep-lists": (
        b"version: 1\nsegments: " + b"[" * 10_000 + b"]" * 10_000 + b"\n",
        1,
        "nested more than 64 levels deep",
    ),
    "deep-maps": (
        b"version: 1\nsegments: " + b"{a: " * 10_000 + b"1" + b"}" * 10_000 + b"\n",
        1,
        "nested more than 64 levels deep",
    ),
    "invalid-utf8": (VALID.replace("VIP", "Caf\udce9").encode("utf-8", "surrogateescape"), 1, ""),
    "utf16": (VALID.encode("utf-16"), 1, "UTF-16"),
    "bom": (b"\xef\xbb\xbf" + VALID.encode(), 0, "valid (1 segment, 1 member)"),
    "windows-line-endings": (VALID.replace("\n", "\r\n").encode(), 0, "valid"),
    "tab-indentation": (
        VALID.replace("    shopper_profiles", "\tshopper_profiles").encode(),
        1,
        "",
    ),
    "nul-byte": (VALID.encode() + b"\x00\n", 1, ""),
    "empty": (b"", 1, "empty"),
}


@pytest.mark.parametrize("name", list(HOSTILE))
def test_hostile_files_exit_cleanly_in_bounded_time_and_memory(tmp_path: Path, name: str) -> None:
    content, expected, fragment = HOSTILE[name]
    path = tmp_path / f"{name}.yaml"
    path.write_bytes(content)
    code, out, elapsed, peak = cli(path)
    assert code == expected, out
    assert fragment in out
    assert "Traceback" not in out and "internal error" not in out
    assert elapsed < 10
    assert peak < 300, f"{peak} MB"


def test_yaml_python_tags_are_never_constructed(tmp_path: Path) -> None:
    marker = tmp_path / "constructed"
    tags = [
        f"!!python/object/apply:os.system ['touch {marker}']",
        f"!!python/object/new:os.system ['touch {marker}']",
        "!!python/object:os.system {}",
        "!!python/name:os.system",
        "!!python/module:os",
    ]
    body = "version: 1\nsegments:\n" + "".join(
        f"  - name: {tag}\n    shopper_profiles: [{tag}]\n" for tag in tags
    )
    path = tmp_path / "tags.yaml"
    path.write_text(body)
    code, out, _, _ = cli(path)
    assert code == 1
    assert not marker.exists()
    assert "unsupported tag '!!python/" in out
    assert "Traceback" not in out


def test_a_50_mb_config_validates_in_bounded_time_and_memory(tmp_path: Path) -> None:
    path = tmp_path / "big.yaml"
    with path.open("w") as fh:
        fh.write("version: 1\nsegments:\n  - name: VIP\n    shopper_profiles:\n")
        line_count = 50 * MB // len(f"      - {P1}\n") + 1
        fh.writelines(f"      - 497f6eca-6276-4993-bfeb-{i:012x}\n" for i in range(line_count))
    assert path.stat().st_size >= 50 * MB
    code, out, elapsed, peak = cli(path, timeout=60)
    assert code == 0, out
    assert f"valid (1 segment, {line_count} members)" in out
    assert elapsed < 30, f"{elapsed:.1f} s"
    assert peak < 1024, f"{peak} MB"


def test_a_50_mb_file_of_junk_is_refused_in_bounded_time_and_memory(tmp_path: Path) -> None:
    path = tmp_path / "junk.yaml"
    with path.open("wb") as fh:
        fh.write(b"version: 1\nsegments:\n")
        chunk = bytes(range(256)) * 4096  # 1 MB of every byte value, invalid UTF-8 included
        for _ in range(50):
            fh.write(chunk)
    code, out, elapsed, peak = cli(path, timeout=60)
    assert code == 1, out
    assert "Traceback" not in out
    assert elapsed < 15, f"{elapsed:.1f} s"
    assert peak < 1024, f"{peak} MB"
