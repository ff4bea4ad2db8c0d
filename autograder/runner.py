"""Grade a class: prepare once, grade N submissions at a time in worker processes, write outputs."""
from __future__ import annotations

import importlib.util
import multiprocessing
import os
import stat
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

from . import course, gradebook, intake, report, sandbox, worker


def _data_dir(course_root: Path) -> Path | None:
    if (course_root / "data").is_dir():
        return course_root / "data"
    spec = importlib.util.find_spec("dp100")
    if spec and spec.origin:
        return Path(spec.origin).resolve().parent.parent / "data"
    return None


def _needed_paths(data_dir: Path | None) -> list[Path]:
    """What a kernel must read: the interpreter, the venv, the dp100 package, the data."""
    paths = [Path(sys.base_prefix).resolve(), Path(sys.prefix).resolve(),
             Path(os.path.realpath(sys.executable)).parent]
    spec = importlib.util.find_spec("dp100")
    if spec and spec.origin:
        paths.append(Path(spec.origin).resolve().parent)
    if data_dir is not None:
        paths.append(data_dir.resolve())
    return list(dict.fromkeys(paths))


def isolation_plan(course_root: Path, private: Path, submissions: Path, out: Path,
                   data_dir: Path | None) -> tuple[list[Path], list[Path]]:
    """(hide, expose): the course, the grader's files, every submission and the output folder are
    hidden; needed paths are bound back, and so is any ancestor other users could not traverse
    (e.g. /root holding a pyenv interpreter) replaced by a traversable empty folder."""
    hide = [course_root.resolve(), private.resolve(), submissions.resolve(), out.resolve()]
    expose = _needed_paths(data_dir)
    for path in expose:
        for parent in list(path.parents)[::-1]:
            if parent != Path("/") and not os.stat(parent).st_mode & stat.S_IXOTH:
                hide.append(parent)
                break
    return list(dict.fromkeys(hide)), expose


def grade_class(submissions: Path, assignment_id: str, out: Path, *, jobs: int, cell_timeout: int,
                notebook_timeout: int, memory_mb: int, course_root: Path | None = None,
                instructor_dir: Path | None = None, quiet: bool = False) -> list[worker.Result]:
    """Grade every student folder of ``submissions``. Raises course.SetupError if the grader
    cannot run at all; never raises because of what a student submitted."""
    t_start = time.monotonic()
    course_root = Path(course_root or os.getcwd()).resolve()
    submissions = Path(submissions).resolve()
    if not submissions.is_dir():
        raise course.SetupError(f"SUBMISSIONS {submissions} is not a folder (expected "
                                f"SUBMISSIONS/<student_id>/{assignment_id}/*.ipynb)")
    out = Path(out).resolve()
    if out == course_root or out in course_root.parents or out == submissions:
        raise course.SetupError(f"--out {out} must be a folder of its own, not the course or the submissions")
    try:
        out.mkdir(parents=True, exist_ok=True)
        (out / "feedback").mkdir(exist_ok=True)
    except OSError as exc:
        raise course.SetupError(f"cannot create the output folder {out}: {exc}") from exc

    caps = sandbox.probe()
    dirs = sandbox.RunDirs()
    try:
        fonts = dirs.start_font_cache() if importlib.util.find_spec("matplotlib") else None
        try:
            a = course.prepare(course_root, assignment_id, dirs.private)
        finally:
            dirs.finish_font_cache(fonts)
        data_dir = _data_dir(course_root)
        hide, expose = isolation_plan(course_root, dirs.private, submissions, out, data_dir)
        if instructor_dir is not None:  # holds the hidden tests: private to root, hidden from kernels
            instructor_dir = Path(instructor_dir).resolve()
            instructor_dir.mkdir(parents=True, exist_ok=True)
            os.chmod(instructor_dir, 0o700)
            hide.append(instructor_dir)
        notes = list(caps.notes)
        if caps.root and not caps.mount_ns:
            notes += sandbox.protect_by_permissions(
                [course_root / "source", course_root / ".git", course_root / "gradebook.db", submissions, out])
        if not quiet:
            for n in notes:
                print(f"autograder: {n}", file=sys.stderr)
        settings = worker.Settings(cell_timeout, notebook_timeout, memory_mb,
                                   threads=max(1, (os.cpu_count() or 1) // max(1, jobs)), out=out,
                                   keep_autograded=instructor_dir)
        students = intake.find_students(submissions)
        subs = [intake.locate(i, submissions / sid, assignment_id, a.notebooks) for i, sid in enumerate(students)]
        worker.warm_up(a)
        t_ready = time.monotonic()
        results = _run_pool(subs, jobs, (a, dirs, caps, settings, hide, expose, data_dir), quiet)
        for r in results:
            report.write_placeholder_feedback(out, r, a.notebooks)
        meta = {"max_score": a.max_score, "jobs": jobs, "cell_timeout": cell_timeout,
                "notebook_timeout": notebook_timeout, "memory_mb": memory_mb,
                "isolation": {"root": caps.root, "own_uid_per_submission": caps.setuid,
                              "mount_namespace": caps.mount_ns, "notes": notes},
                "setup_seconds": round(t_ready - t_start, 2),
                "total_seconds": round(time.monotonic() - t_start, 2)}
        report.write(out, assignment_id, results, meta)
        if instructor_dir is not None:
            gradebook.merge(a.template_db, instructor_dir / "gradebook.db", assignment_id, results)
        return results
    finally:
        dirs.cleanup()


def _run_pool(subs: list[intake.Submission], jobs: int, initargs: tuple, quiet: bool) -> list[worker.Result]:
    progress = report.Progress(len(subs), "grading") if not quiet else None
    results: dict[int, worker.Result] = {}
    pending = list(subs)
    attempts: dict[int, int] = {}
    ctx = multiprocessing.get_context("fork")
    while pending:
        broken = []
        with ProcessPoolExecutor(max_workers=max(1, min(jobs, len(pending))), mp_context=ctx,
                                 initializer=worker.init_worker, initargs=initargs) as pool:
            futures = {pool.submit(worker.grade, s): s for s in pending}
            for fut in as_completed(futures):
                sub = futures[fut]
                try:
                    res = fut.result()
                except BrokenProcessPool:
                    broken.append(sub)
                    continue
                except Exception as exc:  # pickling trouble etc.: the row still exists
                    a = initargs[0]
                    res = worker.Result(sub.index, sub.student_id, a.id, "error",
                                        f"grader error: {type(exc).__name__}: {exc}", 0.0, a.max_score,
                                        [worker._zero(a, nb, "error", "") for nb in a.notebooks])
                results[sub.index] = res
                if progress:
                    progress.update(res)
        pending = []
        for sub in broken:  # a worker process died (e.g. killed): retry once, then report
            attempts[sub.index] = attempts.get(sub.index, 0) + 1
            if attempts[sub.index] <= 1:
                pending.append(sub)
            else:
                a = initargs[0]
                res = worker.Result(sub.index, sub.student_id, a.id, "error",
                                    "grader error: the worker process grading this submission died twice",
                                    0.0, a.max_score, [worker._zero(a, nb, "error", "") for nb in a.notebooks])
                results[sub.index] = res
                if progress:
                    progress.update(res)
        if pending:
            jobs = 1  # isolate the culprit
    if progress:
        progress.close()
    return [results[s.index] for s in subs]
