"""Merge the workers' grades into one nbgrader gradebook (for formgrader or `nbgrader export`).

Workers each grade into their own SQLite gradebook; the parent copies the template gradebook
(assignment, notebooks, cells, points) and records every student's auto scores in it with
nbgrader's own API, in one writer, after the run. It holds the hidden tests (source cells): keep
it with the instructor, never in what students see.
"""
from __future__ import annotations

import shutil
from pathlib import Path


def merge(template_db: Path, dest: Path, assignment: str, results: list) -> Path:
    import warnings

    from nbgrader.api import Gradebook

    warnings.filterwarnings("ignore", module="nbgrader")
    warnings.filterwarnings("ignore", message=".*not in session.*")

    dest.parent.mkdir(parents=True, exist_ok=True)
    if dest.exists():
        dest.unlink()
    shutil.copy(template_db, dest)
    with Gradebook(f"sqlite:///{dest}") as gb:
        for r in results:
            gb.update_or_create_student(r.student_id)
            gb.update_or_create_submission(assignment, r.student_id)
            for nb in r.notebooks:
                for gid, cell in nb.cells.items():
                    grade = gb.find_grade(gid, nb.notebook, assignment, r.student_id)
                    grade.auto_score = cell["score"]
                    grade.needs_manual_grade = bool(cell.get("needs_manual_grade"))
        gb.db.commit()
    return dest
