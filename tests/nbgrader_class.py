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

What a copy leaves behind (an MLflow run it logged, a file it uploaded, a version it registered)
would stay for the next copy. Two things keep that honest:
- the **control**: the last copy of every copied exercise is the exercise's own solution, which
  must keep full marks. It starts from the state the wrong copies started from, after all of them
  ran, so a wrong copy cannot pass for "caught" because the state it started from was broken. The
  controls found the exercises whose checks read such state;
- those exercises are listed in the catalogue's ``FROM_SNAPSHOT``: around each of them the kernel
  keeps a snapshot of the notebook's folder (its SQLite stores copied with SQLite's backup) and of
  MLflow's process state (active run, tracking URI, experiment, ``MLFLOW_*`` variables), taken
  before the exercise's answer and after its test. Every copy starts from the first, restored; the
  rest of the notebook goes on from the second. So each copy starts from the disk the exercise
  itself started from (:data:`SNAPSHOT_CODE`).

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
ROUND = "wrong0"  # the catalogue's student: every exercise's first wrong answer, and the copies


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


def from_snapshot(assignment: str) -> dict[str, str]:
    """``{test id: why}``: exercises whose checks read what answers leave on disk or in MLflow (runs,
    registered versions, uploaded files), so each of their copies starts from a snapshot taken
    before the exercise's answer (the catalogue's ``FROM_SNAPSHOT``; the control copy is how one is
    found)."""
    return _catalogue(assignment).get("FROM_SNAPSHOT", {})


def snapshot_objects(assignment: str) -> dict[str, list[str]]:
    """``{test id: [names]}``: objects that answers of a ``FROM_SNAPSHOT`` exercise change in place
    (e.g. ``endpoint.set_default_version``): each copy gets a copy of the object the exercise started
    with (the catalogue's ``SNAPSHOT_OBJECTS``)."""
    return _catalogue(assignment).get("SNAPSHOT_OBJECTS", {})


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


def plan_round(wrong: dict[str, list], right: dict[str, list]) -> tuple[dict[str, Entry], dict[str, list[Entry]]]:
    """``({test id: Entry}, {test id: [Entry graded as a copy]})``: the round ``wrong0`` holds every
    exercise's first wrong answer; every other entry of an exercise is graded as a copy of it."""
    first: dict[str, Entry] = {}
    extra: dict[str, list[Entry]] = {}
    for kind, table in (("wrong", wrong), ("right", right)):
        for tid, entries in table.items():
            for why, source in entries:
                entry = Entry(kind, why, source, tid)
                if kind == "wrong" and tid not in first:
                    first[tid] = entry
                else:
                    extra.setdefault(tid, []).append(entry)
    return first, extra


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


