"""Helpers for writing a source notebook from Python (optional; editing in JupyterLab is fine too).

    from tools.author import Notebook
    nb = Notebook("01-workspace")
    nb.md("# Title ...")
    nb.code("import pandas as pd")
    nb.answer("nb01_dataset", '''
    ### BEGIN SOLUTION
    # HINT: Dataset.Tabular.from_delimited_files takes a list of (datastore, path) pairs.
    ds = ...
    ### END SOLUTION
    ''')
    nb.check("nb01_dataset", 2, '''
    assert ...
    ### BEGIN HIDDEN TESTS
    assert ...
    ### END HIDDEN TESTS
    ''')
    nb.save()   # -> source/01-workspace/01-workspace.ipynb, without outputs

Conventions (docs/authoring.md): the graded (test) cell's grade id is ``nbNN_<name>``; the answer
cell's grade id is ``nbNN_<name>_answer``; hints are ``# HINT:`` lines inside the solution region (so nbgrader strips
them from the release; tools/release.py folds them into the self-paced edition).
"""

from __future__ import annotations

import re
import sys
import textwrap
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from autograder import course_files  # noqa: E402

GRADE_ID = re.compile(r"^nb\d\d_[a-z0-9_]+$")


class Notebook:
    def __init__(self, assignment: str):
        self.assignment = assignment
        self.nb = nbformat.v4.new_notebook()
        self.nb.metadata = {
            "kernelspec": {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"},
            "language_info": {"name": "python"},
        }
        self._n = 0
        self.points = 0.0

    def _id(self) -> str:
        self._n += 1
        return f"{self.assignment[:2]}-c{self._n:03d}"

    @staticmethod
    def _text(text: str) -> str:
        return textwrap.dedent(text).strip("\n")

    def md(self, text: str) -> None:
        cell = nbformat.v4.new_markdown_cell(self._text(text))
        cell.id = self._id()
        self.nb.cells.append(cell)

    def code(self, text: str) -> None:
        cell = nbformat.v4.new_code_cell(self._text(text))
        cell.id = self._id()
        self.nb.cells.append(cell)

    def answer(self, name: str, text: str) -> None:
        """A solution cell (the learner writes here). ``name`` is the graded cell's grade id."""
        if not GRADE_ID.match(name):
            raise ValueError(f"grade id {name!r} must look like nbNN_short_name")
        body = self._text(text)
        if course_files.SOLUTION_BEGIN not in body:
            raise ValueError(f"{name}: an answer cell needs a ### BEGIN SOLUTION region")
        cell = nbformat.v4.new_code_cell(body)
        cell.id = course_files.answer_id(name)
        cell.metadata["nbgrader"] = course_files.answer_metadata(name)
        self.nb.cells.append(cell)

    def check(self, name: str, points: float, text: str) -> None:
        """A graded test cell worth ``points``: visible asserts, plus a hidden-tests region."""
        if not GRADE_ID.match(name):
            raise ValueError(f"grade id {name!r} must look like nbNN_short_name")
        cell = nbformat.v4.new_code_cell(self._text(text))
        cell.id = name
        cell.metadata["nbgrader"] = course_files.check_metadata(name, points)
        self.nb.cells.append(cell)
        self.points += points

    def save(self, path: Path | None = None) -> Path:
        nbformat.validate(self.nb)
        return course_files.write(self.nb, path or course_files.notebook_path(ROOT, self.assignment))
