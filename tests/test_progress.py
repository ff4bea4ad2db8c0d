"""`make progress` (tools/progress.py) grades a learner's own self-paced notebook with its visible checks.

One run of 01-workspace (the fastest notebook) on a copy where the learner answered one exercise
with the source's solution, one exercise wrongly, and left every other one untouched."""

import nbformat
import pytest
from conftest import ROOT

from tools import progress

# the learner fixture runs notebooks with the visible checks: one worker builds it
pytestmark = [pytest.mark.slow, pytest.mark.grading, pytest.mark.xdist_group("progress")]

NB = "01-workspace"
ANSWERED, WRONG = "nb01_open_workspace", "nb01_q_compute_wait"


def _solution(grade_id: str) -> str:
    source = nbformat.read(ROOT / "source" / NB / f"{NB}.ipynb", as_version=4)
    cell = next(c for c in source.cells if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id)
    return cell.source


@pytest.fixture(scope="module")
def learner(tmp_path_factory):
    """The self-paced notebook as a learner saved it, and what `progress` made of it."""
    folder = tmp_path_factory.mktemp("learner")
    nb = nbformat.read(ROOT / "notebooks" / f"{NB}.ipynb", as_version=4)
    for cell in nb.cells:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if grade_id == f"{ANSWERED}_answer":
            cell.source = _solution(grade_id)
        elif grade_id == f"{WRONG}_answer":
            cell.source = "q_compute_wait = 2   # a number, not one of the letters"
    path = folder / f"{NB}.ipynb"
    nbformat.write(nb, path)
    before = path.read_bytes()
    result = progress.grade_notebook(path)
    return path, before, result


def test_answered_exercise_passes_wrong_one_fails_untouched_ones_not_answered(learner):
    path, _, result = learner
    assert not result.error, result.error
    status = {e.grade_id: e for e in result.exercises}
    graded = {
        c.metadata.nbgrader["grade_id"]
        for c in nbformat.read(path, as_version=4).cells
        if c.metadata.get("nbgrader", {}).get("grade") and c.cell_type == "code"
    }
    assert set(status) == graded
    assert status[ANSWERED].status == progress.PASS
    assert status[ANSWERED].points == status[ANSWERED].max_points > 0
    assert status[WRONG].status == progress.FAIL and status[WRONG].points == 0
    assert "AssertionError" in status[WRONG].message, status[WRONG].message
    others = [e for g, e in status.items() if g not in {ANSWERED, WRONG}]
    assert others and all(e.status == progress.NOT_ANSWERED and e.points == 0 for e in others), [
        (e.grade_id, e.status, e.message) for e in others
    ]
    assert result.points == status[ANSWERED].max_points


def test_the_learners_files_are_left_as_they_were(learner):
    path, before, _ = learner
    assert path.read_bytes() == before
    assert sorted(p.name for p in path.parent.iterdir()) == [path.name]  # no workspace-01/ here


def test_report_and_chart(learner, tmp_path):
    _, _, result = learner
    broken = progress.NotebookProgress("02-experiments", error="cannot read it")
    text = progress.report([result, broken])
    assert f"{result.name}: {result.points:g}/{result.max_points:g} points" in text
    assert f"  pass          {ANSWERED}" in text and f"  fail          {WRONG}" in text
    assert "02-experiments: NOT GRADED: cannot read it" in text
    assert "Course: " in text and "1 notebook(s) not graded" in text
    png = progress.chart([result, broken], tmp_path / "progress.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_clear_errors_for_missing_and_broken_notebooks(tmp_path, capsys):
    assert progress.main([str(tmp_path / "nope.ipynb")]) == 2
    assert "no such notebook" in capsys.readouterr().err
    broken = tmp_path / "03-optimise.ipynb"
    broken.write_text("{ not json")
    result = progress.grade_notebook(broken)
    assert "cannot read" in result.error and str(broken) in result.error
    assert "progress" in (ROOT / "Makefile").read_text()
    assert "progress.png" in (ROOT / ".gitignore").read_text().splitlines()
