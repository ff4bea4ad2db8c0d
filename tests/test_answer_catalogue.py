"""The wrong-answer catalogue: every check catches plausible wrong answers and keeps right ones.

For each assignment, `tests/answer_catalogue/<assignment>.py` lists, per graded test cell,
plausible wrong answers (`WRONG`) and differently written right answers (`RIGHT`), each the full
new source of that exercise's answer cell `<grade id>_answer`. Stock nbgrader grades, in ONE
autograde run per assignment:

- wrong round k: the full solution with EVERY exercise's answer cell replaced by its k-th wrong
  answer at once. Each replaced exercise must score 0 on its test cell; every other graded cell
  must keep full marks. Doing all exercises at once also proves that no exercise depends on
  another exercise's answer (teaching cells must not either);
- right round j: every exercise that has a j-th right answer gets it; everything keeps full marks.

So a catalogue entry is a one-cell change of the solution that must lose exactly that cell's points.
"""
from __future__ import annotations

import copy
import runpy
import time
from pathlib import Path

import nbformat
import pytest

from autograder.course_files import answer_cells, notebook_path, read
from conftest import ROOT, assignments
from tools import nbgrade

CATALOGUE = ROOT / "tests" / "answer_catalogue"
MIN_WRONG_PER_CELL = 2
MIN_RIGHT_PER_NOTEBOOK = 3


def load(assignment: str) -> tuple[dict, dict]:
    path = CATALOGUE / f"{assignment}.py"
    data = runpy.run_path(str(path))
    return data.get("WRONG", {}), data.get("RIGHT", {})


def source_notebook(assignment: str):
    return read(notebook_path(ROOT, assignment))


def build_round(nb, entries: dict[str, str]):
    """A copy of the solution with each `<test id>_answer` cell replaced by its entry."""
    new = copy.deepcopy(nb)
    cells = answer_cells(new)
    for test_id, text in entries.items():
        cells[f"{test_id}_answer"].source = text
    return new


def rounds(table: dict[str, list]) -> list[dict[str, tuple[str, str]]]:
    depth = max((len(v) for v in table.values()), default=0)
    return [{tid: entries[k] for tid, entries in table.items() if k < len(entries)} for k in range(depth)]


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


@pytest.fixture(scope="module", params=[a for a in assignments() if (CATALOGUE / f"{a}.py").exists()])
def graded_catalogue(request, tmp_path_factory):
    assignment = request.param
    wrong, right = load(assignment)
    nb = source_notebook(assignment)
    answers = answer_cells(nb)
    known = {tid: e for tid, e in wrong.items() if f"{tid}_answer" in answers}
    known_right = {tid: e for tid, e in right.items() if f"{tid}_answer" in answers}
    work = tmp_path_factory.mktemp(f"catalogue-{assignment}")
    plan: dict[str, tuple[str, dict[str, tuple[str, str]]]] = {}
    for kind, table in (("wrong", known), ("right", known_right)):
        for k, entries in enumerate(rounds(table)):
            student = f"{kind}{k}"
            path = work / f"{student}.ipynb"
            nbformat.write(build_round(nb, {tid: src for tid, (_, src) in entries.items()}), path)
            plan[student] = (kind, entries)
    start = time.perf_counter()
    grades, log = nbgrade.autograde(assignment, {s: work / f"{s}.ipynb" for s in plan},
                                    workdir=work / "course")
    print(f"{assignment}: graded {len(plan)} catalogue rounds in {time.perf_counter() - start:.1f} s")
    graded = nbgrade.graded_cells(ROOT / "source" / assignment / f"{assignment}.ipynb")
    return assignment, graded, plan, grades, log


def test_wrong_answers_lose_exactly_their_cell(graded_catalogue):
    assignment, graded, plan, grades, log = graded_catalogue
    failures = []
    for student, (kind, entries) in plan.items():
        if kind != "wrong":
            continue
        got = grades.get(student, {})
        if set(got) != set(graded):
            failures.append(f"{student}: graded cells {sorted(got)} != {sorted(graded)}")
            continue
        for gid, points in graded.items():
            score = got[gid].score
            if gid in entries and score != 0:
                failures.append(f"{student} {gid}: wrong answer kept {score}/{points}: {entries[gid][0]}")
            elif gid not in entries and score != points:
                failures.append(f"{student} {gid}: lost points ({score}/{points}) though only other cells "
                                "changed: it depends on another exercise's answer")
    assert not failures, f"{assignment}:\n  " + "\n  ".join(failures) + f"\n{log[-3000:]}"


def test_right_answers_keep_full_marks(graded_catalogue):
    assignment, graded, plan, grades, log = graded_catalogue
    failures = []
    for student, (kind, entries) in plan.items():
        if kind != "right":
            continue
        got = grades.get(student, {})
        for gid, points in graded.items():
            if gid not in got or got[gid].score != points:
                why = f": {entries[gid][0]}" if gid in entries else " (unchanged cell)"
                failures.append(f"{student} {gid}: {got[gid].score if gid in got else 'not graded'}/{points}{why}")
    assert not failures, f"{assignment}:\n  " + "\n  ".join(failures) + f"\n{log[-3000:]}"
