"""`make bench`: what starting and ending a Python process of the course costs (CPU seconds, median of 5).

Every nbgrader command, grader worker, Jupyter server and kernel pays it, so it adds up across a
class and the test suite. Prints `import nbformat` and `nbgrader --version`, and fails if importing
nbformat builds jsonschema's rfc3987-syntax parsers again (~1 s each: requirements-overrides.txt).
Then a process that has used an MLflow store, with and without `import dp100` first: the difference
is the interpreter's last garbage collection at exit, which dp100 skips (gc.freeze at exit, in
dp100/__init__.py); every kernel of the course pays it at each restart and each graded notebook.
It fails if importing dp100 no longer saves at least 0.3 s there.

    python tools/bench_startup.py [--runs N]
"""

from __future__ import annotations

import argparse
import resource
import statistics
import subprocess
import sys
import tempfile

COMMANDS = {
    "import nbformat": [sys.executable, "-c", "import nbformat"],
    "nbgrader --version": [sys.executable, "-m", "nbgrader", "--version"],
}
NBFORMAT_BUDGET_S = 0.6  # with rfc3987-syntax it was 1.1-1.4 s on this 2-core machine
USE_MLFLOW = "import mlflow\nmlflow.set_tracking_uri({uri!r})\nmlflow.search_runs(search_all_experiments=True)"
EXIT_SAVING_S = 0.3  # 0.5 s on this 2-core machine for this process; 0.5-1.8 s for a graded notebook's kernel


def cpu_seconds(cmd: list[str]) -> float:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run(cmd, check=True, capture_output=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    runs = parser.parse_args().runs
    status = 0
    for name, cmd in COMMANDS.items():
        median = statistics.median(cpu_seconds(cmd) for _ in range(runs))
        verdict = ""
        if name == "import nbformat" and median > NBFORMAT_BUDGET_S:
            verdict, status = f"  OVER {NBFORMAT_BUDGET_S} s: is rfc3987-syntax back in the venv?", 1
        print(f"  {name:<22} {median:5.2f} CPU-s{verdict}")
    with tempfile.TemporaryDirectory() as tmp:
        code = USE_MLFLOW.format(uri=f"sqlite:///{tmp}/mlflow.db")
        subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)  # the store's migrations
        plain = statistics.median(cpu_seconds([sys.executable, "-c", code]) for _ in range(runs))
        frozen = statistics.median(cpu_seconds([sys.executable, "-c", "import dp100\n" + code]) for _ in range(runs))
    verdict = ""
    if plain - frozen < EXIT_SAVING_S:
        verdict, status = f"  SAVES UNDER {EXIT_SAVING_S} s: does dp100 still freeze the heap at exit?", 1
    print(f"  {'MLflow store used':<22} {plain:5.2f} CPU-s; after import dp100: {frozen:.2f} CPU-s{verdict}")
    return status


if __name__ == "__main__":
    sys.exit(main())
