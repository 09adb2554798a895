"""Safe apply for CI: saved plans, the removal guard, partial failure, races, Ctrl-C."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from reconciler.sandbox.faults import FaultConfig
from tests.integration.conftest import TOKEN, Store


def vip(sb: Store, live: int, keep: int, new: int = 0) -> tuple[str, list[str], list[str]]:
    members = sb.profiles(live)
    extra = sb.profiles(new)
    sid = sb.segment("VIP", members)
    desired = members[:keep] + extra
    sb.config({"VIP": desired})
    return sid, members, desired


def writes(sb: Store) -> list[dict[str, object]]:
    return [r for r in sb.log() if r["method"] in ("POST", "DELETE", "PUT")]


# --- saved plans ---------------------------------------------------------------------


def start_apply(sb: Store, *args: str) -> subprocess.Popen[str]:
    """The CLI's apply running in the background, its output captured."""
    return subprocess.Popen(
        [sys.executable, "-m", "reconciler", "apply", *args],
        cwd=sb.workdir,
        env=sb.env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for(
    sb: Store, proc: subprocess.Popen[str], seen: Callable[[dict[str, Any]], bool]
) -> None:
    """Until the sandbox has logged a request `seen` picks out (the run still going)."""
    deadline = time.monotonic() + 30
    while not any(seen(r) for r in sb.log()):
        assert time.monotonic() < deadline and proc.poll() is None
        time.sleep(0.01)


def apply_at_the_prompt(sb: Store) -> tuple[subprocess.Popen[bytes], int, bytes]:
    """Apply in a pseudo-terminal, once it asks for confirmation: the process, the
    terminal's side to read and write, and the output so far."""
    primary, secondary = os.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "reconciler", "apply"],
        cwd=sb.workdir,
        env=sb.env(),
        stdin=secondary,
        stdout=secondary,
        stderr=secondary,
        close_fds=True,
    )
    os.close(secondary)
    output = b""
    deadline = time.monotonic() + 30
    while b"Enter a value" not in output and time.monotonic() < deadline:
        output += os.read(primary, 4096)
    return proc, primary, output


def rest_of(primary: int) -> bytes:
    """What the terminal still holds once the process ended; closes it."""
    output = b""
    try:
        while chunk := os.read(primary, 4096):
            output += chunk
    except OSError:
        pass
    os.close(primary)
    return output


def test_saved_plan_applies_exactly_and_show_renders_it_identically(
    sandbox: Store, tmp_path: Path
) -> None:
    sid, _, desired = vip(sandbox, live=20, keep=16, new=30)
    planned = sandbox.run("plan", "--out", "plan.json")
    assert planned.code == 0
    shown = sandbox.run("show", "plan.json")
    assert shown.out == planned.out
    # Editing the config after review must not change what the reviewed plan applies.
    sandbox.config({"VIP": []})
    applied = sandbox.run("apply", "plan.json")
    assert applied.code == 0, applied.out + applied.err
    assert "Apply complete: 30 added, 4 removed." in applied.out
    assert sandbox.members(sid) == set(desired)
    sandbox.assert_api_rules()


def refused_after(sb: Store, change: Callable[[], object]) -> str:
    """Save a plan, change the store with `change`, apply the plan: refused (exit 1)
    before any write. Its stderr."""
    assert sb.run("plan", "--out", "plan.json").code == 0
    change()
    sb.server.reset_log()
    result = sb.run("apply", "plan.json")
    assert result.code == 1
    assert writes(sb) == []
    return result.err


def test_stale_plan_is_refused_without_any_write(sandbox: Store) -> None:
    sid, members, _ = vip(sandbox, live=20, keep=18, new=5)
    newcomers = sandbox.profiles(3)

    def members_move() -> None:
        sandbox.store.add_members(sid, newcomers)
        sandbox.store.memberships[sid].pop(members[0])

    err = refused_after(sandbox, members_move)
    assert 'segment "VIP": 3 members added, 1 removed since the plan was made' in err