# Defined in the kernel of a catalogue notebook with FROM_SNAPSHOT exercises (its first cell). The
# folder is the kernel's working directory: the notebook's own folder, which holds its workspace.
SNAPSHOT_CODE = r'''
def _catalogue_files(top):
    """{relative path: "dir" | "link" | "file"} under ``top`` (sockets, fifos and SQLite journals left out)."""
    import os
    from pathlib import Path

    found = {}
    for folder, dirs, files in os.walk(top):
        for name in dirs + files:
            path = Path(folder) / name
            kind = "link" if path.is_symlink() else "dir" if path.is_dir() else "file" if path.is_file() else None
            if kind and not name.endswith(("-journal", "-wal", "-shm")):
                found[path.relative_to(top)] = kind
    return found


def _catalogue_copy_db(src, dst):
    """A SQLite database copied page by page under SQLite's locks: open connections see the new content."""
    import contextlib
    import sqlite3

    with contextlib.closing(sqlite3.connect(src)) as a, contextlib.closing(sqlite3.connect(dst)) as b:
        a.backup(b)


def _catalogue_snapshot(objects=()):
    """The notebook's folder, MLflow's process state and a copy of each named object, kept aside."""
    import copy
    import os
    import shutil
    import sys
    import tempfile
    from pathlib import Path

    tree = Path(tempfile.mkdtemp(prefix="dp100-catalogue-snapshot-"))
    for rel, kind in sorted(_catalogue_files(Path.cwd()).items()):
        if kind == "dir":
            (tree / rel).mkdir(exist_ok=True)
        elif kind == "link":
            os.symlink(os.readlink(rel), tree / rel)
        elif rel.suffix == ".db":
            _catalogue_copy_db(rel, tree / rel)
        else:
            shutil.copy2(rel, tree / rel)
    state = {"tree": tree, "env": {k: v for k, v in os.environ.items() if k.startswith("MLFLOW_")}}
    state["objects"] = {name: copy.copy(globals()[name]) for name in objects}
    if "mlflow" in sys.modules:
        import mlflow
        from mlflow.tracking import fluent

        run = mlflow.active_run()
        state["mlflow"] = (mlflow.get_tracking_uri(), fluent._active_experiment_id, run and run.info.run_id)
    return state


def _catalogue_restore(state):
    """The notebook's folder, MLflow's process state and the named objects as :func:`_catalogue_snapshot`
    kept them (each object as a new copy: the next copy can change it in place too)."""
    import copy
    import os
    import shutil
    from pathlib import Path

    if "mlflow" in state:
        import mlflow
        from mlflow.tracking import fluent

        uri, experiment, run = state["mlflow"]
        mlflow.set_tracking_uri(uri)  # (it sets MLFLOW_TRACKING_URI too: the variables come next)
        fluent._active_experiment_id = experiment
    for name in [k for k in os.environ if k.startswith("MLFLOW_")]:
        del os.environ[name]
    os.environ.update(state["env"])
    if "mlflow" in state:
        for _ in range(10):  # a run left open ends before the store goes back (its end is not kept)
            if mlflow.active_run() is None or mlflow.active_run().info.run_id == run:
                break
            try:
                mlflow.end_run()
            except Exception:
                break  # a run of another store: the control copy shows if that mattered
    tree, now = state["tree"], _catalogue_files(Path.cwd())
    kept = _catalogue_files(tree)
    for rel in sorted(now, key=lambda r: len(r.parts), reverse=True):
        if kept.get(rel) != now[rel]:
            if now[rel] == "dir":
                shutil.rmtree(rel, ignore_errors=True)
            else:
                os.unlink(rel)
    for rel, kind in sorted(kept.items()):
        if kind == "dir":
            Path(rel).mkdir(exist_ok=True)
        elif kind == "link":
            if not os.path.islink(rel) or os.readlink(rel) != os.readlink(tree / rel):
                if os.path.lexists(rel):
                    os.unlink(rel)
                os.symlink(os.readlink(tree / rel), rel)
        elif rel.suffix == ".db" and os.path.isfile(rel):
            _catalogue_copy_db(tree / rel, rel)
        elif not os.path.isfile(rel) or Path(rel).read_bytes() != (tree / rel).read_bytes():
            shutil.copy2(tree / rel, rel)
    globals().update({name: copy.copy(obj) for name, obj in state["objects"].items()})


def _catalogue_drop(*states):
    import shutil

    for state in states:
        shutil.rmtree(state["tree"], ignore_errors=True)
'''


