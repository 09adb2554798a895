"""Benchmark: requests used vs the minimum, wall time vs the ideal, peak memory.

Starts the sandbox (in this process, on loopback) with injected latency and, for the
quota-bound runs, a rate quota; runs the real CLI as a subprocess for `plan` and `apply`
on scenarios of mixed adds and removes; runs a naive baseline (one request at a time,
page size 50) on the same scenarios; and times config load + plan offline.

    python benchmarks/bench.py                      # everything (a few minutes)
    python benchmarks/bench.py --sizes 1000,10000   # a subset
    python benchmarks/bench.py --offline-only
    python benchmarks/bench.py --sizes 100000 --skip-naive --repeat 5   # medians

Not part of the test run: it prints figures, it asserts nothing about time."""

from __future__ import annotations

import argparse
import compileall
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

import reconciler
from reconciler.batching import MAX_ADD_BATCH, chunk_removals
from reconciler.sandbox.app import SandboxConfig
from reconciler.sandbox.server import SandboxServer
from reconciler.sandbox.store import SandboxStore

HERE = Path(__file__).resolve().parent
TOKEN = "bench-token"
STORE = "bench"
SEGMENTS = 4
PAGE = 250
CHANGE = 0.2  # each segment loses 20% of its members and gains as many new ones


@dataclass
class Scenario:
    members: int
    live: list[list[str]]
    desired: list[list[str]]

    @property
    def adds(self) -> list[int]:
        return [len(set(d) - set(lv)) for lv, d in zip(self.live, self.desired, strict=True)]

    @property
    def removes(self) -> list[int]:
        return [len(set(lv) - set(d)) for lv, d in zip(self.live, self.desired, strict=True)]

    @property
    def list_pages(self) -> int:
        return math.ceil((SEGMENTS + 1) / PAGE)

    @property
    def member_pages(self) -> list[int]:
        return [math.ceil(len(s) / PAGE) for s in self.live]

    def min_reads(self) -> int:
        # The segment list, every member page, and one look-up of the emails the plan shows.
        emails = 1 if any(self.removes) else 0
        return self.list_pages + sum(self.member_pages) + emails

    def rounds(self, apply: bool) -> int:
        """The fewest round trips in sequence, with 10 in flight, that the order of the work
        allows (the ideal counts requests only): the segment list first (it has the ids);
        then the member pages, 10 at a time from the first round on (the config's counts
        say how many pages to expect before page 1 does); the email look-up once every page
        is in (it is for removals); writes only once the whole plan is shown, a segment's
        removals after its adds; its verification last."""
        rounds = 1 + math.ceil((self.list_pages - 1) / 10)
        rounds += math.ceil(sum(self.member_pages) / 10)
        rounds += 1 if any(self.removes) else 0
        if apply:
            adds, removes = self.write_batches()
            pairs = zip(adds, removes, strict=True)
            chains = [math.ceil(a / 10) + math.ceil(r / 10) for a, r in pairs]
            rounds += max(math.ceil((sum(adds) + sum(removes)) / 10), *chains) + 1
        return rounds

    def write_batches(self) -> tuple[list[int], list[int]]:
        """Per segment: POSTs of 50 adds, DELETEs of as many ids as the safe query holds."""
        ids = [str(uuid.UUID(int=i, version=4)) for i in range(1, 200)]
        per_delete = len(chunk_removals(ids)[0])
        return (
            [math.ceil(a / MAX_ADD_BATCH) for a in self.adds],
            [math.ceil(r / per_delete) for r in self.removes],
        )

    def min_writes(self) -> int:
        adds, removes = self.write_batches()
        return sum(adds) + sum(removes)


def make_scenario(members: int) -> Scenario:
    per = members // SEGMENTS
    live, desired = [], []
    for _ in range(SEGMENTS):
        current = [str(uuid.uuid4()) for _ in range(per)]
        keep = current[: per - int(per * CHANGE)]
        new = [str(uuid.uuid4()) for _ in range(int(per * CHANGE))]
        live.append(current)
        desired.append(keep + new)
    return Scenario(members, live, desired)


