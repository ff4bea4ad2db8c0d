"""`make bench`: the autograder's speed, sandbox cost and determinism, measured in one run.

1. Speed: a synthetic class of N submissions (default 20: full, partial and blank solutions of a
   small assignment whose set-up cell does a realistic amount of work: pandas + a scikit-learn fit)
   is graded by stock nbgrader (`generate_assignment` + `autograde` + `generate_feedback`, one
   after another) and by `python -m autograder grade --jobs 2` (includes its own set-up). Prints
   both wall times and the ratio (target >= 1.8x on 2 cores), and the per-submission overhead of
   ours above executing the notebook (target <= 1 s).
2. Sandbox cost: the tiny assignment executed in the grader's sandbox (one at a time) versus the
   same notebook executed by plain nbclient: the difference in execute time plus the time to make
   and remove the submission's box (from AUTOGRADER_TIMINGS). Target: under 1 s per submission.
3. Determinism: the full solution of every assignment (as autograder/samples/build_samples.py
   builds it from source/ and release/) graded
   COPIES times (default 10), two at a time as CI would (`grade_class(..., jobs=2)`); any cell
   whose score differs between copies, or a copy below full marks, is printed and fails the run.

    python tools/bench_autograder.py [--students N] [--jobs J] [--copies C] [--assignment ID ...]
                                     [--skip-speed] [--skip-sandbox] [--skip-determinism]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from autograder import synthetic as syn  # noqa: E402

WORK = """
import numpy as np
import pandas as pd
from sklearn.ensemble import RandomForestClassifier
rng = np.random.default_rng(0)
X = pd.DataFrame(rng.normal(size=(3000, 8)), columns=[f"x{i}" for i in range(8)])
y = (X["x0"] + X["x1"] * X["x2"] > 0).astype(int)
model = RandomForestClassifier(n_estimators=60, random_state=0, n_jobs=1).fit(X, y)
train_accuracy = model.score(X, y)
"""


def grade_command(out: Path, jobs: int) -> list[str]:
    """Our autograder on the synthetic course's submitted/ folder (run with cwd = the course)."""
    return [
        sys.executable,
        "-m",
        "autograder",
        "grade",
        "submitted",
        "--assignment",
        syn.ASSIGNMENT,
        "--out",
        str(out),
        "--jobs",
        str(jobs),
    ]


def run(cmd: list[str], cwd: Path, env: dict | None = None) -> tuple[float, subprocess.CompletedProcess]:
    env = dict(
        env or os.environ, PYTHONPATH=str(ROOT), PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"
    )
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    return time.perf_counter() - start, proc


