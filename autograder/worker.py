"""Grade one submission: intake, restore, nbgrader sanitize + execute + save grades, feedback.

Runs inside a worker process. Each worker owns a copy of the template gradebook (nbgrader's SQLite
gradebook does not take concurrent writers), so N workers never share a database; the per-cell
points each one reads back from its own gradebook are merged by the parent (``report`` and
``gradebook.merge``). Nothing that happens to one submission can stop the others: every failure
becomes a row with a status.
"""

from __future__ import annotations

import copy
import os
import shutil
import sys
import time
import traceback
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from . import course_files, execution, feedback, intake, integrity, sandbox
from .course import Assignment

STATUS_ORDER = ["error", "invalid_notebook", "tampered", "kernel_died", "memory", "timeout", "missing", "graded"]


@dataclass
class Settings:
    cell_timeout: int
    notebook_timeout: int
    memory_mb: int
    threads: int
    out: Path
    keep_autograded: Path | None = None  # instructor copy of executed notebooks (hidden tests!)


@dataclass
class NotebookResult:
    notebook: str
    status: str
    detail: str
    score: float
    max_score: float
    cells: dict[str, dict]  # grade_id -> {"score", "max_score"}
    seconds: float = 0.0
    execute_seconds: float = 0.0
    feedback: str | None = None


@dataclass
class Result:
    index: int
    student_id: str
    assignment: str
    status: str
    detail: str
    score: float
    max_score: float
    notebooks: list[NotebookResult] = field(default_factory=list)
    seconds: float = 0.0

    def row(self) -> dict:
        return {
            "student_id": self.student_id,
            "assignment": self.assignment,
            "score": round(self.score, 2),
            "max_score": round(self.max_score, 2),
            "status": self.status,
            "detail": self.detail,
        }


# -- per worker process -------------------------------------------------------------------------
_STATE: dict = {}


def init_worker(
    assignment: Assignment,
    dirs: sandbox.RunDirs,
    caps: sandbox.Capabilities,
    settings: Settings,
    hide: list[Path],
    expose: list[Path],
    data_dir: Path | None,
) -> None:
    warnings.filterwarnings("ignore")  # SQLAlchemy's SAWarnings from nbgrader's api (harmless)
    # nbclient re-reads its traits from the config at every run: the limits go into the config.
    config = copy.deepcopy(assignment.config)
    config.Execute.timeout = settings.cell_timeout
    config.Execute.kernel_name = assignment.kernel_name
    config.Execute.interrupt_on_timeout = True
    config.BoundedExecute.notebook_timeout = settings.notebook_timeout
    config.OverwriteCells.add_missing_cells = True
    db = dirs.private / f"gradebook-worker-{os.getpid()}.db"
    shutil.copy(assignment.template_db, db)
    _STATE.update(
        assignment=assignment,
        dirs=dirs,
        caps=caps,
        settings=settings,
        hide=hide,
        expose=expose,
        data_dir=data_dir,
        db_url=f"sqlite:///{db}",
        config=config,
    )
    _keep_gradebook_open(_STATE["db_url"])


def _keep_gradebook_open(db_url: str) -> None:
    """Open this worker's gradebook once and hand that instance to nbgrader's preprocessors.

    Each of OverwriteCells, OverwriteKernelspec and SaveAutoGrades opens ``Gradebook(db_url)``,
    which creates an engine and checks ~20 tables every time (about 0.1 s each). The kept instance
    only ends its session on ``close()``, which is what a fresh instance would give them anyway.
    """
    import nbgrader.preprocessors.overwritecells as oc
    import nbgrader.preprocessors.overwritekernelspec as ok
    import nbgrader.preprocessors.saveautogrades as sa
    from nbgrader.api import Gradebook

    class KeptGradebook(Gradebook):
        def close(self):
            self.db.remove()

    kept = KeptGradebook(db_url)
    factory = lambda url=None, *args, **kwargs: kept  # noqa: E731
    for module in (oc, ok, sa):
        module.Gradebook = factory
    _STATE["gradebook"] = kept


