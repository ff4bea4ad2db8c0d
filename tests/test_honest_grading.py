"""The proof that no graded test passes on an empty answer.

For every assignment, stock nbgrader autogrades, in one course (tests/nbgrader_class.py, shared with
the wrong-answer catalogue):
- the solution (the source notebook, executed from the top): full marks on every graded cell, and
  no error in any cell (teaching cells included);
- the untouched release notebook: zero on every graded cell.
nbgrader itself must not fail on either.
"""

import pytest
from conftest import assignments
from nbgrader_class import graded_class, graded_param

pytestmark = [pytest.mark.slow, pytest.mark.grading]


@pytest.fixture(scope="module", params=[graded_param(a) for a in assignments()])
def graded(request, tmp_path_factory):
    return graded_class(request.param, tmp_path_factory)


def test_solution_gets_full_marks_on_every_cell(graded):
    cells, got = graded.points, graded.grades["solution"]
    assert cells, f"{graded.assignment} has no graded cells"
    assert set(got) == set(cells), f"graded cells differ: {set(cells) ^ set(got)}"
    short = {gid: (g.score, g.max_score) for gid, g in got.items() if g.score != g.max_score}
    assert not short, f"{graded.assignment} solution loses points on {short}\n{graded.log[-4000:]}"
    assert all(g.max_score == cells[gid] > 0 for gid, g in got.items())


def test_solution_runs_without_an_error_in_any_cell(graded):
    """Teaching cells are not graded: a demo that broke would only show as an error in the run."""
    nb = graded.executed("solution")
    errors = [
        (i, f"{o.ename}: {o.evalue}"[:300])
        for i, c in enumerate(nb.cells)
        if c.cell_type == "code"
        for o in c.get("outputs", [])
        if o.output_type == "error"
    ]
    assert not errors, f"{graded.assignment} solution: errors in cells {errors}"


def test_release_gets_zero_on_every_cell(graded):
    got = graded.grades["release"]
    assert set(got) == set(graded.points)
    scored = {gid: g.score for gid, g in got.items() if g.score != 0}
    assert not scored, f"{graded.assignment}: the unanswered release scores on {scored}: a test that cannot fail"


def test_grader_raised_nothing(graded):
    for bad in ("Traceback (most recent call last)", "| ERROR]"):
        assert bad not in graded.log, (
            f"nbgrader reported an error while grading {graded.assignment}:\n{graded.log[-4000:]}"
        )


def test_no_graded_notebook_leaves_a_process_behind(graded):
    assert graded.survivors == [], f"{graded.assignment}: processes outlived their notebook: {graded.survivors}"
