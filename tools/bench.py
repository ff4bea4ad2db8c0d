"""`make bench`: the course's performance figures, measured in one run on this machine.

1. Each solution notebook (source/) executed top to bottom with nbclient: wall time vs the 45 s budget.
2. Every other benchmark in tools/bench_*.py (scoring endpoint, autograder, ...), run in turn.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from autograder.course_files import read, source_notebooks  # noqa: E402

BUDGET_S = 45.0


def time_notebook(path: Path) -> tuple[float, str | None]:
    nb = read(path)
    with tempfile.TemporaryDirectory(prefix="dp100-bench-") as tmp:
        start = time.perf_counter()
        try:
            NotebookClient(nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": tmp}}).execute()
            error = None
        except Exception as exc:  # report, keep timing the others
            error = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
        return time.perf_counter() - start, error


def main() -> int:
    os.environ["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    only = sys.argv[1:]
    notebooks = source_notebooks(ROOT)
    print(f"Solution notebooks, executed top to bottom ({os.cpu_count()} cores, budget {BUDGET_S:.0f} s each)")
    status = 0
    for nb in notebooks:
        if only and not any(o in nb.name for o in only):
            continue
        seconds, error = time_notebook(nb)
        verdict = "ok" if error is None and seconds < BUDGET_S else ("FAILED: " + error if error else "OVER BUDGET")
        status |= verdict != "ok"
        print(f"  {nb.parent.name:<22} {seconds:6.1f} s  {verdict}")
    for script in sorted((ROOT / "tools").glob("bench_*.py")):
        if only:
            break
        print(f"\n== {script.stem} ==", flush=True)
        status |= subprocess.run([sys.executable, str(script)], cwd=ROOT).returncode != 0
    return status


if __name__ == "__main__":
    sys.exit(main())
