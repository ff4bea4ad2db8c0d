"""Intake: find each student's submission in nbgrader's layout and read it without trusting it.

``SUBMISSIONS/<student_id>/<assignment>/*.ipynb`` is nbgrader's submitted layout. Every student
folder gets a row, whatever is in it. Reading a notebook never raises: a file that is not UTF-8,
not JSON, not a notebook, for another assignment or another language becomes an
:class:`IntakeProblem` with a status (``invalid_notebook`` or ``missing``) and a sentence a
student can act on.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from . import course_files

if TYPE_CHECKING:
    import nbformat

MAX_NOTEBOOK_BYTES = 20 * 1024 * 1024
PYTHON_NAMES = {"python", "python3", "ipython", "ipython3", ""}


class IntakeProblem(Exception):
    def __init__(self, status: str, detail: str):
        super().__init__(detail)
        self.status = status
        self.detail = detail


@dataclass
class Submission:
    """One student folder: where their files are and which file stands for which notebook."""

    index: int
    student_id: str
    folder: Path | None  # the folder whose files are copied into the sandbox
    notebooks: dict[str, Path | None]  # notebook id -> submitted file (None: missing)
    notes: list[str] = field(default_factory=list)
    problem: tuple[str, str] | None = None  # (status, detail) when nothing can be graded


def find_students(submissions: Path) -> list[str]:
    return sorted(
        p.name for p in submissions.iterdir() if p.is_dir() and not p.is_symlink() and not p.name.startswith(".")
    )


def locate(index: int, student_dir: Path, assignment: str, expected: list[str]) -> Submission:
    """Map the expected notebook ids of ``assignment`` to the files a student handed in."""
    sid = student_dir.name
    folder = student_dir / assignment
    notes: list[str] = []
    if not folder.is_dir() or folder.is_symlink():
        direct = sorted(p for p in student_dir.glob("*.ipynb") if p.is_file())
        others = sorted(p.name + "/" for p in student_dir.iterdir() if p.is_dir() and not p.name.startswith("."))
        if direct:
            folder = student_dir
            notes.append(f"notebooks found directly in {sid}/ (expected {sid}/{assignment}/)")
        else:
            found = f" (found {', '.join(others)})" if others else ""
            return Submission(
                index,
                sid,
                None,
                {nb: None for nb in expected},
                notes,
                ("missing", f"no folder {assignment}/ in {sid}/{found}"),
            )
    present = {p.stem: p for p in folder.glob("*.ipynb") if p.is_file() and not p.is_symlink()}
    mapping: dict[str, Path | None] = {nb: present.get(nb) for nb in expected}
    missing = [nb for nb, p in mapping.items() if p is None]
    spare = sorted(p for stem, p in present.items() if stem not in expected)
    if len(missing) == 1 and len(spare) == 1:
        mapping[missing[0]] = spare[0]
        notes.append(f"graded {spare[0].name} as {missing[0]}.ipynb")
        missing = []
    if all(p is None for p in mapping.values()):
        files = sorted(p.name for p in folder.iterdir() if not p.name.startswith("."))
        what = f"it holds {', '.join(files[:5])}" if files else "it is empty"
        return Submission(
            index,
            sid,
            folder,
            mapping,
            notes,
            ("missing", f"no notebook {', '.join(n + '.ipynb' for n in expected)} in {sid}/{folder.name}/: {what}"),
        )
    for nb in missing:
        notes.append(f"{nb}.ipynb missing (scored 0)")
    return Submission(index, sid, folder, mapping, notes)


def read_notebook(path: Path, expected_ids: set[str], kernel_name: str) -> tuple[nbformat.NotebookNode, list[str]]:
    """Parse and check a submitted notebook. Raises IntakeProblem with a clear reason."""
    import nbformat  # here, not at the top: `autograder collect` runs before the stack is installed

    notes: list[str] = []
    size = path.stat().st_size
    if size > MAX_NOTEBOOK_BYTES:
        raise IntakeProblem(
            "invalid_notebook",
            f"{path.name} is {size >> 20} MB, more than the {MAX_NOTEBOOK_BYTES >> 20} MB a notebook may have",
        )
    raw = path.read_bytes()
    if not raw.strip():
        raise IntakeProblem("invalid_notebook", f"{path.name} is empty")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise IntakeProblem(
            "invalid_notebook",
            f"{path.name} is not UTF-8 text (byte 0x{raw[exc.start]:02x} at offset {exc.start}): "
            "not a notebook, or saved with another encoding",
        ) from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise IntakeProblem(
            "invalid_notebook",
            f"{path.name} is not valid JSON ({exc.msg} at line {exc.lineno}, column {exc.colno}): "
            "the file is damaged or is not a notebook",
        ) from None
    if not isinstance(data, dict) or "cells" not in data or "nbformat" not in data:
        raise IntakeProblem(
            "invalid_notebook", f"{path.name} is JSON but not a Jupyter notebook (no 'cells' or 'nbformat' field)"
        )
    if not isinstance(data.get("nbformat"), int) or data["nbformat"] < 4:
        raise IntakeProblem(
            "invalid_notebook",
            f"{path.name} uses notebook format {data.get('nbformat')!r}; save it with Jupyter 4 or later",
        )
    try:
        nb = nbformat.reads(text, as_version=4)
        nbformat.validate(nb)
    except Exception as exc:  # nbformat raises several kinds
        try:
            from nbformat.validator import normalize

            # duplicate cell ids nbformat.reads already repaired; this drops invalid metadata
            _, fixed = normalize(data, strip_invalid_metadata=True)
            nb = nbformat.from_dict(fixed)
            nbformat.validate(nb)
            notes.append("notebook structure repaired (invalid metadata removed)")
        except Exception:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise IntakeProblem("invalid_notebook", f"{path.name} is not a valid notebook: {first[:200]}") from None
    spec = nb.metadata.get("kernelspec", {}) or {}
    language = str(spec.get("language") or nb.metadata.get("language_info", {}).get("name") or "").lower()
    if language not in PYTHON_NAMES:
        raise IntakeProblem(
            "invalid_notebook",
            f"{path.name} was written for the {language!r} kernel ({spec.get('name', '?')}); this assignment is Python",
        )
    if spec.get("name") != kernel_name:
        notes.append(f"kernel {spec.get('name')!r} replaced by the course kernel {kernel_name!r}")
    for cell in nb.cells:  # the grader reads nbgrader metadata as a table with a text grade_id
        meta = cell.metadata.get("nbgrader")
        if meta is not None and not (isinstance(meta, dict) and isinstance(meta.get("grade_id", ""), str)):
            del cell.metadata["nbgrader"]
            notes.append("altered: malformed nbgrader metadata removed from a cell")
    ids = course_files.grade_ids(nb)
    if ids and expected_ids and not ids & expected_ids:
        theirs = ", ".join(sorted(ids)[:3])
        ours = ", ".join(sorted(expected_ids)[:3])
        raise IntakeProblem(
            "invalid_notebook",
            f"{path.name} belongs to another assignment: its graded cells are {theirs}..., "
            f"this assignment's are {ours}...",
        )
    return nb, notes
