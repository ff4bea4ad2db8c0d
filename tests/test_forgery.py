"""Forgery does not pay: every technique in tests/forgeries/ graded by the real autograder.

Each forgery neutralises the tests from inside the student's kernel (transformers, AST rewriting,
event hooks, patched builtins and testing helpers, always-equal answers, trace functions, a patched
``run_cell``...), several of them obfuscated. The grader's decoys (autograder/integrity.py) must
turn each into status ``tampered`` with 0 points, and never flag an honest submission, including
ones that use magics, ``display`` and ``get_ipython()`` legitimately. One run of the grader per
synthetic assignment (``--jobs 2``) keeps it fast. The real 01-workspace sample class, with the
one-liner forgery among its students, is graded in tests/test_class_grading.py.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path

import nbformat
import pytest
from conftest import ROOT

from autograder import integrity
from autograder import synthetic as syn
from autograder.runner import grade_class

FORGERIES = ROOT / "tests" / "forgeries"
LIMITS = dict(jobs=2, cell_timeout=10, notebook_timeout=90, memory_mb=2048, quiet=True)
pytestmark = pytest.mark.xdist_group("test_forgery")  # the classes graded once below: one worker builds them


def grading_run(test):
    """A test that reads the classes the grader graded (--jobs 2: a uid per submission, root)."""
    return pytest.mark.slow(pytest.mark.grading(pytest.mark.root(test)))


# -- the catalogue ------------------------------------------------------------------------------
def load_forgery(path: Path) -> dict:
    text = path.read_text()
    head = dict(re.findall(r"^# (assignment|base|expect): (.+)$", text, re.M))
    status, score = head["expect"].split()
    cells, n = {}, 1
    for line in text.splitlines():
        marker = re.match(r"# --- answer (\d+)$", line)
        if marker:
            n = int(marker.group(1))
            continue
        cells.setdefault(n, []).append(line)
    return {
        "name": path.stem,
        "assignment": head["assignment"],
        "base": head["base"],
        "status": status,
        "score": float(score),
        "cells": {k: "\n".join(v) for k, v in cells.items()},
        "what": text.splitlines()[0].lstrip("# "),
    }


def forgery_notebook(f: dict) -> nbformat.NotebookNode:
    nb = syn.student_notebook(f["base"], assignment=f["assignment"])
    answers = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("solution")]
    for n, code in f["cells"].items():
        cell = answers[n - 1]
        cell.source = code if f["base"] == "blank" else cell.source + "\n" + code
    return nb


CATALOGUE = [load_forgery(p) for p in sorted(FORGERIES.glob("*.py"))]

LEGIT = {  # honest uses of IPython: (code cells added after the set-up cell)
    "magics": [
        "%matplotlib inline\nimport matplotlib.pyplot as plt\nplt.plot([1, 2, 3])\nplt.show()",
        "%%writefile helper.py\nX = 1",
        "%timeit -n 1 -r 1 sum(range(10))",
        "%load_ext autoreload\n%autoreload 2",
    ],
    "get_ipython": [
        "ip = get_ipython()\nip.run_line_magic('precision', '3')\nip.run_cell_magic('capture', 'cap', 'print(1)')\n"
        "ip.user_ns['from_ns'] = 1\nprint(type(ip).__name__)"
    ],
    "display": [
        "from IPython.display import display, Markdown, HTML\ndisplay(Markdown('**bold**'))\n"
        "display(HTML('<b>x</b>'))\nimport pandas as pd\ndisplay(pd.DataFrame(dict(a=[1, 2])))"
    ],
    "own_hook": [
        "import time\n_t = {}\nget_ipython().events.register('pre_run_cell', lambda info: _t.update(s=time.time()))\n"
        "get_ipython().events.register('post_run_cell', lambda result: None)"
    ],
}


def _honest(assignment: str) -> dict:
    """student -> (notebook, exact expected score)."""
    full = syn.student_notebook("full", assignment=assignment)
    total = sum(p for _, p, _, _ in syn._spec(assignment)[1].values())
    first = next(iter(syn._spec(assignment)[1].values()))[1]
    cases = {
        "full": (full, total),
        "partial": (syn.student_notebook("partial", assignment=assignment), first),
        "blank": (syn.student_notebook("blank", assignment=assignment), 0.0),
    }
    for name, cells in LEGIT.items():
        nb = nbformat.from_dict(json.loads(json.dumps(full)))
        for k, code in enumerate(cells):
            cell = nbformat.v4.new_code_cell(code)
            cell.id = f"legit-{k}"
            nb.cells.insert(2 + k, cell)
        cases[f"legit_{name}"] = (nb, total)
    if assignment == syn.ASSIGNMENT:  # wrong answers fail their tests and nothing else
        wrong = nbformat.from_dict(json.loads(json.dumps(full)))
        for cell in wrong.cells:
            if cell.metadata.get("nbgrader", {}).get("grade_id") == "nb90_square_answer":
                cell.source = "def square(x):\n    return x + x"
            if cell.metadata.get("nbgrader", {}).get("grade_id") == "nb90_pick_answer":
                cell.source = "q_pick = 'a'"
        cases["wrong_answers"] = (wrong, total - 2 - 1)
    return cases


# -- one grading run per assignment ----------------------------------------------------------------
@pytest.fixture(scope="module", autouse=True)
def venv_on_path():
    """nbgrader runs `alembic` by name: the venv's bin must be on PATH, as it is under `make`."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PATH", f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
        yield


