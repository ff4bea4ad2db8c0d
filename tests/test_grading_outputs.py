"""One bad submission costs one row, and every output is safe to open.

- a worker process that dies fails only the submission it was grading (retried once first);
- the grader's memory stays bounded while a kernel floods its output or raises a huge traceback;
- grades.csv never holds a spreadsheet formula, the CI summary never holds live Markdown/HTML,
  feedback pages never run a student's HTML/JavaScript; grades.json says its format_version;
- a student who flips nbgrader flags is reported ``altered`` and graded normally;
- a two-notebook submission with one notebook missing is graded (never ``missing`` with points).

One class is graded once (module fixture, the grader's memory sampled all along) and every case but
the two-notebook one is read from its outputs.
"""

from __future__ import annotations

import csv
import html.parser
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import nbformat
import pytest
from conftest import ROOT, grade_command

from autograder import report, worker
from autograder import synthetic as syn

A = syn.ASSIGNMENT
ENV = dict(os.environ, PYTHONPATH=str(ROOT), PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
pytestmark = pytest.mark.xdist_group("test_grading_outputs")  # the class graded once below: one worker builds it


def grading_run(test):
    """A test that runs the grader or reads the class it graded (--jobs 2: a uid per submission, root)."""
    return pytest.mark.slow(pytest.mark.grading(pytest.mark.root(test)))


# Folder names a student may choose: each would be a formula, a Markdown table break or a
# terminal/HTML trick if written out raw.
HOSTILE_IDS = [
    '=HYPERLINK("evil.example","x")',
    "+SUM(1,2)",
    "-2+3",
    "@cmd",
    "\tTAB",
    "\rCR",
    "md|pipe*star_`tick`<b>[x](y)",
    "line\nbreak",
]

PAYLOAD_CODE = r"""
from IPython.display import display, HTML, Javascript, SVG, Markdown
display(HTML("<b>SAFE_MARKER_1</b><script>window.PWNED1=1</script><img src=x onerror='window.PWNED2=1'>"
             "<iframe src='https://example.org/PWNED3'></iframe><a href='javascript:window.PWNED4=1'>x</a>"
             "<object data='PWNED5'></object><div style='background:url(PWNED6)' onmouseover='PWNED7'>d</div>"))
display(Javascript("window.PWNED8=1"))
display(SVG('<svg xmlns="http://www.w3.org/2000/svg" onload="window.PWNED9=1"><script>window.PWNED10=1</script></svg>'))
display(Markdown("[m](javascript:window.PWNED11=1) <script>window.PWNED12=1</script>"))
"""
PAYLOAD_MARKDOWN = (
    "SAFE_MARKER_2 <script>window.PWNED13=1</script> [l](javascript:window.PWNED14=1) "
    "[r]: javascript:window.PWNED15=1\n\n<img src=x onerror=window.PWNED16=1> "
    "<iframe src='PWNED17'></iframe> <a href=\"jav&#x61;script:PWNED18\">e</a>"
)


def _tests(nb):
    return [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade")]


def _flipped(kind: str) -> nbformat.NotebookNode:
    nb = syn.student_notebook("blank" if kind == "locked" else "full")
    for cell in _tests(nb):
        meta = cell.metadata["nbgrader"]
        if kind == "grade":
            meta["grade"] = False
        elif kind == "solution":
            meta["solution"] = True
        elif kind == "locked":
            meta["locked"] = False
            cell.source = "pass  # no tests here"
        elif kind == "points":
            meta["points"] = 999
    by_id = {c.metadata.get("nbgrader", {}).get("grade_id"): i for i, c in enumerate(nb.cells)}
    if kind == "grade_id":
        nb.cells[by_id["nb90_square"]].metadata["nbgrader"]["grade_id"] = "nb90_free_points"
    elif kind == "cell_type":
        test = nb.cells[by_id["nb90_circle"]]
        md = nbformat.v4.new_markdown_cell(test.source, metadata=test.metadata)
        md.id = test.id
        nb.cells[by_id["nb90_circle"]] = md
        answer = nb.cells[by_id["nb90_pick_answer"]]
        raw = nbformat.v4.new_raw_cell(answer.source, metadata=answer.metadata)
        raw.id = answer.id
        nb.cells[by_id["nb90_pick_answer"]] = raw
    elif kind == "garbage":
        nb.cells[by_id["nb90_pick"]].metadata["nbgrader"] = "not a table"
    return nb


FLIPS = {  # kind: (score, words in the detail)
    "grade": (6, ["altered", "changed grade of nb90_square"]),
    "solution": (6, ["altered", "changed solution of nb90_pick"]),
    "locked": (0, ["altered", "changed locked of nb90_circle", "edited nb90_circle"]),
    "points": (6, ["altered", "changed points of nb90_square"]),
    "grade_id": (6, ["altered", "deleted nb90_square", "nb90_free_points"]),
    "cell_type": (6, ["altered", "changed cell type of nb90_circle", "changed cell type of nb90_pick_answer"]),
    "garbage": (6, ["altered", "malformed nbgrader metadata", "deleted nb90_pick"]),
}


# what a kernel floods the grader with (--memory 6144: the kernel may hold it; the grader must not).
# The streams are 1 GB and 600 MB, more than the grader's limit (GRADER_PEAK_LIMIT_MB), so a grader
# that kept them would fail; its peak was 113 MB with 2 GB and 144 MB with these, and every byte costs CPU.
# huge_traceback is 8 MB because it must reach the grader: IPython formats a traceback's message in
# more than linear time, and from ~20 MB on the kernel was still formatting at the 20 s cell timeout
# (a 500 MB message never left it). display_flood is sent in messages of 500 KB: messages of 50 KB
# carried the same bytes at 2.5x the CPU.
FLOODS = {
    "flood_stdout": "import sys\nchunk = 'x' * 50_000_000\nfor _ in range(20):\n    sys.stdout.write(chunk)\n",
    "one_huge_print": "print('y' * 400_000_000)",
    "huge_traceback": "raise ValueError('z' * 8_000_000)",
    "display_flood": "from IPython.display import display, HTML, clear_output\n"
    "for i in range(1_200):\n    display(HTML('<p>' + 'w' * 500_000 + '</p>'))\n    clear_output(wait=True)\n",
}
GRADER_PEAK_LIMIT_MB = 500


def _grade_command(course: Path, subs: Path, out: Path, assignment: str, *extra: str, jobs: int = 2) -> list[str]:
    limits = ("--cell-timeout", "20", "--notebook-timeout", "90", "--memory", "6144")
    return grade_command(subs, assignment, out, *limits, *extra, jobs=jobs)


def _grade(
    course: Path, subs: Path, out: Path, assignment: str, *extra: str, env: dict | None = None, jobs: int = 2
) -> subprocess.CompletedProcess:
    return subprocess.run(
        _grade_command(course, subs, out, assignment, *extra, jobs=jobs),
        cwd=course,
        env=env or ENV,
        capture_output=True,
        text=True,
        timeout=900,
    )


def _grade_sampling_memory(course: Path, subs: Path, out: Path, env: dict) -> tuple[subprocess.CompletedProcess, dict]:
    """Grade the class while sampling the resident memory of the grader's own processes (parent and
    forked workers, not the kernels): peak of one process and of all together, in bytes."""
    import psutil

    cmd = _grade_command(course, subs, out, A)
    proc = subprocess.Popen(cmd, cwd=course, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    peak = {"one": 0, "all": 0}

    def sample():
        me = psutil.Process(proc.pid)
        mine = me.cmdline()
        while proc.poll() is None:
            try:
                procs = [me] + [c for c in me.children(recursive=True) if c.cmdline() == mine]
                rss = [p.memory_info().rss for p in procs]
                peak["one"], peak["all"] = max(peak["one"], max(rss)), max(peak["all"], sum(rss))
            except psutil.Error:
                pass
            time.sleep(0.05)

    sampler = threading.Thread(target=sample)
    sampler.start()
    try:
        stdout, stderr = proc.communicate(timeout=900)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
        sampler.join()
    return subprocess.CompletedProcess(cmd, proc.returncode, stdout, stderr), peak


@pytest.fixture(scope="module")
def graded():
    base = Path(tempfile.mkdtemp(prefix="ag-outputs-", dir="/tmp"))
    course, subs, out = base / "course", base / "submissions", base / "out"
    syn.build_course(course)
    full = syn.student_notebook("full")
    w = syn.write_submission
    w(subs, "full", full)
    w(subs, "partial", syn.student_notebook("partial"))
    slow = syn.with_code(full, "import time\ntime.sleep(4)", where="top")  # still grading when killed at 2 s
    w(subs, "victim", slow)  # its worker is killed on every attempt
    w(subs, "flaky", slow)  # its worker is killed on the first attempt only
    for sid in HOSTILE_IDS:
        w(subs, sid, full)
    page = syn.with_code(full, PAYLOAD_CODE, where="top")
    md = nbformat.v4.new_markdown_cell(PAYLOAD_MARKDOWN)
    md.id = "student-markdown"
    page.cells.insert(3, md)
    w(subs, "html", page)
    for kind in FLIPS:
        w(subs, f"flags_{kind}", _flipped(kind))
    for sid, code in FLOODS.items():
        w(subs, sid, syn.with_code(full, code))
    env = dict(ENV, AUTOGRADER_TEST_KILL_WORKER="victim,flaky:1")
    start = time.perf_counter()
    proc, peak = _grade_sampling_memory(course, subs, out, env)
    print(f"graded in {time.perf_counter() - start:.1f} s\n{proc.stdout}\n{proc.stderr[-3000:]}")
    rows = {}
    if (out / "grades.csv").exists():
        with open(out / "grades.csv", newline="", encoding="utf-8") as fh:
            rows = {r["student_id"]: r for r in csv.DictReader(fh)}
    doc = json.loads((out / "grades.json").read_text()) if (out / "grades.json").exists() else {}
    yield {"proc": proc, "rows": rows, "doc": doc, "out": out, "peak": peak}
    shutil.rmtree(base, ignore_errors=True)


def _json_row(graded, sid):
    return next(s for s in graded["doc"]["students"] if s["student_id"] == sid)


# -- one bad submission costs one row ----------------------------------------------------------------
@grading_run
def test_a_dying_worker_fails_only_its_own_submission(graded):
    assert graded["proc"].returncode == 0, graded["proc"].stderr[-3000:]
    victim = _json_row(graded, "victim")
    assert (victim["status"], victim["score"]) == ("error", 0.0)
    assert "died twice" in victim["detail"]
    flaky = _json_row(graded, "flaky")  # died once, graded in a fresh worker
    assert (flaky["status"], flaky["score"]) == ("graded", 6.0), flaky
    assert "graded again after its worker process died" in flaky["detail"]
    others = [s for s in graded["doc"]["students"] if s["student_id"] not in ("victim", "flaky")]
    assert len(others) == len(graded["doc"]["students"]) - 2 >= 15
    assert [s["student_id"] for s in others if s["status"] == "error"] == []
    assert _json_row(graded, "full")["score"] == 6.0 and _json_row(graded, "partial")["score"] == 2.0


# -- safe outputs ------------------------------------------------------------------------------------
@grading_run
def test_grades_json_has_format_version(graded):
    assert graded["doc"]["format_version"] == report.FORMAT_VERSION
    assert set(_json_row(graded, "full")) >= {"student_id", "score", "status", "notebooks"}


@grading_run
def test_csv_never_holds_a_formula(graded):
    with open(graded["out"] / "grades.csv", newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    for row in rows:
        for column in ("student_id", "assignment", "status", "detail"):
            assert row[column][:1] not in ("=", "+", "-", "@", "\t", "\r"), (column, row[column])
    ids = {r["student_id"] for r in rows}
    for sid in HOSTILE_IDS:
        escaped = "'" + sid if sid[:1] in "=+-@\t\r" else sid
        assert escaped in ids, (sid, sorted(ids))
        assert float(graded["rows"][escaped]["score"]) == 6.0
    json_ids = {s["student_id"] for s in graded["doc"]["students"]}
    assert set(HOSTILE_IDS) <= json_ids, "grades.json keeps the real ids"


@grading_run
def test_ci_summary_escapes_markdown(graded):
    proc = subprocess.run(
        [sys.executable, "-m", "autograder", "summary", str(graded["out"])],
        cwd=ROOT,
        env=ENV,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    rows = [line for line in proc.stdout.splitlines() if line.startswith("| ")]
    assert len(rows) == len(graded["doc"]["students"]) + 1  # header + one line per student: no line broken
    header_cells = rows[0].count("|")
    for line in rows:
        unescaped = sum(1 for i, ch in enumerate(line) if ch == "|" and (i == 0 or line[i - 1] != "\\"))
        assert unescaped == header_cells, line
        for ch in "`*_[]<>":
            assert all(line[i - 1] == "\\" for i, c in enumerate(line) if c == ch), (ch, line)
    assert "<b>" not in proc.stdout and "\t" not in proc.stdout and "\r" not in proc.stdout


class _PageScan(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.tag_stack, self.live, self.text = [], [], []

    def handle_starttag(self, tag, attrs):
        self.tag_stack.append(tag)
        if tag in ("iframe", "object", "embed", "svg", "base", "form"):
            self.live.append(f"<{tag}>")
        for name, value in attrs:
            value = value or ""
            if (
                name.startswith("on")
                or "PWNED" in value
                or value.strip().lower().startswith(("javascript:", "vbscript:"))
            ):
                self.live.append(f"<{tag} {name}={value!r}>")

    def handle_endtag(self, tag):
        if self.tag_stack and self.tag_stack[-1] == tag:
            self.tag_stack.pop()

    def handle_data(self, data):
        if self.tag_stack and self.tag_stack[-1] in ("script", "style") and "PWNED" in data:
            self.live.append(f"<{self.tag_stack[-1]}>{data[:80]}")
        self.text.append(data)


@grading_run
def test_feedback_never_runs_student_html_or_javascript(graded):
    page = (graded["out"] / "feedback" / "html" / A / f"{A}.html").read_text(encoding="utf-8")
    scan = _PageScan()
    scan.feed(page)
    assert scan.live == [], scan.live
    text = "".join(scan.text)
    assert "SAFE_MARKER_1" in text and "SAFE_MARKER_2" in text, "harmless student output is still shown"
    assert _json_row(graded, "html")["score"] == 6.0


@grading_run
@pytest.mark.parametrize("kind", sorted(FLIPS))
def test_flipped_nbgrader_flags_are_altered_not_errors(graded, kind):
    score, words = FLIPS[kind]
    row = _json_row(graded, f"flags_{kind}")
    assert (row["status"], row["score"]) == ("graded", score), row
    for word in words:
        assert word in row["detail"], (word, row["detail"])
    assert row["notebooks"][A]["cells"]["nb90_square"]["max_score"] == 2.0  # the release's points, not 999


def test_restore_cells_rebuilds_metadata_from_the_release():
    release = syn.release_notebook()
    nb = _flipped("points")
    for cell in _tests(nb):
        cell.metadata["nbgrader"]["solution"] = True
    changes = worker.restore_cells(nb, release)
    assert changes == [
        "changed solution, points of nb90_square",
        "changed solution, points of nb90_circle",
        "changed solution, points of nb90_pick",
    ]
    want = {
        c.metadata["nbgrader"]["grade_id"]: c.metadata["nbgrader"] for c in release.cells if "nbgrader" in c.metadata
    }
    got = {c.metadata["nbgrader"]["grade_id"]: c.metadata["nbgrader"] for c in nb.cells if "nbgrader" in c.metadata}
    assert got == want


# -- two notebooks, one missing ----------------------------------------------------------------------
@grading_run
def test_two_notebook_submission_with_one_missing_is_graded_not_missing(tmp_path):
    course, subs, out = tmp_path / "course", tmp_path / "subs", tmp_path / "out"
    syn.build_pair_course(course)
    for part in syn.PAIR_PARTS:
        syn.write_submission(subs, "both", syn.pair_student_notebook(part), assignment=syn.PAIR, name=f"{part}.ipynb")
    syn.write_submission(subs, "half", syn.pair_student_notebook("part1"), assignment=syn.PAIR, name="part1.ipynb")
    (subs / "none" / syn.PAIR).mkdir(parents=True)
    proc = _grade(course, subs, out, syn.PAIR)
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = {s["student_id"]: s for s in json.loads((out / "grades.json").read_text())["students"]}
    assert (rows["both"]["status"], rows["both"]["score"], rows["both"]["max_score"]) == ("graded", 12.0, 12.0)
    assert (rows["half"]["status"], rows["half"]["score"]) == ("graded", 6.0), rows["half"]
    assert "part2.ipynb missing" in rows["half"]["detail"]
    assert rows["half"]["notebooks"]["part2"]["status"] == "missing"
    assert (rows["none"]["status"], rows["none"]["score"]) == ("missing", 0.0)
    for row in rows.values():
        assert row["status"] != "missing" or row["score"] == 0, row


@grading_run
def test_grader_memory_stays_bounded_while_kernels_flood(graded):
    one, total = graded["peak"]["one"] >> 20, graded["peak"]["all"] >> 20
    print(f"grader peak RSS while kernels flood: {one} MB in one process, {total} MB for parent + workers")
    assert graded["proc"].returncode == 0, graded["proc"].stderr[-3000:]
    assert one > 0, "the sampler never saw the grader"
    assert set(FLOODS) <= {s["student_id"] for s in graded["doc"]["students"]}
    for sid in FLOODS:  # noisy is not forged: a flood never silences the cells after it (decoys included)
        row = _json_row(graded, sid)
        assert row["status"] not in ("error", "tampered"), row
    assert (_json_row(graded, "full")["status"], _json_row(graded, "full")["score"]) == ("graded", 6.0)
    assert one < GRADER_PEAK_LIMIT_MB, f"a grader process reached {one} MB"
    for sid in FLOODS:
        assert (graded["out"] / "feedback" / sid / A / f"{A}.html").stat().st_size < 5_000_000
    # the traceback reached the grader, which cut it (a kernel still formatting it proves nothing)
    page = (graded["out"] / "feedback" / "huge_traceback" / A / f"{A}.html").read_text()
    assert re.search(r"ValueError</span>: z+\s*\.\.\. \[autograder: cut\]", page), "the 8 MB traceback never arrived"
