"""Feedback that never shows hidden tests (nbgrader's own feedback does: issues #917, #1363).

The hidden tests run inside the student's kernel, so student code can see them (``In``, ``_ih``,
an IPython ``post_run_cell`` hook receiving each cell's source) and print them into any later
output. The feedback therefore:

1. shows each test cell's source as the student received it (the release edition: visible
   checks only) plus a one-line note that hidden checks ran;
2. replaces the outputs of every test cell that ran hidden tests with a summary we write: passed,
   or the failing *visible* check's error (its message, redacted), or "a hidden check failed";
3. scans every other output (streams, rich outputs, tracebacks) for hidden-test code, also after
   undoing ANSI colours, HTML escaping, string quoting and base64/hex encoding, and redacts it.

A student who encrypts the source before printing it can still defeat step 3 (only in their own
feedback, and only for cells outside the test cells); see docs/grading.md.
"""

from __future__ import annotations

import base64
import binascii
import copy
import html
import re
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
from nbformat import NotebookNode

from . import course_files

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
NON_ALNUM = re.compile(r"[^A-Za-z0-9]+")
B64 = re.compile(r"[A-Za-z0-9+/_-]{24,}={0,2}")
HEX = re.compile(r"\b[0-9a-fA-F]{32,}\b")
CELL_LINE = re.compile(
    r"Cell In\s*\[[^\]]*\],\s*line (\d+)|<ipython-input-[^>]*>.*?\bline (\d+)|^\s*File \"<[^>]*>\", line (\d+)"
)
REDACTED = "[autograder: redacted - this output repeated hidden test code]"
MIN_SKELETON = 10


def skeleton(text: str) -> str:
    """Letters and digits only: survives quoting, escaping, re-indenting and colouring."""
    return NON_ALNUM.sub("", ANSI.sub("", html.unescape(text)))


@dataclass
class HiddenTests:
    """What must not leak, for one notebook: per test cell, the visible source and hidden lines."""

    visible: dict[str, str] = field(default_factory=dict)  # grade_id -> release source
    hidden_lines: dict[str, list[str]] = field(default_factory=dict)
    full_source: dict[str, str] = field(default_factory=dict)  # grade_id -> source with hidden tests
    skeletons: list[str] = field(default_factory=list)

    @classmethod
    def from_notebooks(cls, source: NotebookNode, release: NotebookNode) -> HiddenTests:
        ht = cls()
        release_src = {course_files.grade_id(c): c.source for c in release.cells}
        for cell in source.cells:
            gid = course_files.grade_id(cell)
            if not gid or course_files.HIDDEN_BEGIN not in cell.source:
                continue
            ht.visible[gid] = release_src.get(gid, "")
            ht.hidden_lines[gid] = course_files.hidden_lines(cell.source)
            ht.full_source[gid] = cell.source
        sk = {skeleton(line) for ls in ht.hidden_lines.values() for line in ls}
        # A hidden line whose text the student already has (the release shows it, e.g. in a table
        # of the prose) reveals nothing: redacting it would only hide teaching output.
        public = [skeleton(c.source) for c in release.cells]
        ht.skeletons = sorted(
            (s for s in sk if len(s) >= MIN_SKELETON and not any(s in p for p in public)), key=len, reverse=True
        )
        return ht

    def hidden_line_numbers(self, gid: str) -> set[int]:
        """1-based line numbers of the executed cell (full source) that are hidden."""
        return course_files.hidden_line_numbers(self.full_source.get(gid, ""))

    # -- detection ------------------------------------------------------------------------------
    def leaks(self, text: str) -> bool:
        if not self.skeletons or not text:
            return False
        if "HIDDEN TESTS" in text or "HIDDENTESTS" in skeleton(text):
            return True
        sk = skeleton(text)
        if any(s in sk for s in self.skeletons):
            return True
        for token in B64.findall(text) + HEX.findall(text):
            for decoded in _decode(token):
                dsk = skeleton(decoded)
                if any(s in dsk for s in self.skeletons) or "HIDDENTESTS" in dsk:
                    return True
        return False

    def redact_text(self, text: str) -> tuple[str, int]:
        if not self.leaks(text):
            return text, 0
        out, n = [], 0
        for line in text.split("\n"):
            if self.leaks(line):
                out.append(REDACTED)
                n += 1
            else:
                out.append(line)
        if n == 0:  # the leak spans lines: drop the whole text
            return REDACTED, 1
        return "\n".join(out), n


