"""Project-level promises: CI runs the README's test command; packaged schemas match."""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def test_ci_runs_exactly_the_readme_test_command() -> None:
    ci = (REPO / ".ci" / "run").read_text().splitlines()
    command = [line for line in ci if line and not line.startswith(("#", "set ", "cd "))]
    assert len(command) == 1
    readme = (REPO / "README.md").read_text()
    assert f"\n{command[0]}\n" in readme


@pytest.mark.parametrize("name", ["plan.schema.json", "segments.schema.json"])
def test_packaged_schemas_are_the_published_ones(name: str) -> None:
    published = (REPO / "schemas" / name).read_bytes()
    packaged = (REPO / "reconciler" / "schemas" / name).read_bytes()
    assert packaged == published


def test_ruff_is_clean() -> None:
    ruff = shutil.which("ruff") or str(Path(sys.executable).with_name("ruff"))
    if not Path(ruff).exists():
        pytest.skip("ruff is not installed")
    result = subprocess.run(
        [ruff, "check", "."],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_cli_skips_teardown_but_a_profiler_still_gets_its_data(tmp_path: Path) -> None:
    # main() ends with os._exit (teardown is 50-80 ms at scale) unless something traces or
    # profiles the process: then the normal exit lets it write what it gathered.
    out = tmp_path / "cli.prof"
    run = [sys.executable, "-m", "cProfile", "-o", str(out), "-m", "reconciler", "--version"]
    proc = subprocess.run(run, capture_output=True, text=True, check=False)
    assert proc.returncode == 0 and "reconciler" in proc.stdout
    assert out.stat().st_size > 0
    bad = [sys.executable, "-m", "reconciler", "validate", "-f", str(tmp_path / "none.yaml")]
    proc = subprocess.run(bad, capture_output=True, text=True, check=False)
    assert proc.returncode == 1 and "no such file" in proc.stderr


@pytest.mark.parametrize("closed", [">&-", "2>&-"])
def test_the_cli_ends_cleanly_with_stdout_or_stderr_closed(closed: str) -> None:
    # Python then sets sys.stdout (or stderr) to None, which the final flush must allow.
    report = ">&2" if closed == ">&-" else ""  # the exit code, on the stream left open
    command = f'"{sys.executable}" -m reconciler --version {closed}; echo "exit $?" {report}'
    proc = subprocess.run(["bash", "-c", command], capture_output=True, text=True, check=True)
    assert "exit 0" in proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_while_the_cli_is_still_importing_ends_with_130_not_a_traceback(
    sig: signal.Signals,
) -> None:
    # The entry point's handlers are in before the heavy imports; a signal among them
    # (sent here at a known point, not raced) ends quietly, as one later does.
    code = (
        "import os, time\n"
        "from reconciler import launch\n"
        "launch.install()\n"
        f"os.kill(os.getpid(), {int(sig)})\n"
        "time.sleep(10)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert (result.returncode, result.stderr) == (130, "\nAborted.\n")


def test_the_installed_command_and_python_m_share_the_entry_point() -> None:
    scripts = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts == {"reconciler": "reconciler.launch:main"}
    main = (REPO / "reconciler" / "__main__.py").read_text()
    assert "from reconciler.launch import main" in main
    version = subprocess.run(
        [sys.executable, "-m", "reconciler", "--version"], capture_output=True, text=True
    )
    assert version.returncode == 0 and version.stdout.startswith("reconciler, version ")


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_after_an_apply_a_late_signal_passes_and_a_second_one_stops(sig: signal.Signals) -> None:
    # The summary and the report are written after the run: one late signal must not
    # lose them, but a second must still stop a write that hangs.
    code = (
        "import asyncio, os\n"
        "from reconciler.runner import Interrupts\n"
        "async def body(interrupts):\n"
        "    return 0\n"
        "asyncio.run(Interrupts(lambda: None).handling(body))\n"
        f"os.kill(os.getpid(), {int(sig)})\n"
        "print('first let pass', flush=True)\n"
        f"os.kill(os.getpid(), {int(sig)})\n"
        "print('not reached', flush=True)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.stdout == "first let pass\n"
    assert "KeyboardInterrupt" in result.stderr
