"""One source, two editions: both rebuilt byte for byte, and nothing secret leaks into them."""

import json
import shutil
import subprocess
import sys

import pytest
from conftest import assignments

LEAKS = ("BEGIN SOLUTION", "END SOLUTION", "BEGIN HIDDEN TESTS", "END HIDDEN TESTS")


def test_there_are_assignments():
    assert assignments(), "source/ holds no assignment"


@pytest.mark.parametrize("assignment", assignments())
def test_source_committed_without_outputs(root, assignment):
    nb = json.loads((root / "source" / assignment / f"{assignment}.ipynb").read_text())
    dirty = [
        c.get("id") for c in nb["cells"] if c["cell_type"] == "code" and (c.get("outputs") or c.get("execution_count"))
    ]
    assert not dirty, f"{assignment}: cells with outputs {dirty}; clear them before committing"


@pytest.mark.parametrize("assignment", assignments())
def test_editions_carry_no_solution_or_hidden_test(root, assignment):
    for path in (root / "release" / assignment / f"{assignment}.ipynb", root / "notebooks" / f"{assignment}.ipynb"):
        text = path.read_text()
        for marker in LEAKS:
            assert marker not in text, f"{path.relative_to(root)} carries {marker!r}"
    # hidden test lines must not survive anywhere in the editions
    source = json.loads((root / "source" / assignment / f"{assignment}.ipynb").read_text())
    hidden = []
    for cell in source["cells"]:
        src = cell["source"] if isinstance(cell["source"], str) else "".join(cell["source"])
        if "### BEGIN HIDDEN TESTS" in src:
            block = src.split("### BEGIN HIDDEN TESTS", 1)[1].split("### END HIDDEN TESTS", 1)[0]
            hidden += [line.strip() for line in block.splitlines() if len(line.strip()) > 25]
    assert hidden, f"{assignment}: no hidden tests at all"
    for path in (root / "release" / assignment / f"{assignment}.ipynb", root / "notebooks" / f"{assignment}.ipynb"):
        text = "".join(
            c["source"] if isinstance(c["source"], str) else "".join(c["source"])
            for c in json.loads(path.read_text())["cells"]
        )
        leaked = [h for h in hidden if h in text]
        assert not leaked, f"{path.relative_to(root)} shows hidden test lines: {leaked[:3]}"


@pytest.mark.slow
def test_fresh_build_reproduces_committed_editions(root, tmp_path):
    shutil.copytree(root / "source", tmp_path / "source")
    shutil.copy(root / "nbgrader_config.py", tmp_path)
    proc = subprocess.run(
        [sys.executable, str(root / "tools" / "release.py"), "--root", str(tmp_path)], capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for assignment in assignments():
        for rel in (f"release/{assignment}/{assignment}.ipynb", f"notebooks/{assignment}.ipynb"):
            committed = root / rel
            assert committed.exists(), f"{rel} is not committed: run `make release`"
            assert committed.read_bytes() == (tmp_path / rel).read_bytes(), (
                f"{rel} differs from a fresh build of source/: run `make release` and commit"
            )
    built = {p.name for p in (tmp_path / "notebooks").glob("*.ipynb")}
    committed = {p.name for p in (root / "notebooks").glob("*.ipynb")}
    assert committed == built, f"notebooks/ has stale editions: {sorted(committed - built)}"