def _decode(token: str) -> list[str]:
    """Every text the token could be the base64 / urlsafe base64 / hex encoding of."""
    out = []
    for fn in (
        lambda t: base64.b64decode(t + "=" * (-len(t) % 4), validate=False),
        lambda t: base64.urlsafe_b64decode(t + "=" * (-len(t) % 4)),
        bytes.fromhex,
    ):
        try:
            out.append(fn(token).decode("utf-8", errors="ignore"))
        except (binascii.Error, ValueError):
            continue
    return out


def _as_text(value) -> str:
    return "".join(value) if isinstance(value, list) else str(value)


def redact_output(out: NotebookNode, hidden: HiddenTests) -> int:
    """Redact one output in place; return how many pieces were redacted."""
    n = 0
    kind = out.get("output_type")
    if kind == "stream":
        out["text"], k = hidden.redact_text(_as_text(out.get("text", "")))
        n += k
    elif kind in ("execute_result", "display_data", "update_display_data"):
        data = out.get("data", {})
        for mime in list(data):
            if mime.startswith("image/") and mime != "image/svg+xml":
                continue
            text = _as_text(data[mime]) if not isinstance(data[mime], dict) else str(data[mime])
            if mime == "text/plain":
                data[mime], k = hidden.redact_text(text)
                n += k
            elif hidden.leaks(text):
                del data[mime]
                data.setdefault("text/plain", REDACTED)
                n += 1
        if not data:
            out["data"] = {"text/plain": REDACTED}
    elif kind == "error":
        out["evalue"], k = hidden.redact_text(str(out.get("evalue", "")))
        n += k
        tb = []
        for line in out.get("traceback", []):
            red, k = hidden.redact_text(line)
            tb.append(red)
            n += k
        out["traceback"] = tb
    return n


def _failure_line(out: NotebookNode) -> int | None:
    for line in out.get("traceback", []):
        m = CELL_LINE.search(ANSI.sub("", line))
        if m:
            return int(next(g for g in m.groups() if g))
    return None


def summarize_test_cell(cell: NotebookNode, gid: str, hidden: HiddenTests, score: float | None, points: float) -> None:
    """Replace a hidden-test cell's outputs with a summary we control."""
    hidden_lines = hidden.hidden_line_numbers(gid)
    full = hidden.full_source[gid].splitlines()
    errors = [o for o in cell.get("outputs", []) if o.get("output_type") == "error"]
    stderr = any(o.get("output_type") == "stream" and o.get("name") == "stderr" for o in cell.get("outputs", []))
    if score is not None and score >= points and not errors:
        text = "All checks passed (visible and hidden)."
        cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text=text + "\n")]
    elif errors:
        err = errors[0]
        line = _failure_line(err)
        if err.get("ename") in ("NotExecuted", "DeadKernelError", "NotebookTimeoutError", "CellTimeoutError"):
            summary = f"{err.get('ename')}: {err.get('evalue') or 'no reply from the kernel before the time limit'}"
            cell.outputs = [_error(err.get("ename"), str(err.get("evalue", "")), summary)]
        elif line is not None and line not in hidden_lines and 1 <= line <= len(full):
            evalue, _ = hidden.redact_text(str(err.get("evalue", ""))[:500])
            check = full[line - 1].strip()
            ename = str(err.get("ename", "Error"))
            cell.outputs = [_error(ename, evalue, f"{ename}: {evalue}", f"in the visible check: {check}")]
        else:
            evalue = "a hidden check failed (hidden checks are not shown)"
            why = f"HiddenTestFailed: {evalue}. Your answer passes the visible checks but is not right yet."
            cell.outputs = [_error("HiddenTestFailed", evalue, why)]
    elif stderr:
        why = "StderrOutput: the cell wrote to stderr (a warning or a print to sys.stderr), which nbgrader scores 0"
        cell.outputs = [_error("StderrOutput", "the cell wrote to stderr, which nbgrader scores 0", why)]
    else:
        cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text="Checks ran.\n")]


