"""Grades for a learning-management system, from one or more ``--out`` folders (one per assignment).

- ``nbgrader`` layout: the columns and rows ``nbgrader export`` (its CsvExportPlugin) writes, so a
  spreadsheet or LMS import made for nbgrader takes the autograder's marks unchanged;
- ``wide`` layout: one row per student, one column per assignment, and a total.

Student ids come from folder names a student may choose: a value that a spreadsheet would run as a
formula (starting with = + - @, tab or CR) is prefixed with a single quote.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

from .shard import read_output

NBGRADER_COLUMNS = [
    "assignment",
    "duedate",
    "timestamp",
    "student_id",
    "last_name",
    "first_name",
    "email",
    "raw_score",
    "late_submission_penalty",
    "score",
    "max_score",
]


def spreadsheet_safe(value) -> str:
    text = "" if value is None else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def _docs(outs: list[Path]) -> list[dict]:
    docs = [read_output(o) for o in outs]
    return sorted(docs, key=lambda d: d.get("assignment", ""))


def _csv(header: list[str], rows: list[list]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    for row in rows:
        w.writerow([spreadsheet_safe(v) for v in row])
    return buf.getvalue()


def nbgrader_csv(outs: list[Path]) -> str:
    """As ``nbgrader export``: per assignment, per student, raw score, penalty 0, score, max score."""
    rows = []
    for doc in _docs(outs):
        for s in sorted(doc.get("students", []), key=lambda s: s["student_id"]):
            raw = float(s["score"])
            rows.append(
                [
                    doc["assignment"],
                    "",
                    "",
                    s["student_id"],
                    "",
                    "",
                    "",
                    str(raw),
                    str(0.0),
                    str(max(0.0, raw)),
                    str(float(doc["max_score"])),
                ]
            )
    return _csv(NBGRADER_COLUMNS, rows)


def wide_csv(outs: list[Path]) -> str:
    """One row per student; a score column per assignment (empty: not in that output); a total."""
    docs = _docs(outs)
    assignments = [d["assignment"] for d in docs]
    scores: dict[str, dict[str, float]] = {}
    for doc in docs:
        for s in doc.get("students", []):
            scores.setdefault(s["student_id"], {})[doc["assignment"]] = float(s["score"])
    maximum = sum(float(d["max_score"]) for d in docs)
    rows = [
        [sid]
        + [f"{scores[sid][a]:g}" if a in scores[sid] else "" for a in assignments]
        + [f"{sum(scores[sid].values()):g}", f"{maximum:g}"]
        for sid in sorted(scores)
    ]
    return _csv(["student_id"] + assignments + ["total", "max_total"], rows)


def markdown_safe(value, limit: int = 160) -> str:
    """Text for one cell of a Markdown table: no table breaks, links, HTML or emphasis from a student."""
    text = " ".join(str(value if value is not None else "").split())[:limit]
    for ch in "\\`*_{}[]()<>#+!|~":
        text = text.replace(ch, "\\" + ch)
    return text


def markdown_summary(outs: list[Path]) -> str:
    """The CI job summary: a table per assignment (student, score, status, detail), all escaped."""
    lines = []
    for doc in _docs(outs):
        students = sorted(doc.get("students", []), key=lambda s: s["student_id"])
        full = sum(1 for s in students if float(s["score"]) == float(doc["max_score"]))
        lines += [
            f"### {markdown_safe(doc['assignment'])}",
            "",
            f"{len(students)} student(s), {full} with full marks, max score {float(doc['max_score']):g}",
            "",
            "| student | score | status | detail |",
            "|---|---|---|---|",
        ]
        lines += [
            f"| {markdown_safe(s['student_id'])} | {float(s['score']):g} | {markdown_safe(s['status'])} "
            f"| {markdown_safe(s.get('detail', ''))} |"
            for s in students
        ]
        lines.append("")
    return "\n".join(lines) + "\n"