def seed(store: SandboxStore, sc: Scenario) -> list[str]:
    """Seed through the store's public methods (indexed, so 120,000 profiles take a second),
    with explicit customer ids so no id has to be searched for."""
    everyone = {p for group in (*sc.live, *sc.desired) for p in group}
    for cid, pid in enumerate(sorted(everyone), start=1):
        store.add_customer(email=f"c{cid}@example.com", id=cid)
        store.add_profile(cid, id=pid)
    ids = []
    for i, members in enumerate(sc.live):
        sid = str(store.add_segment(f"Segment {i}")["id"])
        store.add_members(sid, members)
        ids.append(sid)
    store.add_segment("Undeclared")
    return ids


def write_config(path: Path, sc: Scenario) -> None:
    lines = [
        "version: 1",
        f"store_hash: {STORE}",
        "safety:",
        "  max_removal_percent: 100",
        "segments:",
    ]
    for i, members in enumerate(sc.desired):
        lines += [f"  - name: Segment {i}", "    shopper_profiles:"]
        lines += [f"      - {m}" for m in members]
    path.write_text("\n".join(lines) + "\n")


def run_measured(args: list[str], env: dict[str, str], cwd: Path) -> tuple[int, float, float]:
    """Exit code, wall seconds and peak RSS (MiB) of one child Python process; `args` are
    what follows the interpreter (`-m reconciler ...` or `script.py ...`)."""
    peak = cwd / "peak.txt"
    peak.unlink(missing_ok=True)
    start = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, str(HERE / "peak.py"), str(peak), *args],
        env=env,
        cwd=cwd,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        check=False,
    )
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        err = proc.stderr.decode().strip()[-300:]
        print(f"    ! {' '.join(args)} exited {proc.returncode}: {err}")
    rss = float(peak.read_text()) if peak.exists() else float("nan")
    return proc.returncode, wall, rss


def network_run(
    sc: Scenario,
    mode: str,
    latency_ms: int,
    quota: int | None,
    window_ms: int,
    naive: bool,
    workdir: Path,
) -> dict[str, Any]:
    store = SandboxStore()
    seg_ids = seed(store, sc)
    config = SandboxConfig(
        store_hash=STORE, token=TOKEN, latency_ms=latency_ms, quota=quota, window_ms=window_ms
    )
    cfg = workdir / "segments.yaml"
    write_config(cfg, sc)
    row: dict[str, Any] = {"members": sc.members, "mode": mode, "naive": naive}
    with SandboxServer(store=store, config=config) as server:
        env = {
            **os.environ,
            "BIGCOMMERCE_API_URL": server.url,
            "BIGCOMMERCE_STORE_HASH": STORE,
            "BIGCOMMERCE_ACCESS_TOKEN": TOKEN,
        }
        cli = ["-m", "reconciler"]
        if not naive:
            _, wall, rss = run_measured([*cli, "plan", "-f", str(cfg)], env, workdir)
            log = list(server.log)
            row["plan"] = {
                "requests": len(log),
                "min": sc.min_reads(),
                "wall": wall,
                "span": log[-1]["t_end"] - log[0]["t_start"],
                "rss": rss,
                "429": sum(r["status"] == 429 for r in log),
            }
            server.reset_log()
            time.sleep(window_ms / 1000 if quota else 0)  # start apply on a fresh window
            command = [*cli, "apply", "--auto-approve", "-f", str(cfg)]
        else:
            command = [str(HERE / "naive.py"), str(cfg)]
        code, wall, rss = run_measured(command, env, workdir)
        log = list(server.log)
        converged = all(
            set(store.members(sid)) == set(want)
            for sid, want in zip(seg_ids, sc.desired, strict=True)
        )
        row["apply"] = {
            "requests": len(log),
            "min": sc.min_reads() + sc.min_writes(),
            "span": log[-1]["t_end"] - log[0]["t_start"],
            "slack": SEGMENTS,
            "wall": wall,
            "rss": rss,
            "429": sum(r["status"] == 429 for r in log),
            "ok": code == 0 and converged,
        }
    return row


