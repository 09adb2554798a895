"""The example GitHub Actions workflows and the pre-commit hook.

actionlint (when installed) checks the workflows the way GitHub would read them; the
structural assertions below run everywhere and pin down what the docs promise."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
WORKFLOWS = REPO / "examples" / "github-actions"
NAMES = ["apply.yml", "drift.yml", "multi-store.yml", "plan.yml"]
MARKER = "<!-- reconciler-plan"
# A literal credential: a BigCommerce-style token (long lowercase alphanumeric with digits)
# or a GitHub token. Digests and UUIDs have dashes or colons and do not match.
TOKEN_LIKE = re.compile(
    r"(?<![\w-])(?=[a-z0-9]*\d)(?=[a-z0-9]*[a-z])[a-z0-9]{24,}(?![\w-])|gh[pousr]_\w{20,}|github_pat_"
)
SECRET_EXPR = re.compile(r"^\$\{\{\s*secrets(\.[A-Za-z_][A-Za-z0-9_]*|\[matrix\.\w+\])\s*\}\}$")


def actionlint() -> str | None:
    """actionlint on PATH, or beside this interpreter (a venv's bin, not activated)."""
    found = shutil.which("actionlint")
    beside = Path(sys.executable).with_name("actionlint")
    return found or (str(beside) if beside.exists() else None)


def load(name: str) -> dict[Any, Any]:
    doc = yaml.safe_load((WORKFLOWS / name).read_text())
    assert isinstance(doc, dict), f"{name} is not a mapping"
    return doc


def triggers(doc: dict[Any, Any]) -> dict[str, Any]:
    # YAML 1.1 (PyYAML) reads the key `on` as the boolean True.
    on = doc.get("on", doc.get(True))
    assert on, "the workflow has no `on` triggers"
    return on if isinstance(on, dict) else {t: None for t in ([on] if isinstance(on, str) else on)}


def steps(doc: dict[Any, Any]) -> list[dict[str, Any]]:
    return [step for job in doc["jobs"].values() for step in job["steps"]]


def scripts(doc: dict[Any, Any]) -> str:
    return "\n".join(step.get("run", "") for step in steps(doc))


def scalars(node: Any) -> list[str]:
    if isinstance(node, dict):
        return [s for k, v in node.items() for s in (*scalars(k), *scalars(v))]
    if isinstance(node, list):
        return [s for item in node for s in scalars(item)]
    return [node] if isinstance(node, str) else []


def envs(doc: dict[Any, Any]) -> list[dict[str, Any]]:
    """Every env block: the workflow's, each job's, each step's."""
    blocks = [doc.get("env") or {}]
    for job in doc["jobs"].values():
        blocks.append(job.get("env") or {})
        blocks += [step.get("env") or {} for step in job["steps"]]
    return blocks


def test_the_documented_workflows_are_all_there() -> None:
    assert sorted(p.name for p in WORKFLOWS.glob("*.yml")) == NAMES
    doc = (REPO / "docs" / "github-actions.md").read_text()
    for name in NAMES:
        assert f"examples/github-actions/{name}" in doc, name


def test_actionlint_accepts_every_workflow() -> None:
    tool = actionlint()
    if tool is None:
        pytest.skip("actionlint is not installed")
    result = subprocess.run(
        [tool, "-no-color", *(str(WORKFLOWS / n) for n in NAMES)],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_actionlint_is_real_it_rejects_a_broken_workflow(tmp_path: Path) -> None:
    """So the test above cannot pass by running a linter that accepts anything."""
    tool = actionlint()
    if tool is None:
        pytest.skip("actionlint is not installed")
    broken = tmp_path / "broken.yml"
    broken.write_text(
        "on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n"
        "    steps:\n      - run: echo ${{ secret.TOKEN }}\n"
    )
    result = subprocess.run([tool, "-no-color", str(broken)], capture_output=True, text=True)
    assert result.returncode != 0
    assert "secret" in result.stdout


@pytest.mark.parametrize("name", NAMES)
def test_workflow_shape(name: str) -> None:
    doc = load(name)
    assert doc.get("name")
    assert triggers(doc)
    assert doc["jobs"], "no jobs"
    for job_id, job in doc["jobs"].items():
        assert job.get("runs-on"), job_id
        assert job.get("timeout-minutes"), f"{job_id} could hang for GitHub's 6 hours"
        assert job.get("steps"), job_id
    for step in steps(doc):
        if "uses" in step:
            assert re.fullmatch(r"[\w.-]+/[\w.-]+@v?\d[\w.]*", step["uses"]), step["uses"]
    # Least privilege, declared: never the default token's broad rights.
    permissions = doc.get("permissions")
    assert isinstance(permissions, dict) and permissions.get("contents") == "read"
    assert set(permissions.values()) <= {"read", "write"}
    assert {k for k, v in permissions.items() if v == "write"} <= {"pull-requests"}


@pytest.mark.parametrize("name", NAMES)
def test_secrets_come_only_from_secret_expressions(name: str) -> None:
    doc = load(name)
    credential_vars = 0
    for block in envs(doc):
        for key, value in block.items():
            if re.search(r"TOKEN|SECRET|PASSWORD|STORE_HASH", key):
                credential_vars += 1
                assert SECRET_EXPR.match(str(value)), f"{key}: {value!r}"
    assert credential_vars > 0, "the workflow never passes a token to reconciler"
    for text in scalars(doc):
        assert not TOKEN_LIKE.search(text), f"a literal token-like value: {text!r}"


def test_the_token_check_would_catch_a_literal_token() -> None:
    assert TOKEN_LIKE.search("BIGCOMMERCE_ACCESS_TOKEN=k3j4h5g6f7d8s9a0q1w2e3r4t5y6u7i")
    assert TOKEN_LIKE.search("ghp_" + "a" * 36)
    assert not TOKEN_LIKE.search("sha256:" + "0" * 64)
    assert not SECRET_EXPR.match("${{ env.TOKEN }}")
    assert SECRET_EXPR.match("${{ secrets[matrix.token_secret] }}")


@pytest.mark.parametrize("name", NAMES)
def test_no_expression_is_spliced_into_a_script(name: str) -> None:
    # `${{ }}` inside `run:` is pasted into the shell before it runs: script injection.
    # Values reach scripts through env instead.
    assert "${{" not in scripts(load(name))


def test_plan_workflow() -> None:
    doc = load("plan.yml")
    assert "pull_request" in triggers(doc)
    assert triggers(doc)["pull_request"]["paths"]
    assert doc["permissions"] == {"contents": "read", "pull-requests": "write"}
    run = scripts(doc)
    assert "reconciler validate" in run
    assert "reconciler plan --out plan.json --detailed-exitcode" in run
    assert re.search(r"^\s*2\)", run, flags=re.MULTILINE), "exit 2 (changes) is a success"
    assert "reconciler show plan.json --format markdown > plan.md" in run
    uploads = [s for s in steps(doc) if s.get("uses", "").startswith("actions/upload-artifact")]
    assert uploads and {"plan.json", "plan.md"} <= set(uploads[0]["with"]["path"].split())
    (comment,) = [s for s in steps(doc) if s.get("uses", "").startswith("actions/github-script")]
    script = comment["with"]["script"]
    assert MARKER in script
    for call in ("listComments", "updateComment", "createComment", "paginate"):
        assert call in script, call


def test_apply_workflow() -> None:
    doc = load("apply.yml")
    assert triggers(doc)["push"]["branches"] == ["main"]
    concurrency = doc["concurrency"]
    assert concurrency["group"] and concurrency["cancel-in-progress"] is False
    run = scripts(doc)
    assert "--auto-approve --report report.json" in run
    assert "reconciler" in run and '"${args[@]}"' in run
    (upload,) = [s for s in steps(doc) if s.get("uses", "").startswith("actions/upload-artifact")]
    assert upload["if"] == "always()" and upload["with"]["path"] == "report.json"
    # The trade-off with applying the reviewed plan is written down where it is chosen.
    text = (WORKFLOWS / "apply.yml").read_text()
    assert "reconciler apply plan.json" in text


def test_drift_workflow() -> None:
    doc = load("drift.yml")
    on = triggers(doc)
    assert on["schedule"][0]["cron"] and "workflow_dispatch" in on
    run = scripts(doc)
    assert "--detailed-exitcode" in run
    drift_case = run[run.index("2)") :]
    assert "drifted" in drift_case and "exit 1" in drift_case


def test_multi_store_workflow() -> None:
    doc = load("multi-store.yml")
    (job,) = doc["jobs"].values()
    strategy = job["strategy"]
    assert strategy["fail-fast"] is False
    include = strategy["matrix"]["include"]
    assert len(include) >= 2
    for entry in include:
        assert {"store", "config", "token_secret"} <= set(entry)
    assert len({e["token_secret"] for e in include}) == len(include), "one secret per store"
    tokens = [
        s["env"]["BIGCOMMERCE_ACCESS_TOKEN"]
        for s in job["steps"]
        if "BIGCOMMERCE_ACCESS_TOKEN" in (s.get("env") or {})
    ]
    assert tokens and all(t == "${{ secrets[matrix.token_secret] }}" for t in tokens)
    assert '-f "$CONFIG"' in scripts(doc)


def hook() -> dict[str, Any]:
    hooks = yaml.safe_load((REPO / ".pre-commit-hooks.yaml").read_text())
    assert isinstance(hooks, list)
    (only,) = [h for h in hooks if h["id"] == "reconciler-validate"]
    return dict(only)


def test_pre_commit_hook_fields() -> None:
    h = hook()
    assert h["name"] and h["language"] == "python"
    assert "validate" in h["entry"]
    # pre-commit appends file names, several per call: the entry must take them all.
    assert h.get("pass_filenames", True) is True
    files = re.compile(h["files"])
    for path in ("segments.yaml", "segments.yml", "stores/eu/segments.yaml"):
        assert files.search(path), path
    for path in ("segments.yaml.example", "my-segments.yaml", "segments.json", "xsegments.yml"):
        assert not files.search(path), path


def run_hook(*files: Path) -> subprocess.CompletedProcess[str]:
    """Exactly what pre-commit runs: the entry, split like a shell, the files appended;
    `python` is the hook environment's interpreter, here this one."""
    argv = shlex.split(hook()["entry"])
    assert argv[0] == "python"
    return subprocess.run(
        [sys.executable, *argv[1:], *map(str, files)], capture_output=True, text=True, cwd=REPO
    )


def test_pre_commit_entry_validates_each_staged_file_on_its_own(tmp_path: Path) -> None:
    # Two stores' configs may declare the same segment name: not a duplicate.
    store_a, store_b = tmp_path / "a" / "segments.yaml", tmp_path / "b" / "segments.yml"
    for path in (store_a, store_b):
        path.parent.mkdir()
        path.write_text("version: 1\nsegments:\n  - name: VIP\n    shopper_profiles: []\n")
    result = run_hook(store_a, store_b)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"{store_a}: valid" in result.stdout and f"{store_b}: valid" in result.stdout


def test_pre_commit_entry_fails_on_any_invalid_file_and_names_it(tmp_path: Path) -> None:
    good, bad = tmp_path / "segments.yaml", tmp_path / "stores" / "segments.yml"
    good.write_text("version: 1\nsegments: []\n")
    bad.parent.mkdir()
    bad.write_text("version: 1\nsegments: [\n")
    result = run_hook(bad, good)
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"{bad}:" in result.stderr
    assert f"{good}: valid" in result.stdout, "a bad file must not stop the others"


@pytest.mark.parametrize("name", NAMES)
def test_a_failed_plan_still_updates_its_comment(name: str) -> None:
    # Skipped on failure, the comment would go on showing the last good, outdated plan.
    comments = [s for s in steps(load(name)) if "comment" in s.get("name", "").lower()]
    for step in comments:
        assert "!cancelled()" in step.get("if", ""), f"{name}: {step['name']}"
        assert "plan failed" in step["with"]["script"], f"{name}: no body for a failed plan"
