"""End to end: `python -m autograder grade` on a class of adversarial submissions.

One run grades every case (in parallel, with short limits) on a tiny assignment built in a
world-readable temp course, so that isolation is what keeps student code away from the hidden
tests (not the permissions of pytest's temp dir). Expected scores are exact.
"""

from __future__ import annotations

import base64
import csv
import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat
import pytest
from conftest import ROOT, grade_command

from autograder import synthetic as syn

A = syn.ASSIGNMENT
CELL_TIMEOUT, NOTEBOOK_TIMEOUT, MEMORY_MB = 4, 12, 1536
# isolation needs root: skipped elsewhere, but in CI (which runs as root) a non-root run must fail, not skip
ROOT_ONLY = pytest.mark.skipif(
    os.geteuid() != 0 and os.environ.get("CI", "").lower() not in ("1", "true", "yes"),
    reason="isolation needs root (CI runs the tests as root)",
)
pytestmark = pytest.mark.xdist_group("test_autograder")  # the class graded once below: one worker builds it


def grading_run(test):
    """A test that runs the grader or reads the class it graded (--jobs 2: a uid per submission, root)."""
    return pytest.mark.slow(pytest.mark.grading(pytest.mark.root(test)))


SEARCH = r"""
import os, glob
SECRET = "{secret_reversed}"[::-1]
found, readable = [], []
for top in ["/tmp", "/work", "/root", "/home", "/var/tmp", "/dev/shm", "/opt", "/srv", "/mnt", {course!r}]:
    for dirpath, dirnames, filenames in os.walk(top):
        dirnames[:] = [d for d in dirnames if d not in (".venv", "site-packages", "node_modules", ".git", "proc")]
        for name in filenames:
            if name.endswith((".ipynb", ".db", ".json", ".py", ".txt", ".html", ".csv")) or "gradebook" in name:
                path = os.path.join(dirpath, name)
                try:
                    with open(path, "rb") as fh:
                        if SECRET.encode() in fh.read(5_000_000):
                            found.append(path)
                except OSError:
                    pass
for path in [{course!r} + "/source/{a}/{a}.ipynb", {course!r} + "/nbgrader_config.py", {subs!r}, {out!r}]:
    try:
        if os.path.isdir(path):
            readable += [path] if os.listdir(path) else []
        else:
            open(path).read(); readable.append(path)
    except OSError:
        pass
boxes = glob.glob("/tmp/autograder-*/boxes/*") + glob.glob("/tmp/autograder-*/private/*")
print("FOUND", len(found), "READABLE", len(readable), "OTHERS", len(boxes), "UID", os.getuid())
print("PATHS", found[:5], readable[:5], boxes[:5])
"""

HOOK = r"""
import base64
def _leak(result):
    ip = get_ipython()
    print("HOOK-RAW", result.info.raw_cell)
    print("HOOK-B64", base64.b64encode(result.info.raw_cell.encode()).decode())
    print("HOOK-HISTORY", ip.user_ns.get("_ih"))
get_ipython().events.register("post_run_cell", _leak)
"""


def _world_readable(path: Path) -> None:
    for dirpath, _dirnames, filenames in os.walk(path):
        os.chmod(dirpath, 0o755)
        for f in filenames:
            os.chmod(os.path.join(dirpath, f), 0o644)