def test_a_saved_plan_whose_new_name_was_taken_since_is_stale_before_any_write(
    sandbox: Store,
) -> None:
    members = sandbox.profiles(3)
    sid = sandbox.segment("Wholesale", members)
    sandbox.config({"Gold": members[:2]}, Gold=f"id: {sid}")  # rename, and remove one
    # Someone takes the name after the review.
    err = refused_after(sandbox, lambda: sandbox.segment("Gold"))
    assert 'segment "Wholesale": another segment is named "Gold" now' in err
    assert sandbox.members(sid) == set(members)


def test_a_saved_plan_for_a_segment_declared_by_name_and_renamed_since_is_stale(
    sandbox: Store,
) -> None:
    # Declared by name, a renamed segment is no longer the config's: applying to it would
    # change a segment the config does not declare, and the next plan would create another.
    sid, members, _ = vip(sandbox, live=6, keep=5, new=2)
    err = refused_after(sandbox, lambda: sandbox.store.segments[sid].update(name="VIP (archived)"))
    assert 'segment "VIP": renamed to "VIP (archived)"' in err
    assert sandbox.members(sid) == set(members)


@pytest.mark.parametrize("named", [False, True])
def test_a_saved_plan_for_a_pinned_segment_renamed_since_still_applies(
    sandbox: Store, named: bool
) -> None:
    # Pinned by id, the id is its identity: the members go where the plan said.
    sid, _, desired = vip(sandbox, live=6, keep=5, new=2)
    sandbox.config({"VIP": desired}, VIP=f"id: {sid}")
    if not named:
        path = sandbox.workdir / "segments.yaml"
        path.write_text(path.read_text().replace("  - name: VIP\n    id:", "  - id:"))
    assert sandbox.run("plan", "--out", "plan.json").code == 0
    sandbox.store.segments[sid].update(name="VIP (archived)")
    applied = sandbox.run("apply", "plan.json")
    assert applied.code == 0, applied.out + applied.err
    assert sandbox.members(sid) == set(desired)


def test_a_saved_plan_for_a_segment_deleted_since_says_so(sandbox: Store) -> None:
    sid = sandbox.segment("Wholesale")
    sandbox.config({"Wholesale": []}, Wholesale="description: Trade accounts")
    err = refused_after(sandbox, lambda: sandbox.store.delete_segments([sid]))
    assert 'segment "Wholesale" no longer exists' in err
    assert "description changed" not in err


@pytest.mark.parametrize("status", [404, 422])  # the API may answer either
def test_a_saved_plan_changing_members_of_a_segment_deleted_since_says_so(
    sandbox: Store, status: int
) -> None:
    sandbox.server.config.unknown_segment_status = status
    sid, _, _ = vip(sandbox, live=5, keep=3, new=2)
    err = refused_after(sandbox, lambda: sandbox.store.delete_segments([sid]))
    assert 'segment "VIP" no longer exists' in err
    # A 422 about the segment is not a refused page size (the one retry at 50 is refused
    # too): the reads after it stay at 250.
    listed = [r for r in sandbox.log() if r["path"].endswith("/segments")]
    assert [r["query"]["limit"] for r in listed] == [["250"]]


def test_a_saved_plan_refuses_a_config_file_and_says_when_it_holds_nothing(
    sandbox: Store,
) -> None:
    vip(sandbox, live=3, keep=3)
    assert sandbox.run("plan", "--out", "plan.json").code == 0
    mixed = sandbox.run("apply", "plan.json", "-f", "segments.yaml")
    assert mixed.code == 1
    assert "-f/--file does not go with a saved plan" in mixed.err
    empty = sandbox.run("apply", "plan.json")
    assert empty.code == 0
    assert empty.out == "No changes: the saved plan holds nothing to apply.\n"


def test_plan_for_another_store_is_refused(sandbox: Store) -> None:
    vip(sandbox, live=5, keep=5, new=1)
    assert sandbox.run("plan", "--out", "plan.json").code == 0
    env = sandbox.env(BIGCOMMERCE_STORE_HASH="otherstore")
    result = sandbox.run("apply", "plan.json", env=env)
    assert result.code == 1
    assert 'made for store "itest", not "otherstore"' in result.err
    assert writes(sandbox) == []