@pytest.fixture(scope="module")
def graded(venv_on_path):
    base = Path(tempfile.mkdtemp(prefix="ag-forgery-", dir="/tmp"))
    course = base / "course"
    expected, rows, seconds = {}, {}, {}
    try:
        for assignment in (syn.ASSIGNMENT, syn.CHECKS):
            syn.build_course(course, assignment)
            subs = base / f"subs-{assignment}"
            for student, (nb, score) in _honest(assignment).items():
                syn.write_submission(subs, student, nb, assignment)
                expected[(assignment, student)] = ("graded", score)
            for f in CATALOGUE:
                if f["assignment"] == assignment:
                    syn.write_submission(subs, f["name"], forgery_notebook(f), assignment)
                    expected[(assignment, f["name"])] = (f["status"], f["score"])
            start = time.perf_counter()
            results = grade_class(
                subs,
                assignment,
                base / f"out-{assignment}",
                course_root=course,
                instructor_dir=base / f"instructor-{assignment}",
                **LIMITS,
            )
            seconds[assignment] = time.perf_counter() - start
            rows.update({(assignment, r.student_id): r for r in results})
        print("grading seconds:", seconds)
        yield {"rows": rows, "expected": expected, "base": base, "seconds": seconds}
    finally:
        shutil.rmtree(base, ignore_errors=True)


CASES = [(f["assignment"], f["name"]) for f in CATALOGUE] + [
    (a, s) for a in (syn.ASSIGNMENT, syn.CHECKS) for s in _honest(a)
]


def test_at_least_ten_forgeries_expected_to_be_caught():
    caught = [f for f in CATALOGUE if f["status"] == "tampered"]
    assert len(caught) >= 10 and all(f["score"] == 0 for f in CATALOGUE)


@grading_run
@pytest.mark.parametrize("assignment, student", CASES, ids=[f"{a}:{s}" for a, s in CASES])
def test_status_and_score(graded, assignment, student):
    status, score = graded["expected"][(assignment, student)]
    r = graded["rows"][(assignment, student)]
    assert (r.status, r.score) == (status, score), r.detail
    if status == "tampered":
        assert "decoy" in r.detail and all(c["score"] == 0 for nb in r.notebooks for c in nb.cells.values())
    else:
        assert "decoy" not in r.detail, r.detail


