"""`make bench`: stock `nbgrader autograde` vs `python -m autograder grade`, same class, one run.

A synthetic class of N submissions (default 20: full, partial and blank solutions of a small
assignment whose set-up cell does a realistic amount of work: pandas + a scikit-learn fit) is
graded twice on this machine:

- stock: nbgrader's CLI as an instructor runs it, `generate_assignment` + `autograde` +
  `generate_feedback` (the same deliverables: grades and feedback), one submission after another;
- ours: `python -m autograder grade SUBMISSIONS --jobs <cores>` (includes its own set-up).

It prints both wall times, the ratio, and the per-submission overhead of ours above executing the
notebook (worker time minus the time spent in the kernel, from grades.json; plus the run's set-up
shared over the class). Targets: ratio >= 1.8 on 2 cores, overhead <= 1 s per submission.

    python tools/bench_autograder.py [--students N] [--jobs J]
"""
from __future__ import annotations

import argparse
import json
import os
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


def run(cmd: list[str], cwd: Path) -> tuple[float, subprocess.CompletedProcess]:
    env = dict(os.environ, PYTHONPATH=str(ROOT), PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    return time.perf_counter() - start, proc


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--students", type=int, default=20)
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    args = ap.parse_args()
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
        t_ours, p4 = run([sys.executable, "-m", "autograder", "grade", "submitted", "--assignment", syn.ASSIGNMENT,
                          "--out", str(tmp / "out"), "--jobs", str(args.jobs)], ours)
        if p4.returncode != 0:
            print(f"autograder failed:\n{p4.stdout[-2000:]}\n{p4.stderr[-2000:]}")
            return 1
        doc = json.loads((tmp / "out" / "grades.json").read_text())
        rows = doc["students"]
        statuses = {r["status"] for r in rows}
        per_sub = [r["seconds"] for r in rows]
        execute = [nb["execute_seconds"] for r in rows for nb in r["notebooks"].values()]
        overhead_worker = statistics.mean(s - e for s, e in zip(per_sub, execute))
        overhead_setup = doc["setup_seconds"] / len(rows)
        expected = {"full": syn.TOTAL, "partial": 2.0, "blank": 0.0}
        wrong = [r["student_id"] for i, r in enumerate(sorted(rows, key=lambda r: r["student_id"]))
                 if r["score"] != expected[kinds[i % 3]]]

        ratio = t_stock / t_ours
        cores = os.cpu_count()
        print(f"Synthetic class: {args.students} submissions of a {syn.TOTAL:g}-point notebook "
              f"(pandas + scikit-learn set-up), {cores} cores, load average {os.getloadavg()[0]:.1f}")
        print(f"  stock nbgrader (generate_assignment + autograde + generate_feedback): {t_stock:6.1f} s "
              f"(autograde alone {t_auto:.1f} s)")
        print(f"  python -m autograder grade --jobs {args.jobs}:                           {t_ours:6.1f} s "
              f"(set-up {doc['setup_seconds']:.1f} s)")
        print(f"  speed-up: {ratio:.2f}x (target >= 1.8x on 2 cores)"
              f"{'' if ratio >= 1.8 else '  BELOW TARGET (a busy machine shrinks it: see the load average)'}")
        print(f"  time executing a notebook (kernel start + cells), mean: {statistics.mean(execute):.2f} s")
        print(f"  overhead per submission above executing it: {overhead_worker:.2f} s in the worker "
              f"+ {overhead_setup:.2f} s of shared set-up = {overhead_worker + overhead_setup:.2f} s "
              f"(target <= 1 s)")
        print(f"  scores as expected: {'yes' if not wrong else 'NO: ' + ', '.join(wrong)}; statuses: {sorted(statuses)}")
        return 0 if not wrong and statuses == {"graded"} else 1
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
