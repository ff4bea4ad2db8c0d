"""Grading a class across CI runners: shards, merge, export, roster and collect; a real assignment end to end.

The sample class of 01-workspace (autograder/samples/, five students) is graded once whole, with a
sixth student who forges with a one-liner, and once as two shards merged. The whole run proves the
sandbox runs a real course notebook (data, dp100, MLflow) to full marks with the decoys in, and catches
the forgery; for the five, the merged grades.csv and grades.json must equal the whole run's, apart from
timing fields (the forger is left out of the shards: its detail names decoys drawn afresh each run);
feedback/ holds the same pages with the same scores, each page byte for byte the one its shard wrote (a page
shows the student's own output: sandbox paths and clock times differ run to run). The nbgrader-layout
export must equal what `nbgrader export` writes from the instructor gradebook of the same run.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from conftest import ROOT

from autograder import collect, export, shard
from autograder import synthetic as syn
from autograder.cli import main
from autograder.errors import SetupError

A = "01-workspace"
SAMPLES = ROOT / "autograder" / "samples" / A
SHARDS = 2  # the five students fall in both: a merge of shards, each with students of its own
FORGERY = 'get_ipython().input_transformers_post.append(lambda lines: ["pass\\n"])'
pytestmark = pytest.mark.xdist_group("test_class_grading")  # the class graded once below: one worker builds it


def grading_run(test):
    """A test that reads the class graded by the module fixture (--jobs 2: a uid per submission, root)."""
    return pytest.mark.slow(pytest.mark.grading(pytest.mark.root(test)))


def _cli(*args, cwd=ROOT) -> subprocess.CompletedProcess:
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    return subprocess.run(
        [sys.executable, "-m", "autograder", *map(str, args)],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=1800,
    )


def _main(*args) -> tuple[int, str, str]:
    """(exit code, stdout, stderr) of a light sub-command (merge, export, roster), in this process."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main([str(a) for a in args])
    return code, out.getvalue(), err.getvalue()


def _without_timing(value):
    if isinstance(value, dict):
        return {k: _without_timing(v) for k, v in value.items() if k not in shard.TIMING_FIELDS}
    if isinstance(value, list):
        return [_without_timing(v) for v in value]
    return value


def _csv_without_seconds(path: Path) -> list[dict]:
    rows = list(csv.DictReader(path.open(encoding="utf-8")))
    return [{k: v for k, v in r.items() if k != "seconds"} for r in rows if r["student_id"] != "forgery"]


def _json_without_timing(path: Path) -> dict:
    doc = _without_timing(json.loads(path.read_text()))
    doc["students"] = [s for s in doc["students"] if s["student_id"] != "forgery"]
    return doc


def _feedback_files(out: Path) -> list[Path]:
    return sorted(
        p.relative_to(out / "feedback")
        for p in (out / "feedback").rglob("*")
        if p.is_file() and p.relative_to(out / "feedback").parts[0] != "forgery"
    )


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("class")
    subs = tmp / "subs"
    shutil.copytree(SAMPLES, subs)
    nb = nbformat.read(SAMPLES / "blank" / A / f"{A}.ipynb", as_version=4)
    first = next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("solution") and c.cell_type == "code")
    first.source = FORGERY  # every later cell runs as `pass`: the checks too
    syn.write_submission(subs, "forgery", nb, A)
    whole = _cli(
        "grade", subs, "--assignment", A, "--out", tmp / "whole", "--jobs", 2, "--instructor-dir", tmp / "instructor"
    )
    assert whole.returncode == 0, whole.stderr[-3000:]
    outs = []
    for k in range(1, SHARDS + 1):
        run = _cli(
            "grade", SAMPLES, "--assignment", A, "--out", tmp / f"shard-{k}", "--jobs", 2, "--shard", f"{k}/{SHARDS}"
        )
        assert run.returncode == 0, run.stderr[-3000:]
        outs.append(tmp / f"shard-{k}")
    code, _, err = _main("merge", *outs, "--out", tmp / "merged")
    assert code == 0, err[-3000:]
    return tmp, outs