def warm_up(assignment: Assignment) -> None:
    """In the parent, before forking: import and compile once what every worker needs
    (nbgrader's preprocessors, SQLAlchemy's mappers, the feedback templates)."""
    import nbclient  # noqa: F401
    import nbgrader.preprocessors  # noqa: F401
    from nbgrader.api import Gradebook

    warnings.filterwarnings("ignore")
    with Gradebook(f"sqlite:///{assignment.template_db}") as gb:
        gb.find_assignment(assignment.id)
    _STATE["writer"] = feedback.FeedbackWriter()
    sample = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("warm-up"), nbformat.v4.new_code_cell("1")])
    _STATE["writer"].exporter.from_notebook_node(
        sample, resources=feedback.template_resources("-", assignment.id, "-", 0, 0)
    )


def _writer() -> feedback.FeedbackWriter:
    if _STATE.get("writer") is None:
        _STATE["writer"] = feedback.FeedbackWriter()
    return _STATE["writer"]


def grade(sub: intake.Submission) -> Result:
    start = time.monotonic()
    a: Assignment = _STATE["assignment"]
    try:
        result = _grade(sub)
    except Exception as exc:  # the grader's own bug on this input: report it, keep going
        tb = traceback.format_exc(limit=4).strip().splitlines()
        result = error_result(
            a, sub, f"grader error: {type(exc).__name__}: {exc} [{tb[-3].strip() if len(tb) > 2 else ''}]"
        )
    result.seconds = time.monotonic() - start
    return result


def error_result(a: Assignment, sub: intake.Submission, detail: str) -> Result:
    """The row of a submission the grader itself failed on: status error, every notebook 0."""
    return Result(
        sub.index,
        sub.student_id,
        a.id,
        "error",
        detail,
        0.0,
        a.max_score,
        [_zero(a, nb, "error", "") for nb in a.notebooks],
    )


def _zero(a: Assignment, nb: str, status: str, detail: str) -> NotebookResult:
    cells = {gid: {"score": 0.0, "max_score": pts} for gid, pts in a.points[nb].items()}
    return NotebookResult(nb, status, detail, 0.0, sum(a.points[nb].values()), cells)


def _grade(sub: intake.Submission) -> Result:
    a: Assignment = _STATE["assignment"]
    if sub.problem:
        status, detail = sub.problem
        nbs = [_zero(a, nb, status, detail) for nb in a.notebooks]
        return Result(sub.index, sub.student_id, a.id, status, detail, 0.0, a.max_score, nbs)
    t_box = time.monotonic()
    box = sandbox.make_box(
        _STATE["dirs"], _STATE["caps"], sub.index, sub.folder, a.release_dir if a.extra_files else None
    )
    t_box = time.monotonic() - t_box
    notes = list(sub.notes) + [f"skipped {s}" for s in box.skipped]
    results = []
    try:
        for nb_id in a.notebooks:
            path = sub.notebooks.get(nb_id)
            if path is None:
                results.append(_zero(a, nb_id, "missing", f"{nb_id}.ipynb not submitted"))
                continue
            try:
                nb, read_notes = intake.read_notebook(path, a.grade_ids(nb_id), a.kernel_name)
            except intake.IntakeProblem as problem:
                results.append(_zero(a, nb_id, problem.status, problem.detail))
                continue
            notes += read_notes
            results.append(_grade_notebook(sub, nb_id, nb, box))
    finally:
        t_rm = time.monotonic()
        sandbox.remove_box(box, _STATE["caps"])
        if os.environ.get("AUTOGRADER_TIMINGS"):
            print(
                f"[timings] {sub.student_id}: make_box {t_box:.2f} s, remove_box {time.monotonic() - t_rm:.2f} s",
                file=sys.stderr,
                flush=True,
            )
    # A notebook that was handed in decides the status: a two-notebook submission with one missing is
    # graded (or worse) with the missing one at 0 and named in the detail, never "missing" with points.
    graded_any = [r for r in results if r.status != "missing"]
    status = min((r.status for r in graded_any), key=STATUS_ORDER.index) if graded_any else "missing"
    details = [r.detail for r in results if r.detail] + notes
    return Result(
        sub.index,
        sub.student_id,
        a.id,
        status,
        "; ".join(dict.fromkeys(details)),
        sum(r.score for r in results),
        a.max_score,
        results,
    )