@pytest.mark.parametrize(
    ("content", "fragment"),
    [("{", "truncated"), ('{"format_version": 7}', "version 7"), ("[]", "not a valid plan")],
)
def test_corrupt_plan_files_get_a_clear_error(sandbox: Store, content: str, fragment: str) -> None:
    (sandbox.workdir / "plan.json").write_text(content)
    result = sandbox.run("apply", "plan.json")
    assert result.code == 1
    assert fragment in result.err
    assert sandbox.log() == []


# --- the removal guard ---------------------------------------------------------------


@pytest.mark.parametrize(("removing", "refused"), [(29, False), (30, False), (31, True)])
def test_guard_at_the_limit(sandbox: Store, removing: int, refused: bool) -> None:
    sid, _, _ = vip(sandbox, live=100, keep=100 - removing)
    plan = sandbox.run("plan")
    assert ("apply will refuse this plan" in plan.out) is refused
    result = sandbox.run("apply", "--auto-approve")
    if refused:
        assert result.code == 1
        assert (
            'segment "VIP": 31 of 100 members (31%) would be removed; the limit is 30%'
            in result.err
        )
        assert writes(sandbox) == []
        assert len(sandbox.members(sid)) == 100
    else:
        assert result.code == 0, result.err
        assert len(sandbox.members(sid)) == 100 - removing


def test_allow_removals_must_equal_the_count_the_reviewer_saw(sandbox: Store) -> None:
    sid, _, desired = vip(sandbox, live=100, keep=60)
    wrong = sandbox.run("apply", "--auto-approve", "--allow-removals", "39")
    assert wrong.code == 1
    assert "does not match the plan's 40 removals" in wrong.err
    assert writes(sandbox) == []
    right = sandbox.run("apply", "--auto-approve", "--allow-removals", "40")
    assert right.code == 0, right.err
    assert sandbox.members(sid) == set(desired)


def test_guard_refuses_before_any_write_in_any_segment(sandbox: Store) -> None:
    small = sandbox.profiles(20)
    big = sandbox.profiles(50)
    ok_id = sandbox.segment("Beta", small)
    sandbox.segment("VIP", big)
    sandbox.config({"Beta": small + sandbox.profiles(5), "VIP": big[:10]})
    result = sandbox.run("apply", "--auto-approve")
    assert result.code == 1
    assert writes(sandbox) == []
    assert sandbox.members(ok_id) == set(small)


def test_segments_below_the_minimum_size_may_be_emptied(sandbox: Store) -> None:
    sid, _, _ = vip(sandbox, live=9, keep=0)
    result = sandbox.run("apply", "--auto-approve")
    assert result.code == 0, result.err
    assert sandbox.members(sid) == set()


def test_per_segment_and_file_level_guard_settings(sandbox: Store) -> None:
    members = sandbox.profiles(40)
    sid = sandbox.segment("VIP", members)
    sandbox.config(
        {"VIP": members[:20]},
        extra="safety:\n  max_removal_percent: 10",
        VIP="safety:\n  max_removal_percent: 50",
    )
    result = sandbox.run("apply", "--auto-approve")
    assert result.code == 0, result.err  # 50% allowed by the segment's own setting
    assert len(sandbox.members(sid)) == 20


# --- partial failure and races -------------------------------------------------------


def test_unknown_profiles_fail_by_name_and_everything_else_applies(
    sandbox: Store, tmp_path: Path
) -> None:
    members = sandbox.profiles(10)
    new = sandbox.profiles(120)
    unknown = sorted(str(uuid.uuid4()) for _ in range(3))
    sid = sandbox.segment("VIP", members)
    sandbox.config({"VIP": members[:8] + new + unknown})
    result = sandbox.run("apply", "--auto-approve", "--report", "report.json")
    assert result.code == 1
    for pid in unknown:
        assert pid in result.out
    assert "does not exist" in result.out
    assert sandbox.members(sid) == set(members[:8] + new)
    report = json.loads((sandbox.workdir / "report.json").read_text())
    failed = sorted(c["profile_id"] for c in report["changes"] if c["status"] == "failed")
    assert failed == unknown
    assert report["summary"]["added"] == 120 and report["summary"]["removed"] == 2
    sandbox.assert_api_rules()