def speed(args) -> int:
    kinds = ["full", "partial", "blank"]
    tmp = Path(tempfile.mkdtemp(prefix="bench-autograder-"))
    try:
        # ---- stock nbgrader ----------------------------------------------------------------
        stock = tmp / "stock"
        syn.build_course(stock, work=WORK)
        for i in range(args.students):
            syn.write_submission(stock / "submitted", f"s{i:02d}", syn.student_notebook(kinds[i % 3], WORK))
        nbg = [sys.executable, "-m", "nbgrader"]
        t_gen, p1 = run(nbg + ["generate_assignment", syn.ASSIGNMENT, "--force"], stock)
        t_auto, p2 = run(nbg + ["autograde", syn.ASSIGNMENT, "--force"], stock)
        t_fb, p3 = run(nbg + ["generate_feedback", syn.ASSIGNMENT, "--force"], stock)
        for p in (p1, p2, p3):
            if p.returncode != 0:
                print(f"stock nbgrader failed:\n{p.stdout[-2000:]}\n{p.stderr[-2000:]}")
                return 1
        t_stock = t_gen + t_auto + t_fb

        # ---- ours ----------------------------------------------------------------------------
        ours = tmp / "ours"
        syn.build_course(ours, work=WORK)
        for i in range(args.students):
            syn.write_submission(ours / "submitted", f"s{i:02d}", syn.student_notebook(kinds[i % 3], WORK))
        t_ours, p4 = run(
            grade_command(tmp / "out", args.jobs),
            ours,
        )
        if p4.returncode != 0:
            print(f"autograder failed:\n{p4.stdout[-2000:]}\n{p4.stderr[-2000:]}")
            return 1
        doc = json.loads((tmp / "out" / "grades.json").read_text())
        rows = doc["students"]
        statuses = {r["status"] for r in rows}
        per_sub = [r["seconds"] for r in rows]
        execute = [nb["execute_seconds"] for r in rows for nb in r["notebooks"].values()]
        overhead_worker = statistics.mean(s - e for s, e in zip(per_sub, execute, strict=False))
        overhead_setup = doc["setup_seconds"] / len(rows)
        expected = {"full": syn.TOTAL, "partial": 2.0, "blank": 0.0}
        wrong = [
            r["student_id"]
            for i, r in enumerate(sorted(rows, key=lambda r: r["student_id"]))
            if r["score"] != expected[kinds[i % 3]]
        ]

        ratio = t_stock / t_ours
        cores = os.cpu_count()
        print(
            f"Synthetic class: {args.students} submissions of a {syn.TOTAL:g}-point notebook "
            f"(pandas + scikit-learn set-up), {cores} cores, load average {os.getloadavg()[0]:.1f}"
        )
        print(
            f"  stock nbgrader (generate_assignment + autograde + generate_feedback): {t_stock:6.1f} s "
            f"(autograde alone {t_auto:.1f} s)"
        )
        print(
            f"  python -m autograder grade --jobs {args.jobs}:                           {t_ours:6.1f} s "
            f"(set-up {doc['setup_seconds']:.1f} s)"
        )
        print(
            f"  speed-up: {ratio:.2f}x (target >= 1.8x on 2 cores)"
            f"{'' if ratio >= 1.8 else '  BELOW TARGET (a busy machine shrinks it: see the load average)'}"
        )
        print(f"  time executing a notebook (kernel start + cells), mean: {statistics.mean(execute):.2f} s")
        print(
            f"  overhead per submission above executing it: {overhead_worker:.2f} s in the worker "
            f"+ {overhead_setup:.2f} s of shared set-up = {overhead_worker + overhead_setup:.2f} s "
            f"(target <= 1 s)"
        )
        print(
            f"  scores as expected: {'yes' if not wrong else 'NO: ' + ', '.join(wrong)}; statuses: {sorted(statuses)}"
        )
        return 0 if not wrong and statuses == {"graded"} else 1
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def sandbox_cost(runs: int = 6) -> int:
    """Execute the tiny notebook in the grader's sandbox and with plain nbclient; print the difference."""
    from nbclient import NotebookClient

    from autograder import course_files

    tmp = Path(tempfile.mkdtemp(prefix="bench-sandbox-"))
    try:
        plain = []
        nb = syn.student_notebook("full")

        def run_plain(n: int) -> None:  # half before, half after the sandboxed runs: load drifts
            for _ in range(n):
                work = tmp / f"plain-{len(plain)}"
                work.mkdir()
                copy = course_files.clone(nb)
                start = time.perf_counter()
                NotebookClient(
                    copy, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(work)}}
                ).execute()
                plain.append(time.perf_counter() - start)

        run_plain(runs // 2)
        course = tmp / "course"
        syn.build_course(course)
        for i in range(runs):
            syn.write_submission(course / "submitted", f"s{i:02d}", nb)
        env = dict(os.environ, AUTOGRADER_TIMINGS="1")
        _, proc = run(
            grade_command(tmp / "out", 1),
            course,
            env,
        )
        if proc.returncode != 0:
            print(f"autograder failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
            return 1
        run_plain(runs - runs // 2)
        rows = json.loads((tmp / "out" / "grades.json").read_text())["students"]
        boxed = [nb_["execute_seconds"] for r in rows for nb_ in r["notebooks"].values()]
        box_ops = [
            float(a) + float(b) for a, b in re.findall(r"make_box ([0-9.]+) s, remove_box ([0-9.]+) s", proc.stderr)
        ]
        launch = statistics.median(boxed) - statistics.median(plain)
        ops = statistics.mean(box_ops) if box_ops else 0.0
        cost = launch + ops
        print(
            f"Sandbox cost per submission ({runs} runs each, one at a time, tiny notebook, "
            f"load average {os.getloadavg()[0]:.1f}):"
        )
        print(
            f"  execute in the sandbox, median {statistics.median(boxed):.2f} s; plain nbclient, median "
            f"{statistics.median(plain):.2f} s; difference {launch:+.2f} s"
        )
        print(f"  make + remove the submission's box, mean {ops:.2f} s")
        print(f"  sandbox cost: {cost:.2f} s per submission (target < 1 s){'' if cost < 1 else '  ABOVE TARGET'}")
        return 0
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def determinism(copies: int, jobs: int, only: list[str]) -> int:
    """Grade `copies` copies of every assignment's full solution; report any cell whose score varied."""
    from autograder.course_files import assignments
    from autograder.runner import grade_class
    from autograder.samples import build_samples

    ids = only or assignments(ROOT, released=True)
    print(f"Determinism: the full solution of each assignment graded {copies} times, {jobs} at a time")
    varied_total, tmp = 0, Path(tempfile.mkdtemp(prefix="bench-determinism-"))
    try:
        for aid in ids:
            # the full solution as build_samples makes it, from the current source/ and release/
            full = build_samples.build(aid, ROOT, tmp / "samples")["full"]
            subs = tmp / aid / "submitted"
            for i in range(copies):
                (subs / f"copy{i:02d}" / aid).mkdir(parents=True)
                shutil.copy(full, subs / f"copy{i:02d}" / aid / f"{aid}.ipynb")
            start = time.perf_counter()
            results = grade_class(
                subs,
                aid,
                tmp / aid / "out",
                jobs=jobs,
                cell_timeout=120,
                notebook_timeout=600,
                memory_mb=4096,
                course_root=ROOT,
                quiet=True,
            )
            seconds = time.perf_counter() - start
            cells: dict[tuple[str, str], dict[float, list[str]]] = {}
            for r in results:
                for nb in r.notebooks:
                    for gid, c in nb.cells.items():
                        cells.setdefault((nb.notebook, gid), {}).setdefault(c["score"], []).append(r.student_id)
            varied = {k: v for k, v in cells.items() if len(v) > 1}
            short = [r for r in results if r.score != r.max_score or r.status != "graded"]
            varied_total += len(varied) + len(short)
            scores = sorted({r.score for r in results})
            print(
                f"  {aid:<20} {len(results)} copies in {seconds:6.1f} s: scores {scores} of "
                f"{results[0].max_score:g}, {len(cells)} graded cells, {len(varied)} varied"
                + ("" if not varied and not short else "  <-- NOT DETERMINISTIC")
            )
            for (nb, gid), by_score in sorted(varied.items()):
                print(
                    f"    VARIED {nb}/{gid}: "
                    + "; ".join(f"{s:g} in {', '.join(who)}" for s, who in sorted(by_score.items()))
                )
            for r in short:
                print(f"    BELOW FULL MARKS {r.student_id}: {r.score:g}/{r.max_score:g} {r.status} {r.detail[:300]}")
        if varied_total:
            print(f"  FAILED: {varied_total} cell(s)/copies varied or lost points: a grade must not depend on a race")
        else:
            print("  every cell scored the same in every copy, full marks everywhere")
        return 1 if varied_total else 0
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--students", type=int, default=20)
    ap.add_argument("--jobs", type=int, default=2, help="submissions graded at once (CI runners have 2 cores)")
    ap.add_argument("--copies", type=int, default=10, help="copies of each full solution in the determinism run")
    ap.add_argument("--assignment", action="append", default=[], help="determinism run: only this assignment")
    ap.add_argument("--skip-speed", action="store_true")
    ap.add_argument("--skip-sandbox", action="store_true")
    ap.add_argument("--skip-determinism", action="store_true")
    args = ap.parse_args()
    # nbgrader runs its `alembic` from PATH: the venv's bin must be on it (as `make` puts it)
    os.environ["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    status = 0
    for skip, section in (
        (args.skip_speed, lambda: speed(args)),
        (args.skip_sandbox, sandbox_cost),
        (args.skip_determinism, lambda: determinism(args.copies, args.jobs, args.assignment)),
    ):
        if not skip:
            status |= section()
            print(flush=True)
    return status


if __name__ == "__main__":
    sys.exit(main())