# -- tamper check -------------------------------------------------------------------------------
def restore_cells(nb: nbformat.NotebookNode, release: nbformat.NotebookNode) -> list[str]:
    """Make the graded structure of ``nb`` the release's again, in place; report what differed.

    - ``metadata.nbgrader`` of every graded, solution or locked cell is rebuilt from the release and
      the cell gets the release's cell type back (a student who flips ``grade``, ``solution``,
      ``locked``, ``points`` or the cell type is reported ``altered``, then graded normally);
    - nbgrader metadata on a cell the release does not have (an invented or renamed ``grade_id``, a
      second copy of one) is removed: it would make nbgrader fail or count the cell twice;
    - deleted graded/locked cells are put back from the release where they were.

    nbgrader's OverwriteCells then restores edited locked cells from the gradebook (checksums) and
    injects the hidden tests. We do the re-insertion ourselves because nbgrader's
    ``add_missing_cells`` raises KeyError when both an answer cell and its test cell are deleted.
    """
    changes = []
    release_cells = [(course_files.grade_id(c), c) for c in release.cells if course_files.grade_id(c)]
    known = dict(release_cells)
    seen: set[str] = set()
    for i, cell in enumerate(nb.cells):
        meta = cell.metadata.get("nbgrader")
        if meta is None:
            continue
        gid = meta.get("grade_id") if isinstance(meta, dict) else None
        if not isinstance(gid, str) or gid not in known or gid in seen:
            del cell.metadata["nbgrader"]
            changes.append(f"nbgrader metadata removed from a cell the release does not grade ({str(gid)[:40]})")
            continue
        seen.add(gid)
        rcell = known[gid]
        rmeta = rcell.metadata["nbgrader"]
        flags = [k for k in GRADING_FLAGS if _flag(meta, k) != _flag(rmeta, k)]
        if cell.cell_type != rcell.cell_type:
            flags.append("cell type")
            nb.cells[i] = cell = _as_cell_type(cell, rcell.cell_type)
        if flags:
            changes.append(f"changed {', '.join(flags)} of {gid}")
        cell.metadata["nbgrader"] = copy.deepcopy(rmeta)
    have = _first_index(nb)
    for gid, rcell in release_cells:
        meta = rcell.metadata["nbgrader"]
        if gid in have:
            scell = nb.cells[have[gid]]
            if meta.get("locked") and scell.source.rstrip() != rcell.source.rstrip():
                changes.append(f"edited {gid}")
            continue
        changes.append(f"deleted {gid}")
        new = copy.deepcopy(rcell)
        if new.cell_type == "code":
            new.outputs, new.execution_count = [], None
        # after the nearest earlier graded cell that is present
        pos = 0
        for prev, _ in release_cells[: [g for g, _ in release_cells].index(gid)]:
            if prev in have:
                pos = have[prev] + 1
        nb.cells.insert(pos, new)
        have = _first_index(nb)
    return changes


def _first_index(nb: nbformat.NotebookNode) -> dict[str, int]:
    """``{grade_id: index of the first cell with it}``."""
    have: dict[str, int] = {}
    for i, cell in enumerate(nb.cells):
        gid = course_files.grade_id(cell)
        if gid:
            have.setdefault(gid, i)
    return have


GRADING_FLAGS = ("grade", "solution", "locked", "task", "points")


def _flag(meta: dict, key: str):
    value = meta.get(key)
    if key != "points":
        return bool(value)
    try:
        return float(value or 0)
    except (TypeError, ValueError):
        return value


def _as_cell_type(cell: nbformat.NotebookNode, cell_type: str) -> nbformat.NotebookNode:
    """The same source, id and metadata in a cell of ``cell_type`` (outputs dropped)."""
    make = {
        "code": nbformat.v4.new_code_cell,
        "markdown": nbformat.v4.new_markdown_cell,
        "raw": nbformat.v4.new_raw_cell,
    }[cell_type]
    new = make(cell.get("source", ""))
    new.metadata = copy.deepcopy(cell.get("metadata", {}))
    if cell.get("id"):
        new.id = cell.id
    return new