def test_another_actor_adding_members_meanwhile_is_not_an_error(sandbox: Store) -> None:
    sid, _, desired = vip(sandbox, live=10, keep=10, new=120)
    racing = desired[10:40]

    def other_actor(method: str, path: str) -> None:
        if method == "POST" and sandbox.server.app.before_handler is not None:
            sandbox.server.app.before_handler = None
            sandbox.store.add_members(sid, racing)

    sandbox.server.app.before_handler = other_actor
    result = sandbox.run("apply", "--auto-approve")
    assert result.code == 0, result.out + result.err
    assert sandbox.members(sid) == set(desired)
    assert any(r["status"] == 409 for r in sandbox.log())
    sandbox.assert_api_rules()
    assert sandbox.run("plan", "--detailed-exitcode").code == 0


def test_removing_a_profile_that_already_left_is_not_an_error(sandbox: Store) -> None:
    sid, members, desired = vip(sandbox, live=20, keep=15)

    def other_actor(method: str, path: str) -> None:
        if method == "DELETE":
            sandbox.store.memberships[sid].pop(members[19], None)

    sandbox.server.app.before_handler = other_actor
    result = sandbox.run("apply", "--auto-approve")
    assert result.code == 0, result.out + result.err
    assert sandbox.members(sid) == set(desired)


def test_a_name_taken_by_someone_else_does_not_fail_the_other_creations(sandbox: Store) -> None:
    """The API refuses a batch of creations whole (409) for one name that exists: that one
    is found in the store, the others are asked for again, and every segment is filled."""
    members = sandbox.profiles(6)
    desired = {"New0": members[:2], "New1": members[2:4], "New2": members[4:]}
    sandbox.config(desired)

    def someone_else(method: str, path: str) -> None:
        if method == "POST" and path == "/segments" and not sandbox.store.segment_by_name("New1"):
            sandbox.store.add_segment("New1")

    sandbox.server.app.before_handler = someone_else
    result = sandbox.run("apply", "--auto-approve")
    assert result.code == 0, result.out + result.err
    log = sandbox.log()
    creates = [r for r in log if r["method"] == "POST" and r["path"].endswith("/segments")]
    assert [r["status"] for r in creates] == [409, 201]
    for name, wanted in desired.items():
        segment = sandbox.store.segment_by_name(name)
        assert segment is not None and sandbox.members(str(segment["id"])) == set(wanted)


def test_verification_reports_a_store_that_does_not_match(sandbox: Store) -> None:
    sid, _, _ = vip(sandbox, live=20, keep=18, new=3)
    intruder = sandbox.profiles(1)

    def other_actor(method: str, path: str) -> None:
        if method == "DELETE":
            sandbox.store.add_members(sid, intruder)

    sandbox.server.app.before_handler = other_actor
    result = sandbox.run("apply", "--auto-approve")
    assert result.code == 1
    assert 'segment "VIP" does not match the plan: 0 planned members missing, 1 unwanted' in (
        result.out
    )


def test_a_verification_that_cannot_read_the_store_is_not_a_success(sandbox: Store) -> None:
    sid, _, desired = vip(sandbox, live=5, keep=5, new=20)
    wrote = []

    def outage_after_the_writes(method: str, path: str) -> None:
        if method == "POST":
            wrote.append(path)
        elif wrote and method == "GET" and path.endswith("/shopper-profiles"):
            raise RuntimeError("the store is unreachable now")

    sandbox.server.app.before_handler = outage_after_the_writes
    result = sandbox.run("apply", "--auto-approve", env=sandbox.env(RECONCILER_MAX_RETRIES="0"))
    assert result.code == 1, result.out + result.err
    assert "Verification: could not re-read the store" in result.out
    assert result.out.splitlines()[-1] == "Apply unverified: 20 added, 0 removed."
    assert sandbox.members(sid) == set(desired)


