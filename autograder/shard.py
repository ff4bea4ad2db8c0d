"""Grading a class on many CI runners: which students a shard grades, how many shards a class needs,
and joining the shards' outputs into one, identical to an unsharded run.

A shard is ``K/N`` (1 <= K <= N). A student belongs to the shard given by a hash of their id, so a
re-run (or a re-run of one failed shard) puts every student in the same shard again, whatever the
roster order or who else is in the class. ``merge`` reads each shard's ``grades.json`` and feedback
and writes ``grades.csv``/``grades.json``/``feedback/`` with the same writer an unsharded run uses.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import shutil
from pathlib import Path

from .errors import SetupError

#: Fields that measure time or the run itself, not the grade: they may differ between runs.
TIMING_FIELDS = {"generated", "seconds", "execute_seconds", "setup_seconds", "total_seconds", "jobs", "shard"}


def parse(text: str) -> tuple[int, int]:
    """``"2/5"`` -> (2, 5); a clear error for anything else."""
    m = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", text or "")
    if not m:
        raise SetupError(f"--shard {text!r}: expected K/N, e.g. 1/4")
    k, n = int(m.group(1)), int(m.group(2))
    if not 1 <= k <= n:
        raise SetupError(f"--shard {text!r}: K must be between 1 and N")
    return k, n


def shard_of(student_id: str, n: int) -> int:
    """The shard (1..n) a student belongs to: stable across runs, machines and Python versions."""
    digest = hashlib.sha256(student_id.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") % n + 1


def select(students: list[str], shard: tuple[int, int] | None) -> list[str]:
    if shard is None:
        return list(students)
    k, n = shard
    return [s for s in students if shard_of(s, n) == k]


def plan(
    students: int,
    seconds_per_notebook: float,
    jobs_per_runner: int = 2,
    budget_minutes: float = 30.0,
    setup_minutes: float = 4.0,
    max_shards: int = 256,
) -> dict:
    """How many shards (runners) a class needs so each finishes within ``budget_minutes``.

    A runner spends ``setup_minutes`` installing the stack, then grades ``jobs_per_runner``
    submissions at a time. Returns the shard count and the projected minutes per shard.
    """
    if students <= 0:
        return {"students": 0, "shards": 1, "minutes_per_shard": setup_minutes, "wall_minutes": setup_minutes}
    per_runner_minutes = max(0.1, budget_minutes - setup_minutes)
    per_student_minutes = seconds_per_notebook / 60.0 / max(1, jobs_per_runner)
    capacity = max(1.0, per_runner_minutes / per_student_minutes)
    shards = 1
    while shards < max_shards and busiest(students, shards) > capacity:
        shards += 1
    minutes = setup_minutes + busiest(students, shards) * per_student_minutes
    return {
        "students": students,
        "shards": shards,
        "minutes_per_shard": round(minutes, 1),
        "wall_minutes": round(minutes + 2.0, 1),
    }  # + the merge job


def busiest(students: int, shards: int) -> float:
    """Students in the fullest shard, allowing for the hash's unevenness (mean + 3 standard deviations)."""
    if shards <= 1:
        return float(students)
    mean = students / shards
    return min(float(students), mean + 3 * math.sqrt(mean * (1 - 1 / shards)))


# -- merging the shards' outputs ------------------------------------------------------------------
def _results_from_json(doc: dict):
    from .worker import NotebookResult, Result

    results = []
    for i, s in enumerate(doc.get("students", [])):
        nbs = [
            NotebookResult(
                name,
                nb["status"],
                nb.get("detail", ""),
                float(nb["score"]),
                float(nb["max_score"]),
                nb.get("cells", {}),
                execute_seconds=nb.get("execute_seconds", 0.0),
                feedback=nb.get("feedback"),
            )
            for name, nb in s.get("notebooks", {}).items()
        ]
        results.append(
            Result(
                i,
                s["student_id"],
                s["assignment"],
                s["status"],
                s.get("detail", ""),
                float(s["score"]),
                float(s["max_score"]),
                nbs,
                seconds=s.get("seconds", 0.0),
            )
        )
    return results


def read_output(folder: Path) -> dict:
    path = Path(folder) / "grades.json"
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SetupError(f"{folder}: no grades.json (is this a `python -m autograder grade --out` folder?)") from None
    except (OSError, ValueError) as exc:
        raise SetupError(f"{path}: not readable as JSON ({exc})") from None


def merge(shard_outs: list[Path], out: Path):
    """Join shard outputs into ``out``. Refuses mixed assignments or a student graded twice."""
    from . import report

    if not shard_outs:
        raise SetupError("merge: give at least one shard output folder")
    out = Path(out)
    docs = [(Path(f), read_output(f)) for f in shard_outs]
    assignments = {d.get("assignment") for _, d in docs}
    if len(assignments) != 1:
        raise SetupError(f"merge: the shards grade different assignments: {sorted(map(str, assignments))}")
    assignment = assignments.pop()
    max_scores = {d.get("max_score") for _, d in docs}
    if len(max_scores) != 1:
        raise SetupError(
            f"merge: the shards disagree on the maximum score {sorted(map(str, max_scores))}: "
            "were they graded from different versions of the course?"
        )
    seen: dict[str, Path] = {}
    results = []
    for folder, doc in docs:
        for r in _results_from_json(doc):
            if r.student_id in seen:
                raise SetupError(f"merge: {r.student_id} is in both {seen[r.student_id]} and {folder}")
            seen[r.student_id] = folder
            results.append(r)
    out.mkdir(parents=True, exist_ok=True)
    (out / "feedback").mkdir(exist_ok=True)
    for folder, _ in docs:
        if (folder / "feedback").is_dir():
            shutil.copytree(folder / "feedback", out / "feedback", dirs_exist_ok=True)
    first = docs[0][1]
    meta = {k: v for k, v in first.items() if k not in ("assignment", "generated", "students")}
    meta["jobs"] = sum(int(d.get("jobs", 0) or 0) for _, d in docs)
    meta["setup_seconds"] = max(float(d.get("setup_seconds", 0) or 0) for _, d in docs)
    meta["total_seconds"] = max(float(d.get("total_seconds", 0) or 0) for _, d in docs)
    meta.pop("shard", None)
    meta.pop("format_version", None)  # written by report.write itself, when it writes one
    report.write(out, assignment, results, meta)
    return results