# -- the pipeline for one notebook --------------------------------------------------------------
def _grade_notebook(sub: intake.Submission, nb_id: str, nb, box: sandbox.Box) -> NotebookResult:
    from nbgrader.preprocessors import (
        CheckCellMetadata,
        ClearOutput,
        DeduplicateIds,
        IgnorePattern,
        LimitOutput,
        OverwriteCells,
        OverwriteKernelspec,
        SaveAutoGrades,
    )

    a: Assignment = _STATE["assignment"]
    s: Settings = _STATE["settings"]
    t0 = time.monotonic()
    marks = {}
    db_url = _STATE["db_url"]
    with _STATE["gradebook"] as gb:
        gb.update_or_create_student(sub.student_id)
        gb.update_or_create_submission(a.id, sub.student_id)
    resources = {
        "nbgrader": {"notebook": nb_id, "assignment": a.id, "student": sub.student_id, "db_url": db_url},
        "metadata": {"path": str(box.path)},
    }
    for cell in nb.cells:  # a student cannot award themselves points through metadata
        course_files.grading(cell).pop("score", None)
    changes = restore_cells(nb, a.release[nb_id])
    config = _STATE["config"]
    for pp in (ClearOutput, DeduplicateIds, OverwriteKernelspec, OverwriteCells, CheckCellMetadata):
        nb, resources = pp(config=config).preprocess(nb, resources)
    decoys = integrity.plant(nb, a.release[nb_id])  # after the hidden tests are back, before the kernel

    marks["sanitize"] = time.monotonic() - t0
    executor = execution.BoundedExecute(config=config)
    integrity.watch(executor, decoys)
    km = execution.SandboxKernelManager(kernel_name=a.kernel_name)
    sandbox.configure_kernel(
        km, _STATE["dirs"], box, _STATE["caps"], s.memory_mb, s.threads, _STATE["expose"], _STATE["data_dir"]
    )
    nb, resources = executor.preprocess(nb, resources, km=km)
    execute_seconds = executor.elapsed
    log = execution.read_tail(box.log, 4000)  # from the end: the log may be up to 1 GB
    log += sandbox.sandbox_report(box)  # e.g. the submission's memory group killed a process
    verdict = integrity.judge(nb, decoys, executor)  # also removes the decoys
    status, detail = execution.classify(nb, executor, log)
    t1 = time.monotonic()

    for pp in (IgnorePattern, LimitOutput, SaveAutoGrades, CheckCellMetadata):
        nb, resources = pp(config=config).preprocess(nb, resources)

    cells, score = {}, 0.0
    with _STATE["gradebook"] as gb:
        snb = gb.find_submission_notebook(nb_id, a.id, sub.student_id)
        for g in snb.grades:
            auto = g.auto_score
            cells[g.name] = {"score": float(auto or 0.0), "max_score": float(g.max_score)}
            if auto is None:
                cells[g.name]["needs_manual_grade"] = True
            score += float(auto or 0.0)
    if verdict.tampered:  # forgery does not pay: not a single point
        status, detail, score = "tampered", "; ".join(filter(None, [verdict.detail, detail])), 0.0
        for c in cells.values():
            c["score"] = 0.0
    marks["save_grades"] = time.monotonic() - t1
    t1 = time.monotonic()
    if changes:
        detail = "; ".join(filter(None, [detail, "altered: " + ", ".join(changes) + " (restored from the source)"]))

    if s.keep_autograded is not None:
        dest = s.keep_autograded / "autograded" / sub.student_id / a.id / f"{nb_id}.ipynb"
        course_files.write(nb, dest)

    scores = {gid: (c["score"], c["max_score"]) for gid, c in cells.items()}
    redacted = feedback.redact_notebook(nb, a.hidden[nb_id], scores)
    fb = s.out / "feedback" / sub.student_id / a.id / f"{nb_id}.html"
    _writer().write(
        nb,
        fb,
        notebook=nb_id,
        assignment=a.id,
        student=sub.student_id,
        score=score,
        max_score=sum(a.points[nb_id].values()),
        scores=scores,
        status=status,
    )
    marks["feedback"] = time.monotonic() - t1
    if os.environ.get("AUTOGRADER_TIMINGS"):
        print(
            f"[timings] {sub.student_id}: execute {execute_seconds:.2f} s, "
            + ", ".join(f"{k} {v:.2f} s" for k, v in marks.items()),
            file=sys.stderr,
            flush=True,
        )
    if redacted:
        detail = "; ".join(filter(None, [detail, f"feedback: {redacted} output(s) repeating hidden tests redacted"]))
    return NotebookResult(
        nb_id,
        status,
        detail,
        score,
        sum(a.points[nb_id].values()),
        cells,
        time.monotonic() - t0,
        execute_seconds,
        str(fb.relative_to(s.out)),
    )
