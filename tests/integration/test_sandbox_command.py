"""`reconciler sandbox` as users run it: a separate process whose store persists."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

REPO = Path(__file__).resolve().parents[2]


@contextmanager
def sandbox_process(workdir: Path, *args: str) -> Iterator[str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "reconciler", "sandbox", "--port", "0", *args],
        cwd=workdir,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        match = re.search(r"http://127\.0\.0\.1:(\d+)", first)
        assert match, first + (proc.stderr.read() if proc.stderr else "")
        yield match.group(0)
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=20)


def cli(workdir: Path, url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "BIGCOMMERCE_API_URL": url,
        "BIGCOMMERCE_STORE_HASH": "sandbox",
        "BIGCOMMERCE_ACCESS_TOKEN": "sandbox-token",
        "NO_COLOR": "1",
    }
    return subprocess.run(
        [sys.executable, "-m", "reconciler", *args],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_seeded_sandbox_state_survives_restarts(tmp_path: Path) -> None:
    example = str(REPO / "segments.yaml.example")
    with sandbox_process(tmp_path, "--seed-from", example, "--state", "store.json") as url:
        planned = cli(tmp_path, url, "plan", "-f", example, "--detailed-exitcode")
        assert planned.returncode == 2, planned.stderr
        assert planned.stdout.splitlines()[-1].startswith("Plan: ")
        applied = cli(tmp_path, url, "apply", "-f", example, "--auto-approve")
        assert applied.returncode == 0, applied.stdout + applied.stderr
    assert (tmp_path / "store.json").exists()
    # A new sandbox process on the same state file sees the applied store.
    with sandbox_process(tmp_path, "--seed-from", example, "--state", "store.json") as url:
        again = cli(tmp_path, url, "plan", "-f", example, "--detailed-exitcode")
        assert again.returncode == 0, again.stdout + again.stderr
        assert again.stdout.splitlines()[-1] == "No changes."


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (("--host", "0.0.0.0"), "only listens on loopback"),
        (("--window-ms", "0"), "Error: the window must be 1 ms or more\n"),
    ],
)
def test_sandbox_refuses_what_it_cannot_do_in_one_sentence(
    tmp_path: Path, args: tuple[str, ...], said: str
) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "reconciler", "sandbox", "--port", "0", *args],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert said in result.stderr and "Traceback" not in result.stderr


def test_the_sandbox_can_answer_422_for_an_unknown_segment(tmp_path: Path) -> None:
    with sandbox_process(tmp_path, "--unknown-segment-status", "422") as url:
        ghost = "00000000-0000-4000-8000-000000000000"
        r = httpx.get(
            f"{url}/stores/sandbox/v3/segments/{ghost}/shopper-profiles",
            headers={"X-Auth-Token": "sandbox-token"},
        )
    assert r.status_code == 422 and "not found" in r.json()["title"]


def test_fault_options_of_the_sandbox_command(tmp_path: Path) -> None:
    example = str(REPO / "segments.yaml.example")
    faults = ("--lost-response-rate", "0.15", "--error-rate", "0.1", "--fault-seed", "7")
    with sandbox_process(tmp_path, "--seed-from", example, "--log", "log.jsonl", *faults) as url:
        fast = {"RECONCILER_BACKOFF_BASE": "0.02", "RECONCILER_MAX_RETRIES": "12"}
        os.environ.update(fast)
        try:
            applied = cli(tmp_path, url, "apply", "-f", example, "--auto-approve")
            again = cli(tmp_path, url, "plan", "-f", example, "--detailed-exitcode")
        finally:
            for key in fast:
                del os.environ[key]
    assert applied.returncode == 0, applied.stdout + applied.stderr
    assert again.returncode == 0, again.stdout + again.stderr
    log = (tmp_path / "log.jsonl").read_text()
    assert '"fault"' in log and "retrying" in applied.stderr


def test_seed_from_a_config_that_names_customers(tmp_path: Path) -> None:
    config = tmp_path / "segments.yaml"
    config.write_text(
        "version: 1\nsegments:\n  - name: VIP customers\n    shopper_profiles:\n"
        "      - customer_id: 42\n      - email: jane@example.com\n"
    )
    with sandbox_process(tmp_path, "--seed-from", str(config)) as url:
        planned = cli(tmp_path, url, "plan", "-f", str(config), "--detailed-exitcode")
        assert planned.returncode == 2, planned.stdout + planned.stderr
        assert "+ shopper profile for customer 42 (" in planned.stdout
        applied = cli(tmp_path, url, "apply", "-f", str(config), "--auto-approve")
        assert applied.returncode == 0, applied.stdout + applied.stderr
        again = cli(tmp_path, url, "plan", "-f", str(config), "--detailed-exitcode")
    assert again.returncode == 0, again.stdout + again.stderr
    assert again.stdout.splitlines()[-1] == "No changes."
