"""Grade a class: prepare once, grade N submissions at a time in worker processes, write outputs."""

from __future__ import annotations

import importlib.util
import multiprocessing
import multiprocessing.connection
import os
import signal
import stat
import sys
import threading
import time
from pathlib import Path

from . import course, gradebook, intake, report, sandbox, shard, worker


def _data_dir(course_root: Path) -> Path | None:
    if (course_root / "data").is_dir():
        return course_root / "data"
    if os.environ.get("DP100_DATA") and Path(os.environ["DP100_DATA"]).is_dir():  # e.g. the workshop hub
        return Path(os.environ["DP100_DATA"])
    spec = importlib.util.find_spec("dp100")
    if spec and spec.origin:
        return Path(spec.origin).resolve().parent.parent / "data"
    return None


def _needed_paths(data_dir: Path | None) -> list[Path]:
    """What a kernel must read: the interpreter, the venv, the dp100 package, the data."""
    paths = [Path(sys.base_prefix).resolve(), Path(sys.prefix).resolve(), Path(os.path.realpath(sys.executable)).parent]
    spec = importlib.util.find_spec("dp100")
    if spec and spec.origin:
        paths.append(Path(spec.origin).resolve().parent)
    if data_dir is not None:
        paths.append(data_dir.resolve())
    return list(dict.fromkeys(paths))


def isolation_plan(
    course_root: Path, private: Path, submissions: Path, out: Path, data_dir: Path | None
) -> tuple[list[Path], list[Path]]:
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