def with_copies(source, extra: dict[str, list[Entry]], from_snapshot: dict[str, list[str]] | None = None):
    """The catalogue course's source: after the test cell of each exercise in ``extra``, one copy of the
    exercise per extra entry. Cells around them save the names the exercise's answers bind before its
    answer runs and after its test, give each copy the names as they were before the answer, and
    give the cells after the copies the names as the exercise left them. For the exercises in
    ``from_snapshot`` (``{test id: [names of objects the answers change in place]}``) they do the same
    with the notebook's folder, MLflow's state and those objects (:data:`SNAPSHOT_CODE`). Returns the
    notebook and ``{copy id: entry}``."""
    from_snapshot = from_snapshot or {}
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
        before, after, restore = [save_names(names, "_catalogue_before")], [save_names(names, "_catalogue_after")], ""
        if tid in from_snapshot:
            objects = from_snapshot[tid]
            before.append(f"_catalogue_disk_before = _catalogue_snapshot({objects!r})")
            after.append(f"_catalogue_disk_after = _catalogue_snapshot({objects!r})")
            restore = "\n_catalogue_restore(_catalogue_disk_before)"

        cells = [code("\n".join(after))]
        for j, entry in enumerate(entries):
            copy_id = f"{tid}{EXTRA}{j}"
            copy_answer, copy_check = clone(answer), clone(check)
            copy_answer.metadata["nbgrader"]["grade_id"] = f"{copy_id}_answer"
            copy_check.metadata["nbgrader"]["grade_id"] = copy_id
            copy_answer.id, copy_check.id = uuid.uuid4().hex[:12], uuid.uuid4().hex[:12]  # ids must be unique
            cells += [code(restore_names(names, "_catalogue_before") + restore), copy_answer, copy_check]
            copies[copy_id] = entry
        last = restore_names(names, "_catalogue_after")
        if tid in from_snapshot:
            last += "\n_catalogue_restore(_catalogue_disk_after)"
            last += "\n_catalogue_drop(_catalogue_disk_before, _catalogue_disk_after)"
        cells.append(code(last))
        at_answer = next(i for i, cell in enumerate(nb.cells) if cell is answer)
        at_check = next(i for i, cell in enumerate(nb.cells) if cell is check)
        nb.cells[at_check + 1 : at_check + 1] = cells
        nb.cells.insert(at_answer, code("\n".join(before)))
    if set(from_snapshot) & set(extra):
        nb.cells.insert(0, code(SNAPSHOT_CODE.strip()))
    return nb, copies


def grade(assignment: str, workdir: Path) -> GradedClass:
    """Grade the assignment's course (solution, release) and its catalogue course (``wrong0`` with the copies)."""
    source_path = notebook_path(ROOT, assignment)
    source = read(source_path)
    answers = answer_cells(source)
    wrong, right = load_catalogue(assignment)
    known = {tid: e for tid, e in wrong.items() if f"{tid}_answer" in answers}
    known_right = {tid: e for tid, e in right.items() if f"{tid}_answer" in answers}
    first, extra = plan_round(known, known_right)
    for tid, entries in extra.items():  # the control: the solution, after the exercise's other copies
        solution = solution_parts(answers[f"{tid}_answer"].source)[1]
        entries.append(Entry("control", "the exercise's own solution, as its last copy", solution, tid))
    start = time.perf_counter()
    own = {"solution": source_path, "release": notebook_path(ROOT, assignment, "release")}
    grades, log = nbgrade.autograde(assignment, own, workdir=workdir / "assignment")
    course = workdir / "assignment" / "course"
    left = survivors(course / "autograded")
    points = nbgrade.graded_cells(source_path)
    plan: dict[str, dict[str, Entry]] = {}
    points_of: dict[str, dict[str, float]] = {}
    if first:  # the catalogue course: the first wrong answers, with the copies after their exercises
        objects = snapshot_objects(assignment)
        snapshot = {tid: objects.get(tid, []) for tid in from_snapshot(assignment)}
        derived, copies = with_copies(source, extra, snapshot)
        folder = workdir / "catalogue-source"
        shutil.copytree(source_path.parent, folder)
        nbformat.write(derived, folder / source_path.name)
        plan[ROUND] = {**first, **copies}
        notebook = workdir / f"{ROUND}.ipynb"
        nbformat.write(with_answers(derived, {tid: e.source for tid, e in plan[ROUND].items()}), notebook)
        round_grades, round_log = nbgrade.autograde(assignment, {ROUND: notebook}, workdir / "catalogue", folder)
        grades.update(round_grades)
        log += "\n" + round_log
        left += survivors(workdir / "catalogue" / "course" / "autograded")
        points_of[ROUND] = nbgrade.graded_cells(folder / source_path.name)
    seconds = time.perf_counter() - start
    print(f"{assignment}: stock nbgrader graded {len(own) + len(plan)} notebooks in {seconds:.1f} s")
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
