"""Stock nbgrader grading each assignment's notebooks once per test session, read by several test modules.

tests/test_honest_grading.py, tests/test_answer_catalogue.py and tests/test_serving.py need the same
kind of work: stock nbgrader generating the assignment and autograding notebooks built from its
source. Each notebook run costs 10-20 s (it runs the whole assignment), so they share, per assignment:

- the course of the assignment itself, graded with two students:
  ``solution`` (the source notebook, executed from the top: full marks on every graded cell) and
  ``release`` (the untouched student edition: zero on every graded cell);
- the catalogue course (tests/answer_catalogue/<assignment>.py): ``wrong0``, the solution with EVERY
  exercise's answer cell replaced by its first wrong answer at once (each must score 0 on its own
  test cell, every other graded cell keeps full marks: no exercise depends on another's answer).

Every other catalogue entry (the 2nd-5th wrong answers, the right answers) does not buy a whole
notebook run: the catalogue course's source carries, just after each exercise's test cell, a copy of
the exercise per entry: its answer cell and its test cell (hidden tests included) under new grade
ids ``<test id>__extra<j>``. Cells around them save the names the exercise's answers bind (before
its answer and after its test), give each copy the names as they were before the answer, and give
the rest of the notebook the names as the exercise left them. So a copy starts where the exercise
started in ``wrong0``: downstream of every other exercise's wrong answer.

What a copy cannot undo (an MLflow run it logged, a file it uploaded, a version it registered)
stays. Two things keep that honest:
- the **control**: the last copy of every copied exercise is the exercise's own solution, which
  must keep full marks. It starts from the state the wrong copies started from, after all of them
  ran, so a wrong copy cannot pass for "caught" because the state it started from was broken. The
  controls found the exercises whose checks read such state;
- those exercises are listed in the catalogue's ``NO_COPIES``: each of their entries is graded as
  the exercise's own answer in a whole-notebook round ``wrong<k>`` (or ``right<k>``), and so is a
  right answer in ``NOT_AS_COPY`` (one that depends on what the round's wrong answer left on disk).
  These rounds are the real notebook with some answers changed, so they are graded in the
  assignment's own course, next to ``solution`` and ``release``.

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

from autograder.course_files import answer_cells, check_cells, clone, notebook_path, read, solution_parts
from tools import nbgrade

CATALOGUE = ROOT / "tests" / "answer_catalogue"


EXTRA = "__extra"  # grade id of a copy: <test id>__extra<j>


@dataclass
class Entry:
    kind: str  # "wrong", "right", or "control" (the exercise's solution as its last copy)
    why: str
    source: str
    exercise: str = ""  # the test id whose answer this is (a copy's grade id names another)


@dataclass
class GradedClass:
    assignment: str
    points: dict[str, float]  # grade_id -> points of every graded cell of the assignment
    points_of: dict[str, dict[str, float]]  # catalogue student -> the same for its notebook (copies included)
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


def no_copies(assignment: str) -> dict[str, str]:
    """``{test id: why}``: exercises whose check reads what earlier answers left on disk (MLflow runs,
    registered versions, uploaded files), so a copy would start from state its exercise never sees:
    every entry of theirs is graded as the exercise's own answer, one round each (the catalogue's
    ``NO_COPIES``; the control copy is how one is found)."""
    return _catalogue(assignment).get("NO_COPIES", {})


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
    wrong: dict[str, list],
    right: dict[str, list],
    own_round: frozenset[str] = frozenset(),
    no_copies: frozenset[str] = frozenset(),
) -> tuple[dict[str, dict[str, Entry]], dict[str, list[Entry]]]:
    """``({student: {test id: Entry}}, {test id: [Entry graded as a copy]})``.

    Round 0 holds every exercise's first wrong answer; the other entries of an exercise are graded as
    copies of it in round 0, except for the exercises in ``no_copies``, whose k-th wrong answer is
    the original answer of round k. A right answer goes to the first round where its exercise is
    free, else is a copy, or gets a round of its own if its exercise is in ``own_round`` or
    ``no_copies``. A round is ``wrong<k>`` if it holds a wrong answer, else ``right<k>``."""
    rounds: list[dict[str, Entry]] = [{}]
    extra: dict[str, list[Entry]] = {}

    def into(k: int, tid: str, entry: Entry) -> None:
        rounds.extend({} for _ in range(k + 1 - len(rounds)))
        rounds[k][tid] = entry

    for tid, entries in wrong.items():
        for k, (why, source) in enumerate(entries):
            entry = Entry("wrong", why, source, tid)
            if k == 0 or tid in no_copies:
                into(k, tid, entry)
            else:
                extra.setdefault(tid, []).append(entry)
    for tid, entries in right.items():
        for why, source in entries:
            entry = Entry("right", why, source, tid)
            free = next((k for k, cells in enumerate(rounds) if tid not in cells), None)
            if free is not None:
                into(free, tid, entry)
            elif tid in own_round or tid in no_copies:
                into(len(rounds), tid, entry)
            else:
                extra.setdefault(tid, []).append(entry)
    names = [
        f"{'wrong' if any(e.kind == 'wrong' for e in cells.values()) else 'right'}{k}" for k, cells in enumerate(rounds)
    ]
    return dict(zip(names, rounds, strict=True)), extra


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
    plan, extra = plan_rounds(
        known, known_right, own_round=frozenset(not_as_copy(assignment)), no_copies=frozenset(no_copies(assignment))
    )
    for tid, entries in extra.items():  # the control: the solution, after the exercise's other copies
        solution = solution_parts(answers[f"{tid}_answer"].source)[1]
        entries.append(Entry("control", "the exercise's own solution, as its last copy", solution, tid))
    start = time.perf_counter()
    # the assignment's course: solution, release, and the rounds past the first (whole-notebook rounds
    # of NO_COPIES / NOT_AS_COPY entries: the real notebook with some answers changed, no copies)
    own = {"solution": source_path, "release": notebook_path(ROOT, assignment, "release")}
    first = next(iter(plan), None)
    for student, cells in plan.items():
        if student != first or not extra:
            own[student] = workdir / f"{student}.ipynb"
            nbformat.write(with_answers(source, {tid: e.source for tid, e in cells.items()}), own[student])
    grades, log = nbgrade.autograde(assignment, own, workdir=workdir / "assignment")
    course = workdir / "assignment" / "course"
    left = survivors(course / "autograded")
    points = nbgrade.graded_cells(source_path)
    points_of = {student: points for student in plan}
    if extra:  # the catalogue course: the first round, with the copies after their exercises
        derived, copies = with_copies(source, extra)
        folder = workdir / "catalogue-source"
        shutil.copytree(source_path.parent, folder)
        nbformat.write(derived, folder / source_path.name)
        plan[first].update(copies)
        notebook = workdir / f"{first}.ipynb"
        nbformat.write(with_answers(derived, {tid: e.source for tid, e in plan[first].items()}), notebook)
        round_grades, round_log = nbgrade.autograde(assignment, {first: notebook}, workdir / "catalogue", folder)
        grades.update(round_grades)
        log += "\n" + round_log
        left += survivors(workdir / "catalogue" / "course" / "autograded")
        points_of[first] = nbgrade.graded_cells(folder / source_path.name)
    seconds = time.perf_counter() - start
    print(f"{assignment}: stock nbgrader graded {len(own) + bool(extra)} notebooks in {seconds:.1f} s")
    return GradedClass(assignment, points, points_of, plan, grades, log, course, left, seconds)


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
