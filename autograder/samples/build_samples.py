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
import json
import re
import shutil
import sys
from pathlib import Path

import nbformat

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
MARKER = re.compile(r"^\s*### (BEGIN|END) SOLUTION\s*$")
HINT = re.compile(r"^\s*# HINT:")
STUDENTS = ("full", "partial", "blank", "tampered", "broken")


def solution_code(source: str) -> str:
    """What a student who solved it would have written: the solution region, markers and hints removed."""
    lines = [l for l in source.splitlines() if not MARKER.match(l) and not HINT.match(l)]
    return "\n".join(lines).strip("\n")


def canonical(nb: nbformat.NotebookNode) -> str:
    nbformat.validate(nb)
    return json.dumps(nb, indent=1, sort_keys=True, ensure_ascii=False) + "\n"


def build(assignment: str, root: Path = ROOT, dest: Path = HERE) -> dict[str, Path]:
    source = nbformat.read(root / "source" / assignment / f"{assignment}.ipynb", as_version=4)
    release = nbformat.read(root / "release" / assignment / f"{assignment}.ipynb", as_version=4)
    solutions = {c.metadata["nbgrader"]["grade_id"]: solution_code(c.source) for c in source.cells
                 if c.metadata.get("nbgrader", {}).get("solution")}
    answers = [c.metadata["nbgrader"]["grade_id"] for c in release.cells
               if c.metadata.get("nbgrader", {}).get("solution")]
    missing = [gid for gid in answers if gid not in solutions]
    if missing:
        raise SystemExit(f"{assignment}: release answer cells without a source solution: {missing}")
    half = set(answers[: (len(answers) + 1) // 2])

    def solved(which: set[str]) -> nbformat.NotebookNode:
        nb = copy.deepcopy(release)
        for cell in nb.cells:
            gid = cell.metadata.get("nbgrader", {}).get("grade_id")
            if gid in which:
                cell.source = solutions[gid]
        return nb

    tampered = copy.deepcopy(release)
    for cell in tampered.cells:
        if cell.metadata.get("nbgrader", {}).get("grade"):
            if cell.cell_type == "code" and not cell.metadata["nbgrader"].get("solution"):
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


def assignments(root: Path = ROOT) -> list[str]:
    return sorted(p.name for p in (root / "source").iterdir()
                  if (p / f"{p.name}.ipynb").is_file() and (root / "release" / p.name / f"{p.name}.ipynb").is_file())


def main(argv: list[str]) -> int:
    ids = argv or assignments()
    for stale in sorted(p for p in HERE.iterdir() if p.is_dir() and p.name not in assignments() and not p.name.startswith("_")):
        if stale.name != "__pycache__":
            shutil.rmtree(stale)
            print(f"removed stale samples {stale.name}/")
    for aid in ids:
        written = build(aid)
        print(f"{aid}: {', '.join(written)} -> {(HERE / aid).relative_to(ROOT)}/")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
