import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # `tools` is a folder of scripts, importable from tests


def assignments() -> list[str]:
    from autograder.course_files import assignments as course_assignments

    return course_assignments(ROOT)


@pytest.fixture(scope="session")
def root() -> Path:
    return ROOT


def grade_command(subs, assignment: str, out, *extra: str, jobs: int = 2) -> list[str]:
    """``python -m autograder grade`` as the tests run it (this venv's Python; extra options last)."""
    return [
        sys.executable,
        "-m",
        "autograder",
        "grade",
        str(subs),
        "--assignment",
        assignment,
        "--out",
        str(out),
        "--jobs",
        str(jobs),
        *extra,
    ]
