"""Run nbgrader's own autograde on notebooks in a throw-away course, return per-cell points.

Used by the honest-test harness (tests/test_honest_grading.py) and by `make bench`. nbgrader is
the grading engine; this module only lays out a temporary course directory the way nbgrader
expects (source/ID, submitted/STUDENT/ID) and reads the gradebook back.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from autograder import course_files  # noqa: E402
from autograder.course import SetupError, generate_assignment  # noqa: E402

NBGRADER = [sys.executable, "-m", "nbgrader"]
# jupyter_client picks "free" TCP ports for a kernel, which binds them later: with two test workers
# starting kernels, another process can take one first, and the kernel's heartbeat thread dies
PORT_RACE = "zmq.error.ZMQError: Address already in use"
# ipykernel 7.4 shutting down: a control message flushes stdout after the IO thread closed its event
# pipe, and the kernel logs the ZMQError on its stderr, which nbgrader passes on. The notebook has been
# graded by then (ipykernel#1518 fixed the same race on another path). Only that traceback is dropped.
SHUTDOWN_RACE = re.compile(
    r"^[ \t]*Traceback \(most recent call last\):\n(?:[ \t]+.*\n)*?"
    r"[ \t]*zmq\.error\.ZMQError: Socket operation on non-socket$",
    re.MULTILINE,
)


def without_shutdown_race(log: str) -> str:
    """``log`` with each traceback of ipykernel's shutdown race (:data:`SHUTDOWN_RACE`) replaced by a note."""

    def note(m: re.Match) -> str:
        race = "in process_control" in m.group(0) and "ipykernel/iostream.py" in m.group(0)
        return "(a kernel's shutdown race, see tools/nbgrade.py)" if race else m.group(0)

    return SHUTDOWN_RACE.sub(note, log)


@dataclass
class CellGrade:
    grade_id: str
    score: float
    max_score: float


class GradingError(RuntimeError):
    pass


def venv_env() -> dict[str, str]:
    """nbgrader runs `alembic` from PATH: put this interpreter's bin folder first."""
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    return env


def _run(cmd: list[str], cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, env=venv_env())


def autograde(
    assignment: str, submissions: dict[str, Path], workdir: Path | None = None, source: Path | None = None
) -> tuple[dict[str, dict[str, CellGrade]], str]:
    """Autograde ``{student_id: notebook_path}`` for ``assignment`` with stock nbgrader.

    ``source``: the assignment's source folder (default ``source/<assignment>`` of the course).
    Returns ``({student: {grade_id: CellGrade}}, nbgrader's log)``. Raises GradingError if nbgrader
    itself fails (exit code != 0), with its log.
    """
    tmp = Path(workdir or tempfile.mkdtemp(prefix="dp100-grade-"))
    course = tmp / "course"
    (course / "source").mkdir(parents=True, exist_ok=True)
    shutil.copytree(source or ROOT / "source" / assignment, course / "source" / assignment, dirs_exist_ok=True)
    shutil.copy(ROOT / "nbgrader_config.py", course / "nbgrader_config.py")
    log = []
    # the class's gradebook, made here with nbgrader's own Gradebook: its students, and its schema
    # revision read in process (nbgrader would start an `alembic heads` process and one more nbgrader
    # process for `db student import`, ~1-2 s of CPU each); generate_assignment too, through nbgrader's
    # own API. The grading itself is nbgrader's CLI, as an instructor runs it.
    new_gradebook(course / "gradebook.db", list(submissions))
    try:
        log.append(generate_assignment(course, assignment))  # nbgrader's own, in this process
    except SetupError as exc:
        raise GradingError(str(exc)) from exc
    for student, nb in submissions.items():
        dest = course / "submitted" / student / assignment
        dest.mkdir(parents=True, exist_ok=True)
        shutil.copy(nb, dest / f"{assignment}.ipynb")
    auto = _run(NBGRADER + ["autograde", assignment, "--force"], course)
    log.append(auto.stdout + auto.stderr)
    if PORT_RACE in log[-1]:  # a kernel lost a TCP port to another process: grade again, once
        auto = _run(NBGRADER + ["autograde", assignment, "--force"], course)
        log[-1] = f"(graded again: a kernel lost the race for a TCP port)\n{auto.stdout + auto.stderr}"
    if auto.returncode != 0:
        raise GradingError(f"autograde failed:\n{log[-1]}")
    log[-1] = without_shutdown_race(log[-1])
    return read_gradebook(course, assignment, list(submissions)), "\n".join(log)


def new_gradebook(path: Path, students: list[str]) -> None:
    """An nbgrader gradebook at ``path`` (kept if it exists) holding ``students``."""
    from nbgrader.api import Gradebook

    from autograder.gradebook import alembic_head_in_process

    with alembic_head_in_process(), Gradebook(f"sqlite:///{path}") as gb:
        for student in students:
            gb.update_or_create_student(student)


def read_gradebook(course: Path, assignment: str, students: list[str]) -> dict[str, dict[str, CellGrade]]:
    from nbgrader.api import Gradebook, MissingEntry

    result: dict[str, dict[str, CellGrade]] = {}
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        for student in students:
            try:
                nb = gb.find_submission_notebook(assignment, assignment, student)
            except MissingEntry:
                result[student] = {}
                continue
            result[student] = {g.name: CellGrade(g.name, float(g.score), float(g.max_score)) for g in nb.grades}
    return result


def graded_cells(notebook: Path) -> dict[str, float]:
    """``{grade_id: points}`` of every graded cell of a source notebook."""
    return course_files.graded_points(course_files.read(notebook))


def cleanup(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)
