"""Build the embedded sample class of every assignment (`python autograder/samples/build_samples.py`).

For each assignment with ``source/ID/ID.ipynb`` and ``release/ID/ID.ipynb``, writes
``autograder/samples/ID/<student>/ID/ID.ipynb`` in nbgrader's submitted layout:

    full      the release with every answer cell holding the source's solution   -> full marks
    partial   the first half of the answer cells solved, the rest untouched      -> part marks
    blank     the release untouched                                              -> 0
    tampered  the blank release with every test cell replaced by `pass`           -> 0, "altered"
    broken    the full notebook cut off half way (invalid JSON)                   -> invalid_notebook

Deterministic and idempotent: the same sources give the same bytes; sample folders of assignments
that no longer exist are removed. Run it after `make release`.
"""

from __future__ import annotations

import copy
import shutil
import sys
from pathlib import Path

import nbformat

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
sys.path.insert(0, str(ROOT))  # run as a script: the autograder package is the repository's

from autograder.course_files import (  # noqa: E402
    answer_cells,
    assignments,
    canonical,
    check_cells,
    grade_id,
    notebook_path,
    read,
    solution_parts,
)

STUDENTS = ("full", "partial", "blank", "tampered", "broken")


def build(assignment: str, root: Path = ROOT, dest: Path = HERE) -> dict[str, Path]:
    source = read(notebook_path(root, assignment, "source"))
    release = read(notebook_path(root, assignment, "release"))
    # what a student who solved it would have written: the solution region, markers and hints removed
    solutions = {gid: solution_parts(cell.source)[1] for gid, cell in answer_cells(source).items()}
    answers = list(answer_cells(release))
    missing = [gid for gid in answers if gid not in solutions]
    if missing:
        raise SystemExit(f"{assignment}: release answer cells without a source solution: {missing}")
    half = set(answers[: (len(answers) + 1) // 2])

    def solved(which: set[str]) -> nbformat.NotebookNode:
        nb = copy.deepcopy(release)
        for cell in nb.cells:
            if grade_id(cell) in which:
                cell.source = solutions[grade_id(cell)]
        return nb

    tampered = copy.deepcopy(release)
    for cell in check_cells(tampered).values():
        cell.source = "pass  # the checks were deleted"
    texts = {
        "full": canonical(solved(set(answers))),
        "partial": canonical(solved(half)),
        "blank": canonical(copy.deepcopy(release)),
        "tampered": canonical(tampered),
    }
    texts["broken"] = texts["full"][: len(texts["full"]) // 2]
    out = dest / assignment
    if out.exists():
        shutil.rmtree(out)
    written = {}
    for student in STUDENTS:
        path = out / student / assignment / f"{assignment}.ipynb"
        path.parent.mkdir(parents=True)
        path.write_text(texts[student], encoding="utf-8")
        written[student] = path
    return written


def main(argv: list[str]) -> int:
    built = assignments(ROOT, released=True)
    ids = argv or built
    for stale in sorted(p for p in HERE.iterdir() if p.is_dir() and p.name not in built and not p.name.startswith("_")):
        if stale.name != "__pycache__":
            shutil.rmtree(stale)
            print(f"removed stale samples {stale.name}/")
    for aid in ids:
        written = build(aid)
        print(f"{aid}: {', '.join(written)} -> {(HERE / aid).relative_to(ROOT)}/")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