def repeated(runs: int, *args: Any) -> dict[str, Any]:
    """`network_run` `runs` times: the median wall and net time of each step, and the worst
    of everything else (requests, 429s, memory, convergence)."""
    rows = [network_run(*args) for _ in range(runs)]
    merged: dict[str, Any] = dict(rows[0])
    for step in ("plan", "apply"):
        if step not in rows[0]:
            continue
        each = [row[step] for row in rows]
        merged[step] = {
            **each[0],
            "wall": statistics.median(r["wall"] for r in each),
            "span": statistics.median(r["span"] for r in each),
            "requests": max(r["requests"] for r in each),
            "429": max(r["429"] for r in each),
            "rss": max(r["rss"] for r in each),
            "ok": all(r.get("ok", True) for r in each),
        }
    return merged


def ideal(requests: int, latency_ms: int, quota: int | None, window_ms: int) -> float:
    latency_bound = requests * latency_ms / 1000 / 10
    if quota is None:
        return latency_bound
    return max(latency_bound, requests / (quota / (window_ms / 1000)))


def offline(members: int, workdir: Path) -> dict[str, Any]:
    code = f"""
import time, uuid, json
from pathlib import Path
from reconciler.config import load_config
from reconciler.model import LiveSegment, LiveState
from reconciler.plan import compute_plan
n = {members}
sid = str(uuid.uuid4())
ids = [str(uuid.uuid4()) for _ in range(n)]
path = Path({str(workdir / "offline.yaml")!r})
path.write_text("version: 1\\nsafety:\\n  max_removal_percent: 100\\nsegments:\\n  - name: Big\\n"
                "    shopper_profiles:\\n" + "".join(f"      - {{i}}\\n" for i in ids))
others = [str(uuid.uuid4()) for _ in range(n // 10)]
live = LiveState(segments=(LiveSegment(sid, "Big"),),
                 members={{sid: frozenset(ids[n // 10:] + others)}})
t0 = time.perf_counter()
desired = load_config(path).state
t1 = time.perf_counter()
plan = compute_plan(desired, live, store_hash="s", config_digest="sha256:" + "0" * 64)
t2 = time.perf_counter()
# Peak memory of this process alone (ru_maxrss would include the parent's, see peak.py).
hwm = [ln for ln in Path("/proc/self/status").read_text().splitlines() if ln.startswith("VmHWM:")]
rss = int(hwm[0].split()[1]) / 1024
print(json.dumps({{"load": t1 - t0, "plan": t2 - t1, "add": plan.add_count,
                  "remove": plan.remove_count,
                  "rss": rss}}))
"""
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    return {"members": members, **json.loads(out)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="1000,10000,100000")
    ap.add_argument("--latency-ms", type=int, default=100, help="real API calls take 100+ ms")
    ap.add_argument("--quota", type=int, default=250, help="requests per window (quota runs)")
    ap.add_argument(
        "--window-ms",
        type=int,
        default=5000,
        help="real windows are 30 s; shorter here to save time",
    )
    ap.add_argument("--offline-sizes", default="100000,1000000")
    ap.add_argument("--offline-only", action="store_true")
    ap.add_argument("--skip-naive", action="store_true")
    ap.add_argument(
        "--repeat",
        type=int,
        default=1,
        help="run each scenario N times and print the median times (the naive baseline once)",
    )
    args = ap.parse_args()
    if args.repeat < 1:
        ap.error("--repeat must be at least 1")
    # Byte-compile the package first, as installing it does: with PYTHONDONTWRITEBYTECODE
    # set (some CI images set it), every run would otherwise compile reconciler's source
    # again, 0.1-0.3 s of start-up that no installed copy pays.
    compileall.compile_dir(Path(reconciler.__file__).parent, quiet=1)
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}, {platform.system()}"
    )
    print(
        f"sandbox: {args.latency_ms} ms latency per request; quota runs: {args.quota} "
        f"requests per {args.window_ms} ms; {SEGMENTS} segments, {int(CHANGE * 100)}% "
        "of each removed and as many added"
        + (f"; times are medians of {args.repeat} runs" if args.repeat > 1 else "")
        + "\n"
    )
    with TemporaryDirectory() as tmp:
        work = Path(tmp)
        if not args.offline_only:
            header = (
                f"{'members':>8} {'mode':<8} {'run':<11} {'requests':>9} {'min(+slack)':>12} "
                f"{'429s':>5} {'wall s':>8} {'net s':>7} {'ideal s':>8} {'ratio':>6} "
                f"{'net ratio':>9} {'floor s':>8} {'net/floor':>9} {'peak MiB':>9}"
            )
            print(header)
            print("-" * len(header))
            for size in (int(s) for s in args.sizes.split(",")):
                sc = make_scenario(size)
                runs = [("latency", None), ("quota", args.quota)]
                for mode, quota in runs:
                    row = repeated(
                        args.repeat, sc, mode, args.latency_ms, quota, args.window_ms, False, work
                    )
                    for step in ("plan", "apply"):
                        r = row[step]
                        minimum = r["min"]
                        slack = f"{minimum}(+{r['slack']})" if "slack" in r else str(minimum)
                        best = ideal(minimum, args.latency_ms, quota, args.window_ms)
                        least = max(best, sc.rounds(step == "apply") * args.latency_ms / 1000)
                        ok = "" if r.get("ok", True) else "  NOT CONVERGED"
                        print(
                            f"{size:>8} {mode:<8} {step:<11} {r['requests']:>9} {slack:>12} "
                            f"{r['429']:>5} {r['wall']:>8.2f} {r['span']:>7.2f} {best:>8.2f} "
                            f"{r['wall'] / best:>6.2f} {r['span'] / best:>9.2f} "
                            f"{least:>8.2f} {r['span'] / least:>9.2f} {r['rss']:>9.0f}{ok}"
                        )
                if not args.skip_naive:
                    row = network_run(
                        sc, "latency", args.latency_ms, None, args.window_ms, True, work
                    )
                    r = row["apply"]
                    best = ideal(r["min"], args.latency_ms, None, args.window_ms)
                    print(
                        f"{size:>8} {'latency':<8} {'naive p+a':<11} {r['requests']:>9} "
                        f"{r['min']:>12} {r['429']:>5} {r['wall']:>8.2f} {r['span']:>7.2f} "
                        f"{best:>8.2f} {r['wall'] / best:>6.2f} {r['span'] / best:>9.2f} "
                        f"{'-':>8} {'-':>9} {r['rss']:>9.0f}"
                    )
            print(
                "\nwall = the whole CLI process (start-up and config load included); net = "
                "first request to last response;\nideal = minimum requests / 10 in flight x "
                "latency, or / the quota rate when that is slower;\nfloor = the fewest round "
                "trips in sequence the work's order allows x latency (list, member pages 10 at a "
                "time,\nlook-up, writes, verification), or the ideal when that is slower."
            )
            print(
                "apply's minimum = reads + writes; the slack is the verification count, one "
                "request per segment touched.\n"
            )
        print(f"{'offline':>8} {'load s':>8} {'plan s':>8} {'peak MiB':>9}")
        for size in (int(s) for s in args.offline_sizes.split(",")):
            r = offline(size, work)
            print(f"{size:>8} {r['load']:>8.2f} {r['plan']:>8.2f} {r['rss']:>9.0f}")


if __name__ == "__main__":
    main()
