"""The benchmark harness itself, on a small run: every row has its figures (requests at
the minimum, no 429, a peak memory), and every apply converged. Times are not checked."""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "benchmarks" / "bench.py"


def test_a_small_benchmark_run_prints_every_figure(tmp_path: Path) -> None:
    args = ["--sizes", "1000", "--latency-ms", "5", "--window-ms", "300"]
    proc = subprocess.run(
        [sys.executable, str(BENCH), *args, "--offline-sizes", "1000"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert "NOT CONVERGED" not in proc.stdout and "exited" not in proc.stdout, proc.stdout
    rows = [line.split() for line in proc.stdout.splitlines() if line.startswith("    1000 ")]
    network = [r for r in rows if r[1] in ("latency", "quota")]
    assert [(r[1], r[2]) for r in network] == [
        ("latency", "plan"),
        ("latency", "apply"),
        ("quota", "plan"),
        ("quota", "apply"),
        ("latency", "naive"),
    ]
    for row in network:
        requests, minimum, throttled, peak = row[3], row[4], row[5], row[-1]
        if row[2] == "naive":
            requests, minimum, throttled, peak = row[4], row[5], row[6], row[-1]
            assert int(requests) > int(minimum)  # the baseline is naive: more requests
        elif row[2] == "plan":
            assert requests == minimum
        else:  # apply: the minimum plus one verification count per segment touched
            assert minimum.endswith("(+4)") and int(requests) <= int(minimum[:-4]) + 4
        assert throttled == "0"
        assert math.isfinite(float(peak)) and float(peak) > 0, row
    (offline,) = [r for r in rows if len(r) == 4]
    assert all(math.isfinite(float(v)) for v in offline[1:])
