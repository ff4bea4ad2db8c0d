"""A tiny assignment and synthetic class, for the autograder's tests and `make bench`.

The real assignments take up to 45 s each to run; the tests and the benchmark need something that
runs in about a second but has every kind of cell nbgrader grades: a set-up cell, answer cells,
test cells with visible and hidden checks. ``build_course(root)`` writes
``root/source/<ID>/<ID>.ipynb`` (and a copy of the repository's ``nbgrader_config.py``);
``student_notebook(kind)`` returns the notebook a student of that kind would submit.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import nbformat

from . import course_files as cf

ROOT = Path(__file__).resolve().parent.parent
ASSIGNMENT = "90-tiny"
#: A string that only the hidden tests contain: if it shows up anywhere a student can see, it leaked.
SECRET = "HIDDEN_SECRET_7f3a"

SETUP = "import math\nimport os\nimport dp100\nfrom dp100.data import DATA_DIR"
ANSWERS = {
    "nb90_square": (
        "def square(x):\n    return x * x",
        2.0,
        "assert square(3) == 9, 'square(3) should be 9'",
        "assert square(-4) == 16, '{secret}: negative numbers'\nassert square(0.5) == 0.25",
    ),
    "nb90_circle": (
        "def circle_area(r):\n    return math.pi * r ** 2",
        3.0,
        "assert abs(circle_area(1) - math.pi) < 1e-9, 'area of the unit circle is pi'",
        "assert abs(circle_area(2) - 4 * math.pi) < 1e-9, '{secret}: r squared'",
    ),
    "nb90_pick": (
        'q_pick = "b"',
        1.0,
        "assert q_pick in ('a', 'b', 'c'), 'answer with one letter'",
        "assert q_pick == 'b', '{secret}: wrong option'",
    ),
}
TOTAL = sum(points for _, points, _, _ in ANSWERS.values())

#: A second small assignment whose tests use the checking helpers the course's real tests use
#: (isinstance, len, all, sorted, math.isclose, np.allclose, np.testing, pd.testing): the forgery
#: tests (tests/test_forgery.py) patch each of them from a student cell.
CHECKS = "95-checks"
CHECKS_SETUP = "import math\nimport numpy as np\nimport pandas as pd"
CHECKS_ANSWERS = {
    "nb95_stats": (
        "def mean_std(xs):\n    return float(np.mean(xs)), float(np.std(xs))",
        2.0,
        "assert isinstance(mean_std([1, 2]), tuple) and len(mean_std([1, 2])) == 2, 'return a pair'",
        "np.testing.assert_allclose(mean_std([1, 2, 3]), (2.0, 0.816496580927726), rtol=1e-6)\n"
        "assert np.allclose(mean_std([4, 4]), (4, 0)), '{secret}: constant input'",
    ),
    "nb95_frame": (
        "def totals(df):\n    return df.groupby('k', as_index=False)['v'].sum()",
        2.0,
        "assert list(totals(pd.DataFrame(dict(k=['a'], v=[1]))).columns) == ['k', 'v'], 'columns k, v'",
        "pd.testing.assert_frame_equal(totals(pd.DataFrame(dict(k=['a', 'b', 'a'], v=[1, 2, 3]))),\n"
        "                              pd.DataFrame(dict(k=['a', 'b'], v=[4, 2])))  # {secret}",
    ),
    "nb95_vowels": (
        "vowels = sorted(set('education') & set('aeiou'))",
        1.0,
        "assert all(isinstance(v, str) for v in vowels), 'a list of letters'",
        "assert sorted(vowels) == vowels == ['a', 'e', 'i', 'o', 'u'], '{secret}: five vowels'\n"
        "assert math.isclose(len(vowels) / 5, 1.0)",
    ),
}
_SPECS = {ASSIGNMENT: (SETUP, ANSWERS), CHECKS: (CHECKS_SETUP, CHECKS_ANSWERS)}


def _spec(assignment: str) -> tuple[str, dict]:
    return _SPECS.get(assignment, _SPECS[ASSIGNMENT])


def _cell_id(name: str) -> str:
    return name.replace("_", "-")


def source_notebook(work: str = "", secret: str = SECRET, assignment: str = ASSIGNMENT) -> nbformat.NotebookNode:
    """The instructor notebook. ``work`` is extra code run in the set-up cell (the bench uses it
    to give the notebook a realistic amount of computation); ``secret`` is written into every
    hidden test (tests use a random one, so no copy of it exists anywhere else on disk)."""
    nb = nbformat.v4.new_notebook()
    nb.metadata = {
        "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
        "language_info": {"name": "python"},
    }
    md = nbformat.v4.new_markdown_cell("# Tiny assignment\nThree graded items, 6 points.")
    md.id = "intro"
    setup_code, answers = _spec(assignment)
    setup = nbformat.v4.new_code_cell(setup_code + ("\n" + work if work else ""))
    setup.id = "setup"
    nb.cells = [md, setup]
    for name, (solution, points, visible, hidden) in answers.items():
        answer = nbformat.v4.new_code_cell(f"{cf.SOLUTION_BEGIN}\n{solution}\n{cf.SOLUTION_END}")
        answer.id = _cell_id(name) + "-answer"
        answer.metadata["nbgrader"] = cf.answer_metadata(name)
        hidden = hidden.format(secret=secret)
        test = nbformat.v4.new_code_cell(f"{visible}\n{cf.HIDDEN_BEGIN}\n{hidden}\n{cf.HIDDEN_END}")
        test.id = _cell_id(name)
        test.metadata["nbgrader"] = cf.check_metadata(name, points)
        nb.cells += [answer, test]
    nbformat.validate(nb)
    return nb


def build_course(root: Path, assignment: str = ASSIGNMENT, work: str = "", secret: str = SECRET) -> Path:
    """Write a course directory with one tiny assignment; return the source notebook's path."""
    root = Path(root)
    path = cf.write(source_notebook(work, secret, assignment), cf.notebook_path(root, assignment))
    shutil.copy(ROOT / "nbgrader_config.py", root / "nbgrader_config.py")
    return path


