"""Run every SDK v2 snippet of the course's notebooks, offline, against the real `azure-ai-ml`.

Each notebook shows Azure's current code in markdown, as a ```python block right after a line

    **Azure today (SDK v2):**          (text may follow, e.g. "**Azure today (SDK v2 + MLflow):** ...")

This script extracts those snippets and runs a notebook's snippets in order, in one fresh namespace,
in a temporary folder:

* code that builds entities (`command`, `sweep`, `Environment`, `AmlCompute`, `Data`, endpoints,
  deployments, `@dsl.pipeline`, `automl.classification`, `Model`...) runs for real, and every entity
  a snippet leaves in its namespace or passes to `ml_client` is dumped to the YAML the CLI would send
  (`entity.dump`; a builder node such as `command(...)` as the job it submits) and that YAML is
  loaded back with the CLI's own schema (`load_job`, `load_compute`...): an invalid entity fails;
* every public method of every `*Operations` class (`ml_client.jobs`, `.compute`...) and of
  `MLClient` is replaced, for the duration, by a checker that binds the call's arguments to the REAL
  method's signature (a keyword the method does not declare fails, even where `**kwargs` would
  swallow it), records the call, and returns a plausible object: the entity passed in, a poller whose
  `.result()` returns it, or a stub that only has the attributes of the method's declared return type;
* sockets to anything but loopback raise: nothing reaches Azure.

The offline `ml_client` (interception, stubs, entity validation, strict builders, no network) is
tools/azure_offline.py; this script finds the snippets, runs them and reports.

The prelude (names and files every snippet may use without defining them) is PRELUDE_NAMES and
PLACEHOLDER_FILES below; docs/authoring.md lists it for authors.

    python tools/v2_snippets.py                         # all notebooks of source/
    python tools/v2_snippets.py source/01-workspace/01-workspace.ipynb -v   # one, with calls and YAML
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import re
import sys
import tempfile
import traceback
import warnings
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from autograder.course_files import source_notebooks  # noqa: E402
from tools.azure_offline import Interceptor, entity_classes, loopback_only, strict_builders, validate_entity  # noqa: E402

MARKER = re.compile(r"^\*\*Azure today \(SDK v2[^)]*\):\*\*")
FENCE_OPEN = re.compile(r"^\s*```python\s*$")
FENCE_CLOSE = re.compile(r"^\s*```\s*$")
# A ```python block that is not marked but looks like SDK v2 code: reported, never silently skipped.
LOOKS_V2 = re.compile(r"\bml_client\b|\bazure\.ai\.ml\b|\bMLClient\b")

SUBSCRIPTION = "00000000-0000-0000-0000-000000000000"
PRELUDE_NAMES = {  # name -> what it is (documented in docs/authoring.md)
    "subscription_id": "a placeholder subscription id (a GUID string)",
    "resource_group": '"dp100-rg"',
    "workspace_name": '"dp100-ws"',
    "ml_client": "MLClient(DefaultAzureCredential(), subscription_id, resource_group, workspace_name)",
}
PLACEHOLDER_FILES = {  # relative path -> content, created in the temporary working folder
    "config.json": json.dumps(
        {"subscription_id": SUBSCRIPTION, "resource_group": "dp100-rg", "workspace_name": "dp100-ws"}
    ),
    "conda.yml": "name: sklearn-env\ndependencies:\n  - python=3.11\n  - pip:\n    - scikit-learn\n",
    "src/train.py": "# placeholder training script\n",
    "src/score.py": "def init():\n    pass\n\ndef run(raw_data):\n    return []\n",
    "batch/batch_score.py": "def init():\n    pass\n\ndef run(mini_batch):\n    return mini_batch\n",
    "model/model.pkl": "placeholder model file\n",
    "data/hour.csv": "instant,cnt\n1,16\n",
}


class SnippetError(Exception):
    """A snippet failed: the message names notebook, cell and line."""


@dataclass
class Snippet:
    notebook: str  # path relative to the repository
    cell: int  # index of the markdown cell (0-based, as nbformat and JupyterLab's cell order)
    line: int  # 1-based line of the cell's source where the code starts
    code: str
    heading: str = ""  # the cell's first line, to find it in JupyterLab

    @property
    def where(self) -> str:
        return f"{self.notebook} cell {self.cell} [{self.heading}]"


@dataclass
class Report:
    notebook: str
    snippets: list[Snippet] = field(default_factory=list)
    calls: list[str] = field(default_factory=list)  # intercepted ml_client calls
    entities: list[tuple[str, str]] = field(default_factory=list)  # (label, YAML)
    failures: list[str] = field(default_factory=list)
    output: io.StringIO = field(default_factory=io.StringIO)  # what the snippets printed

    @property
    def ok(self) -> bool:
        return not self.failures


# --------------------------------------------------------------------------------- extraction


def extract(nb_path: Path) -> tuple[list[Snippet], list[Snippet]]:
    """(marked v2 snippets, unmarked python blocks that look like v2) of one notebook, in order."""
    rel = _rel(nb_path)
    nb = json.loads(nb_path.read_text(encoding="utf-8"))
    marked, unmarked = [], []
    for index, cell in enumerate(nb["cells"]):
        if cell["cell_type"] != "markdown":
            continue
        source = cell["source"] if isinstance(cell["source"], str) else "".join(cell["source"])
        lines = source.split("\n")
        heading = lines[0].strip()[:40]
        pending_marker = False
        i = 0
        while i < len(lines):
            if MARKER.match(lines[i].strip()):
                pending_marker = True
            elif FENCE_OPEN.match(lines[i]):
                end = next((j for j in range(i + 1, len(lines)) if FENCE_CLOSE.match(lines[j])), len(lines))
                snippet = Snippet(rel, index, i + 2, "\n".join(lines[i + 1 : end]), heading)
                if pending_marker:
                    marked.append(snippet)
                elif LOOKS_V2.search(snippet.code):
                    unmarked.append(snippet)
                pending_marker = False
                i = end
            elif lines[i].lstrip().startswith("```"):
                pending_marker = False  # another language's block ends the marker's reach
            i += 1
    return marked, unmarked


def _rel(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(ROOT))
    except ValueError:
        return str(path)


# --------------------------------------------------------------------------------- running


def _prelude(workdir: Path) -> dict:
    from azure.ai.ml import MLClient
    from azure.identity import DefaultAzureCredential

    for rel, text in PLACEHOLDER_FILES.items():
        (workdir / rel).parent.mkdir(parents=True, exist_ok=True)
        (workdir / rel).write_text(text, encoding="utf-8")
    namespace = {
        "__name__": "__v2_snippet__",
        "subscription_id": SUBSCRIPTION,
        "resource_group": "dp100-rg",
        "workspace_name": "dp100-ws",
    }
    namespace["ml_client"] = MLClient(DefaultAzureCredential(), SUBSCRIPTION, "dp100-rg", "dp100-ws")
    return namespace


def _failure(snippet: Snippet, exc: BaseException) -> str:
    """'<notebook> cell N line L: <error>', L being the line of the cell's markdown source."""
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename == snippet.where]
    line = f" line {frames[-1].lineno}" if frames else ""
    code = f"\n    {frames[-1].line}" if frames and frames[-1].line else ""
    short = _short(exc)
    return f"{snippet.where}{line}: {type(exc).__name__}: {short}{code}"