def grade_class(
    submissions: Path,
    assignment_id: str,
    out: Path,
    *,
    jobs: int,
    cell_timeout: int,
    notebook_timeout: int,
    memory_mb: int,
    course_root: Path | None = None,
    instructor_dir: Path | None = None,
    quiet: bool = False,
    shard_spec: tuple[int, int] | None = None,
) -> list[worker.Result]:
    """Grade every student folder of ``submissions``. Raises course.SetupError if the grader
    cannot run at all; never raises because of what a student submitted."""
    t_start = time.monotonic()
    course_root = Path(course_root or os.getcwd()).resolve()
    submissions = Path(submissions).resolve()
    if not submissions.is_dir():
        raise course.SetupError(
            f"SUBMISSIONS {submissions} is not a folder (expected SUBMISSIONS/<student_id>/{assignment_id}/*.ipynb)"
        )
    out = Path(out).resolve()
    if out == course_root or out in course_root.parents or out == submissions:
        raise course.SetupError(f"--out {out} must be a folder of its own, not the course or the submissions")
    try:
        out.mkdir(parents=True, exist_ok=True)
        (out / "feedback").mkdir(exist_ok=True)
    except OSError as exc:
        raise course.SetupError(f"cannot create the output folder {out}: {exc}") from exc

    caps = sandbox.probe()
    dirs = sandbox.RunDirs(caps=caps, jobs=jobs)  # also the run's control groups, removed by cleanup()
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
            notes += sandbox.protect_by_permissions(  # everything of the course a kernel could read
                [course_root / name for name in sandbox.COURSE_SECRETS]
                + [submissions, out]
                + ([instructor_dir] if instructor_dir is not None else [])
            )
        if not quiet:
            for n in notes:
                print(f"autograder: {n}", file=sys.stderr)
        settings = worker.Settings(
            cell_timeout,
            notebook_timeout,
            memory_mb,
            threads=max(1, (os.cpu_count() or 1) // max(1, jobs)),
            out=out,
            keep_autograded=instructor_dir,
        )
        students = shard.select(intake.find_students(submissions), shard_spec)
        subs = [intake.locate(i, submissions / sid, assignment_id, a.notebooks) for i, sid in enumerate(students)]
        if min(jobs, len(subs)) > 1 and caps.shared_uid:
            raise course.SetupError(
                f"--jobs {jobs} refused: {'not running as root' if not caps.root else 'cannot give each submission a uid'}, "
                f"so submissions graded at the same time would run as the same uid ({caps.uid_base}) and could "
                "read or kill each other's kernels; run the grader as root, or pass --jobs 1"
            )
        worker.warm_up(a)
        t_ready = time.monotonic()
        results = _run_pool(subs, jobs, (a, dirs, caps, settings, hide, expose, data_dir), quiet)
        for r in results:
            report.write_placeholder_feedback(out, r, a.notebooks)
        meta = {
            "max_score": a.max_score,
            "jobs": jobs,
            "cell_timeout": cell_timeout,
            "notebook_timeout": notebook_timeout,
            "memory_mb": memory_mb,
            **({"shard": f"{shard_spec[0]}/{shard_spec[1]}"} if shard_spec else {}),
            "isolation": {**caps.report(), "notes": notes},
            "setup_seconds": round(t_ready - t_start, 2),
            "total_seconds": round(time.monotonic() - t_start, 2),
        }
        report.write(out, assignment_id, results, meta)
        if instructor_dir is not None:
            gradebook.merge(a.template_db, instructor_dir / "gradebook.db", assignment_id, results)
        return results
    finally:
        dirs.cleanup()


class _Slot:
    """One worker process of the pool and the submission it is grading (None: idle)."""

    def __init__(self, ctx, initargs: tuple):
        self.conn, child = ctx.Pipe()
        self.process = ctx.Process(target=_serve, args=(child, initargs), daemon=True)
        self.process.start()
        child.close()
        self.sub: intake.Submission | None = None

    def stop(self) -> None:
        try:
            self.conn.send(None)
        except OSError:
            pass
        self.process.join(timeout=10)
        if self.process.is_alive():
            self.process.kill()
            self.process.join()
        self.conn.close()


def _serve(conn, initargs: tuple) -> None:
    """A worker process: grade what the parent sends, one submission at a time, until None."""
    worker.init_worker(*initargs)
    die = _test_kill_hook()
    while True:
        try:
            task = conn.recv()
        except EOFError:
            return
        if task is None:
            return
        sub, attempt = task
        if sub.student_id in die and attempt <= die[sub.student_id]:
            # Tests only: the worker dies mid-grade, as if the OOM killer or a crash took it.
            threading.Timer(2.0, os.kill, (os.getpid(), signal.SIGKILL)).start()
        res = worker.grade(sub)
        try:
            conn.send(res)
        except Exception as exc:  # an unpicklable result: the row still exists
            conn.send(worker.error_result(initargs[0], sub, f"grader error: {type(exc).__name__}: {exc}"))


def _test_kill_hook() -> dict[str, int]:
    """``AUTOGRADER_TEST_KILL_WORKER="alice,bob:1"``: the worker grading alice dies on every attempt,
    bob's only on the first. Only the worker-death tests set it."""
    out = {}
    for item in filter(None, os.environ.get("AUTOGRADER_TEST_KILL_WORKER", "").split(",")):
        name, _, times = item.partition(":")
        out[name] = int(times) if times else 99
    return out


def _run_pool(subs: list[intake.Submission], jobs: int, initargs: tuple, quiet: bool) -> list[worker.Result]:
    """Grade ``subs`` in ``jobs`` worker processes, each told one submission at a time, so the parent
    always knows what every worker is grading. A worker that dies (killed, out of memory, crashed)
    costs only the submission it was on: that one is retried once in a fresh worker and reported
    as ``error`` if it dies again; every other submission is graded normally."""
    progress = report.Progress(len(subs), "grading") if not quiet else None
    results: dict[int, worker.Result] = {}
    queue = [(s, 1) for s in subs]
    ctx = multiprocessing.get_context("fork")
    slots = [_Slot(ctx, initargs) for _ in range(max(1, min(jobs, len(subs))))]
    attempts: dict[int, int] = {}

    def finish(res: worker.Result) -> None:
        results[res.index] = res
        if progress:
            progress.update(res)

    try:
        while len(results) < len(subs):
            for slot in slots:
                if slot.sub is None and queue:
                    slot.sub, attempt = queue.pop(0)
                    attempts[slot.sub.index] = attempt
                    try:
                        slot.conn.send((slot.sub, attempt))
                    except OSError:
                        pass  # the worker died while idle: seen below as a death on this submission
            busy = [s for s in slots if s.sub is not None]
            multiprocessing.connection.wait([s.conn for s in busy] + [s.process.sentinel for s in busy])
            for i, slot in enumerate(slots):
                if slot.sub is None:
                    continue
                res = None
                try:
                    if slot.conn.poll():
                        res = slot.conn.recv()
                except (EOFError, OSError):
                    res = None
                if res is not None:
                    if attempts[res.index] > 1:
                        res.detail = "; ".join(filter(None, [res.detail, "graded again after its worker process died"]))
                    slot.sub = None
                    finish(res)
                elif not slot.process.is_alive():
                    sub, attempt = slot.sub, attempts[slot.sub.index]
                    slot.sub = None
                    slot.stop()
                    slots[i] = _Slot(ctx, initargs)
                    code = slot.process.exitcode
                    if attempt < 2:
                        queue.insert(0, (sub, attempt + 1))
                    else:
                        finish(
                            worker.error_result(
                                initargs[0],
                                sub,
                                f"grader error: the worker process grading this submission died twice "
                                f"(exit code {code}); the other submissions were graded normally",
                            )
                        )
    finally:
        for slot in slots:
            slot.stop()
    if progress:
        progress.close()
    return [results[s.index] for s in subs]
