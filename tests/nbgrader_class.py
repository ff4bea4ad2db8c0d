"""Stock nbgrader grading each assignment's notebooks once per test session, read by several test modules.

tests/test_honest_grading.py, tests/test_answer_catalogue.py and tests/test_serving.py need the same
kind of work: stock nbgrader generating the assignment and autograding notebooks built from its
source. Each notebook run costs 10-20 s (it runs the whole assignment), so they share, per assignment:

- the course of the assignment itself, graded with two students:
  ``solution`` (the source notebook, executed from the top: full marks on every graded cell) and
  ``release`` (the untouched student edition: zero on every graded cell);
- the catalogue course (tests/answer_catalogue/<assignment>.py), graded with ``ROUNDS`` students:
  ``wrong<k>`` is the solution with EVERY exercise's answer cell replaced by its k-th wrong answer at
  once (each must score 0 on its own test cell, every other graded cell keeps full marks). Right
  answers ride in a wrong round where their exercise has no wrong answer (graded downstream of the
  other exercises' wrong answers: they must keep full marks).

An exercise with more catalogue entries than rounds (a 4th or 5th wrong answer, a right answer with
no free round) does not buy a whole extra notebook run: the catalogue course's source carries, just
after that exercise's test cell, a copy of the exercise per extra entry: its answer cell and its
test cell (hidden tests included) under new grade ids ``<test id>__extra<j>``. Cells around them save
the names the exercise's answers bind (before its answer and after its test), give each copy the
names as they were before the answer, and give the rest of the notebook the names as the exercise
left them. The last wrong round grades the copies' entries; the other rounds run them unanswered
(they must score 0). What a copy cannot undo (an MLflow run it logged, a cluster it registered)
stays: if that changes a result, a cell loses points it should keep or a wrong answer keeps points,
and the test fails; where a right answer depends on such state, the catalogue's ``NOT_AS_COPY``
gives it a ``right<j>`` round of its own.

Tests that read one assignment's grading carry ``xdist_group("nbgrader-<assignment>")`` (see
``graded_param``) so that under ``pytest -n 2`` they run in one worker and it is graded once.
"""

from __future__ import annotations

import ast
import os
import runpy
import shutil
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import nbformat
import pytest
from conftest import ROOT

from autograder.course_files import answer_cells, check_cells, clone, notebook_path, read
from tools import nbgrade

CATALOGUE = ROOT / "tests" / "answer_catalogue"


ROUNDS = 3  # wrong rounds (whole notebook runs) per assignment; entries past them ride as copies
EXTRA = "__extra"  # grade id of a copy: <test id>__extra<j>


@dataclass
class Entry:
    kind: str  # "wrong", "right", or "blank" (a copy left unanswered)
    why: str
    source: str
    exercise: str = ""  # the test id whose answer this is (a copy's grade id names another)


@dataclass
class GradedClass:
    assignment: str
    points: dict[str, float]  # grade_id -> points of every graded cell of the assignment
    catalogue_points: dict[str, float]  # the same for the catalogue course (copies included)
    plan: dict[str, dict[str, Entry]]  # catalogue student -> {test id or copy id: entry in that notebook}
    grades: dict[str, dict[str, nbgrade.CellGrade]]  # every student of both courses
    log: str
    course: Path  # the assignment's course: autograded/<student>/<assignment>/ holds each executed notebook
    survivors: list[str]  # processes still running from a student's notebook folder after grading
    seconds: float = 0.0

    def executed(self, student: str):
        """The notebook as nbgrader executed and graded it (outputs included)."""
        return read(self.course / "autograded" / student / self.assignment / f"{self.assignment}.ipynb")


def load_catalogue(assignment: str) -> tuple[dict, dict]:
    return _catalogue(assignment).get("WRONG", {}), _catalogue(assignment).get("RIGHT", {})


def not_as_copy(assignment: str) -> dict[str, str]:
    """``{test id: why}``: exercises whose right answers need a round of their own, not a copy (the
    catalogue's ``NOT_AS_COPY``), e.g. one that reuses what the round's wrong answer left on disk."""
    return _catalogue(assignment).get("NOT_AS_COPY", {})


def _catalogue(assignment: str) -> dict:
    path = CATALOGUE / f"{assignment}.py"
    return runpy.run_path(str(path)) if path.exists() else {}


