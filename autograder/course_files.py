"""The course's files as nbgrader lays them out: its assignments, their notebooks, and the cells in them.

One place for what tools/ (release, nbgrade, bench, progress, author, v2_snippets), the autograder and
the tests all need to agree on: which folders of ``source/`` are assignments, where each edition of a
notebook lives, how a notebook is read and written byte-stable, which cell is an answer or a graded
test (nbgrader's ``metadata.nbgrader``), and what the ``### BEGIN SOLUTION`` and
``### BEGIN HIDDEN TESTS`` regions hold.

It lives in the autograder package because that package is installed (``pip install -e .``) and the
scripts in tools/ can import it, never the other way round; it imports only the standard library
when loaded (nbformat on first use), so the autograder's light CI commands and `make progress`'s
"environment missing" message do not depend on it.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from nbformat import NotebookNode

SOLUTION_BEGIN, SOLUTION_END = "### BEGIN SOLUTION", "### END SOLUTION"
HIDDEN_BEGIN, HIDDEN_END = "### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS"
#: A line that opens or closes a solution or hidden-tests region.
MARKER = re.compile(r"^\s*### (BEGIN|END) (SOLUTION|HIDDEN TESTS)\s*$")
#: A hint, written inside the solution region (so nbgrader strips it from the release).
HINT = re.compile(r"^\s*# HINT:\s?(.*)$")
#: An answer cell's grade id is its test cell's plus this (docs/authoring.md).
ANSWER_SUFFIX = "_answer"


# -- assignments and their notebooks ------------------------------------------------------------
def assignments(root: Path, released: bool = False) -> list[str]:
    """The course's assignments: folders ``source/ID`` holding ``ID.ipynb`` (with ``released``:
    only those whose ``release/ID/ID.ipynb`` has been built too), sorted."""
    source = Path(root) / "source"
    if not source.is_dir():
        return []
    return sorted(
        p.name
        for p in source.iterdir()
        if (p / f"{p.name}.ipynb").is_file() and (not released or notebook_path(root, p.name, "release").is_file())
    )


def notebook_path(root: Path, assignment: str, edition: str = "source") -> Path:
    """``root/<edition>/ID/ID.ipynb``: the assignment's notebook in source/ or release/."""
    return Path(root) / edition / assignment / f"{assignment}.ipynb"


def source_notebooks(root: Path) -> list[Path]:
    """Every instructor notebook of every assignment (an assignment may have several)."""
    return sorted(Path(root).glob("source/*/*.ipynb"))


# -- reading and writing ------------------------------------------------------------------------
def read(path: Path) -> NotebookNode:
    import nbformat

    return nbformat.read(path, as_version=4)


def write(nb: NotebookNode, path: Path) -> Path:
    """nbformat's own writer, into a folder created if needed."""
    import nbformat

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)
    return path


def canonical(nb: NotebookNode) -> str:
    """One byte-stable JSON form (sorted keys, indent 1, LF, trailing newline) of a valid notebook,
    so a rebuild of unchanged sources changes no byte."""
    import nbformat

    nbformat.validate(nb)
    return json.dumps(nb, indent=1, sort_keys=True, ensure_ascii=False) + "\n"


def write_canonical(nb: NotebookNode, path: Path) -> Path:
    path = Path(path)
    text = canonical(nb)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def clone(nb: NotebookNode) -> NotebookNode:
    """A deep copy that is a plain notebook again (no shared lists, no stray Python objects)."""
    import nbformat

    return nbformat.from_dict(json.loads(json.dumps(nb)))


# -- nbgrader's cells ---------------------------------------------------------------------------
def grading(cell) -> dict:
    """The cell's nbgrader metadata ({} for a cell nbgrader does not know)."""
    return cell.metadata.get("nbgrader", {})


def grade_id(cell) -> str | None:
    return grading(cell).get("grade_id")


def grade_ids(nb: NotebookNode) -> set[str]:
    return {grade_id(c) for c in nb.cells} - {None}


def is_check(cell) -> bool:
    """A graded test cell: code nbgrader scores by running it, not one a student writes."""
    meta = grading(cell)
    return cell.cell_type == "code" and bool(meta.get("grade")) and not meta.get("solution")


def answer_cells(nb: NotebookNode) -> dict[str, NotebookNode]:
    """``{grade_id: cell}`` of the cells a student writes in (nbgrader solution cells), in order."""
    return {grade_id(c): c for c in nb.cells if grading(c).get("solution")}


def check_cells(nb: NotebookNode) -> dict[str, NotebookNode]:
    """``{grade_id: cell}`` of the graded test cells, in order."""
    return {grade_id(c): c for c in nb.cells if is_check(c)}


def graded_points(nb: NotebookNode) -> dict[str, float]:
    """``{grade_id: points}`` of every graded cell (test cells and autograded answers)."""
    return {grade_id(c): float(grading(c).get("points", 0)) for c in nb.cells if grading(c).get("grade")}


def answer_id(test_id: str) -> str:
    """The grade id of the answer cell that belongs to the test cell ``test_id``."""
    return test_id + ANSWER_SUFFIX


def answer_metadata(test_id: str) -> dict:
    """nbgrader metadata of the answer cell of ``test_id`` (a solution cell, not graded itself)."""
    return {
        "grade": False,
        "grade_id": answer_id(test_id),
        "locked": False,
        "schema_version": 3,
        "solution": True,
        "task": False,
    }


def check_metadata(test_id: str, points: float) -> dict:
    """nbgrader metadata of a locked test cell worth ``points``."""
    return {
        "grade": True,
        "grade_id": test_id,
        "locked": True,
        "points": points,
        "schema_version": 3,
        "solution": False,
        "task": False,
    }


# -- the regions inside a cell --------------------------------------------------------------------
def solution_parts(source: str) -> tuple[list[str], str]:
    """Split a source solution cell into (hint lines, the code a learner who solved it would have
    written: markers and hints removed)."""
    hints, code = [], []
    for line in source.splitlines():
        m = HINT.match(line)
        if m:
            hints.append(m.group(1))
        elif not MARKER.match(line):
            code.append(line)
    return hints, "\n".join(code).strip("\n")


def hidden_line_numbers(source: str) -> set[int]:
    """1-based numbers of the lines of a test cell that are hidden (markers included)."""
    out, inside = set(), False
    for i, line in enumerate(source.splitlines(), 1):
        if line.strip().startswith(HIDDEN_BEGIN):
            inside = True
        if inside:
            out.add(i)
        if line.strip().startswith(HIDDEN_END):
            inside = False
    return out


def hidden_lines(source: str) -> list[str]:
    """The non-blank lines of a test cell's hidden-tests regions, markers left out."""
    numbers = hidden_line_numbers(source)
    return [
        line
        for i, line in enumerate(source.splitlines(), 1)
        if i in numbers and line.strip() and not line.strip().startswith((HIDDEN_BEGIN, HIDDEN_END))
    ]


def visible_part(source: str) -> str:
    """A test cell's visible checks: what comes before its hidden tests."""
    return source.split(HIDDEN_BEGIN)[0].rstrip()
