"""The wrong-answer catalogue: every check catches plausible wrong answers and keeps right ones.

For each assignment, `tests/answer_catalogue/<assignment>.py` lists, per graded test cell,
plausible wrong answers (`WRONG`) and differently written right answers (`RIGHT`), each the full
new source of that exercise's answer cell `<grade id>_answer`. Stock nbgrader grades them in ONE
autograde per assignment, together with the honest-grading notebooks (tests/nbgrader_class.py):

- the wrong round: the full solution with EVERY exercise's answer cell replaced by its first wrong
  answer at once. Each replaced exercise must score 0 on its test cell; every other graded cell
  must keep full marks. Doing all exercises at once also proves that no exercise depends on
  another exercise's answer (teaching cells must not either);
- every other entry is graded in that same notebook as a copy of its exercise (its answer and test
  cells again, starting from the names the exercise started from): a wrong one must score 0, a
  right one full marks. The last copy of each exercise is its own solution, the control: it must
  keep full marks, so the state the copies started from was sound. Exercises whose checks read what
  an answer left on disk or in MLflow (`FROM_SNAPSHOT`) start each copy from a snapshot of the
  notebook's folder and MLflow state taken before the exercise's answer.

So a catalogue entry is a one-cell change of the solution that must lose exactly that cell's points.
"""

from __future__ import annotations

import pytest
from conftest import ROOT, assignments
from nbgrader_class import CATALOGUE, from_snapshot, graded_class, graded_param, load_catalogue, snapshot_objects

from autograder.course_files import answer_cells, notebook_path, read
from tools import nbgrade

MIN_WRONG_PER_CELL = 2
MIN_RIGHT_PER_NOTEBOOK = 3


def load(assignment: str) -> tuple[dict, dict]:
    return load_catalogue(assignment)


def source_notebook(assignment: str):
    return read(notebook_path(ROOT, assignment))


@pytest.mark.parametrize("assignment", assignments())
def test_catalogue_is_complete(assignment):
    """Every graded test cell has >= 2 wrong answers; >= 3 right ones per notebook; all well formed."""
    path = CATALOGUE / f"{assignment}.py"
    assert path.exists(), f"{assignment} has no wrong-answer catalogue: write {path.relative_to(ROOT)}"
    wrong, right = load(assignment)
    nb = source_notebook(assignment)
    graded = nbgrade.graded_cells(ROOT / "source" / assignment / f"{assignment}.ipynb")
    answers = answer_cells(nb)
    problems = []
    problems += [
        f"FROM_SNAPSHOT[{tid}]: not a graded test cell" for tid in from_snapshot(assignment) if tid not in graded
    ]
    problems += [
        f"SNAPSHOT_OBJECTS[{tid}]: not in FROM_SNAPSHOT"
        for tid in snapshot_objects(assignment)
        if tid not in from_snapshot(assignment)
    ]
    for tid in set(wrong) | set(right):
        if tid not in graded:
            problems.append(f"{tid}: not a graded test cell of {assignment}")
        elif f"{tid}_answer" not in answers:
            problems.append(f"{tid}: no answer cell named {tid}_answer")
    for tid in graded:
        n = len(wrong.get(tid, []))
        if n < MIN_WRONG_PER_CELL:
            problems.append(f"{tid}: {n} wrong answer(s), need >= {MIN_WRONG_PER_CELL}")
    n_right = sum(len(v) for v in right.values())
    if n_right < MIN_RIGHT_PER_NOTEBOOK:
        problems.append(f"{n_right} right answer(s) in all, need >= {MIN_RIGHT_PER_NOTEBOOK}")
    for kind, table in (("WRONG", wrong), ("RIGHT", right)):
        for tid, entries in table.items():
            for i, entry in enumerate(entries):
                if not (isinstance(entry, tuple) and len(entry) == 2 and all(isinstance(x, str) for x in entry)):
                    problems.append(f"{kind}[{tid}][{i}]: expected (why, source) strings")
                elif "BEGIN SOLUTION" in entry[1] or "END SOLUTION" in entry[1]:
                    problems.append(f"{kind}[{tid}][{i}]: write the answer as a learner would, no solution markers")
                elif f"{tid}_answer" in answers and entry[1].strip() == answers[f"{tid}_answer"].source.strip():
                    problems.append(f"{kind}[{tid}][{i}]: identical to the solution cell")
    assert not problems, f"{assignment} catalogue:\n  " + "\n  ".join(problems)


@pytest.fixture(scope="module", params=[graded_param(a) for a in assignments() if (CATALOGUE / f"{a}.py").exists()])
def graded_catalogue(request, tmp_path_factory):
    return graded_class(request.param, tmp_path_factory)


def _where(gid: str, entry) -> str:
    return gid if entry is None or entry.exercise == gid else f"{entry.exercise} (graded as copy {gid})"


@pytest.mark.slow
@pytest.mark.grading
def test_wrong_answers_lose_exactly_their_cell(graded_catalogue):
    c = graded_catalogue
    failures = []
    for student, entries in c.plan.items():
        got = c.grades.get(student, {})
        if set(got) != set(c.points_of[student]):
            failures.append(f"{student}: graded cells {sorted(got)} != {sorted(c.points_of[student])}")
            continue
        for gid, points in c.points_of[student].items():
            score, entry = got[gid].score, entries.get(gid)
            if entry is not None and entry.kind == "wrong" and score != 0:
                failures.append(f"{student} {_where(gid, entry)}: wrong answer kept {score}/{points}: {entry.why}")
            elif entry is None and score != points:
                failures.append(
                    f"{student} {gid}: lost points ({score}/{points}) though only other cells "
                    "changed: it depends on another exercise's answer"
                )
    wrong = {(e.exercise, e.source) for entries in c.plan.values() for e in entries.values() if e.kind == "wrong"}
    catalogue, _ = load(c.assignment)
    assert len(wrong) == sum(len(v) for v in catalogue.values()), "a wrong answer of the catalogue was not graded"
    assert not failures, f"{c.assignment}:\n  " + "\n  ".join(failures) + f"\n{c.log[-3000:]}"


@pytest.mark.slow
@pytest.mark.grading
def test_right_answers_keep_full_marks(graded_catalogue):
    c = graded_catalogue
    failures = []
    for student, entries in c.plan.items():
        got = c.grades.get(student, {})
        for gid, entry in entries.items():
            if entry.kind not in ("right", "control"):
                continue
            score = got[gid].score if gid in got else "not graded"
            if score != c.points_of[student][gid]:
                failures.append(f"{student} {_where(gid, entry)}: {score}/{c.points_of[student][gid]}: {entry.why}")
    copied = {e.exercise for entries in c.plan.values() for gid, e in entries.items() if gid != e.exercise}
    controlled = {e.exercise for entries in c.plan.values() for e in entries.values() if e.kind == "control"}
    assert copied == controlled, f"copied exercises without a control: {copied - controlled}"
    right = {(e.exercise, e.source) for entries in c.plan.values() for e in entries.values() if e.kind == "right"}
    _, catalogue = load(c.assignment)
    assert len(right) == sum(len(v) for v in catalogue.values()), "a right answer of the catalogue was not graded"
    assert not failures, f"{c.assignment}:\n  " + "\n  ".join(failures) + f"\n{c.log[-3000:]}"
