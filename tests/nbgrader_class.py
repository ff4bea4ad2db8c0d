"""One stock-nbgrader class per assignment, graded once per test session and read by two test modules.

tests/test_honest_grading.py and tests/test_answer_catalogue.py need the same kind of work: stock
nbgrader generating the assignment and autograding notebooks built from its source. Each notebook
run costs 10-20 s (it runs the whole assignment), so the two modules share one course and ONE
`nbgrader autograde` of these students:

- ``solution``: the source notebook, executed from the top (must get full marks on every cell);
- ``release``: the untouched student edition (must get zero on every graded cell);
- ``wrong<k>``: the solution with EVERY exercise's answer cell replaced by its k-th wrong answer at
  once (each must score 0 on its own test cell, every other graded cell keeps full marks);
- right answers ride in the wrong rounds: the j-th right answer of an exercise goes into a wrong
  round in which that exercise has no wrong answer, so it is graded downstream of other exercises'
  wrong answers (must keep full marks); only what does not fit gets a ``right<j>`` round of its own.

Tests that read one assignment's class carry ``xdist_group("nbgrader-<assignment>")`` (see
``graded_param``) so that under ``pytest -n 2`` both modules' tests for it run in one worker and
the class is graded once.
"""

from __future__ import annotations

import os
import runpy
import time
from dataclasses import dataclass
from pathlib import Path

import nbformat
import pytest
from conftest import ROOT

from autograder.course_files import answer_cells, clone, notebook_path, read
from tools import nbgrade

CATALOGUE = ROOT / "tests" / "answer_catalogue"


@dataclass
class Entry:
    kind: str  # "wrong" or "right"
    why: str
    source: str


@dataclass
class GradedClass:
    assignment: str
    points: dict[str, float]  # grade_id -> points of every graded cell
    plan: dict[str, dict[str, Entry]]  # student -> {test id: catalogue entry in that notebook}
    grades: dict[str, dict[str, nbgrade.CellGrade]]
    log: str
    course: Path  # nbgrader's course folder: autograded/<student>/<assignment>/ holds each executed notebook
    survivors: list[str]  # processes still running from a student's notebook folder after grading
    seconds: float = 0.0

    def executed(self, student: str):
        """The notebook as nbgrader executed and graded it (outputs included)."""
        return read(self.course / "autograded" / student / self.assignment / f"{self.assignment}.ipynb")


def load_catalogue(assignment: str) -> tuple[dict, dict]:
    path = CATALOGUE / f"{assignment}.py"
    if not path.exists():
        return {}, {}
    data = runpy.run_path(str(path))
    return data.get("WRONG", {}), data.get("RIGHT", {})


def with_answers(nb, entries: dict[str, str]):
    """A copy of the solution with each ``<test id>_answer`` cell replaced by its entry."""
    new = clone(nb)
    cells = answer_cells(new)
    for test_id, text in entries.items():
        cells[f"{test_id}_answer"].source = text
    return new


def plan_rounds(wrong: dict[str, list], right: dict[str, list]) -> dict[str, dict[str, Entry]]:
    """``{student: {test id: Entry}}``: wrong round k holds every exercise's k-th wrong answer; each
    right answer goes to the first wrong round where its exercise is free, else to a right round."""
    depth = max((len(v) for v in wrong.values()), default=0)
    plan: dict[str, dict[str, Entry]] = {
        f"wrong{k}": {tid: Entry("wrong", *entries[k]) for tid, entries in wrong.items() if k < len(entries)}
        for k in range(depth)
    }
    extra: list[dict[str, Entry]] = []
    for tid, entries in right.items():
        free = (s for s, cells in plan.items() if tid not in cells)
        for why, source in entries:
            target = next(free, None)
            if target is None:
                target_round = next((r for r in extra if tid not in r), None)
                if target_round is None:
                    extra.append(target_round := {})
                target_round[tid] = Entry("right", why, source)
            else:
                plan[target][tid] = Entry("right", why, source)
    plan.update({f"right{j}": cells for j, cells in enumerate(extra)})
    return plan


def grade(assignment: str, workdir: Path) -> GradedClass:
    """Build every notebook of the class and grade them all in one stock-nbgrader autograde."""
    source = read(notebook_path(ROOT, assignment))
    answers = answer_cells(source)
    wrong, right = load_catalogue(assignment)
    known = {tid: e for tid, e in wrong.items() if f"{tid}_answer" in answers}
    known_right = {tid: e for tid, e in right.items() if f"{tid}_answer" in answers}
    plan = plan_rounds(known, known_right)
    workdir.mkdir(parents=True, exist_ok=True)
    notebooks = {"solution": notebook_path(ROOT, assignment), "release": notebook_path(ROOT, assignment, "release")}
    for student, cells in plan.items():
        path = workdir / f"{student}.ipynb"
        nbformat.write(with_answers(source, {tid: e.source for tid, e in cells.items()}), path)
        notebooks[student] = path
    start = time.perf_counter()
    grades, log = nbgrade.autograde(assignment, notebooks, workdir=workdir)
    seconds = time.perf_counter() - start
    print(f"{assignment}: stock nbgrader graded {len(notebooks)} notebooks in {seconds:.1f} s")
    course = workdir / "course"
    points = nbgrade.graded_cells(notebook_path(ROOT, assignment))
    return GradedClass(assignment, points, plan, grades, log, course, survivors(course / "autograded"), seconds)


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