# --- interruption --------------------------------------------------------------------


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_interrupt_mid_apply_stops_cleanly_and_a_rerun_converges(
    sandbox: Store, sig: signal.Signals
) -> None:
    sid, _, desired = vip(sandbox, live=5, keep=5, new=2000)
    sandbox.server.config.latency_ms = 150
    proc = start_apply(sandbox, "--auto-approve", "--report", "r.json")
    wait_for(sandbox, proc, lambda r: r["method"] == "POST")
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, out + err
    assert "Apply interrupted" in out
    assert "Traceback" not in err
    posts = [r for r in sandbox.log() if r["method"] == "POST"]
    assert 0 < len(posts) < 40  # stopped dispatching long before the 40 batches
    assert all(r["status"] == 201 for r in posts)  # in-flight requests finished, none cut
    # Every planned change is accounted for, in plan order: what was sent as applied,
    # the rest as not attempted (and the summary says how many).
    changes = json.loads((sandbox.workdir / "r.json").read_text())["changes"]
    assert [c["profile_id"] for c in changes] == sorted(set(desired) - set(desired[:5]))
    statuses = [c["status"] for c in changes]
    assert statuses.count("applied") == 50 * len(posts)
    assert statuses.count("not_attempted") == 2000 - 50 * len(posts)
    assert f"{2000 - 50 * len(posts)} not attempted" in out
    assert 5 < len(sandbox.members(sid)) < 2005
    sandbox.server.config.latency_ms = 0
    rerun = sandbox.run("apply", "--auto-approve")
    assert rerun.code == 0, rerun.out + rerun.err
    assert sandbox.members(sid) == set(desired)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_a_second_interrupt_still_leaves_the_summary_and_the_report(
    sandbox: Store, sig: signal.Signals
) -> None:
    # Stopped at once, the requests in flight are cut: what they did is unknown, and the
    # report (replacing an older one at the same path) says so rather than nothing.
    sid, _, desired = vip(sandbox, live=5, keep=5, new=2000)
    (sandbox.workdir / "r.json").write_text('{"old": "an earlier run"}')
    sandbox.server.config.latency_ms = 300
    proc = start_apply(sandbox, "--auto-approve", "--report", "r.json")
    wait_for(sandbox, proc, lambda r: r["method"] == "POST")
    proc.send_signal(sig)
    time.sleep(0.05)
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, out + err
    assert "stopped at once by a second interrupt" in err and "Traceback" not in err
    doc = json.loads((sandbox.workdir / "r.json").read_text())
    statuses = [c["status"] for c in doc["changes"]]
    assert len(statuses) == 2000 and statuses.count("unknown") > 0
    assert set(statuses) <= {"applied", "unknown", "not_attempted"}
    assert doc["summary"]["unknown"] == statuses.count("unknown")
    assert f"{statuses.count('unknown')} unknown" in out.splitlines()[-1]
    time.sleep(0.5)  # the cut requests still land
    sandbox.server.config.latency_ms = 0
    rerun = sandbox.run("apply", "--auto-approve")
    assert rerun.code == 0, rerun.out + rerun.err
    assert sandbox.members(sid) == set(desired)


@pytest.mark.parametrize("command", ["plan", "export"])
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_a_read_stopped_by_a_signal_exits_130_with_a_sentence(
    sandbox: Store, command: str, sig: signal.Signals
) -> None:
    # A cancelled CI job sends SIGTERM: it ends a plan as Ctrl-C does, not a silent 143.
    vip(sandbox, live=5, keep=5, new=2)
    sandbox.server.config.latency_ms = 3000
    proc = subprocess.Popen(
        [sys.executable, "-m", "reconciler", command],
        cwd=sandbox.workdir,
        env=sandbox.env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    wait_for(sandbox, proc, lambda r: r["method"] == "GET")
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=30)
    assert (proc.returncode, out, err.strip()) == (130, "", "Aborted.")