@grading_run
def test_real_assignment_sample_class_and_one_forgery(graded):
    """The sandbox runs a real course notebook (data, dp100, MLflow) to full marks; the decoys leave
    the sample class its scores, and the one-liner forgery is caught."""
    tmp, _ = graded
    rows = {r["student_id"]: r for r in csv.DictReader(open(tmp / "whole" / "grades.csv", encoding="utf-8"))}
    assert sorted(rows) == ["blank", "broken", "forgery", "full", "partial", "tampered"]
    total = float(rows["full"]["max_score"])
    assert total > 0
    assert (float(rows["full"]["score"]), rows["full"]["status"], rows["full"]["detail"]) == (total, "graded", ""), (
        rows["full"]
    )
    assert (float(rows["blank"]["score"]), rows["blank"]["status"]) == (0.0, "graded"), rows["blank"]
    assert rows["partial"]["status"] == "graded" and 0 < float(rows["partial"]["score"]) < total, rows["partial"]
    assert (float(rows["tampered"]["score"]), rows["tampered"]["status"]) == (0.0, "graded")
    assert "altered" in rows["tampered"]["detail"]
    assert rows["broken"]["status"] == "invalid_notebook"
    assert (float(rows["forgery"]["score"]), rows["forgery"]["status"]) == (0.0, "tampered"), rows["forgery"]
    assert "decoy" in rows["forgery"]["detail"]


@grading_run
def test_each_student_is_graded_in_exactly_one_shard(graded):
    tmp, outs = graded
    per_shard = [{s["student_id"] for s in json.loads((o / "grades.json").read_text())["students"]} for o in outs]
    everyone = {s["student_id"] for s in json.loads((tmp / "whole" / "grades.json").read_text())["students"]}
    assert sorted(s for part in per_shard for s in part) == sorted(everyone - {"forgery"})
    assert sum(1 for part in per_shard if part) >= 2, f"the sample class landed in one shard: {per_shard}"


@grading_run
def test_merged_shards_equal_the_unsharded_run(graded):
    tmp, outs = graded
    whole, merged = tmp / "whole", tmp / "merged"
    assert _csv_without_seconds(merged / "grades.csv") == _csv_without_seconds(whole / "grades.csv")
    assert len(_csv_without_seconds(merged / "grades.csv")) == 5
    assert _json_without_timing(merged / "grades.json") == _json_without_timing(whole / "grades.json")
    files_a, files_b = _feedback_files(whole), _feedback_files(merged)
    assert files_b == files_a and files_a
    assert (merged / "feedback").is_dir() and not (merged / "feedback" / "forgery").exists()
    # A feedback page shows what the student's code printed (its sandbox's paths, clock times, plots):
    # two gradings of one notebook never give the same bytes. The merge must hand over each shard's
    # page unchanged, and every page must carry the same scores as the unsharded run's.
    shard_pages = {p.relative_to(o / "feedback"): p for o in outs for p in (o / "feedback").rglob("*.html")}
    assert sorted(shard_pages) == files_a
    for rel in files_a:
        assert (merged / "feedback" / rel).read_bytes() == shard_pages[rel].read_bytes(), rel
        score_lines = lambda path: re.findall(r"Score: [0-9.]+ / [0-9.]+", path.read_text())  # noqa: E731
        assert score_lines(merged / "feedback" / rel) == score_lines(whole / "feedback" / rel), rel


