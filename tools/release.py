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
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent
HINT = re.compile(r"^\s*# HINT:\s?(.*)$")
MARKERS = re.compile(r"^\s*### (BEGIN|END) (SOLUTION|HIDDEN TESTS)\s*$")
SELF_PACED_BANNER = """> **Self-paced edition.** Run the cells from the top. After each exercise, write your answer in
> the cell that says `# YOUR CODE HERE` (replace the `raise NotImplementedError()` line), then run
> the check cell below it: no error means the visible checks pass. Stuck? Open the folded
> **Hint**, then the **Solution**. The graded edition (`release/`) has more, hidden, checks.
"""


def venv_env() -> dict[str, str]:
    """nbgrader runs `alembic` from PATH: put this interpreter's bin folder first."""
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    return env


def assignments(root: Path) -> list[str]:
    return sorted(p.name for p in (root / "source").iterdir()
                  if p.is_dir() and (p / f"{p.name}.ipynb").exists())


def write_canonical(nb: nbformat.NotebookNode, path: Path) -> None:
    """One byte-stable JSON form: sorted keys, indent 1, LF, trailing newline."""
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.validate(nb)
    text = json.dumps(nb, indent=1, sort_keys=True, ensure_ascii=False) + "\n"
    path.write_text(text, encoding="utf-8")


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


def solution_parts(source: str) -> tuple[list[str], str]:
    """Split a source solution cell into (hint lines, the code a learner should see)."""
    hints, code = [], []
    for line in source.splitlines():
        m = HINT.match(line)
        if m:
            hints.append(m.group(1))
        elif not MARKERS.match(line):
            code.append(line)
    return hints, "\n".join(code).strip("\n")


def self_paced(release: nbformat.NotebookNode, source: nbformat.NotebookNode) -> nbformat.NotebookNode:
    solutions = {}
    for cell in source.cells:
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("solution") and cell.cell_type == "code":
            solutions[meta["grade_id"]] = solution_parts(cell.source)
    nb = nbformat.from_dict(json.loads(json.dumps(release)))
    cells = [nbformat.v4.new_markdown_cell(SELF_PACED_BANNER)]
    cells[0].id = "self-paced-banner"
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
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
                "<pre><code class=\"language-python\">" + html.escape(code) + "</code></pre>\n\n</details>"
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
        proc = subprocess.run([sys.executable, "-m", "nbgrader", "generate_assignment", assignment,
                               "--force", "--log-level=WARN"], cwd=root, capture_output=True, text=True,
                              env=venv_env())
        if proc.returncode != 0:
            raise SystemExit(f"nbgrader generate_assignment {assignment} failed:\n{proc.stdout}{proc.stderr}")
        release_path = root / "release" / assignment / f"{assignment}.ipynb"
        release = nbformat.read(release_path, as_version=4)
        strip_for_release(release)
        write_canonical(release, release_path)
        source = nbformat.read(root / "source" / assignment / f"{assignment}.ipynb", as_version=4)
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