def _error(ename: str, evalue: str, *traceback: str) -> NotebookNode:
    """An error output as the student sees it: a name, a value and the lines we chose to show."""
    return nbformat.v4.new_output("error", ename=ename, evalue=evalue, traceback=list(traceback))


def redact_notebook(nb: NotebookNode, hidden: HiddenTests, scores: dict[str, tuple[float | None, float]]) -> int:
    """Make an autograded notebook safe to hand to the student. Returns the number of redactions."""
    n = 0
    for cell in nb.cells:
        gid = course_files.grade_id(cell)
        if cell.cell_type != "code":
            continue
        if gid in hidden.full_source:
            visible = hidden.visible.get(gid, "").rstrip("\n")
            cell.source = visible + "\n# (hidden checks ran here; they are not shown)"
            score, points = scores.get(gid, (None, 0.0))
            summarize_test_cell(cell, gid, hidden, score, points)
            continue
        for out in cell.get("outputs", []):
            n += redact_output(out, hidden)
    return n


# -- student HTML/JavaScript never runs in the reader's browser -----------------------------------
SAFE_TAGS = {
    "a",
    "abbr",
    "b",
    "blockquote",
    "br",
    "caption",
    "code",
    "dd",
    "del",
    "details",
    "div",
    "dl",
    "dt",
    "em",
    "figcaption",
    "figure",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "hr",
    "i",
    "img",
    "kbd",
    "li",
    "mark",
    "ol",
    "p",
    "pre",
    "s",
    "samp",
    "small",
    "span",
    "strong",
    "sub",
    "summary",
    "sup",
    "table",
    "tbody",
    "td",
    "tfoot",
    "th",
    "thead",
    "tr",
    "u",
    "ul",
    "var",
}
_DROP_WITH_CONTENT = re.compile(r"(?is)<(script|style|template|noscript)\b.*?</\1\s*>")


def _safe_attribute(tag: str, name: str, value: str) -> bool:
    """No event handlers, no styles, links only to the web (or an anchor), images only from the web or
    inline raster data."""
    from urllib.parse import urlsplit

    if name in ("class", "title") or (name == "id" and tag in ("h1", "h2", "h3", "h4", "h5", "h6")):
        return True  # ids only on headings (Markdown anchors): no clobbering of the page's own elements
    if tag == "a" and name == "href":
        return value.startswith("#") or urlsplit(value).scheme.lower() in ("http", "https", "mailto")
    if tag == "img" and name == "src":
        return urlsplit(value).scheme.lower() in ("http", "https") or value.lower().startswith(
            ("data:image/png", "data:image/jpeg", "data:image/gif")
        )
    if tag == "img" and name in ("alt", "width", "height"):
        return True
    return tag in ("td", "th") and name in ("colspan", "rowspan", "align")


def clean_html(text: str) -> str:
    """HTML a student's code or notebook produced, with everything that could run removed (bleach,
    the library nbconvert sanitises with, and an allow-list of tags and attributes)."""
    import bleach

    return bleach.clean(
        _DROP_WITH_CONTENT.sub("", str(text)),
        tags=SAFE_TAGS,
        attributes=_safe_attribute,
        protocols=["http", "https", "mailto", "data"],
        strip=True,
        strip_comments=True,
    )


def _sanitizer():
    """nbconvert's SanitizeHTML preprocessor: keeps plain text, images, LaTeX and JSON outputs, runs
    HTML and Markdown outputs through :func:`clean_html`, and deletes every other kind (JavaScript,
    SVG, widget views...). Markdown cells are cleaned when rendered (``SafeHTMLExporter``)."""
    from nbconvert.preprocessors.sanitize import SanitizeHTML

    class Sanitize(SanitizeHTML):
        def sanitize_html_tags(self, html_str):
            return clean_html(html_str)

        def preprocess_cell(self, cell, resources, index):
            if cell.cell_type == "code":
                cell.outputs = self.sanitize_code_outputs(cell.get("outputs", []))
                for out in cell.outputs:
                    if out.get("output_type") not in ("stream", "error") and not set(out.get("data", {})) - {
                        "metadata"
                    }:
                        out["data"] = {
                            "text/plain": "[autograder: an output that could run code in a browser "
                            "(JavaScript, SVG, widget) is not shown here]"
                        }
            return cell, resources

    return Sanitize(
        safe_output_keys={
            "metadata",
            "text/plain",
            "text/latex",
            "application/json",
            "image/png",
            "image/jpeg",
            "image/gif",
        }
    )