def test_interrupt_while_writes_wait_out_a_429_stops_without_retrying_them(
    sandbox: Store,
) -> None:
    """Every POST meets a 429 announcing a 20 s reset: on Ctrl-C the retries waiting for
    it are dropped (reported failed, as not retried) instead of sent 20 s later."""
    sid, members, _ = vip(sandbox, live=10, keep=10, new=500)
    sandbox.server.set_faults(
        FaultConfig(rate_429=1.0, retry_after_ms=20_000, methods=frozenset({"POST"}))
    )
    proc = start_apply(sandbox, "--auto-approve")
    wait_for(sandbox, proc, lambda r: r["status"] == 429)
    time.sleep(0.3)
    sent = len(sandbox.log())
    started = time.monotonic()
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    assert time.monotonic() - started < 10  # not after the 20 s reset
    assert proc.returncode == 130, out + err
    assert "was not retried: apply was interrupted (ids in --report)" in out
    assert len(sandbox.log()) == sent  # nothing sent after the interrupt
    assert sandbox.members(sid) == set(members)
    sandbox.server.set_faults(None)
    assert sandbox.run("apply", "--auto-approve").code == 0


def test_interrupt_while_apply_still_reads_stops_at_once_with_nothing_changed(
    sandbox: Store,
) -> None:
    sid, members, _ = vip(sandbox, live=1500, keep=1000, new=500)  # pages to read
    sandbox.server.config.latency_ms = 300
    proc = start_apply(sandbox, "--auto-approve")
    wait_for(sandbox, proc, lambda r: "/shopper-profiles" in r["path"])
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, out + err
    assert "apply was interrupted before it changed anything; nothing was changed" in err
    assert "Traceback" not in err and "Do you want" not in out
    assert not any(r["method"] in ("POST", "DELETE", "PUT") for r in sandbox.log())
    # Stopped at once: the first round of member pages, not the rest of the read.
    assert sum("/shopper-profiles" in r["path"] for r in sandbox.log()) <= 10
    assert sandbox.members(sid) == set(members)


@pytest.mark.skipif(not hasattr(os, "openpty"), reason="needs a pseudo-terminal")
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_interrupt_at_the_confirmation_prompt_aborts_at_once(
    sandbox: Store, sig: signal.Signals
) -> None:
    """The prompt blocks the event loop, whose Ctrl-C handler would only run after the
    answer: an interrupt there would be ignored, and a 'yes' typed afterwards applied."""
    sid, members, _ = vip(sandbox, live=3, keep=3, new=2)
    proc, primary, output = apply_at_the_prompt(sandbox)
    # The prompt is written, then the line read: a signal in between is only seen once a
    # line is read (CPython checks signals when the read is interrupted). A person cannot
    # be that quick; give the read a moment to start.
    time.sleep(0.5)
    proc.send_signal(sig)
    proc.wait(timeout=10)  # without typing anything
    output += rest_of(primary)
    assert proc.returncode == 130, output.decode()
    assert b"Aborted." in output and b"Traceback" not in output
    assert sandbox.members(sid) == set(members)
    assert not any(r["method"] in ("POST", "DELETE", "PUT") for r in sandbox.log())


@pytest.mark.parametrize(
    "args",
    [
        ("apply", "--auto-approve", "--report", "missing/r.json"),
        ("apply", "--auto-approve", "--report", "segments.yaml/r.json"),
        ("plan", "--out", "missing/plan.json"),
        ("export", "-o", "missing/segments.yaml"),
    ],
)
def test_a_file_that_cannot_be_written_is_refused_before_any_request(
    sandbox: Store, args: tuple[str, ...]
) -> None:
    vip(sandbox, live=3, keep=1, new=2)
    result = sandbox.run(*args)
    assert result.code == 1, result.out + result.err
    assert f"Error: cannot write {args[-1]}: " in result.err
    assert sandbox.log() == []