@grading_run
def test_decoys_never_reach_feedback_or_executed_copies(graded):
    seen = 0
    for path in list(graded["base"].glob("out-*/feedback/**/*.html")) + list(
        graded["base"].glob("instructor-*/autograded/**/*.ipynb")
    ):
        text = path.read_text()
        seen += 1
        assert "hexdigest()" not in text and "_check_env" not in text and "== object()" not in text, path
    assert seen >= 2 * len(CASES)


@grading_run
def test_executed_copy_has_the_submitted_cells_only(graded):
    for assignment, student in graded["rows"]:
        path = graded["base"] / f"instructor-{assignment}" / "autograded" / student / assignment / f"{assignment}.ipynb"
        executed = nbformat.read(path, as_version=4)
        submitted = nbformat.read(
            graded["base"] / f"subs-{assignment}" / student / assignment / f"{assignment}.ipynb", as_version=4
        )
        assert [c.id for c in executed.cells] == [c.id for c in submitted.cells], student
        counts = [c.execution_count for c in executed.cells if c.cell_type == "code" and c.execution_count]
        assert counts == list(range(1, len(counts) + 1)), (student, counts)  # no gaps where decoys ran


@grading_run
def test_grades_csv_json_and_ci_summary_carry_the_status(graded):
    import csv

    out = graded["base"] / f"out-{syn.ASSIGNMENT}"
    rows = {r["student_id"]: r for r in csv.DictReader(open(out / "grades.csv"))}
    assert (rows["post_pass"]["status"], float(rows["post_pass"]["score"])) == ("tampered", 0.0)
    doc = json.loads((out / "grades.json").read_text())
    nb = {s["student_id"]: s for s in doc["students"]}["post_pass"]["notebooks"][syn.ASSIGNMENT]
    assert nb["status"] == "tampered" and nb["score"] == 0 and "decoy" in nb["detail"]
    from autograder import export

    assert "| post\\_pass | 0 | tampered |" in export.markdown_summary([out])  # the CI job summary
    page = (out / nb["feedback"]).read_text()
    assert "Status: tampered." in page and nb["detail"][:60] not in page  # the student is told why, not how
    honest = (out / "feedback" / "full" / syn.ASSIGNMENT / f"{syn.ASSIGNMENT}.html").read_text()
    assert "Status:" not in honest


@grading_run
def test_probe_names_the_hook_in_the_detail(graded):
    detail = graded["rows"][(syn.ASSIGNMENT, "ast_strip_asserts")].detail
    assert "ast_transformers has NoAsserts" in detail, detail
    assert "builtins.abs replaced" in graded["rows"][(syn.ASSIGNMENT, "patched_abs")].detail


# -- decoys without a kernel: a wrong answer never makes a decoy pass ----------------------------
def _run_python(code: str, ns: dict) -> tuple[bool, str]:
    out = io.StringIO()
    try:
        with contextlib.redirect_stdout(out):
            exec(compile(code, "<cell>", "exec"), ns)
    except BaseException:  # noqa: BLE001 - any exception is the expected failure of a decoy
        return True, out.getvalue()
    return False, out.getvalue()


WRONG = {
    "nb90_square_answer": "def square(x):\n    return x + x",
    "nb90_circle_answer": "def circle_area(r):\n    return 3 * r",
    "nb90_pick_answer": "q_pick = 'a'",
    "nb95_stats_answer": "def mean_std(xs):\n    return (1.0, 1.0)",
    "nb95_frame_answer": "def totals(df):\n    return df",
    "nb95_vowels_answer": "vowels = ['a']",
}