def _short(exc: BaseException) -> str:
    """The error's message without blank lines and the SDK's advertising links."""
    lines = [
        line.rstrip()
        for line in str(exc).splitlines()
        if line.strip() and "https://" not in line and "IntelliSense" not in line
    ]
    if isinstance(exc, TypeError) and "object.__init__() takes exactly one argument" in str(exc):
        lines.append(
            "(an entity's constructor got a keyword it does not take: check each keyword "
            "against the SDK v2 reference, e.g. AmlCompute takes size/max_instances, not "
            "vm_size/max_nodes)"
        )
    return "\n      ".join(lines[:20])


def _assigned_line(snippet: Snippet, name: str) -> str:
    """' line L' of the last assignment to name in the snippet ('' if not found)."""
    import ast

    try:
        tree = ast.parse("\n" * (snippet.line - 1) + snippet.code)
    except SyntaxError:
        return ""
    lines = [
        node.lineno
        for node in ast.walk(tree)
        if isinstance(node, ast.Name) and node.id == name and isinstance(node.ctx, ast.Store)
    ]
    return f" line {max(lines)}" if lines else ""


def run_snippets(snippets: list[Snippet], notebook: str = "") -> Report:
    """Run snippets in order in one namespace, in a temporary folder; collect failures."""
    report = Report(notebook or (snippets[0].notebook if snippets else ""), list(snippets))
    old_cwd = os.getcwd()
    with tempfile.TemporaryDirectory(prefix="v2-snippets-") as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        workdir = Path(tmp)
        os.chdir(workdir)
        had_mlflow_uri = os.environ.get("MLFLOW_TRACKING_URI")
        tracking = f"sqlite:///{workdir / 'mlflow.db'}"
        os.environ["MLFLOW_TRACKING_URI"] = tracking
        try:
            namespace = _prelude(workdir)
            resource_cls = entity_classes()
            values = {
                "mlflow_tracking_uri": tracking,
                "scoring_uri": "https://stub-endpoint.eastus.inference.ml.azure.com/score",
                "primary_key": "stub-primary-key",
                "secondary_key": "stub-secondary-key",
                "access_token": "stub-token",
                "location": "eastus",
            }
            with loopback_only(), strict_builders(), Interceptor(report, values) as interceptor:
                for snippet in snippets:
                    seen = {id(v) for v in namespace.values()}
                    # pad so that line numbers in tracebacks are lines of the markdown cell
                    code = "\n" * (snippet.line - 1) + snippet.code
                    try:
                        with contextlib.redirect_stdout(report.output):
                            exec(compile(code, snippet.where, "exec"), namespace)
                    except Exception as exc:  # noqa: BLE001 - every failure is reported
                        report.failures.append(_failure(snippet, exc))
                        continue
                    checked = {id(e) for e in interceptor.checked}
                    for name, value in list(namespace.items()):
                        if isinstance(value, resource_cls) and id(value) not in seen | checked:
                            try:
                                report.entities.append(
                                    (
                                        f"{snippet.where}: {name} = {type(value).__name__}",
                                        validate_entity(value, submitted=False),
                                    )
                                )
                            except Exception as exc:  # noqa: BLE001
                                report.failures.append(
                                    f"{snippet.where}{_assigned_line(snippet, name)}: `{name}` "
                                    f"({type(value).__name__}) is not a valid entity: "
                                    f"{type(exc).__name__}: {_short(exc)}"
                                )
        finally:
            os.chdir(old_cwd)
            if had_mlflow_uri is None:
                os.environ.pop("MLFLOW_TRACKING_URI", None)
            else:
                os.environ["MLFLOW_TRACKING_URI"] = had_mlflow_uri
            if "mlflow" in sys.modules:  # leave no tracking URI pointing into the deleted folder
                mlflow = sys.modules["mlflow"]
                with contextlib.suppress(Exception):
                    while mlflow.active_run():
                        mlflow.end_run()
                    mlflow.set_tracking_uri(had_mlflow_uri)
    return report


