"""Outputs: OUT/grades.csv, OUT/grades.json, a feedback page for every row, the console table.

Student ids come from folder names a student chooses: in grades.csv every text cell that a
spreadsheet would run as a formula is prefixed with a quote (``export.spreadsheet_safe``), and the
console table shows control characters as ``?``. grades.json keeps the ids as they are (JSON is
data, not a formula language) and says which layout it has in ``format_version``.
"""

from __future__ import annotations

import csv
import html
import json
import re
import sys
import time
from pathlib import Path

from .export import spreadsheet_safe

COLUMNS = ["student_id", "assignment", "score", "max_score", "status", "detail"]
#: grades.json layout version: raise it when a field changes meaning or goes away (docs/grading.md).
FORMAT_VERSION = 2
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def write_placeholder_feedback(out: Path, result, notebooks: list[str]) -> None:
    """A student whose notebook could not be run still gets a page saying why."""
    for nb in result.notebooks:
        if nb.feedback:
            continue
        path = out / "feedback" / result.student_id / result.assignment / f"{nb.notebook}.html"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(
            f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(nb.notebook)}</title></head><body>"
            f"<h1>{html.escape(result.assignment)} / {html.escape(nb.notebook)}</h1><p><b>Status:</b> {html.escape(nb.status)}</p><p>{html.escape(nb.detail or result.detail)}</p>"
            f"<p>Score: {nb.score:g} / {nb.max_score:g}</p></body></html>",
            encoding="utf-8",
        )
        nb.feedback = str(path.relative_to(out))


def write(out: Path, assignment: str, results: list, meta: dict) -> None:
    results = sorted(results, key=lambda r: r.student_id)
    with open(out / "grades.csv", "w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=COLUMNS + ["seconds"])
        w.writeheader()
        for r in results:
            row = {k: spreadsheet_safe(v) if isinstance(v, str) else v for k, v in r.row().items()}
            w.writerow({**row, "seconds": round(r.seconds, 2)})
    doc = {
        "format_version": FORMAT_VERSION,
        "assignment": assignment,
        "generated": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        **meta,
        "students": [
            {
                **r.row(),
                "seconds": round(r.seconds, 2),
                "notebooks": {
                    nb.notebook: {
                        "status": nb.status,
                        "detail": nb.detail,
                        "score": nb.score,
                        "max_score": nb.max_score,
                        "feedback": nb.feedback,
                        "execute_seconds": round(nb.execute_seconds, 2),
                        "cells": nb.cells,
                    }
                    for nb in r.notebooks
                },
            }
            for r in results
        ],
    }
    (out / "grades.json").write_text(json.dumps(doc, indent=1) + "\n", encoding="utf-8")


def table(results: list, file=sys.stdout) -> None:
    results = sorted(results, key=lambda r: r.student_id)
    shown = [_CONTROL.sub("?", r.student_id) for r in results]  # no terminal escapes from a folder name
    wid = max([len("student_id")] + [len(v) for v in shown])
    print(f"{'student_id':<{wid}}  {'score':>11}  {'status':<16}  detail", file=file)
    for sid, r in zip(shown, results, strict=False):
        detail = _CONTROL.sub("?", r.detail if len(r.detail) <= 100 else r.detail[:97] + "...")
        print(f"{sid:<{wid}}  {r.score:>5g} / {r.max_score:<3g}  {r.status:<16}  {detail}", file=file)


class Progress:
    """A tqdm bar on a terminal; one line per finished student otherwise (CI logs)."""

    def __init__(self, total: int, label: str):
        self.total, self.done = total, 0
        self.bar = None
        if sys.stderr.isatty():
            from tqdm import tqdm

            self.bar = tqdm(total=total, desc=label, unit="student", file=sys.stderr)

    def update(self, result) -> None:
        self.done += 1
        if self.bar is not None:
            self.bar.set_postfix_str(f"{_CONTROL.sub('?', result.student_id)}: {result.status}")
            self.bar.update(1)
        else:
            print(
                f"[{self.done}/{self.total}] {_CONTROL.sub('?', result.student_id)}: {result.status} "
                f"{result.score:g}/{result.max_score:g} ({result.seconds:.1f} s)",
                file=sys.stderr,
                flush=True,
            )

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
