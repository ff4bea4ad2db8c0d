"""`make progress`: how far a self-paced learner has got, from their own notebooks.

Grades the learner's `notebooks/NN-slug.ipynb` as they saved them, with the checks those notebooks
hold (the visible ones: the self-paced edition has no hidden tests), using nbgrader's own machinery:
its `Execute` preprocessor with the course's nbgrader_config.py, its stderr-warning filter, its
checksum of an unanswered cell and its `determine_grade`. Each notebook runs on a copy in a
temporary folder, so the learner's files and `workspace-NN/` folders are left as they are.

Per exercise: `pass`, `fail` (with the check's message) or `not answered` (the answer cell is still
the `raise NotImplementedError()` it was handed out with); per notebook and for the course: points.
A bar chart of the course is saved as progress.png (gitignored).

    python tools/progress.py                          # every notebooks/*.ipynb
    python tools/progress.py notebooks/01-workspace.ipynb --chart /tmp/p.png
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from autograder import course_files  # noqa: E402  (standard library only: no environment needed)

NOT_ANSWERED, PASS, FAIL = "not answered", "pass", "fail"


class ProgressError(RuntimeError):
    """Something the learner can fix (missing set-up, unreadable notebook): the message says how."""


@dataclass
class Exercise:
    grade_id: str
    status: str
    points: float
    max_points: float
    message: str = ""


@dataclass
class NotebookProgress:
    name: str
    exercises: list[Exercise] = field(default_factory=list)
    error: str = ""  # the notebook could not be graded at all

    @property
    def points(self) -> float:
        return sum(e.points for e in self.exercises)

    @property
    def max_points(self) -> float:
        return sum(e.max_points for e in self.exercises)


def _nbgrader():
    """nbgrader's pieces, or a clear error when the course's environment is not set up."""
    try:
        import nbformat
        from nbgrader import utils
        from nbgrader.preprocessors import Execute, IgnorePattern
        from traitlets.config.loader import PyFileConfigLoader
    except ImportError as exc:
        raise ProgressError(
            f"the course's Python environment is missing ({exc.name} cannot be "
            "imported): run `make progress` (it creates .venv), or `make venv` "
            "first and use .venv/bin/python"
        ) from None
    return nbformat, utils, Execute, IgnorePattern, PyFileConfigLoader


def _config():
    *_, loader = _nbgrader()
    config = loader("nbgrader_config.py", path=str(ROOT)).load_config()
    config.Execute.timeout = config.Execute.get("timeout", 120)
    # quiet kernels: their start-up warnings are not the learner's concern
    config.Execute.extra_arguments = ["--HistoryManager.hist_file=:memory:", "--IPKernelApp.log_level=ERROR"]
    return config


def _error_text(cell) -> str:
    for output in cell.get("outputs", []):
        if output.output_type == "error":
            return f"{output.ename}: {output.evalue}".strip().splitlines()[0][:160]
        if output.output_type == "stream" and output.name == "stderr":
            return "wrote to stderr: " + output.text.strip().splitlines()[0][:140]
    return ""


def grade_cells(nb) -> list[Exercise]:
    """Exercises of an executed notebook: each graded test cell with its answer cells before it."""
    _, utils, *_ = _nbgrader()
    exercises, answers = [], []
    for cell in nb.cells:
        meta = course_files.grading(cell)
        if meta.get("solution") and not meta.get("grade"):
            answers.append(cell)
        if not (meta.get("grade") and cell.cell_type == "code"):
            continue
        grade_id = meta["grade_id"]
        own = [a for a in answers if course_files.grade_id(a) == course_files.answer_id(grade_id)]
        own = own or answers  # answer cells named otherwise: the ones since the previous check
        points, max_points = utils.determine_grade(cell)
        untouched = bool(own) and all(a.metadata.nbgrader.get("checksum") == utils.compute_checksum(a) for a in own)
        if untouched:
            exercises.append(Exercise(grade_id, NOT_ANSWERED, 0.0, max_points))
        elif points == max_points:
            exercises.append(Exercise(grade_id, PASS, float(points), max_points))
        else:
            message = _error_text(cell) or next((_error_text(a) for a in own if _error_text(a)), "")
            exercises.append(Exercise(grade_id, FAIL, float(points or 0), max_points, message))
        answers = []
    return exercises


def grade_notebook(path: Path) -> NotebookProgress:
    """Run a copy of the learner's notebook with nbgrader's Execute and grade its checks."""
    _, _, Execute, IgnorePattern, _ = _nbgrader()
    progress = NotebookProgress(path.stem)
    try:
        nb = course_files.read(path)
    except Exception as exc:  # noqa: BLE001 - a broken file is reported, the others still graded
        progress.error = (
            f"cannot read {path} as a notebook ({type(exc).__name__}: {exc}); "
            "restore it from git or from release/ and redo the changes"
        )
        return progress
    config = _config()
    with tempfile.TemporaryDirectory(prefix=f"progress-{path.stem}-") as tmp:
        shutil.copy(path, Path(tmp) / path.name)  # the copy runs; the learner's file is only read
        resources = {"metadata": {"path": tmp}}
        try:
            nb, resources = Execute(config=config).preprocess(nb, resources)
        except Exception as exc:  # noqa: BLE001 - kernel died, timeout outside a cell...
            progress.error = f"running {path.name} failed: {type(exc).__name__}: {exc}"
            return progress
        nb, resources = IgnorePattern(config=config).preprocess(nb, resources)
    progress.exercises = grade_cells(nb)
    if not progress.exercises:
        progress.error = f"{path.name} has no graded checks (is it a course notebook?)"
    return progress


def notebook_report(result: NotebookProgress) -> str:
    if result.error:
        return f"{result.name}: NOT GRADED: {result.error}"
    counts = {s: sum(e.status == s for e in result.exercises) for s in (PASS, FAIL, NOT_ANSWERED)}
    lines = [
        f"{result.name}: {result.points:g}/{result.max_points:g} points  "
        f"({counts[PASS]} pass, {counts[FAIL]} fail, {counts[NOT_ANSWERED]} not answered)"
    ]
    for e in result.exercises:
        detail = f"  {e.message}" if e.message else ""
        lines.append(f"  {e.status:<13} {e.grade_id:<32} {e.points:g}/{e.max_points:g}{detail}")
    return "\n".join(lines)


def report(results: list[NotebookProgress], notebooks: bool = True) -> str:
    """Every notebook's report (unless notebooks=False), then the course's total."""
    lines = [notebook_report(r) for r in results] if notebooks else []
    graded = [r for r in results if not r.error]
    done = sum(r.points for r in graded)
    total = sum(r.max_points for r in graded)
    exercises = [e for r in graded for e in r.exercises]
    passed = sum(e.status == PASS for e in exercises)
    lines.append(
        f"Course: {done:g}/{total:g} points, {passed}/{len(exercises)} exercises pass"
        + (f" ({len(results) - len(graded)} notebook(s) not graded)" if len(graded) < len(results) else "")
    )
    return "\n".join(lines)


def chart(results: list[NotebookProgress], dest: Path) -> Path:
    """Per notebook: points passed, failed, not answered, as stacked horizontal bars."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [r.name for r in results]
    part = {
        s: [sum(e.max_points for e in r.exercises if e.status == s) if s != PASS else r.points for r in results]
        for s in (PASS, FAIL, NOT_ANSWERED)
    }
    fig, ax = plt.subplots(figsize=(8, 0.6 * len(results) + 1.8))
    rows = list(range(len(results)))
    left = [0.0] * len(results)
    for status, colour in ((PASS, "#2e7d32"), (FAIL, "#c62828"), (NOT_ANSWERED, "#bdbdbd")):
        ax.barh(rows, part[status], left=left, color=colour, label=status)
        left = [a + b for a, b in zip(left, part[status], strict=False)]
    for y, r in enumerate(results):
        text = f"{r.points:g}/{r.max_points:g}" if not r.error else "not graded"
        ax.text(max(left[y], 0) + 0.3, y, text, va="center")
    ax.set_yticks(rows, names)
    ax.invert_yaxis()
    ax.set_xlabel("points")
    ax.set_xlim(0, max(left + [1]) * 1.15)
    ax.set_title("DP-100 course progress (visible checks)")
    fig.legend(loc="lower center", ncol=3, fontsize="small", frameon=False)
    fig.tight_layout(rect=(0, 0.07, 1, 1))
    dest.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(dest, dpi=100)
    plt.close(fig)
    return dest


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Grade your self-paced notebooks with their visible checks.")
    parser.add_argument("notebooks", nargs="*", type=Path, help="default: every notebooks/NN-slug.ipynb of the course")
    parser.add_argument(
        "--chart", type=Path, default=ROOT / "progress.png", help="where to save the chart (default: progress.png)"
    )
    args = parser.parse_args(argv)
    paths = args.notebooks or sorted((ROOT / "notebooks").glob("[0-9][0-9]-*.ipynb"))
    try:
        if not paths:
            raise ProgressError(
                f"no notebooks in {ROOT / 'notebooks'}: the self-paced edition is "
                "built by `make release` (or restore the folder with git)"
            )
        missing = [str(p) for p in paths if not p.is_file()]
        if missing:
            raise ProgressError(f"no such notebook: {', '.join(missing)}")
        _nbgrader()
        results = []
        for path in paths:
            print(f"grading {path.name} ...", flush=True)
            results.append(grade_notebook(path))
            print(notebook_report(results[-1]), flush=True)
    except ProgressError as exc:
        print(f"make progress: {exc}", file=sys.stderr)
        return 2
    print(report(results, notebooks=False))
    print(f"Chart: {chart(results, args.chart)}")
    return 0 if all(not r.error for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
