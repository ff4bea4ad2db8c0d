"""Intake from student repositories (GitHub Classroom: one repository per student, in a roster).

The roster is a CSV with a header and at least ``student_id`` and ``repository`` (``owner/name``)
columns, as GitHub Classroom's roster export can be turned into. ``collect`` takes, from each
student's checkout, ONLY ``<assignment>/*.ipynb`` regular files, and lays them out the way the
grader reads them (``SUBMISSIONS/<student_id>/<assignment>/``). Everything else in a student's
repository (workflows, scripts, symlinks, data, notebooks elsewhere) is ignored and reported, so
nothing a student pushes besides their notebooks reaches the grading job.
"""

from __future__ import annotations

import csv
import os
import re
import shutil
import stat
from dataclasses import dataclass, field
from pathlib import Path

from .errors import SetupError

STUDENT_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")
REPOSITORY = re.compile(r"[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+")


@dataclass
class Student:
    student_id: str
    repository: str


@dataclass
class Collected:
    student_id: str
    notebooks: list[str] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)
    problem: str = ""


def read_roster(path: Path) -> list[Student]:
    """Read and check the roster: a clear error naming the line for every bad row."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise SetupError(f"roster {path}: {exc.strerror or exc}") from None
    rows = list(csv.DictReader(text.splitlines()))
    if not rows or not {"student_id", "repository"} <= set(rows[0]):
        raise SetupError(f"roster {path}: needs a header with student_id and repository columns")
    students, seen = [], set()
    for line, row in enumerate(rows, start=2):
        sid, repo = (row.get("student_id") or "").strip(), (row.get("repository") or "").strip()
        if not STUDENT_ID.fullmatch(sid):
            raise SetupError(
                f"roster {path}, line {line}: student_id {sid!r} must be letters, digits, . _ - "
                "(it becomes a folder name)"
            )
        if not REPOSITORY.fullmatch(repo):
            raise SetupError(f"roster {path}, line {line}: repository {repo!r} must be owner/name")
        if sid in seen:
            raise SetupError(f"roster {path}, line {line}: student_id {sid} appears twice")
        seen.add(sid)
        students.append(Student(sid, repo))
    return students


def collect(roster: list[Student], checkouts: Path, assignment: str, dest: Path) -> list[Collected]:
    """Copy each student's ``<assignment>/*.ipynb`` from ``checkouts/<student_id>/`` into ``dest``.

    A student without a checkout still gets an (empty) folder, so the grader writes a ``missing``
    row for them. Never follows a symlink; skips files over the grader's notebook size cap.
    """
    from .intake import MAX_NOTEBOOK_BYTES  # the grader reads nothing larger

    out = []
    for st in roster:
        report = Collected(st.student_id)
        target = Path(dest) / st.student_id / assignment
        target.mkdir(parents=True, exist_ok=True)
        repo = Path(checkouts) / st.student_id
        if not repo.is_dir() or repo.is_symlink():
            report.problem = f"no checkout of {st.repository}"
            out.append(report)
            continue
        wanted = repo / assignment
        for dirpath, dirnames, filenames in os.walk(repo, followlinks=False):
            here = Path(dirpath)
            dirnames[:] = [d for d in dirnames if d != ".git"]
            for name in filenames:
                file = here / name
                rel = file.relative_to(repo).as_posix()
                st_ = os.lstat(file)
                if here != wanted or not name.endswith(".ipynb"):
                    report.ignored.append(rel)
                elif not stat.S_ISREG(st_.st_mode):
                    report.ignored.append(f"{rel} (not a regular file)")
                elif st_.st_size > MAX_NOTEBOOK_BYTES:
                    report.ignored.append(f"{rel} (larger than {MAX_NOTEBOOK_BYTES >> 20} MB)")
                else:
                    shutil.copyfile(file, target / name)
                    report.notebooks.append(rel)
        out.append(report)
    return out


def summary(collected: list[Collected]) -> list[str]:
    """One line per student with something to say (what was ignored, what was missing)."""
    lines = []
    for c in collected:
        if c.problem:
            lines.append(f"{c.student_id}: {c.problem}")
        if c.ignored:
            shown = ", ".join(c.ignored[:5]) + (f" and {len(c.ignored) - 5} more" if len(c.ignored) > 5 else "")
            lines.append(
                f"{c.student_id}: ignored {len(c.ignored)} file(s) outside the assignment's notebooks: {shown}"
            )
    return lines
