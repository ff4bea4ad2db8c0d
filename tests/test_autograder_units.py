"""Unit tests of the autograder's pieces: intake, tamper restore, redaction, launcher, isolation plan."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from conftest import ROOT

from autograder import bwrap, feedback, intake, sandbox, worker
from autograder import synthetic as syn
from autograder.cli import parser
from autograder.runner import isolation_plan

IDS = {"nb90_square", "nb90_square_answer", "nb90_circle", "nb90_circle_answer", "nb90_pick", "nb90_pick_answer"}


# -- intake -------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "content, words",
    [
        (b"", "is empty"),
        (b"\xff\xfe\x00binary", "not UTF-8 text (byte 0xff at offset 0)"),
        (b'{"cells": [', "not valid JSON"),
        (b"[1, 2, 3]", "not a Jupyter notebook"),
        (b'{"cells": [], "nbformat": 3, "metadata": {}}', "notebook format 3"),
        (
            b'{"cells": [{"cell_type": "weird"}], "nbformat": 4, "nbformat_minor": 5, "metadata": {}}',
            "not a valid notebook",
        ),
    ],
)
def test_read_notebook_rejects_bad_files_with_reason(tmp_path, content, words):
    path = tmp_path / "x.ipynb"
    path.write_bytes(content)
    with pytest.raises(intake.IntakeProblem) as err:
        intake.read_notebook(path, IDS, "python3")
    assert err.value.status == "invalid_notebook"
    assert words in err.value.detail


def test_read_notebook_accepts_a_submission_and_notes_a_foreign_kernel(tmp_path):
    nb = syn.student_notebook("full")
    nb.metadata["kernelspec"]["name"] = "conda-env-py"
    path = tmp_path / "x.ipynb"
    nbformat.write(nb, path)
    got, notes = intake.read_notebook(path, IDS, "python3")
    assert len(got.cells) == len(nb.cells)
    assert notes == ["kernel 'conda-env-py' replaced by the course kernel 'python3'"]


def test_read_notebook_repairs_invalid_metadata_and_says_so(tmp_path):
    nb = json.loads(nbformat.writes(syn.student_notebook("full")))
    nb["cells"][1]["metadata"]["collapsed"] = "yes"  # the schema wants a boolean
    path = tmp_path / "x.ipynb"
    path.write_text(json.dumps(nb))
    got, notes = intake.read_notebook(path, IDS, "python3")
    assert "collapsed" not in got.cells[1].metadata and len(got.cells) == len(nb["cells"])
    assert notes == ["notebook structure repaired (invalid metadata removed)"]


def test_read_notebook_rejects_another_assignment(tmp_path):
    nb = syn.student_notebook("full")
    for c in nb.cells:
        if "nbgrader" in c.metadata:
            c.metadata["nbgrader"]["grade_id"] = c.metadata["nbgrader"]["grade_id"].replace("nb90", "nb03")
    path = tmp_path / "x.ipynb"
    nbformat.write(nb, path)
    with pytest.raises(intake.IntakeProblem, match="belongs to another assignment"):
        intake.read_notebook(path, IDS, "python3")


def test_locate_layouts(tmp_path):
    subs = tmp_path / "subs"
    syn.write_submission(subs, "ok", syn.student_notebook())
    syn.write_submission(subs, "renamed", syn.student_notebook(), name="Copy1.ipynb")
    (subs / "flat").mkdir()
    nbformat.write(syn.student_notebook(), subs / "flat" / "90-tiny.ipynb")
    (subs / "nothing" / "90-tiny").mkdir(parents=True)
    (subs / "nothing" / "90-tiny" / "notes.txt").write_text("hi")
    (subs / ".hidden").mkdir()
    assert intake.find_students(subs) == ["flat", "nothing", "ok", "renamed"]
    ok = intake.locate(0, subs / "ok", "90-tiny", ["90-tiny"])
    assert ok.problem is None and ok.notebooks["90-tiny"].name == "90-tiny.ipynb"
    ren = intake.locate(1, subs / "renamed", "90-tiny", ["90-tiny"])
    assert ren.notebooks["90-tiny"].name == "Copy1.ipynb" and "graded Copy1.ipynb as 90-tiny.ipynb" in ren.notes
    flat = intake.locate(2, subs / "flat", "90-tiny", ["90-tiny"])
    assert flat.problem is None and flat.folder == subs / "flat"
    nothing = intake.locate(3, subs / "nothing", "90-tiny", ["90-tiny"])
    assert nothing.problem == ("missing", "no notebook 90-tiny.ipynb in nothing/90-tiny/: it holds notes.txt")


# -- tamper restore -----------------------------------------------------------------------------
def test_restore_cells_puts_deleted_cells_back_in_place_and_reports_edits():
    release = syn.release_notebook()
    nb = syn.student_notebook("full")
    nb.cells = [
        c
        for c in nb.cells
        if c.metadata.get("nbgrader", {}).get("grade_id") not in ("nb90_square", "nb90_circle_answer")
    ]
    for c in nb.cells:
        if c.metadata.get("nbgrader", {}).get("grade_id") == "nb90_pick":
            c.source = "pass"
    changes = worker.restore_cells(nb, release)
    assert changes == ["deleted nb90_square", "deleted nb90_circle_answer", "edited nb90_pick"]
    order = [c.metadata.get("nbgrader", {}).get("grade_id") for c in nb.cells]
    assert order == [
        None,
        None,
        "nb90_square_answer",
        "nb90_square",
        "nb90_circle_answer",
        "nb90_circle",
        "nb90_pick_answer",
        "nb90_pick",
    ]


def test_restore_cells_leaves_an_intact_notebook_alone():
    nb = syn.student_notebook("full")
    before = json.dumps(nb)
    assert worker.restore_cells(nb, syn.release_notebook()) == []
    assert json.dumps(nb) == before


# -- redaction ----------------------------------------------------------------------------------
@pytest.fixture
def hidden():
    return feedback.HiddenTests.from_notebooks(syn.source_notebook(secret="S3CRET_abc"), syn.release_notebook())


def test_hidden_tests_extracted(hidden):
    assert set(hidden.full_source) == {"nb90_square", "nb90_circle", "nb90_pick"}
    assert hidden.hidden_lines["nb90_pick"] == ["assert q_pick == 'b', 'S3CRET_abc: wrong option'"]
    assert hidden.visible["nb90_pick"] == "assert q_pick in ('a', 'b', 'c'), 'answer with one letter'"
    assert hidden.hidden_line_numbers("nb90_pick") == {2, 3, 4}


LINE = "assert square(-4) == 16, 'S3CRET_abc: negative numbers'"


@pytest.mark.parametrize(
    "text",
    [
        LINE,
        "\x1b[0;32massert\x1b[0m square(\x1b[0;34m-4\x1b[0m) == 16, 'S3CRET_abc: negative numbers'",
        repr(["", "x = 1", "assert square(3) == 9\n### BEGIN HIDDEN TESTS\n" + LINE]),
        "&lt;code&gt;assert square(-4) == 16, &#x27;S3CRET_abc: negative numbers&#x27;",
        "blob " + base64.b64encode(LINE.encode()).decode(),
        "hex " + LINE.encode().hex(),
        "### BEGIN HIDDEN TESTS",
    ],
)
def test_leaks_detected_in_every_disguise(hidden, text):
    assert hidden.leaks(text)
    red, n = hidden.redact_text("before\n" + text + "\nafter")
    assert n >= 1 and red.startswith("before\n") and red.endswith("\nafter") and "S3CRET" not in red


def test_hidden_line_the_release_already_shows_is_not_a_leak():
    source, release = syn.source_notebook(secret="S3CRET_abc"), syn.release_notebook()
    intro = nbformat.v4.new_markdown_cell("A check looks like `assert q_pick == 'b', 'S3CRET_abc: wrong option'`.")
    release.cells.insert(0, intro)
    ht = feedback.HiddenTests.from_notebooks(source, release)
    assert not ht.leaks("assert q_pick == 'b', 'S3CRET_abc: wrong option'")
    assert ht.leaks(LINE)


def test_ordinary_output_is_not_redacted(hidden):
    text = "square(3) = 9\nassert square(3) == 9, 'square(3) should be 9'\naccuracy 0.93"
    assert hidden.redact_text(text) == (text, 0)


def test_redact_notebook_summarises_hidden_test_cells(hidden):
    nb = syn.source_notebook(secret="S3CRET_abc")
    for c in nb.cells:
        gid = c.metadata.get("nbgrader", {}).get("grade_id")
        if gid == "nb90_square":  # failed in a hidden line (line 3 of the executed cell)
            c.outputs = [
                nbformat.v4.new_output(
                    "error",
                    ename="AssertionError",
                    evalue="S3CRET_abc: negative numbers",
                    traceback=["Cell In[4], line 3", LINE],
                )
            ]
        elif gid == "nb90_circle":  # failed in the visible line
            c.outputs = [
                nbformat.v4.new_output(
                    "error",
                    ename="NameError",
                    evalue="name 'circle_area' is not defined",
                    traceback=["Cell In[6], line 1"],
                )
            ]
        elif gid == "nb90_pick":  # passed, but a hook printed the cell
            c.outputs = [nbformat.v4.new_output("stream", name="stdout", text=c.source)]
        elif gid == "nb90_square_answer":
            c.outputs = [nbformat.v4.new_output("stream", name="stdout", text="hook: " + LINE + "\nmine: 42\n")]
    scores = {"nb90_square": (0.0, 2.0), "nb90_circle": (0.0, 3.0), "nb90_pick": (1.0, 1.0)}
    n = feedback.redact_notebook(nb, hidden, scores)
    dump = json.dumps(nb)
    assert "S3CRET" not in dump and "BEGIN HIDDEN" not in dump
    assert n == 1 and "mine: 42" in dump
    by_id = {c.metadata.get("nbgrader", {}).get("grade_id"): c for c in nb.cells}
    assert by_id["nb90_square"].outputs[0].ename == "HiddenTestFailed"
    assert by_id["nb90_circle"].outputs[0].ename == "NameError"
    assert "in the visible check: assert abs(circle_area(1)" in by_id["nb90_circle"].outputs[0].traceback[1]
    assert by_id["nb90_pick"].outputs[0].text.startswith("All checks passed")
    assert by_id["nb90_pick"].source.endswith("# (hidden checks ran here; they are not shown)")


# -- sandbox pieces -----------------------------------------------------------------------------
def test_copy_tree_skips_symlinks_and_special_files(tmp_path):
    src, dest = tmp_path / "src", tmp_path / "dest"
    (src / "sub").mkdir(parents=True)
    (src / "a.txt").write_text("a")
    (src / "sub" / "b.txt").write_text("b")
    (src / "link").symlink_to("/etc/passwd")
    (src / "dirlink").symlink_to(tmp_path)
    os.mkfifo(src / "fifo")
    dest.mkdir()
    skipped = []
    sandbox._copy_tree(src, dest, skipped)
    assert sorted(p.relative_to(dest).as_posix() for p in dest.rglob("*")) == ["a.txt", "sub", "sub/b.txt"]
    assert sorted(skipped) == ["dirlink (symlink)", "fifo (not a regular file)", "link (symlink: not followed)"]


def test_kernel_env_is_clean(tmp_path, monkeypatch):
    monkeypatch.setenv("GITHUB_TOKEN", "ghs_secret")
    box = sandbox.Box(tmp_path, 1234, 1234, tmp_path / "log")
    env = sandbox.kernel_env(box, Path("/data"), 1)
    assert "GITHUB_TOKEN" not in env and env["HOME"] == str(tmp_path) and env["DP100_DATA"] == "/data"
    assert env["OMP_NUM_THREADS"] == "1"
    assert env["USER"] == env["LOGNAME"] == "student"  # getpass.getuser() (MLflow) without a passwd entry


def test_isolation_plan_hides_course_and_exposes_the_interpreter(tmp_path):
    course = tmp_path / "course"
    course.mkdir()
    hide, expose = isolation_plan(course, tmp_path / "priv", tmp_path / "subs", tmp_path / "out", ROOT / "data")
    assert hide[:4] == [p.resolve() for p in (course, tmp_path / "priv", tmp_path / "subs", tmp_path / "out")]
    assert Path(sys.prefix).resolve() in expose and (ROOT / "data").resolve() in expose
    for path in expose:  # anything on the way to a needed path that others cannot traverse is replaced
        blocked = [p for p in path.parents if p != Path("/") and not os.stat(p).st_mode & 0o001]
        assert all(any(b == h for h in hide) for b in blocked[-1:]), (path, blocked)


def test_world_reachable_and_protect(tmp_path):
    import shutil
    import tempfile

    base = Path(tempfile.mkdtemp(dir="/tmp"))
    try:
        os.chmod(base, 0o755)
        d = base / "source"
        d.mkdir()
        os.chmod(d, 0o755)
        assert sandbox.world_reachable(d)
        assert not sandbox.world_reachable(tmp_path / "nope")
        assert sandbox.protect_by_permissions([d, base / "missing"]) == [f"chmod o-rwx {d}"]
        assert not sandbox.world_reachable(d)
        assert sandbox.protect_by_permissions([d]) == []
    finally:
        shutil.rmtree(base)


def test_launcher_sets_limits_and_logs_without_touching_the_work_dir(tmp_path):
    """The launcher only redirects output, joins cgroups and sets rlimits; uid and mounts are
    bubblewrap's and setpriv's (tests/test_isolation.py)."""
    code = (
        "import os, resource\n"
        "print(resource.getrlimit(resource.RLIMIT_AS)[0] // 2**20, resource.getrlimit(resource.RLIMIT_CORE)[0])\n"
        "print(oct(os.umask(0)))\n"
        "try:\n    bytearray(2 * 1024 ** 3)\nexcept MemoryError:\n    print('MemoryError')\n"
    )
    log = tmp_path / "log"
    proc = subprocess.run(
        [
            sys.executable,
            str(ROOT / "autograder" / "launcher.py"),
            "--log",
            str(log),
            "--memory-mb",
            "512",
            "--",
            sys.executable,
            "-c",
            code,
        ],
        timeout=60,
    )
    assert proc.returncode == 0
    assert log.read_text().splitlines() == ["512 0", "0o77", "MemoryError"]
    (tmp_path / "evil").symlink_to(tmp_path / "victim")
    proc = subprocess.run(
        [sys.executable, str(ROOT / "autograder" / "launcher.py"), "--log", str(tmp_path / "evil"), "--", "true"],
        capture_output=True,
        timeout=60,
    )
    assert proc.returncode != 0 and not (tmp_path / "victim").exists()  # O_NOFOLLOW


# -- command line -------------------------------------------------------------------------------
def test_cli_contract_options():
    p = parser()
    args = p.parse_args(
        [
            "grade",
            "S",
            "--assignment",
            "01-x",
            "--out",
            "O",
            "--jobs",
            "3",
            "--cell-timeout",
            "5",
            "--notebook-timeout",
            "60",
            "--memory",
            "2048",
        ]
    )
    assert (
        args.command,
        str(args.submissions),
        args.assignment,
        str(args.out),
        args.jobs,
        args.cell_timeout,
        args.notebook_timeout,
        args.memory,
    ) == ("grade", "S", "01-x", "O", 3, 5, 60, 2048)
    one = p.parse_args(["grade-one", "nb.ipynb", "--assignment", "01-x", "--out", "O"])
    assert (one.command, str(one.path)) == ("grade-one", "nb.ipynb")
    assert p.parse_args(["grade", "S", "--assignment", "a", "--out", "O"]).jobs == (os.cpu_count() or 1)


@pytest.mark.skipif(
    os.geteuid() != 0 and os.environ.get("CI", "").lower() not in ("1", "true", "yes"),
    reason="needs root to run processes as another uid (CI runs the tests as root)",
)
@pytest.mark.root
def test_kill_uid_kills_every_process_of_that_uid_and_no_other():
    """What the grader does to a submission's leftovers and the workshop hub's teardown to its users."""
    import threading
    import time

    import psutil

    uid = 200_000 + os.getpid() % 999  # below every sandbox's uid range (sandbox.probe: 201_000 and up)
    procs = [
        subprocess.Popen([bwrap.SETPRIV, f"--reuid={u}", f"--regid={u}", "--clear-groups", "sleep", "60"])
        for u in (uid, uid, uid + 1)
    ]
    try:
        for p in procs:  # reaped as soon as they die, as the hub's init reaps its users' processes
            threading.Thread(target=p.wait, daemon=True).start()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not all(
            psutil.Process(p.pid).uids().real != 0 for p in procs if p.poll() is None
        ):
            time.sleep(0.05)  # setpriv has switched uid
        assert sandbox.kill_uid(0, wait=1) == 0 and sandbox.kill_uid(os.getuid()) == 0
        assert sandbox.kill_uid(uid, wait=10) == 2
        assert [p.wait(timeout=5) for p in procs[:2]] == [-9, -9]
        assert procs[2].poll() is None, "a process of another uid was killed"
        assert not [q for q in psutil.process_iter(["uids"]) if q.info["uids"] and q.info["uids"].real == uid]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()


def test_light_ci_commands_run_with_the_standard_library_only(tmp_path):
    """`roster`, `plan` and `collect` run in CI before the course's stack is installed."""
    roster = tmp_path / "roster.csv"
    roster.write_text("student_id,repository\nada,org/a-ada\n")
    (tmp_path / "checkouts" / "ada" / "01-x").mkdir(parents=True)
    (tmp_path / "checkouts" / "ada" / "01-x" / "01-x.ipynb").write_text("{}")
    code = (
        "import sys\n"
        "for name in ('nbformat', 'nbgrader', 'nbclient', 'nbconvert', 'jupyter_client', 'traitlets', 'zmq',\n"
        "             'psutil', 'bleach', 'sqlalchemy'):\n"
        "    sys.modules[name] = None   # importing any of them now fails\n"
        "from autograder.cli import main\n"
        f"for argv in (['roster', {str(roster)!r}], ['plan', '--students', '40'],\n"
        f"             ['collect', {str(roster)!r}, {str(tmp_path / 'checkouts')!r}, '--assignment', '01-x',\n"
        f"              '--to', {str(tmp_path / 'subs')!r}]):\n"
        "    assert main(argv) == 0, argv\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "subs" / "ada" / "01-x" / "01-x.ipynb").is_file()


# -- course files -------------------------------------------------------------------------------
def test_course_files_find_assignments_cells_and_regions(tmp_path):
    from autograder import course_files as cf

    syn.build_course(tmp_path)
    (tmp_path / "source" / "notes").mkdir()  # a folder without notes/notes.ipynb is no assignment
    assert cf.assignments(tmp_path) == [syn.ASSIGNMENT] and cf.assignments(tmp_path, released=True) == []
    nb = cf.read(cf.notebook_path(tmp_path, syn.ASSIGNMENT))
    assert list(cf.check_cells(nb)) == list(syn.ANSWERS)
    assert list(cf.answer_cells(nb)) == [cf.answer_id(name) for name in syn.ANSWERS]
    assert cf.graded_points(nb) == {name: points for name, (_, points, _, _) in syn.ANSWERS.items()}
    hints, code = cf.solution_parts("### BEGIN SOLUTION\n# HINT: square it\nx = 2 ** 2\n### END SOLUTION")
    assert (hints, code) == (["square it"], "x = 2 ** 2")
    test = cf.check_cells(nb)["nb90_pick"].source
    assert cf.visible_part(test) == syn.ANSWERS["nb90_pick"][2]
    assert cf.hidden_lines(test) == [syn.ANSWERS["nb90_pick"][3].format(secret=syn.SECRET)]
    assert cf.canonical(nb) == cf.canonical(cf.clone(nb)) and cf.canonical(nb).endswith("}\n")


# -- a new gradebook without nbgrader's alembic subprocess ---------------------------------------
def test_new_gradebook_is_stamped_with_the_in_process_alembic_head(tmp_path, monkeypatch):
    import nbgrader
    import nbgrader.api
    from sqlalchemy import create_engine, text

    from autograder import gradebook

    theirs = getattr(nbgrader.api, "get_alembic_version", None)
    seam = "Gradebook.__init__ stamps a new gradebook with nbgrader.api.get_alembic_version()"
    assert theirs is not None and "get_alembic_version" in nbgrader.api.Gradebook.__init__.__code__.co_names, (
        f"nbgrader {nbgrader.__version__} changed: {seam} no longer holds; autograder/gradebook.py "
        "alembic_head_in_process() now does nothing (each run pays an alembic subprocess again)"
    )
    monkeypatch.setenv("PATH", str(tmp_path))  # no `alembic` to run: only the in-process head can stamp it
    with gradebook.alembic_head_in_process():
        nbgrader.api.Gradebook(f"sqlite:///{tmp_path / 'gradebook.db'}").close()
    assert nbgrader.api.get_alembic_version is theirs  # put back
    with create_engine(f"sqlite:///{tmp_path / 'gradebook.db'}").connect() as db:
        stamped = db.execute(text("SELECT version_num FROM alembic_version")).scalars().all()
    assert stamped == [gradebook.alembic_head()]


@pytest.mark.slow
def test_in_process_alembic_head_is_what_nbgrader_asks_alembic_for(monkeypatch):
    """nbgrader's own answer, from its `alembic heads` subprocess (seconds: hence slow)."""
    import nbgrader.api

    from autograder import gradebook

    monkeypatch.setenv("PATH", f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    assert gradebook.alembic_head() == nbgrader.api.get_alembic_version()