def with_answers(nb, entries: dict[str, str]):
    """A copy of the notebook with each ``<test id>_answer`` cell replaced by its entry."""
    new = clone(nb)
    cells = answer_cells(new)
    for test_id, text in entries.items():
        cells[f"{test_id}_answer"].source = text
    return new


def plan_rounds(
    wrong: dict[str, list], right: dict[str, list], rounds: int = ROUNDS, own_round: frozenset[str] = frozenset()
) -> tuple[dict[str, dict[str, Entry]], dict[str, list[Entry]]]:
    """``({student: {test id: Entry}}, {test id: [Entry graded as a copy]})``: wrong round k holds every
    exercise's k-th wrong answer; a right answer goes to the first round where its exercise is free;
    whatever does not fit in ``rounds`` rounds is graded as a copy of its exercise, except the right
    answers of the exercises in ``own_round``, which get a ``right<j>`` round."""
    depth = min(rounds, max((len(v) for v in wrong.values()), default=0))
    plan = {f"wrong{k}": {} for k in range(depth)}
    extra: dict[str, list[Entry]] = {}
    for tid, entries in wrong.items():
        for k, (why, source) in enumerate(entries):
            entry = Entry("wrong", why, source, tid)
            if k < depth:
                plan[f"wrong{k}"][tid] = entry
            else:
                extra.setdefault(tid, []).append(entry)
    for tid, entries in right.items():
        free = (cells for cells in plan.values() if tid not in cells)
        for j, (why, source) in enumerate(entries):
            entry = Entry("right", why, source, tid)
            cells = next(free, None)
            if cells is not None:
                cells[tid] = entry
            elif tid in own_round:
                plan.setdefault(f"right{j}", {})[tid] = entry
            else:
                extra.setdefault(tid, []).append(entry)
    return plan, extra


def bound_names(*sources: str) -> list[str]:
    """Names a cell's code binds at the top level (assignments, imports, defs, for/with targets)."""
    names: set[str] = set()
    for source in sources:
        try:
            tree = ast.parse(source)
        except SyntaxError:
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                names.add(node.id)
            elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                names.add(node.name)
            elif isinstance(node, (ast.Import, ast.ImportFrom)):
                names.update((a.asname or a.name).split(".")[0] for a in node.names if a.name != "*")
    return sorted(names)


def save_names(names: list[str], into: str) -> str:
    """Code that keeps the values ``names`` have now (the bindings, not a deep copy)."""
    return f"{into} = {{n: globals()[n] for n in {names!r} if n in globals()}}"


def restore_names(names: list[str], saved: str) -> str:
    """Code that gives ``names`` back the values kept by :func:`save_names` (unbound if they had none)."""
    return f"for _n in {names!r}:\n    globals().pop(_n, None)\nglobals().update({saved})"


def with_copies(source, extra: dict[str, list[Entry]]):
    """The catalogue course's source: after the test cell of each exercise in ``extra``, one copy of the
    exercise per extra entry. Cells around them save the names the exercise's answers bind before its
    answer runs and after its test, give each copy the names as they were before the answer, and
    give the cells after the copies the names as the exercise left them. Returns the notebook and
    ``{copy id: entry}``."""
    nb = clone(source)
    answers, checks = answer_cells(nb), check_cells(nb)
    copies: dict[str, Entry] = {}

    def code(text: str):
        cell = nbformat.v4.new_code_cell(text)
        cell.id = uuid.uuid4().hex[:12]
        return cell

    for tid, entries in extra.items():
        answer, check = answers[f"{tid}_answer"], checks[tid]
        names = bound_names(answer.source, *(e.source for e in entries))

        after = [code(save_names(names, "_catalogue_after"))]
        for j, entry in enumerate(entries):
            copy_id = f"{tid}{EXTRA}{j}"
            copy_answer, copy_check = clone(answer), clone(check)
            copy_answer.metadata["nbgrader"]["grade_id"] = f"{copy_id}_answer"
            copy_check.metadata["nbgrader"]["grade_id"] = copy_id
            copy_answer.id, copy_check.id = uuid.uuid4().hex[:12], uuid.uuid4().hex[:12]  # ids must be unique
            after += [code(restore_names(names, "_catalogue_before")), copy_answer, copy_check]
            copies[copy_id] = entry
        after.append(code(restore_names(names, "_catalogue_after")))
        at_answer = next(i for i, cell in enumerate(nb.cells) if cell is answer)
        at_check = next(i for i, cell in enumerate(nb.cells) if cell is check)
        nb.cells[at_check + 1 : at_check + 1] = after
        nb.cells.insert(at_answer, code(save_names(names, "_catalogue_before")))
    return nb, copies


