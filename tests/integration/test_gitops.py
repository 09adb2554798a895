"""Fitting into GitOps: several config files, GitHub Actions annotations and summaries."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.integration.conftest import Store


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def segment_yaml(name: str, members: list[str], safety: str = "") -> str:
    lines = [
        "version: 1",
        *([safety] if safety else []),
        "segments:",
        f"  - name: {name}",
        "    shopper_profiles:",
    ]
    return "\n".join(lines + [f"      - {m}" for m in members]) + "\n"


def test_a_directory_of_files_is_one_config(sandbox: Store) -> None:
    vip_members, beta_members = sandbox.profiles(20), sandbox.profiles(20)
    vip = sandbox.segment("VIP", vip_members)
    beta = sandbox.segment("Beta", beta_members)
    teams = sandbox.workdir / "segments"
    # Each file's safety block applies to its own segments only.
    write(
        teams / "marketing" / "vip.yaml",
        segment_yaml("VIP", vip_members[:10], "safety:\n  max_removal_percent: 60"),
    )
    write(teams / "product" / "beta.yml", segment_yaml("Beta", beta_members[:10]))
    plan = sandbox.run("plan", "-f", "segments")
    assert plan.code == 0, plan.err
    assert "Warning: apply will refuse" in plan.out
    assert 'segment "Beta": 10 of 20 members (50%)' in plan.out
    assert 'segment "VIP": 10 of 20' not in plan.out
    result = sandbox.run("apply", "-f", "segments", "--auto-approve", "--allow-removals", "20")
    assert result.code == 0, result.err
    assert sandbox.members(vip) == set(vip_members[:10])
    assert sandbox.members(beta) == set(beta_members[:10])


def test_a_segment_declared_in_two_files_names_both_places(sandbox: Store) -> None:
    members = sandbox.profiles(2)
    a = write(sandbox.workdir / "a.yaml", segment_yaml("VIP", members))
    b = write(sandbox.workdir / "b.yaml", segment_yaml("VIP", members[:1]))
    for command in ("validate", "plan"):
        result = sandbox.run(command, "-f", str(a), "-f", str(b))
        assert result.code == 1
        assert f'{b}:3:5: segment "VIP" is declared twice: here and at {a}:3:5' in result.err
    assert sandbox.log() == []


def test_one_store_segment_declared_by_name_and_by_id_is_refused_before_any_write(
    sandbox: Store,
) -> None:
    """Validation cannot tell (it needs the store's ids); two memberships for one segment
    would flip it on every apply, so plan and apply refuse, naming both places."""
    members = sandbox.profiles(6)
    sid = sandbox.segment("VIP", members[:3])
    a = write(sandbox.workdir / "a.yaml", segment_yaml("VIP", members[:4]))
    b = write(
        sandbox.workdir / "b.yaml",
        f"version: 1\nsegments:\n  - id: {sid}\n    shopper_profiles:\n      - {members[5]}\n",
    )
    assert sandbox.run("validate", "-f", str(a), "-f", str(b)).code == 0
    for args in (("plan",), ("apply", "--auto-approve")):
        result = sandbox.run(*args, "-f", str(a), "-f", str(b))
        assert result.code == 1, result.out
        assert (
            f'{b}:3:5: segment "VIP" ({sid}) is declared twice: here and at {a}:3:5; '
            "declare each segment once"
        ) in result.err
    assert not any(r["method"] in ("POST", "DELETE", "PUT") for r in sandbox.log())
    assert sandbox.members(sid) == set(members[:3])


def test_validate_takes_files_as_pre_commit_passes_them(sandbox: Store) -> None:
    good = write(sandbox.workdir / "good.yaml", segment_yaml("VIP", sandbox.profiles(1)))
    bad = write(sandbox.workdir / "bad.yaml", "version: 1\nsegments:\n  - name: X\n    prune: 3\n")
    assert sandbox.run("validate", str(good)).code == 0
    result = sandbox.run("validate", str(good), str(bad))
    assert result.code == 1
    assert f"{bad}:4:" in result.err
    # -f with FILES is checked with them, not dropped.
    mixed = sandbox.run("validate", "-f", str(bad), str(good))
    assert mixed.code == 1
    assert f"{bad}:4:" in mixed.err


def test_github_actions_gets_annotations_on_the_right_lines(sandbox: Store) -> None:
    bad = write(
        sandbox.workdir / "segments.yaml",
        "version: 1\nsegments:\n  - name: VIP\n    shopper_profiles:\n      - nope\n",
    )
    env = sandbox.env(GITHUB_ACTIONS="true")
    for command in ("validate", "plan"):
        result = sandbox.run(command, env=env)
        assert result.code == 1
        lines = [ln for ln in result.err.splitlines() if ln.startswith("::error ")]
        assert lines and lines[0].startswith(f"::error file={bad.name},line=5,col=9::"), result.err
    plain = sandbox.run("validate")
    assert "::error" not in plain.out + plain.err


def test_annotations_leave_a_json_or_markdown_plan_on_stdout_whole(sandbox: Store) -> None:
    """A config warning (a profile listed twice) is annotated on stderr: stdout stays the
    JSON document or the markdown comment with its marker on the first line."""
    members = sandbox.profiles(2)
    sandbox.segment("VIP", members[:1])
    sandbox.config({"VIP": [members[0], members[0], members[1]]})
    env = sandbox.env(GITHUB_ACTIONS="true")
    as_json = sandbox.run("plan", "--format", "json", env=env)
    assert as_json.code == 0, as_json.err
    assert json.loads(as_json.out)["summary"]["add"] == 1
    assert "::warning file=segments.yaml,line=" in as_json.err
    as_markdown = sandbox.run("plan", "--format", "markdown", env=env)
    assert as_markdown.out.startswith("<!-- reconciler-plan: ")


def test_markdown_plan_and_the_github_step_summary(sandbox: Store) -> None:
    members = sandbox.profiles(30)
    sandbox.segment("VIP", members[:20])
    sandbox.config({"VIP": members[5:30]})
    md = sandbox.run("plan", "--format", "markdown")
    assert md.code == 0, md.err
    assert md.out.startswith("<!-- reconciler-plan: store=itest -->")
    assert "Plan: 10 to add, 5 to remove." in md.out
    assert "<details>" in md.out
    summary = sandbox.workdir / "summary.md"
    summary.write_text("earlier step\n")
    env = sandbox.env(GITHUB_ACTIONS="true", GITHUB_STEP_SUMMARY=str(summary))
    text = sandbox.run("plan", env=env)
    assert text.out.splitlines()[-1] == "Plan: 10 to add, 5 to remove."  # stdout stays text
    written = summary.read_text()
    assert written.startswith("earlier step\n<!-- reconciler-plan")  # appended, not replaced
    assert "Plan: 10 to add, 5 to remove." in written
    saved = sandbox.run("plan", "--out", "plan.json", "--format", "markdown")
    assert saved.code == 0
    assert sandbox.run("show", "plan.json", "--format", "markdown").out == saved.out


@pytest.mark.parametrize("ci", [{"GITHUB_ACTIONS": "true"}, {"CI": "true"}])
def test_in_ci_the_text_plan_masks_emails_unless_asked(sandbox: Store, ci: dict[str, str]) -> None:
    # A CI log is public on a public repository: emails are masked as in the PR comment.
    members = sandbox.profiles(3)
    sandbox.segment("VIP", members)
    sandbox.config({"VIP": members[:1]}, extra="safety:\n  max_removal_percent: 100")
    terminal = sandbox.run("plan")
    assert "(customer 2, c2@example.com)" in terminal.out
    env = sandbox.env(**ci)
    logged = sandbox.run("plan", env=env)
    assert "(customer 2, c***@example.com)" in logged.out
    assert "@example.com" not in logged.out.replace("c***@example.com", "")
    shown = sandbox.run("plan", "--show-emails", env=env)
    assert shown.out == terminal.out
    as_json = sandbox.run("plan", "--format", "json", "--out", "plan.json", env=env)
    assert json.loads(as_json.out)["emails"] == {members[1]: "c***@example.com"} | {
        members[2]: "c***@example.com"
    }
    saved = json.loads((sandbox.workdir / "plan.json").read_text())  # the artifact: in full
    assert saved["emails"][members[1]] == "c2@example.com"
    full = sandbox.run("plan", "--format", "json", "--show-emails", env=env)
    assert json.loads(full.out)["emails"][members[1]] == "c2@example.com"
    applied = sandbox.run("apply", "--auto-approve", env=env)
    assert applied.code == 0 and "(customer 2, c***@example.com)" in applied.out
    assert "@example.com" not in applied.out.replace("c***@example.com", "")


def test_an_unwritable_step_summary_is_a_warning_not_a_failed_plan(sandbox: Store) -> None:
    members = sandbox.profiles(2)
    sandbox.segment("VIP", members[:1])
    sandbox.config({"VIP": members})
    missing = sandbox.workdir / "no-such-dir" / "summary.md"
    env = sandbox.env(GITHUB_ACTIONS="true", GITHUB_STEP_SUMMARY=str(missing))
    result = sandbox.run("plan", "--detailed-exitcode", env=env)
    assert result.code == 2, result.err
    assert result.out.splitlines()[-1] == "Plan: 1 to add, 0 to remove."
    assert "could not write the step summary (GITHUB_STEP_SUMMARY): " in result.err


# An ASCII stream gets UTF-8 from click itself; cp1252 (a Windows console) has no such help.
@pytest.mark.parametrize(
    ("encoding", "shown"), [("cp1252", "VIP \\u4f1a\\u5458"), ("ascii", "VIP 会员")]
)
def test_names_the_output_encoding_cannot_show_are_escaped_not_an_error(
    sandbox: Store, encoding: str, shown: str
) -> None:
    members = sandbox.profiles(2)
    sandbox.segment("VIP 会员", members[:1])
    sandbox.config({"VIP 会员": members})
    result = sandbox.run("plan", env=sandbox.env(PYTHONIOENCODING=encoding))
    assert result.code == 0, result.err
    assert f'# segment "{shown}"' in result.out
    assert result.out.splitlines()[-1] == "Plan: 1 to add, 0 to remove."


def test_a_plan_with_stdout_closed_ends_without_an_internal_error(sandbox: Store) -> None:
    members = sandbox.profiles(2)
    sandbox.segment("VIP", members[:1])
    sandbox.config({"VIP": members})
    command = f'"{sys.executable}" -m reconciler plan --detailed-exitcode >&-; echo "exit $?" >&2'
    env = sandbox.env()
    del env["NO_COLOR"]  # so the colour check looks at stdout, which is None
    proc = subprocess.run(
        ["bash", "-c", command],
        cwd=sandbox.workdir,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.stderr == "exit 2\n"


def test_export_with_stdout_closed_says_so_instead_of_exporting_nowhere(sandbox: Store) -> None:
    sandbox.segment("VIP", sandbox.profiles(2))
    command = f'"{sys.executable}" -m reconciler export >&-; echo "exit $?" >&2'
    proc = subprocess.run(
        ["bash", "-c", command],
        cwd=sandbox.workdir,
        env=sandbox.env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.stderr == ("Error: standard output is closed: give a file with -o FILE\nexit 1\n")
    assert sandbox.log() == []