@grading_run
def test_export_matches_nbgrader_export(graded, tmp_path):
    tmp, _ = graded
    config = tmp_path / "nbgrader_config.py"
    config.write_text(
        f"c = get_config()\nc.CourseDirectory.root = {str(tmp_path)!r}\n"
        f"c.CourseDirectory.db_url = 'sqlite:///{tmp / 'instructor' / 'gradebook.db'}'\n"
    )
    theirs = tmp_path / "nbgrader.csv"
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    run = subprocess.run(
        [sys.executable, "-m", "nbgrader", "export", "--to", str(theirs)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    code, ours, err = _main("export", tmp / "whole", "--format", "nbgrader")
    assert code == 0, err
    assert ours == theirs.read_text(), f"ours:\n{ours}\nnbgrader export:\n{theirs.read_text()}"
    wide = list(csv.reader(io.StringIO(_main("export", tmp / "whole", "--format", "wide")[1])))
    assert wide[0] == ["student_id", A, "total", "max_total"] and len(wide) == 1 + 6


@grading_run
def test_merge_refuses_what_cannot_be_one_class(graded, tmp_path):
    tmp, outs = graded
    code, _, err = _main("merge", outs[0], outs[0], "--out", tmp_path / "m")
    non_empty = [o for o in outs if json.loads((o / "grades.json").read_text())["students"]]
    assert code == 2 and ("in both" in err or not json.loads((outs[0] / "grades.json").read_text())["students"])
    assert non_empty
    code, _, err = _main("merge", tmp_path / "nothing-here", "--out", tmp_path / "m2")
    assert code == 2 and "no grades.json" in err


def test_shards_are_stable_and_cover_everyone():
    ids = [f"student-{i:03d}" for i in range(200)]
    first = {s: shard.shard_of(s, 7) for s in ids}
    assert {s: shard.shard_of(s, 7) for s in reversed(ids)} == first  # order and company do not matter
    assert sorted(s for k in range(1, 8) for s in shard.select(ids, (k, 7))) == sorted(ids)
    assert min(list(first.values()).count(k) for k in range(1, 8)) > 10  # no empty or starved shard
    for bad in ("0/3", "4/3", "3", "a/b", ""):
        with pytest.raises(SetupError):
            shard.parse(bad)


def test_plan_keeps_each_shard_within_budget():
    for students in (10, 100, 300, 1000):
        p = shard.plan(students, seconds_per_notebook=30, jobs_per_runner=2, budget_minutes=30)
        assert p["minutes_per_shard"] <= 30, p
    assert shard.plan(1000, 30)["shards"] > shard.plan(300, 30)["shards"] > shard.plan(25, 30)["shards"] == 1


def test_collect_takes_only_the_assignment_notebooks(tmp_path):
    roster_file = tmp_path / "roster.csv"
    roster_file.write_text("student_id,repository\nada,org/a-ada\ngrace,org/a-grace\nlinus,org/a-linus\n")
    roster = collect.read_roster(roster_file)
    ada = tmp_path / "checkouts" / "ada"
    (ada / A).mkdir(parents=True)
    (ada / A / f"{A}.ipynb").write_text("{}")
    (ada / A / "helper.py").write_text("import os")
    (ada / ".github" / "workflows").mkdir(parents=True)
    (ada / ".github" / "workflows" / "steal.yml").write_text("on: push")
    (ada / "02-experiments").mkdir()
    (ada / "02-experiments" / "02-experiments.ipynb").write_text("{}")
    (ada / A / "link.ipynb").symlink_to("/etc/passwd")
    (tmp_path / "checkouts" / "grace").mkdir()
    (tmp_path / "checkouts" / "grace" / "README.md").write_text("nothing yet")
    done = {c.student_id: c for c in collect.collect(roster, tmp_path / "checkouts", A, tmp_path / "subs")}
    assert done["ada"].notebooks == [f"{A}/{A}.ipynb"]
    assert sorted(done["ada"].ignored) == sorted(
        [
            f"{A}/helper.py",
            ".github/workflows/steal.yml",
            "02-experiments/02-experiments.ipynb",
            f"{A}/link.ipynb (not a regular file)",
        ]
    )
    assert sorted(p.name for p in (tmp_path / "subs" / "ada" / A).iterdir()) == [f"{A}.ipynb"]
    assert done["grace"].notebooks == [] and done["grace"].ignored == ["README.md"]
    assert done["linus"].problem == "no checkout of org/a-linus"
    assert (tmp_path / "subs" / "linus" / A).is_dir()  # an empty folder: the grader writes a missing row
    lines = collect.summary(done.values())
    assert any("ada: ignored 4 file(s)" in line for line in lines)


@pytest.mark.parametrize(
    "text, error",
    [
        ("id,repo\nada,org/x\n", "needs a header"),
        ("student_id,repository\n../../etc,org/x\n", "line 2: student_id"),
        ("student_id,repository\nada,not a repo\n", "line 2: repository"),
        ("student_id,repository\nada,org/x\nada,org/y\n", "line 3: student_id ada appears twice"),
    ],
)
def test_roster_errors_name_the_line(tmp_path, text, error):
    path = tmp_path / "roster.csv"
    path.write_text(text)
    with pytest.raises(SetupError, match=error.replace("(", r"\(")):
        collect.read_roster(path)


def test_roster_command_lists_one_shard(tmp_path):
    path = tmp_path / "roster.csv"
    path.write_text("student_id,repository\n" + "".join(f"s{i},org/r{i}\n" for i in range(20)))
    lines = [_main("roster", path, "--shard", f"{k}/3")[1].split() for k in (1, 2, 3)]
    ids = [tok for part in lines for tok in part[0::2]]
    assert sorted(ids) == sorted(f"s{i}" for i in range(20))


def test_export_and_summary_escape_what_a_student_chose(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    doc = {
        "assignment": A,
        "max_score": 19.0,
        "students": [
            {
                "student_id": '=HYPERLINK("http://x")',
                "assignment": A,
                "score": 1.0,
                "max_score": 19.0,
                "status": "graded",
                "detail": "| injected | [link](http://x) <script>",
                "notebooks": {},
            }
        ],
    }
    (out / "grades.json").write_text(json.dumps(doc))
    rows = list(csv.reader(io.StringIO(export.nbgrader_csv([out]))))
    assert rows[1][3].startswith("'=")
    md = export.markdown_summary([out])
    table_row = [line for line in md.splitlines() if "HYPERLINK" in line][0]
    assert table_row.count("|") - table_row.count("\\|") == 5  # the detail did not add columns
    assert "<script>" not in md and "](http" not in md