@pytest.mark.parametrize("assignment", [syn.ASSIGNMENT, syn.CHECKS])
@pytest.mark.parametrize("kind", ["full", "partial", "blank", "wrong"])
def test_every_decoy_behaves_on_an_honest_interpreter(assignment, kind):
    release = syn.release_notebook(assignment=assignment)
    for seed in range(5):
        nb = syn.student_notebook("full" if kind == "wrong" else kind, assignment=assignment)
        for cell in nb.cells:  # a wrong answer must never make a decoy pass
            gid = cell.metadata.get("nbgrader", {}).get("grade_id")
            if kind == "wrong" and gid in WRONG:
                cell.source = WRONG[gid]
        graded_src = {
            c.metadata["nbgrader"]["grade_id"]: c.source
            for c in syn.source_notebook(assignment=assignment).cells
            if c.metadata.get("nbgrader", {}).get("grade")
        }
        for cell in nb.cells:  # what OverwriteCells gives the grader: the tests with hidden checks
            gid = cell.metadata.get("nbgrader", {}).get("grade_id")
            if gid in graded_src:
                cell.source = graded_src[gid]
        plan = integrity.plant(nb, release, seed=seed)
        assert sum(d.kind == "fail" for d in plan.decoys.values()) >= 3
        ns: dict = {}
        for cell in nb.cells:
            if cell.cell_type != "code":
                continue
            decoy = plan.decoys.get(cell.id)
            if decoy is not None and decoy.kind == "probe":
                continue
            raised, out = _run_python(cell.source, ns)
            if decoy is not None and decoy.kind == "fail":
                assert raised, cell.source
            if decoy is not None and decoy.kind == "pass":
                assert not raised and out.split() == [decoy.expect], cell.source


def test_decoys_come_from_a_fresh_secret_each_run():
    a, b = syn.student_notebook("full"), syn.student_notebook("full")
    integrity.plant(a, syn.release_notebook())
    integrity.plant(b, syn.release_notebook())
    assert [c.source for c in a.cells] != [c.source for c in b.cells]


def test_decoys_reveal_nothing_of_the_hidden_checks():
    """A hook printing the cell history (In, _ih) sees the decoys: they must add nothing hidden."""
    for assignment in (syn.ASSIGNMENT, syn.CHECKS):
        nb = syn.source_notebook(secret="S3CRET_xyz", assignment=assignment)
        plan = integrity.plant(nb, syn.release_notebook(assignment=assignment))
        decoys = [c.source for c in nb.cells if c.id in plan.decoys]
        assert decoys and not any("S3CRET_xyz" in d for d in decoys)
        assert not any("wrong option" in d or "negative numbers" in d for d in decoys)


def test_primitives_read_from_the_test_ast():
    p = integrity.primitives(
        "assert isinstance(x, int) and len(y) == 2, 'msg'\n"
        "np.testing.assert_allclose(a, b)\nassert math.isclose(c, 1)\n"
        "assert all(v in s for v in w)\nassert q.name != 'n'\nassert square(3) == 9"
    )
    assert {"isinstance", "len", "all"} <= p.builtins
    assert p.helpers == {"np.testing.assert_allclose"} and p.close == {"math.isclose": "isclose"}
    assert {"q.name", "s"} == p.operands  # never a call (student code run twice), nor a comprehension variable
    assert p.messages == ["msg"]


def test_judge_flags_a_decoy_that_passed_and_removes_all_decoys():
    nb = syn.student_notebook("full")
    before = [c.id for c in nb.cells]
    plan = integrity.plant(nb, syn.release_notebook(), seed=1)
    for cell in nb.cells:  # an honest run: must-fail decoys raise, must-pass print their digest
        d = plan.decoys.get(cell.id)
        if d and d.kind == "fail":
            cell.outputs = [nbformat.v4.new_output("error", ename="AssertionError", evalue="", traceback=[])]
        elif d:
            text = d.expect + ("[]" if d.kind == "probe" else "") + "\n"
            cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text=text)]
    honest = nbformat.from_dict(json.loads(json.dumps(nb)))
    assert integrity.judge(honest, plan).tampered is False
    assert [c.id for c in honest.cells] == before
    victim = next(cid for cid, d in plan.decoys.items() if d.kind == "fail")
    for cell in nb.cells:
        if cell.id == victim:
            cell.outputs = []
    verdict = integrity.judge(nb, plan)
    assert verdict.tampered and "passed" in verdict.detail
    assert [c.id for c in nb.cells] == before