#: What a student reads at the top of their feedback when the notebook was not simply graded.
STATUS_NOTICE = {
    "tampered": "The checks of this notebook were interfered with from inside it (a hook, a patched "
    "function or an answer made to compare equal to anything), so no cell scores a point. "
    "Your instructor has the details and will review it with you.",
    "timeout": "The notebook did not finish within its time limit; cells that did not run score 0.",
    "memory": "The notebook ran out of memory; cells that did not run score 0.",
    "kernel_died": "The notebook's Python process stopped; cells that did not run score 0.",
}


def formgrader_files() -> tuple[Path, Path]:
    """nbgrader's template folder (holding ``feedback/``) and the Bootstrap CSS folder that template
    includes. Not nbgrader API: computed from its package folder (tests/test_contracts.py checks it)."""
    import nbgrader

    base = Path(nbgrader.__file__).parent / "server_extensions" / "formgrader"
    return base / "templates", base / "static" / "node_modules" / "bootstrap" / "dist" / "css"


def template_resources(notebook: str, assignment: str, student: str, score: float, max_score: float) -> dict:
    """The ``resources`` nbgrader's feedback template reads (``resources.nbgrader.<key>``)."""
    return {
        "nbgrader": {
            "notebook": notebook,
            "assignment": assignment,
            "student": student,
            "score": score,
            "max_score": max_score,
            "late_penalty": 0,
        }
    }


class FeedbackWriter:
    """nbgrader's feedback HTML template, one exporter per worker process (templates compile once).

    A feedback page is opened by the student and by the instructor (formgrader, artifacts), so
    nothing a student's notebook holds may run there: outputs go through nbconvert's sanitiser,
    and Markdown (cells and nbgrader comments) is cleaned after it is rendered, so a
    ``[link](javascript:...)`` or raw ``<script>`` in a Markdown cell never reaches the page live.
    """

    def __init__(self):
        from jinja2 import pass_context
        from nbconvert.exporters import HTMLExporter
        from traitlets.config import Config

        class SafeHTMLExporter(HTMLExporter):
            @pass_context
            def markdown2html(self, context, source):
                return clean_html(HTMLExporter.markdown2html(self, context, source))

        templates, css = formgrader_files()
        c = Config()
        c.HTMLExporter.template_name = "feedback"
        c.HTMLExporter.extra_template_basedirs = [str(templates)]
        c.HTMLExporter.extra_template_paths = [str(css)]
        self.exporter = SafeHTMLExporter(config=c)
        self.sanitizer = _sanitizer()

    def write(
        self,
        nb: NotebookNode,
        path: Path,
        *,
        notebook: str,
        assignment: str,
        student: str,
        score: float,
        max_score: float,
        scores: dict[str, tuple[float | None, float]],
        status: str = "graded",
    ) -> None:
        if status in STATUS_NOTICE:  # say why the score is what it is, before any cell
            nb = copy.deepcopy(nb)
            nb.cells.insert(0, nbformat.v4.new_markdown_cell(f"**Status: {status}.** {STATUS_NOTICE[status]}"))
        for cell in nb.cells:
            meta = course_files.grading(cell)
            gid = meta.get("grade_id")
            if meta.get("grade") and gid in scores:
                s, points = scores[gid]
                meta["score"] = 0.0 if s is None else s
                meta["points"] = points
        resources = template_resources(notebook, assignment, student, score, max_score)
        nb, _ = self.sanitizer.preprocess(nb, {})
        body, _ = self.exporter.from_notebook_node(nb, resources=resources)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(body, encoding="utf-8")