def check_notebook(nb_path: Path) -> Report:
    marked, unmarked = extract(nb_path)
    report = run_snippets(marked, _rel(nb_path))
    for snippet in unmarked:
        report.failures.append(
            f"{snippet.where} line {snippet.line}: a ```python block that looks like SDK v2 code has "
            f"no marker line: put `**Azure today (SDK v2):**` on the line before it (it is then run)"
        )
    if not marked and not unmarked:
        report.failures.append(f"{_rel(nb_path)}: no `**Azure today (SDK v2):**` snippet at all")
    return report


def notebooks() -> list[Path]:
    return source_notebooks(ROOT)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("notebooks", nargs="*", type=Path, help="default: every source notebook")
    parser.add_argument(
        "-v", "--verbose", action="store_true", help="also print the intercepted calls and the YAML of every entity"
    )
    args = parser.parse_args(argv)
    paths = args.notebooks or notebooks()
    failed = 0
    for path in paths:
        if not path.exists():
            print(f"{path}: no such notebook", file=sys.stderr)
            return 2
        report = check_notebook(path)
        status = "ok" if report.ok else f"{len(report.failures)} FAILURE(S)"
        print(
            f"{report.notebook}: {len(report.snippets)} snippets, {len(report.calls)} ml_client "
            f"calls checked, {len(report.entities)} entities validated: {status}"
        )
        if args.verbose:
            if report.output.getvalue():
                print("    printed:\n" + "".join(f"        {line}\n" for line in report.output.getvalue().splitlines()))
            for call in report.calls:
                print(f"    call  {call}")
            for label, yaml in report.entities:
                print(f"    yaml  {label}\n" + "".join(f"        {line}\n" for line in yaml.splitlines()))
        for failure in report.failures:
            print(f"  FAIL {failure}")
        failed += not report.ok
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
