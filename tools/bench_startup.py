"""`make bench`: what starting a Python process of the course's tools costs (CPU seconds, median of 5).

Every nbgrader command, grader worker and Jupyter server pays it, so it adds up across a class and
the test suite. Prints `import nbformat` and `nbgrader --version`, and fails if importing nbformat
builds jsonschema's rfc3987-syntax parsers again (~1 s each: requirements-overrides.txt).

    python tools/bench_startup.py [--runs N]
"""

from __future__ import annotations

import argparse
import resource
import statistics
import subprocess
import sys

COMMANDS = {
    "import nbformat": [sys.executable, "-c", "import nbformat"],
    "nbgrader --version": [sys.executable, "-m", "nbgrader", "--version"],
}
NBFORMAT_BUDGET_S = 0.6  # with rfc3987-syntax it was 1.1-1.4 s on this 2-core machine


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
    return status


if __name__ == "__main__":
    sys.exit(main())
