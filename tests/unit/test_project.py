"""Project-level promises: CI runs the README's test command; packaged schemas match."""

from __future__ import annotations

import shutil
import subprocess
import sys
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
