"""Command line (the contract instructors' CI scripts depend on; see docs/grading.md).

    python -m autograder grade SUBMISSIONS --assignment ID --out OUT [--jobs N]
                            [--cell-timeout S] [--notebook-timeout S] [--memory MB]
    python -m autograder grade-one NOTEBOOK_OR_DIR --assignment ID --out OUT
    python -m autograder demo [--out DIR]      # grade autograder/samples/* and print the tables

Class-scale CI (docs/grading.md, "Grading a class in CI"):
    python -m autograder grade ... --shard K/N   # grade only shard K of N (stable hash of the student id)
    python -m autograder merge OUT_1 ... OUT_N --out OUT
    python -m autograder export OUT [OUT ...] [--format nbgrader|wide] [--to FILE]
    python -m autograder summary OUT [OUT ...]                   # Markdown table for the CI job summary
    python -m autograder roster ROSTER.csv [--shard K/N]         # "student_id repository" lines to clone
    python -m autograder collect ROSTER.csv CHECKOUTS --assignment ID --to SUBMISSIONS [--shard K/N]
    python -m autograder plan --students N [--seconds-per-notebook S] [--budget-minutes M]

Exit status: 0 when every submission was processed (whatever the scores); 2 when the grader
cannot run (bad arguments, no such assignment, nbgrader failed), with a message on stderr.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from pathlib import Path

from . import collect, export, report, shard
from .errors import SetupError

PACKAGE = Path(__file__).resolve().parent


def _positive(kind):
    def conv(text):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
        if value <= 0:
            raise argparse.ArgumentTypeError(f"{text!r} must be greater than 0")
        return value

    return conv


def _assignment_and_out(p: argparse.ArgumentParser) -> None:
    p.add_argument("--assignment", required=True, metavar="ID")
    p.add_argument("--out", required=True, type=Path, metavar="OUT")


def _limits(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--jobs",
        type=_positive(int),
        default=os.cpu_count() or 1,
        help="submissions graded at once (default: CPU count)",
    )
    p.add_argument(
        "--cell-timeout",
        type=_positive(int),
        default=None,
        help="seconds per cell (default: nbgrader_config.py's Execute.timeout, else 120)",
    )
    p.add_argument(
        "--notebook-timeout",
        type=_positive(int),
        default=600,
        help="wall-clock cap for a whole notebook, seconds (default 600)",
    )
    p.add_argument(
        "--memory",
        type=_positive(int),
        default=4096,
        metavar="MB",
        help="address-space cap per kernel, MB (default 4096)",
    )
    p.add_argument(
        "--instructor-dir",
        type=Path,
        default=None,
        help="also write the merged nbgrader gradebook and the executed notebooks here "
        "(they contain the hidden tests: never publish this folder)",
    )


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        prog="python -m autograder", description="Grade nbgrader submissions in parallel, isolated and bounded."
    )
    sub = ap.add_subparsers(dest="command", required=True)
    g = sub.add_parser("grade", help="grade a class: SUBMISSIONS/<student_id>/<ID>/*.ipynb")
    g.add_argument("submissions", type=Path, metavar="SUBMISSIONS")
    _assignment_and_out(g)
    g.add_argument("--shard", default=None, metavar="K/N", help="grade only shard K of N (by a hash of the student id)")
    _limits(g)
    o = sub.add_parser("grade-one", help="grade one student's notebook or folder (a push)")
    o.add_argument("path", type=Path, metavar="NOTEBOOK_OR_DIR")
    _assignment_and_out(o)
    o.add_argument(
        "--student",
        default=None,
        help="student id for the row (default: $AUTOGRADER_STUDENT_ID, $GITHUB_ACTOR, else 'student')",
    )
    _limits(o)
    d = sub.add_parser("demo", help="grade the embedded sample class of every assignment")
    d.add_argument("--out", type=Path, default=Path("grades-demo"), help="output folder (default grades-demo/)")
    d.add_argument("--assignment", action="append", default=None, help="only this assignment (repeatable)")
    _limits(d)
    m = sub.add_parser("merge", help="join shard outputs into one grades.csv/grades.json/feedback")
    m.add_argument("outs", nargs="+", type=Path, metavar="OUT_K")
    m.add_argument("--out", required=True, type=Path, metavar="OUT")
    e = sub.add_parser("export", help="gradebook CSV for an LMS from one or more outputs")
    e.add_argument("outs", nargs="+", type=Path, metavar="OUT")
    e.add_argument(
        "--format",
        choices=["nbgrader", "wide", "csv"],
        default="nbgrader",
        help="nbgrader (= csv): the layout of `nbgrader export`; wide: a column per assignment",
    )
    e.add_argument("--to", type=Path, default=None, help="file to write (default: standard output)")
    r = sub.add_parser("roster", help="print 'student_id repository' for the students of a shard")
    r.add_argument("roster", type=Path, metavar="ROSTER.csv")
    r.add_argument("--shard", default=None, metavar="K/N")
    c = sub.add_parser("collect", help="take only <assignment>/*.ipynb from student checkouts")
    c.add_argument("roster", type=Path, metavar="ROSTER.csv")
    c.add_argument("checkouts", type=Path, metavar="CHECKOUTS")
    c.add_argument("--assignment", required=True, metavar="ID")
    c.add_argument("--to", required=True, type=Path, metavar="SUBMISSIONS")
    c.add_argument("--shard", default=None, metavar="K/N")
    sm = sub.add_parser("summary", help="Markdown summary of outputs (for $GITHUB_STEP_SUMMARY)")
    sm.add_argument("outs", nargs="+", type=Path, metavar="OUT")
    pl = sub.add_parser("plan", help="how many shards a class needs (JSON, for a CI matrix)")
    pl.add_argument("--students", required=True, type=int)
    pl.add_argument("--seconds-per-notebook", type=float, default=45.0)
    pl.add_argument("--jobs", type=_positive(int), default=2, help="submissions graded at once per runner")
    pl.add_argument("--budget-minutes", type=float, default=30.0, help="wall-clock budget per shard")
    return ap


def _cell_timeout(args, course_root: Path) -> int:
    if args.cell_timeout:
        return args.cell_timeout
    from .course import load_config

    value = load_config(course_root).Execute.get("timeout", None)
    return int(value) if isinstance(value, (int, float)) and value > 0 else 120


def _grade(submissions: Path, assignment: str, out: Path, args) -> int:
    from .runner import grade_class

    root = Path.cwd()
    shard_spec = shard.parse(args.shard) if getattr(args, "shard", None) else None
    results = grade_class(
        submissions,
        assignment,
        out,
        jobs=args.jobs,
        cell_timeout=_cell_timeout(args, root),
        notebook_timeout=args.notebook_timeout,
        memory_mb=args.memory,
        course_root=root,
        instructor_dir=args.instructor_dir,
        shard_spec=shard_spec,
    )
    report.table(results)
    print(
        f"\n{len(results)} submission(s) of {assignment}: {out / 'grades.csv'}, {out / 'grades.json'}, "
        f"{out / 'feedback'}/"
    )
    if results and all(r.status == "error" for r in results):
        print(
            "autograder: every submission failed inside the grader (status error): see the detail column",
            file=sys.stderr,
        )
        return 3
    return 0


def _stage_one(path: Path, assignment: str, student: str, stage: Path) -> Path:
    """Lay one push out as SUBMISSIONS/<student>/<ID>/ (copies; never moves the student's files)."""
    dest = stage / student / assignment
    dest.mkdir(parents=True)
    if path.is_file():
        shutil.copy(path, dest / path.name)
    elif path.is_dir():
        src = path / assignment if (path / assignment).is_dir() else path
        for item in src.iterdir():
            if item.name.startswith(".") or item.is_symlink():
                continue
            if item.is_dir():
                shutil.copytree(
                    item,
                    dest / item.name,
                    symlinks=True,
                    ignore=shutil.ignore_patterns(".git", ".ipynb_checkpoints", "__pycache__"),
                )
            else:
                shutil.copy(item, dest / item.name)
    else:
        raise SetupError(f"{path} does not exist")
    return stage


def _class_ci(args) -> int:
    """The sub-commands a class-scale CI workflow runs around `grade --shard` (see ci-templates/)."""
    import json

    if args.command == "merge":
        results = shard.merge(args.outs, args.out)
        report.table(results)
        print(f"\nmerged {len(args.outs)} shard(s), {len(results)} student(s): {args.out / 'grades.csv'}")
        return 0
    if args.command == "summary":
        sys.stdout.write(export.markdown_summary(args.outs))
        return 0
    if args.command == "export":
        text = (export.wide_csv if args.format == "wide" else export.nbgrader_csv)(args.outs)
        if args.to is None:
            sys.stdout.write(text)
        else:
            args.to.write_text(text, encoding="utf-8")
        return 0
    if args.command == "plan":
        print(json.dumps(shard.plan(args.students, args.seconds_per_notebook, args.jobs, args.budget_minutes)))
        return 0
    students = collect.read_roster(args.roster)
    spec = shard.parse(args.shard) if args.shard else None
    if spec is not None:
        mine = set(shard.select([s.student_id for s in students], spec))
        students = [s for s in students if s.student_id in mine]
    if args.command == "roster":
        for s in students:
            print(f"{s.student_id} {s.repository}")
        return 0
    if args.command == "collect":
        done = collect.collect(students, args.checkouts, args.assignment, args.to)
        for line in collect.summary(done):
            print(f"autograder collect: {line}", file=sys.stderr)
        print(f"collected {sum(len(c.notebooks) for c in done)} notebook(s) of {len(done)} student(s) into {args.to}")
        return 0
    return 2


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        if args.command == "grade":
            return _grade(args.submissions, args.assignment, args.out, args)
        if args.command == "grade-one":
            student = (
                args.student or os.environ.get("AUTOGRADER_STUDENT_ID") or os.environ.get("GITHUB_ACTOR") or "student"
            )
            if not args.path.exists():
                raise SetupError(f"{args.path} does not exist (expected a notebook or a folder)")
            with tempfile.TemporaryDirectory(prefix="autograder-one-") as tmp:
                stage = _stage_one(args.path.resolve(), args.assignment, student, Path(tmp))
                return _grade(stage, args.assignment, args.out, args)
        if args.command in ("merge", "export", "summary", "roster", "collect", "plan"):
            return _class_ci(args)
        if args.command == "demo":
            samples = PACKAGE / "samples"
            ids = args.assignment or sorted(
                p.name for p in samples.iterdir() if p.is_dir() and (Path.cwd() / "source" / p.name).is_dir()
            )
            if not ids:
                raise SetupError(
                    f"no sample class in {samples} matches an assignment in source/: "
                    "run python autograder/samples/build_samples.py"
                )
            status = 0
            for aid in ids:
                print(f"\n== {aid} ==")
                status |= _grade(samples / aid, aid, args.out / aid, args)
            return status
    except SetupError as exc:
        print(f"autograder: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("autograder: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # the grader itself failed: say so, non-zero
        import traceback

        traceback.print_exc()
        print(f"autograder: the grader could not run: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 2
    return 2