def grade(assignment: str, workdir: Path) -> GradedClass:
    """Grade the assignment's course (solution, release) and its catalogue course (the rounds)."""
    source_path = notebook_path(ROOT, assignment)
    source = read(source_path)
    answers = answer_cells(source)
    wrong, right = load_catalogue(assignment)
    known = {tid: e for tid, e in wrong.items() if f"{tid}_answer" in answers}
    known_right = {tid: e for tid, e in right.items() if f"{tid}_answer" in answers}
    plan, extra = plan_rounds(known, known_right, own_round=frozenset(not_as_copy(assignment)))
    start = time.perf_counter()
    own = {"solution": source_path, "release": notebook_path(ROOT, assignment, "release")}
    grades, log = nbgrade.autograde(assignment, own, workdir=workdir / "assignment")
    course = workdir / "assignment" / "course"
    left = survivors(course / "autograded")
    catalogue_points: dict[str, float] = {}
    if plan:
        derived, copies = with_copies(source, extra)
        folder = workdir / "catalogue-source"
        shutil.copytree(source_path.parent, folder)
        nbformat.write(derived, folder / source_path.name)
        # the last wrong round (where most exercises keep their solution, so a copy's side effect on a
        # later cell would show) grades the copies' entries; other rounds run them unanswered (score 0)
        last_wrong = [student for student in plan if student.startswith("wrong")][-1]
        for student, cells in plan.items():
            blank = {c: Entry("blank", "unanswered copy", "pass", e.exercise) for c, e in copies.items()}
            cells.update(copies if student == last_wrong else blank)
        notebooks = {}
        for student, cells in plan.items():
            notebooks[student] = workdir / f"{student}.ipynb"
            nbformat.write(with_answers(derived, {tid: e.source for tid, e in cells.items()}), notebooks[student])
        round_grades, round_log = nbgrade.autograde(assignment, notebooks, workdir=workdir / "catalogue", source=folder)
        grades.update(round_grades)
        log += "\n" + round_log
        left += survivors(workdir / "catalogue" / "course" / "autograded")
        catalogue_points = nbgrade.graded_cells(folder / source_path.name)
    seconds = time.perf_counter() - start
    print(f"{assignment}: stock nbgrader graded {len(own) + len(plan)} notebooks in {seconds:.1f} s")
    points = nbgrade.graded_cells(source_path)
    return GradedClass(assignment, points, catalogue_points, plan, grades, log, course, left, seconds)


def survivors(folder: Path, grace: float = 10.0) -> list[str]:
    """Processes (other than zombies) whose command line names ``folder`` or whose working directory
    is inside it: a notebook's servers and the workers its kernel forked, once nbgrader is done with
    it. Waits up to ``grace`` seconds for them to go."""
    import psutil

    deadline = time.monotonic() + grace
    while True:
        left = []
        for proc in psutil.process_iter(["pid", "cmdline", "cwd", "status"]):
            info = proc.info
            if info["pid"] == os.getpid() or info["status"] == psutil.STATUS_ZOMBIE:
                continue
            cmdline, cwd = " ".join(info["cmdline"] or []), info["cwd"] or ""
            if str(folder) in cmdline or cwd.startswith(str(folder)):
                left.append(f"{info['pid']} (cwd {cwd}): {cmdline[:300]}")
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.2)


_CLASSES: dict[str, GradedClass] = {}


def graded_class(assignment: str, tmp_path_factory) -> GradedClass:
    """The assignment's class, graded on first use in this test process and kept for the session."""
    if assignment not in _CLASSES:
        _CLASSES[assignment] = grade(assignment, tmp_path_factory.mktemp(f"nbgrader-{assignment}"))
    return _CLASSES[assignment]


def graded_param(assignment: str):
    """A fixture/test parameter for one assignment, kept on one xdist worker with its class."""
    return pytest.param(assignment, marks=pytest.mark.xdist_group(f"nbgrader-{assignment}"), id=assignment)