def _cases(subs: Path, course: Path, out: Path, secret: str) -> None:
    full, blank = syn.student_notebook("full"), syn.student_notebook("blank")
    w = syn.write_submission
    w(subs, "full", full)
    w(subs, "blank", blank)
    w(subs, "partial", syn.student_notebook("partial"))
    w(subs, "loop", syn.with_code(full, "while True:\n    pass"))
    w(
        subs,
        "loop_no_interrupt",
        # it sleeps rather than spins: ignoring the interrupt is the case (`loop` spins), and a spin
        # until the kill would burn ~8 s of CPU that the other tests wait for
        syn.with_code(
            full, "import signal, time\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\nwhile True:\n    time.sleep(1)"
        ),
    )
    slow = syn.student_notebook("full")
    for k in range(5):  # each cell is under the per-cell timeout; together they pass the notebook cap
        cell = nbformat.v4.new_code_cell(f"import time\ntime.sleep(3)  # slow cell {k}")
        cell.id = f"slow-{k}"
        slow.cells.insert(2, cell)
    w(subs, "slow_cells", slow)
    w(subs, "memory_hog", syn.with_code(full, "hog = bytearray(6 * 1024 ** 3)"))
    exit_nb = syn.student_notebook("full")
    answers = [c for c in exit_nb.cells if c.metadata.get("nbgrader", {}).get("solution")]
    answers[1].source = "import os\nos._exit(1)"
    w(subs, "kernel_exit", exit_nb)
    edited = syn.student_notebook("blank")
    for c in edited.cells:
        if c.metadata.get("nbgrader", {}).get("grade"):
            c.source = "pass  # tests? what tests"
    w(subs, "edited_tests", edited)
    deleted = syn.student_notebook("full")
    deleted.cells = [c for c in deleted.cells if not c.metadata.get("nbgrader", {}).get("grade")]
    w(subs, "deleted_tests", deleted)
    both = syn.student_notebook("blank")
    both.cells = [
        c for c in both.cells if not c.metadata.get("nbgrader", {}).get("grade_id", "").startswith("nb90_square")
    ]
    w(subs, "deleted_answer_and_test", both)
    w(subs, "invalid_json", b'{"cells": [ {"cell_type": "code", ')
    w(subs, "not_utf8", b"\x89PNG\r\n\x1a\n\xff\xfe binary")
    w(subs, "not_a_notebook", '{"hello": "world"}')
    (subs / "empty_folder" / A).mkdir(parents=True)
    (subs / "no_assignment_folder" / "02-experiments").mkdir(parents=True)
    other = syn.student_notebook("full")
    for c in other.cells:
        meta = c.metadata.get("nbgrader")
        if meta:
            meta["grade_id"] = meta["grade_id"].replace("nb90", "nb02")
    w(subs, "other_assignment", other)
    kernel = syn.student_notebook("full")
    kernel.metadata["kernelspec"] = {"name": "python3-custom", "display_name": "Mine", "language": "python"}
    w(subs, "wrong_kernel", kernel)
    r_nb = syn.student_notebook("full")
    r_nb.metadata["kernelspec"] = {"name": "ir", "display_name": "R", "language": "R"}
    w(subs, "r_kernel", r_nb)
    w(subs, "renamed", full, name="my homework.ipynb")
    w(
        subs,
        "disk_search",
        syn.with_code(
            full, SEARCH.format(secret_reversed=secret[::-1], course=str(course), a=A, subs=str(subs), out=str(out))
        ),
    )
    w(subs, "hook", syn.with_code(full, HOOK, where="top"))
    link = subs / "symlink" / A
    w(
        subs,
        "symlink",
        syn.with_code(
            full,
            "print('LINK', open('peek.ipynb').read()[:50] if __import__('os').path.exists('peek.ipynb') else 'none')",
        ),
    )
    (link / "peek.ipynb").symlink_to(course / "source" / A / f"{A}.ipynb")


EXPECTED = {  # student: (score, status, words that must be in the detail)
    "full": (6, "graded", []),
    "blank": (0, "graded", []),
    "partial": (2, "graded", []),
    "loop": (6, "timeout", ["per-cell timeout"]),
    "loop_no_interrupt": (0, "timeout", ["nb90_square_answer"]),
    "slow_cells": (0, "timeout", ["whole notebook exceeded 12 s"]),
    "memory_hog": (6, "memory", ["memory"]),
    "kernel_exit": (2, "kernel_died", ["kernel died", "nb90_circle_answer"]),
    "edited_tests": (0, "graded", ["altered", "edited nb90_square", "edited nb90_pick"]),
    "deleted_tests": (6, "graded", ["altered", "deleted nb90_square", "deleted nb90_circle"]),
    "deleted_answer_and_test": (0, "graded", ["deleted nb90_square_answer", "deleted nb90_square"]),
    "invalid_json": (0, "invalid_notebook", ["not valid JSON"]),
    "not_utf8": (0, "invalid_notebook", ["not UTF-8"]),
    "not_a_notebook": (0, "invalid_notebook", ["not a Jupyter notebook"]),
    "empty_folder": (0, "missing", ["it is empty"]),
    "no_assignment_folder": (0, "missing", [f"no folder {A}/", "02-experiments/"]),
    "other_assignment": (0, "invalid_notebook", ["another assignment", "nb02_"]),
    "wrong_kernel": (6, "graded", ["python3-custom", "replaced"]),
    "r_kernel": (0, "invalid_notebook", ["'r' kernel"]),
    "renamed": (6, "graded", ["graded my homework.ipynb as"]),
    "disk_search": (6, "graded", []),
    "hook": (6, "graded", []),
    "symlink": (6, "graded", ["symlink"]),
}