def test_a_report_that_cannot_be_written_after_the_writes_still_shows_what_was_done(
    sandbox: Store,
) -> None:
    sid, _, desired = vip(sandbox, live=3, keep=3, new=2)
    reports = sandbox.workdir / "reports"
    reports.mkdir()

    def folder_gone(method: str, path: str) -> None:
        if method == "POST" and reports.exists():
            reports.rmdir()

    sandbox.server.app.before_handler = folder_gone
    result = sandbox.run("apply", "--auto-approve", "--report", "reports/r.json")
    assert result.code == 1, result.out + result.err
    assert result.out.splitlines()[-1] == "Apply complete: 2 added, 0 removed."
    assert "Error: could not write reports/r.json: No such file or directory" in result.err
    assert sandbox.members(sid) == set(desired)


# --- confirmation and progress -------------------------------------------------------


@pytest.mark.skipif(not hasattr(os, "openpty"), reason="needs a pseudo-terminal")
@pytest.mark.parametrize(("answer", "applies"), [("yes", True), ("y", False)])
def test_interactive_apply_accepts_only_yes(sandbox: Store, answer: str, applies: bool) -> None:
    sid, members, desired = vip(sandbox, live=3, keep=3, new=2)
    proc, primary, output = apply_at_the_prompt(sandbox)
    assert b"Only 'yes' will be accepted" in output
    os.write(primary, answer.encode() + b"\n")
    proc.wait(timeout=30)
    output += rest_of(primary)
    assert (proc.returncode == 0) is applies, output.decode()
    assert sandbox.members(sid) == (set(desired) if applies else set(members))
    if applies:
        assert b"Applying" in output  # the progress bar on a terminal


@pytest.mark.skipif(not hasattr(os, "openpty"), reason="needs a pseudo-terminal")
def test_end_of_input_at_the_prompt_cancels_like_any_answer_but_yes(sandbox: Store) -> None:
    # Ctrl-D is an answer (no), not an interrupt: cancelled, exit 1, as `y` is.
    sid, members, _ = vip(sandbox, live=3, keep=3, new=2)
    proc, primary, output = apply_at_the_prompt(sandbox)
    os.write(primary, b"\x04")  # the terminal's end-of-file character, at a line's start
    proc.wait(timeout=30)
    output += rest_of(primary)
    assert proc.returncode == 1, output.decode()
    assert b"Apply cancelled; nothing was changed." in output and b"Aborted" not in output
    assert sandbox.members(sid) == set(members)


def test_a_defect_in_one_segments_apply_still_ends_with_what_was_done(
    sandbox: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An unexpected error (a bug) in one segment's pipeline: the other segment still
    finishes what it started, and apply returns its result with the error as fatal, so
    the summary and the report say what was done instead of nothing."""
    import asyncio

    from reconciler.apply import Applier
    from reconciler.client import BigCommerceClient, ClientSettings
    from reconciler.config import load_config
    from reconciler.runner import make_plan

    members = sandbox.profiles(120)
    ids = {name: sandbox.segment(name) for name in ("A", "B")}
    desired = load_config(sandbox.config({"A": members[:60], "B": members[60:]})).state
    real_verify = Applier._verify

    async def broken_verify(self: Applier, seg: Any) -> None:
        if seg.name == "A":
            raise KeyError("a bug")
        await real_verify(self, seg)

    monkeypatch.setattr(Applier, "_verify", broken_verify)
    settings = ClientSettings(store_hash="itest", token=TOKEN, api_url=sandbox.server.url)

    async def scenario() -> Any:
        async with BigCommerceClient(settings) as client:
            plan = await make_plan(client, desired)
            return await Applier(client, plan).run()

    result = asyncio.run(scenario())
    assert result.fatal is not None
    assert result.fatal.message.startswith("internal error (KeyError); please report it.")
    assert not result.ok
    assert result.added == 120  # both segments' adds were made and recorded
    assert sandbox.members(ids["A"]) == set(members[:60])
    assert sandbox.members(ids["B"]) == set(members[60:])