def release_notebook(work: str = "", assignment: str = ASSIGNMENT) -> nbformat.NotebookNode:
    """What nbgrader's generate_assignment hands out: solutions replaced, hidden tests removed."""
    nb = source_notebook(work, assignment=assignment)
    for cell in cf.answer_cells(nb).values():
        cell.source = "# YOUR CODE HERE\nraise NotImplementedError()"
    for cell in cf.check_cells(nb).values():
        cell.source = cf.visible_part(cell.source)
    return nb


def student_notebook(kind: str = "full", work: str = "", assignment: str = ASSIGNMENT) -> nbformat.NotebookNode:
    """A submission: ``full`` (every answer right), ``blank`` (the release untouched),
    ``partial`` (first answer only), or ``full`` plus ``extra`` code appended to the first answer."""
    nb = release_notebook(work, assignment)
    answers = _spec(assignment)[1]
    names = list(answers)
    for gid, cell in cf.answer_cells(nb).items():
        name = gid[: -len(cf.ANSWER_SUFFIX)]
        if kind == "full" or (kind == "partial" and name == names[0]):
            cell.source = answers[name][0]
    return nb


def with_code(nb: nbformat.NotebookNode, code: str, where: str = "first-answer") -> nbformat.NotebookNode:
    """Put student ``code`` into the first answer cell (after the answer) or a new cell at the top."""
    nb = cf.clone(nb)
    if where == "top":
        cell = nbformat.v4.new_code_cell(code)
        cell.id = "student-extra"
        nb.cells.insert(2, cell)
        return nb
    answers = list(cf.answer_cells(nb).values())
    if not answers:
        raise ValueError("no answer cell")
    answers[0].source += "\n" + code
    return nb


def write_submission(
    submissions: Path,
    student: str,
    nb: nbformat.NotebookNode | bytes | str,
    assignment: str = ASSIGNMENT,
    name: str | None = None,
) -> Path:
    """Write ``submissions/<student>/<assignment>/<name or assignment>.ipynb``."""
    path = Path(submissions) / student / assignment / (name or f"{assignment}.ipynb")
    if not isinstance(nb, (bytes, str)):
        return cf.write(nb, path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(nb, bytes):
        path.write_bytes(nb)
    else:
        path.write_text(nb, encoding="utf-8")
    return path


# -- a two-notebook assignment: what one notebook leaves in the work dir, the next one finds ----
PAIR = "91-pair"
PAIR_PARTS = ("part1", "part2")


def _pair_part(nb: nbformat.NotebookNode, part: str) -> nbformat.NotebookNode:
    """``nb`` with grade ids and cell ids of its own (nbgrader wants them unique per notebook)."""
    nb = cf.clone(nb)
    for cell in nb.cells:
        cell.id = f"{part}-{cell.id}"
        meta = cell.metadata.get("nbgrader")
        if meta:
            meta["grade_id"] = meta["grade_id"].replace("nb90_", f"nb91{part[-1]}_")
    return nb


def build_pair_course(root: Path, secret: str = SECRET) -> list[Path]:
    """Write a course with the two-notebook assignment PAIR (each part is the tiny notebook)."""
    root = Path(root)
    paths = []
    for part in PAIR_PARTS:
        nb = _pair_part(source_notebook(secret=secret), part)
        paths.append(cf.write(nb, root / "source" / PAIR / f"{part}.ipynb"))
    shutil.copy(ROOT / "nbgrader_config.py", root / "nbgrader_config.py")
    return paths


def pair_student_notebook(part: str, kind: str = "full", code: str = "") -> nbformat.NotebookNode:
    """One part of a PAIR submission, with optional student ``code`` in a cell at the top."""
    nb = student_notebook(kind)
    if code:
        nb = with_code(nb, code, where="top")
    return _pair_part(nb, part)
