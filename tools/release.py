"""Build both editions of every assignment from source/ (`make release`).

    source/NN-slug/NN-slug.ipynb  --nbgrader generate_assignment-->  release/NN-slug/NN-slug.ipynb
    release + hints + folded solutions                          -->  notebooks/NN-slug.ipynb

The release (graded) edition is nbgrader's own output, rewritten in a canonical JSON form so a
rebuild of unchanged sources changes no byte. The self-paced edition is the release plus, after
each exercise, a folded hint and a folded solution (HTML <details>), and never a hidden test.

Hints are written in the source, inside the solution region, as comment lines starting with
``# HINT:``; nbgrader strips the whole region from the release, and this script moves those lines
into the folded hint.

    python tools/release.py                 # rebuild release/ and notebooks/ in the repository
    python tools/release.py --root DIR      # build a copy of the course elsewhere (used by tests)
"""

from __future__ import annotations

import argparse
import html
import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from autograder.course import SetupError, generate_assignment  # noqa: E402
from autograder.course_files import (  # noqa: E402
    answer_cells,
    assignments,
    clone,
    grading,
    notebook_path,
    read,
    solution_parts,
    write_canonical,
)

SELF_PACED_BANNER = """> **Self-paced edition.** Run the cells from the top. After each exercise, write your answer in
> the cell that says `# YOUR CODE HERE` (replace the `raise NotImplementedError()` line), then run
> the check cell below it: no error means the visible checks pass. Stuck? Open the folded
> **Hint**, then the **Solution**. The graded edition (`release/`) has more, hidden, checks.
"""


def strip_for_release(nb: nbformat.NotebookNode) -> None:
    """Drop what varies between runs or machines (outputs, counts, cell ids stay from source)."""
    nb.metadata.pop("widgets", None)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
        cell.metadata.pop("execution", None)
        cell.metadata.pop("collapsed", None)
        cell.metadata.pop("scrolled", None)


def self_paced(release: nbformat.NotebookNode, source: nbformat.NotebookNode) -> nbformat.NotebookNode:
    solutions = {
        gid: solution_parts(cell.source) for gid, cell in answer_cells(source).items() if cell.cell_type == "code"
    }
    nb = clone(release)
    cells = [nbformat.v4.new_markdown_cell(SELF_PACED_BANNER)]
    cells[0].id = "self-paced-banner"
    for cell in nb.cells:
        meta = grading(cell)
        if cell.cell_type == "code" and (meta.get("solution") or meta.get("grade")):
            # an unanswered exercise raises; the tag lets "Run All" carry on past it (JupyterLab, nbclient)
            tags = cell.metadata.setdefault("tags", [])
            if "raises-exception" not in tags:
                tags.append("raises-exception")
        cells.append(cell)
        if cell.cell_type == "code" and meta.get("solution") and meta.get("grade_id") in solutions:
            hints, code = solutions[meta["grade_id"]]
            hint_text = "\n".join(hints) if hints else "Re-read the section above this exercise."
            folded = (
                "<details><summary><b>Hint</b></summary>\n\n" + hint_text + "\n\n</details>\n\n"
                "<details><summary><b>Solution</b></summary>\n\n"
                '<pre><code class="language-python">' + html.escape(code) + "</code></pre>\n\n</details>"
            )
            extra = nbformat.v4.new_markdown_cell(folded)
            extra.id = f"{meta['grade_id']}-help"[:64]
            cells.append(extra)
    nb.cells = cells
    return nb


def build(root: Path, only: list[str] | None = None) -> list[Path]:
    """Build release/ and notebooks/ under ``root``; return the files written."""
    written = []
    for assignment in only or assignments(root):
        try:
            generate_assignment(root, assignment)  # nbgrader's own, in this process
        except SetupError as exc:
            raise SystemExit(str(exc)) from exc
        release_path = notebook_path(root, assignment, "release")
        release = read(release_path)
        strip_for_release(release)
        write_canonical(release, release_path)
        source = read(notebook_path(root, assignment))
        edition = root / "notebooks" / f"{assignment}.ipynb"
        write_canonical(self_paced(release, source), edition)
        written += [release_path, edition]
    return written


def main() -> int:
    parser = argparse.ArgumentParser(description="Build release/ and notebooks/ from source/.")
    parser.add_argument("--root", type=Path, default=ROOT, help="course root (default: this repository)")
    parser.add_argument("assignment", nargs="*", help="only these assignments (default: all)")
    args = parser.parse_args()
    for path in build(args.root.resolve(), args.assignment or None):
        print(f"wrote {path.relative_to(args.root.resolve())}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
