"""The proof that no graded test passes on an empty answer.

For every assignment, stock nbgrader autogrades two submissions in one course:
- the solution (the source notebook, executed from the top): full marks on every graded cell;
- the untouched release notebook: zero on every graded cell.
nbgrader itself must not fail on either.
"""
import time

import pytest

from conftest import ROOT, assignments
from tools import nbgrade


@pytest.fixture(scope="module", params=assignments())
def graded(request, tmp_path_factory):
    assignment = request.param
    source = ROOT / "source" / assignment / f"{assignment}.ipynb"
    release = ROOT / "release" / assignment / f"{assignment}.ipynb"
    start = time.perf_counter()
    grades, log = nbgrade.autograde(assignment, {"solution": source, "release": release},
                                    workdir=tmp_path_factory.mktemp(assignment))
    print(f"{assignment}: autograded solution + release in {time.perf_counter() - start:.1f} s")
    return assignment, nbgrade.graded_cells(source), grades, log


def test_solution_gets_full_marks_on_every_cell(graded):
    assignment, cells, grades, log = graded
    assert cells, f"{assignment} has no graded cells"
    got = grades["solution"]
    assert set(got) == set(cells), f"graded cells differ: {set(cells) ^ set(got)}"
    short = {gid: (g.score, g.max_score) for gid, g in got.items() if g.score != g.max_score}
    assert not short, f"{assignment} solution loses points on {short}\n{log[-4000:]}"
    assert all(g.max_score == cells[gid] > 0 for gid, g in got.items())


def test_release_gets_zero_on_every_cell(graded):
    assignment, cells, grades, log = graded
    got = grades["release"]
    assert set(got) == set(cells)
    scored = {gid: g.score for gid, g in got.items() if g.score != 0}
    assert not scored, f"{assignment}: the unanswered release scores on {scored}: a test that cannot fail"


def test_grader_raised_nothing(graded):
    assignment, _, _, log = graded
    for bad in ("Traceback (most recent call last)", "| ERROR]"):
        assert bad not in log, f"nbgrader reported an error while grading {assignment}:\n{log[-4000:]}"