@pytest.fixture(scope="module")
def graded():
    base = Path(tempfile.mkdtemp(prefix="ag-e2e-", dir="/tmp"))
    secret = "SECRET_" + secrets.token_hex(8)
    course, subs, out = base / "course", base / "submissions", base / "out"
    syn.build_course(course, secret=secret)
    _cases(subs, course, out, secret)
    _world_readable(base)  # without isolation, any uid could read the hidden tests here
    env = dict(os.environ, PYTHONPATH=str(ROOT), PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    start = time.perf_counter()
    proc = subprocess.run(
        grade_command(
            subs,
            A,
            out,
            "--cell-timeout",
            str(CELL_TIMEOUT),
            "--notebook-timeout",
            str(NOTEBOOK_TIMEOUT),
            "--memory",
            str(MEMORY_MB),
            "--instructor-dir",
            str(base / "instructor"),
        ),
        cwd=course,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    seconds = time.perf_counter() - start
    print(f"graded {len(EXPECTED)} submissions in {seconds:.1f} s\n{proc.stdout}\n{proc.stderr[-3000:]}")
    rows = {}
    if (out / "grades.csv").exists():
        with open(out / "grades.csv", newline="") as fh:
            rows = {r["student_id"]: r for r in csv.DictReader(fh)}
    if os.environ.get("AUTOGRADER_KEEP_TEST_RUN"):
        print("kept", base)
    yield {
        "proc": proc,
        "rows": rows,
        "out": out,
        "secret": secret,
        "course": course,
        "subs": subs,
        "instructor": base / "instructor",
    }
    if not os.environ.get("AUTOGRADER_KEEP_TEST_RUN"):
        shutil.rmtree(base, ignore_errors=True)


@grading_run
def test_exit_zero_and_one_row_per_student(graded):
    assert graded["proc"].returncode == 0, graded["proc"].stderr[-3000:]
    assert set(graded["rows"]) == set(EXPECTED)


@grading_run
@pytest.mark.parametrize("student", sorted(EXPECTED))
def test_score_status_detail(graded, student):
    score, status, words = EXPECTED[student]
    row = graded["rows"][student]
    assert (float(row["score"]), row["status"]) == (score, status), row
    assert float(row["max_score"]) == syn.TOTAL == 6
    assert row["assignment"] == A
    for word in words:
        assert word in row["detail"], (word, row["detail"])


@grading_run
def test_csv_columns(graded):
    with open(graded["out"] / "grades.csv", newline="") as fh:
        header = next(csv.reader(fh))
    assert header[:6] == ["student_id", "assignment", "score", "max_score", "status", "detail"]


@grading_run
def test_json_has_per_cell_points(graded):
    doc = json.loads((graded["out"] / "grades.json").read_text())
    students = {s["student_id"]: s for s in doc["students"]}
    cells = students["partial"]["notebooks"][A]["cells"]
    assert cells == {
        "nb90_square": {"score": 2.0, "max_score": 2.0},
        "nb90_circle": {"score": 0.0, "max_score": 3.0},
        "nb90_pick": {"score": 0.0, "max_score": 1.0},
    }
    assert students["kernel_exit"]["notebooks"][A]["cells"]["nb90_square"]["score"] == 2.0
    assert doc["max_score"] == 6.0


@grading_run
def test_every_row_has_feedback(graded):
    for student in EXPECTED:
        page = graded["out"] / "feedback" / student / A / f"{A}.html"
        assert page.is_file(), page


@grading_run
def test_feedback_never_shows_hidden_tests(graded):
    secret = graded["secret"]
    for page in (graded["out"] / "feedback").rglob("*.html"):
        text = page.read_text()
        assert secret not in text, page
        assert "BEGIN HIDDEN TESTS" not in text, page
        assert base64.b64encode(secret.encode()).decode()[:16] not in text, page


@grading_run
def test_hook_printing_cells_is_redacted(graded):
    text = (graded["out"] / "feedback" / "hook" / A / f"{A}.html").read_text()
    assert "HOOK-RAW" in text  # the hook ran and printed (its output is in the feedback)...
    assert "square(-4)" not in text  # ...but never the hidden checks it saw
    assert "redacted" in graded["rows"]["hook"]["detail"]
    assert "hidden checks ran here" in text


@grading_run
@ROOT_ONLY
def test_disk_search_finds_nothing(graded):
    import re

    text = (graded["out"] / "feedback" / "disk_search" / A / f"{A}.html").read_text()
    seen = re.search(r"FOUND (\d+) READABLE (\d+) OTHERS (\d+) UID (\d+)\s*PATHS (.*)", re.sub(r"<[^>]+>", "", text))
    assert seen, "the disk search printed nothing"
    found, readable, others, uid, paths = seen.groups()
    assert (found, readable, others) == ("0", "0", "0"), paths[:1000]
    assert int(uid) not in (0, os.getuid())


@grading_run
def test_symlink_not_followed(graded):
    text = (graded["out"] / "feedback" / "symlink" / A / f"{A}.html").read_text()
    assert "LINK none" in text


@grading_run
def test_failed_visible_check_shows_its_message_hidden_failure_does_not(graded):
    text = (graded["out"] / "feedback" / "blank" / A / f"{A}.html").read_text()
    assert "NameError" in text and "in the visible check" in text


@pytest.mark.slow
@pytest.mark.grading
def test_grade_one(tmp_path):
    course = tmp_path / "course"
    syn.build_course(course)
    nb = tmp_path / "push" / "homework.ipynb"
    nb.parent.mkdir()
    nbformat.write(syn.student_notebook("partial"), nb)
    env = dict(
        os.environ,
        PYTHONPATH=str(ROOT),
        AUTOGRADER_STUDENT_ID="alice",
        PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
    )
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "autograder",
            "grade-one",
            str(nb.parent),
            "--assignment",
            A,
            "--out",
            str(tmp_path / "out"),
        ],
        cwd=course,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    rows = list(csv.DictReader(open(tmp_path / "out" / "grades.csv")))
    assert [(r["student_id"], float(r["score"]), r["status"]) for r in rows] == [("alice", 2.0, "graded")]
    assert (tmp_path / "out" / "feedback" / "alice" / A / f"{A}.html").is_file()


@pytest.mark.parametrize(
    "args, message",
    [
        (["grade", "subs", "--assignment", "99-nope", "--out", "out"], "no such assignment '99-nope'"),
        (["grade", "nowhere", "--assignment", A, "--out", "out"], "is not a folder"),
    ],
)
def test_grader_cannot_run_exits_nonzero_with_message(tmp_path, monkeypatch, capsys, args, message):
    # in this process (what `python -m autograder` exits with is main()'s return: test_bad_arguments_exit_nonzero)
    from autograder.cli import main

    course = tmp_path / "course"
    syn.build_course(course)
    (course / "subs").mkdir()
    monkeypatch.chdir(course)
    assert main(args) == 2
    assert message in capsys.readouterr().err


def test_bad_arguments_exit_nonzero(tmp_path):
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    for args in (["grade", "subs", "--out", "o"], ["grade", "subs", "--assignment", A, "--out", "o", "--jobs", "0"]):
        proc = subprocess.run(
            [sys.executable, "-m", "autograder", *args],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert proc.returncode == 2, args
        assert "error" in proc.stderr


@grading_run
def test_worker_gradebooks_merged_into_one_nbgrader_gradebook(graded):
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{graded['instructor'] / 'gradebook.db'}") as gb:
        assert sorted(s.id for s in gb.students) == sorted(EXPECTED)
        for student, (score, _, _) in EXPECTED.items():
            assert gb.find_submission(A, student).score == score, student
    executed = graded["instructor"] / "autograded" / "full" / A / f"{A}.ipynb"
    assert graded["secret"] in executed.read_text()  # instructor copy: hidden tests included
    assert not (graded["out"] / "gradebook.db").exists()


# -- the embedded samples (graded end to end, a real assignment, in tests/test_class_grading.py) ---
SAMPLES = ROOT / "autograder" / "samples"


def _sample_assignments():
    from autograder.samples import build_samples

    return build_samples.assignments(ROOT) if (ROOT / "source").is_dir() else []


@pytest.mark.parametrize("assignment", _sample_assignments())
def test_samples_are_up_to_date(assignment, tmp_path):
    from autograder.samples import build_samples

    built = build_samples.build(assignment, ROOT, tmp_path)
    for student, path in built.items():
        committed = SAMPLES / assignment / student / assignment / f"{assignment}.ipynb"
        assert committed.is_file() and committed.read_bytes() == path.read_bytes(), (
            f"{committed} is stale: run python autograder/samples/build_samples.py"
        )
