"""Contracts: every internal of nbgrader, nbclient, jupyter_client, nbconvert, nbformat and ipykernel that
the autograder relies on still has the shape it needs, so an upgrade that breaks one fails here, naming the
package and version, the internal and the autograder file, instead of grading wrongly in silence.

What the autograder relies on (package: internal -> who relies on it):

- nbgrader: the module-level name ``Gradebook`` of ``nbgrader.preprocessors.overwritecells``,
  ``overwritekernelspec`` and ``saveautogrades``, looked up by each preprocessor's ``preprocess()`` when it
  runs -> autograder/worker.py (``_keep_gradebook_open`` replaces it: one open gradebook per worker);
- nbgrader: ``Gradebook(db_url)``, ``Gradebook.__exit__`` -> ``close()``, ``Gradebook.db`` a scoped session
  (``db.remove()``, ``db.commit()``) -> autograder/worker.py (its kept gradebook only ends its session on
  close) and autograder/gradebook.py (``merge`` commits through it);
- nbgrader: ``server_extensions/formgrader/templates/feedback/`` and
  ``static/node_modules/bootstrap/dist/css/bootstrap.min.css`` found from ``nbgrader.__file__``, and the
  ``resources.nbgrader.<key>`` the template reads -> autograder/feedback.py (``formgrader_files``,
  ``template_resources``);
- nbgrader: ``Execute.on_cell_executed(**kwargs)``, which nbclient calls as a hook with ``cell`` and
  ``execute_reply`` -> autograder/integrity.py (``watch`` wraps it);
- nbconvert: ``ExecutePreprocessor.preprocess(nb, resources, km)`` calling ``preprocess_cell(cell,
  resources, index)`` -> autograder/execution.py (``BoundedExecute`` overrides both);
- nbclient: ``NotebookClient(nb, km)`` keeps a given ``km`` and does not own it (``owns_km``), so
  ``setup_kernel`` leaves its client and kernel running -> autograder/execution.py (``_release_kernel``
  closes them);
- nbclient: ``setup_kernel`` calls the synchronous ``start_new_kernel_client()`` -> autograder/execution.py
  (``BoundedExecute.start_new_kernel_client``: the kernel's socket folder is locked once it is ready);
- nbclient: ``process_message(msg, cell, cell_index)`` for every output message -> autograder/execution.py
  (the output caps);
- jupyter_client: ``KernelManager._async_pre_start_kernel(**kw)`` called by ``_async_start_kernel``, with
  ``env=`` the kernel's whole environment and the connection file written before it returns;
  ``format_kernel_cmd(extra_arguments)``; ``provisioner.process``; ``cleanup_connection_file()``,
  ``cleanup_ipc_files()``; ``kernel_spec.interrupt_mode``; ``client_factory`` -> autograder/execution.py
  (``SandboxKernelManager``) and autograder/sandbox.py (``configure_kernel``);
- jupyter_client: ``KernelClient``'s ``context`` default and ``_created_context`` (a context the client made
  is destroyed with it) -> autograder/execution.py (``BoundedKernelClient``);
- nbconvert: ``HTMLExporter.markdown2html(context, source)``, a jinja2 ``pass_context`` filter ->
  autograder/feedback.py (``SafeHTMLExporter``);
- nbconvert: ``SanitizeHTML.sanitize_code_outputs(outputs)`` cleaning HTML through
  ``sanitize_html_tags(html_str)`` -> autograder/feedback.py (``Sanitize`` overrides the latter);
- nbformat: ``validator.normalize(nbdict, strip_invalid_metadata=True)`` returning ``(changes, nbdict)`` ->
  autograder/intake.py (this contract found that nbformat 5.11 no longer takes the
  ``repair_duplicate_cell_ids=`` intake passed too, which had silently turned every repair into a rejection);
- ipykernel: ``IPKernelApp.configure_tornado_logger()``, called while the app initialises ->
  autograder/kernel_boot.py (replaces it so the kernel's own logs never reach a cell).

Each contract is checked without starting a kernel. ``test_contract_fails_when_its_internal_changes``
proves every check can fail: it takes the internal away (monkeypatch) and expects the named failure.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import inspect
import tempfile
import types
from collections.abc import Callable
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path

import pytest

GRADEBOOK_USERS = {
    "overwritecells": "OverwriteCells",
    "overwritekernelspec": "OverwriteKernelspec",
    "saveautogrades": "SaveAutoGrades",
}


def names(func) -> set[str]:
    """Every global and attribute name the code of ``func`` (and the functions nested in it) uses."""
    code = getattr(inspect.unwrap(func), "__code__", None) if func is not None else None
    found, stack = set(), [code] if code else []
    while stack:
        code = stack.pop()
        found |= set(code.co_names)
        stack += [c for c in code.co_consts if isinstance(c, types.CodeType)]
    return found


def params(func) -> list[str]:
    try:
        return list(inspect.signature(func).parameters)
    except (TypeError, ValueError):
        return []


def callers(cls: type, name: str) -> list[str]:
    """Functions defined on ``cls`` or its bases, other than ``name`` itself, whose code uses ``name``."""
    return [
        f"{k.__name__}.{attr}"
        for k in cls.__mro__
        for attr, f in vars(k).items()
        if attr != name and inspect.isfunction(f) and name in names(f)
    ]


@dataclass
class Contract:
    package: str
    internal: str
    relied_on_by: str
    check: Callable[[], list[str]]  # what no longer holds ([] when all is well)
    breaks: Callable[[pytest.MonkeyPatch], None]  # takes the internal away, for the self-test

    def failure(self, problems: list[str]) -> str:
        return (
            f"{self.package} {version(self.package)} -> {self.internal}: {'; '.join(problems)}; "
            f"{self.relied_on_by} relies on it"
        )


# -- nbgrader -----------------------------------------------------------------------------------
def gradebook_seam() -> list[str]:
    from nbgrader.api import Gradebook

    problems = []
    for module_name, class_name in GRADEBOOK_USERS.items():
        module = importlib.import_module(f"nbgrader.preprocessors.{module_name}")
        preprocess = getattr(getattr(module, class_name, None), "preprocess", None)
        if getattr(module, "Gradebook", None) is not Gradebook:
            problems.append(f"nbgrader.preprocessors.{module_name} no longer imports Gradebook at module level")
        elif (
            preprocess is None
            or getattr(preprocess, "__globals__", None) is not vars(module)
            or "Gradebook" not in names(preprocess)
        ):
            problems.append(f"{class_name}.preprocess() no longer opens the module's Gradebook(db_url)")
    return problems


def gradebook_session() -> list[str]:
    from nbgrader.api import Gradebook

    problems = []
    if params(Gradebook.__init__)[1:2] != ["db_url"]:
        problems.append(f"Gradebook.__init__ no longer takes db_url first (it takes {params(Gradebook.__init__)})")
    if "close" not in names(Gradebook.__exit__):
        problems.append("Gradebook.__exit__ no longer calls close()")
    if not {"db", "scoped_session"} <= names(Gradebook.__init__):
        problems.append("Gradebook.db is no longer a scoped session (db.remove())")
    return problems


def feedback_template() -> list[str]:
    import re

    from autograder.feedback import formgrader_files, template_resources

    templates, css = formgrader_files()
    index = templates / "feedback" / "index.html.j2"
    if not index.is_file():
        return [f"no feedback template at {index}"]
    problems = [] if (css / "bootstrap.min.css").is_file() else [f"no bootstrap.min.css in {css}"]
    read = set(re.findall(r"resources\.nbgrader\.(\w+)", index.read_text(encoding="utf-8")))
    missing = read - set(template_resources("nb", "a", "s", 0, 1)["nbgrader"])
    if missing:
        problems.append(f"the feedback template reads resources.nbgrader.{', '.join(sorted(missing))}")
    return problems


def cell_executed_hook() -> list[str]:
    from nbclient import NotebookClient
    from nbformat import NotebookNode

    from autograder import integrity
    from autograder.execution import BoundedExecute

    if "on_cell_executed" not in names(NotebookClient.async_execute_cell):
        return ["NotebookClient.async_execute_cell no longer calls the on_cell_executed hook"]
    plan = integrity.Plan(decoys={"decoy": integrity.Decoy("fail", "a check", "nb_x")})
    cell = NotebookNode(id="decoy", cell_type="code", outputs=[], metadata={}, source="")
    reply = {"content": {"status": "error", "ename": "X", "evalue": "y", "traceback": ["X: y"]}}
    try:
        executor = BoundedExecute()
        integrity.watch(executor, plan)
        executor.on_cell_executed(cell=cell, cell_index=0, execute_reply=reply)
    except Exception as exc:  # noqa: BLE001 - the failure is the finding
        return [f"Execute.on_cell_executed(cell=, cell_index=, execute_reply=) failed: {type(exc).__name__}: {exc}"]
    problems = [] if plan.replies.get("decoy") == "error" else ["the wrapped hook did not see the reply"]
    if not any(o.get("ename") == "X" for o in cell.outputs):
        problems.append("Execute.on_cell_executed no longer records an error reply as an error output")
    return problems


# -- nbconvert / nbclient: execution ------------------------------------------------------------
def execute_preprocess() -> list[str]:
    from nbconvert.preprocessors import ExecutePreprocessor

    problems = []
    if params(ExecutePreprocessor.preprocess)[:4] != ["self", "nb", "resources", "km"]:
        problems.append(f"preprocess() takes {params(ExecutePreprocessor.preprocess)}, not (nb, resources, km)")
    if not {"preprocess_cell", "setup_kernel"} <= names(ExecutePreprocessor.preprocess):
        problems.append("preprocess() no longer runs each cell through preprocess_cell() inside setup_kernel()")
    if params(ExecutePreprocessor.preprocess_cell)[1:] != ["cell", "resources", "index"]:
        problems.append(f"preprocess_cell() takes {params(ExecutePreprocessor.preprocess_cell)}")
    return problems


def given_kernel_manager() -> list[str]:
    import nbformat
    from jupyter_client.manager import AsyncKernelManager
    from nbclient import NotebookClient

    km = AsyncKernelManager(kernel_name="python3")
    client = NotebookClient(nbformat.v4.new_notebook(), km=km)
    problems = []
    if getattr(client, "km", None) is not km or getattr(client, "owns_km", True):
        problems.append("NotebookClient(nb, km) no longer keeps the km it is given as not its own (owns_km)")
    if "owns_km" not in names(NotebookClient.setup_kernel):
        problems.append("setup_kernel() no longer leaves the client of a km it does not own to the caller")
    return problems


def kernel_client_start() -> list[str]:
    from nbclient import NotebookClient

    if "start_new_kernel_client" not in names(NotebookClient.setup_kernel):
        return ["setup_kernel() no longer calls start_new_kernel_client()"]
    return []


def output_messages() -> list[str]:
    from nbclient import NotebookClient

    problems = []
    if params(NotebookClient.process_message)[1:] != ["msg", "cell", "cell_index"]:
        problems.append(f"process_message() takes {params(NotebookClient.process_message)}")
    if not callers(NotebookClient, "process_message"):
        problems.append("nothing in NotebookClient calls process_message() any more")
    return problems


# -- jupyter_client -----------------------------------------------------------------------------
def kernel_pre_start() -> list[str]:
    """Prepare (not start) a sandboxed kernel: the hooks run, in order, with what the sandbox gave."""
    from jupyter_client.manager import KernelManager

    from autograder.execution import BoundedKernelClient, SandboxKernelManager

    problems = []
    if "_async_pre_start_kernel" not in names(KernelManager._async_start_kernel):
        problems.append("_async_start_kernel() no longer calls _async_pre_start_kernel()")
    with tempfile.TemporaryDirectory(prefix="contract-km-") as tmp:
        km = SandboxKernelManager(kernel_name="python3")
        km.transport, km.ip, km.connection_file = "ipc", f"{tmp}/kernel", f"{tmp}/kernel.json"
        km.launcher, km.sandbox_env = ["LAUNCHER", "--"], {"ONLY_THIS": "1"}
        km.kernel_argv = ["KERNEL", "-f", "{connection_file}"]
        km.kernel_spec.interrupt_mode = "message"
        seen = []
        km.on_connection_file = lambda: seen.append(Path(km.connection_file).is_file())
        km.client_factory = BoundedKernelClient
        try:
            cmd, kw = asyncio.run(km._async_pre_start_kernel())
        except Exception as exc:  # noqa: BLE001 - the failure is the finding
            return problems + [f"_async_pre_start_kernel(**kw) failed: {type(exc).__name__}: {exc}"]
        try:
            if cmd != ["LAUNCHER", "--", "KERNEL", "-f", km.connection_file]:
                problems.append(f"the kernel command is {cmd}, not the launcher + format_kernel_cmd()")
            if (kw.get("env") or {}).get("ONLY_THIS") != "1" or "PATH" in kw.get("env", {}):
                problems.append("env= is no longer the kernel's whole environment")
            if seen != [True]:
                problems.append("the connection file is not written before _async_pre_start_kernel returns")
            if not hasattr(km.provisioner, "process") or km.kernel_pid() is not None:
                problems.append("the provisioner has no process attribute")
            if not isinstance(km.client(), BoundedKernelClient):
                problems.append("km.client() no longer makes a client_factory instance")
            if "interrupt_mode" not in names(KernelManager._async_interrupt_kernel):
                problems.append("interrupt_kernel() no longer reads kernel_spec.interrupt_mode")
        finally:
            km.cleanup_connection_file()
            km.cleanup_ipc_files()
        if Path(km.connection_file).exists():
            problems.append("cleanup_connection_file() leaves the connection file")
    return problems


def client_context() -> list[str]:
    import zmq
    from jupyter_client.client import KernelClient

    from autograder.execution import BoundedKernelClient

    client = BoundedKernelClient()
    problems = []
    try:
        if client.context.getsockopt(zmq.MAXMSGSIZE) != BoundedKernelClient.max_message_bytes:
            problems.append("the client's context default is no longer the one BoundedKernelClient sets")
        if getattr(client, "_created_context", None) is not True:
            problems.append("KernelClient no longer has _created_context")
        if "_created_context" not in names(KernelClient.__del__) | names(KernelClient.stop_channels):
            problems.append("KernelClient no longer destroys a context it created (_created_context)")
    finally:
        client.context.destroy(linger=0)
    return problems


# -- nbconvert: feedback ------------------------------------------------------------------------
def markdown_filter() -> list[str]:
    from nbconvert.exporters import HTMLExporter

    f = HTMLExporter.markdown2html
    problems = []
    if params(f) != ["self", "context", "source"]:
        problems.append(f"HTMLExporter.markdown2html takes {params(f)}, not (context, source)")
    if getattr(getattr(f, "jinja_pass_arg", None), "name", None) != "context":
        problems.append("HTMLExporter.markdown2html is no longer a jinja2 pass_context filter")
    if "markdown2html" not in names(HTMLExporter.default_filters):
        problems.append("HTMLExporter.default_filters no longer registers markdown2html")
    return problems


def output_sanitizer() -> list[str]:
    from nbconvert.preprocessors.sanitize import SanitizeHTML

    problems = []
    if params(SanitizeHTML.sanitize_html_tags)[1:] != ["html_str"]:
        problems.append(f"SanitizeHTML.sanitize_html_tags takes {params(SanitizeHTML.sanitize_html_tags)}")
    if "sanitize_html_tags" not in names(SanitizeHTML.sanitize_code_outputs):
        problems.append("SanitizeHTML.sanitize_code_outputs no longer cleans HTML with sanitize_html_tags()")
    if params(SanitizeHTML.preprocess_cell)[1:] != ["cell", "resources", "cell_index"]:
        problems.append(f"SanitizeHTML.preprocess_cell takes {params(SanitizeHTML.preprocess_cell)}")
    return problems


# -- nbformat, ipykernel ------------------------------------------------------------------------
def notebook_repair() -> list[str]:
    from nbformat import validator

    nb = {"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    try:
        changes, fixed = validator.normalize(nb, strip_invalid_metadata=True)
    except Exception as exc:  # noqa: BLE001 - the failure is the finding
        return [f"normalize(nbdict, strip_invalid_metadata=True) failed: {type(exc).__name__}: {exc}"]
    return [] if isinstance(fixed, dict) and "cells" in fixed else ["normalize() no longer returns (changes, nbdict)"]


def kernel_logging() -> list[str]:
    from ipykernel.kernelapp import IPKernelApp

    if not callable(getattr(IPKernelApp, "configure_tornado_logger", None)):
        return ["IPKernelApp has no configure_tornado_logger()"]
    if not callers(IPKernelApp, "configure_tornado_logger"):
        return ["nothing in IPKernelApp calls configure_tornado_logger() any more"]
    return []


# -- what the self-test takes away --------------------------------------------------------------
def _defined_on(cls: type, name: str) -> type:
    return next(k for k in cls.__mro__ if name in vars(k))


def _unset(monkeypatch, cls, name):
    monkeypatch.delattr(_defined_on(cls, name), name)


@contextlib.contextmanager
def _setup_without_client(self, **kwargs):
    yield


def _break_gradebook_seam(mp):
    mp.delattr(importlib.import_module("nbgrader.preprocessors.saveautogrades"), "Gradebook")


def _break_gradebook_session(mp):
    from nbgrader.api import Gradebook

    mp.setattr(Gradebook, "__exit__", lambda self, *exc: None)


def _break_feedback_template(mp):
    import nbgrader

    mp.setattr(nbgrader, "__file__", "/nonexistent/nbgrader/__init__.py")


def _break_cell_executed_hook(mp):
    from nbgrader.preprocessors import Execute

    _unset(mp, Execute, "on_cell_executed")


def _break_execute_preprocess(mp):
    from nbconvert.preprocessors import ExecutePreprocessor

    mp.setattr(ExecutePreprocessor, "preprocess", lambda self, nb, resources=None: (nb, resources))


def _break_given_kernel_manager(mp):
    from nbclient import NotebookClient

    real = NotebookClient.__init__
    mp.setattr(NotebookClient, "__init__", lambda self, nb, km=None, **kw: real(self, nb, None, **kw))


def _break_kernel_client_start(mp):
    from nbclient import NotebookClient

    mp.setattr(NotebookClient, "setup_kernel", _setup_without_client)


def _break_output_messages(mp):
    from nbclient import NotebookClient

    mp.setattr(NotebookClient, "process_message", lambda self, msg: None)


def _break_kernel_pre_start(mp):
    from jupyter_client.manager import KernelManager

    _unset(mp, KernelManager, "_async_pre_start_kernel")


def _break_client_context(mp):
    from jupyter_client.client import KernelClient

    mp.setattr(KernelClient, "__del__", lambda self: None)
    mp.setattr(KernelClient, "stop_channels", lambda self: None)


def _break_markdown_filter(mp):
    from nbconvert.exporters import HTMLExporter

    mp.setattr(HTMLExporter, "markdown2html", lambda self, source: source)


def _break_output_sanitizer(mp):
    from nbconvert.preprocessors.sanitize import SanitizeHTML

    mp.setattr(SanitizeHTML, "sanitize_code_outputs", lambda self, outputs: outputs)


def _break_notebook_repair(mp):
    from nbformat import validator

    mp.setattr(validator, "normalize", lambda nbdict, **kw: nbdict)


def _break_kernel_logging(mp):
    from ipykernel.kernelapp import IPKernelApp

    mp.setattr(IPKernelApp, "init_iopub", lambda self, context: None)


CONTRACTS = [
    Contract(
        "nbgrader",
        "the module-level Gradebook its preprocessors open",
        "autograder/worker.py (_keep_gradebook_open)",
        gradebook_seam,
        _break_gradebook_seam,
    ),
    Contract(
        "nbgrader",
        "Gradebook(db_url), __exit__ -> close(), db a scoped session",
        "autograder/worker.py (_keep_gradebook_open) and autograder/gradebook.py (merge)",
        gradebook_session,
        _break_gradebook_session,
    ),
    Contract(
        "nbgrader",
        "formgrader's feedback template and Bootstrap CSS paths",
        "autograder/feedback.py (formgrader_files, template_resources)",
        feedback_template,
        _break_feedback_template,
    ),
    Contract(
        "nbgrader",
        "Execute.on_cell_executed(**kwargs) hook",
        "autograder/integrity.py (watch)",
        cell_executed_hook,
        _break_cell_executed_hook,
    ),
    Contract(
        "nbconvert",
        "ExecutePreprocessor.preprocess(nb, resources, km) -> preprocess_cell()",
        "autograder/execution.py (BoundedExecute)",
        execute_preprocess,
        _break_execute_preprocess,
    ),
    Contract(
        "nbclient",
        "NotebookClient(nb, km) with owns_km",
        "autograder/execution.py (BoundedExecute._release_kernel)",
        given_kernel_manager,
        _break_given_kernel_manager,
    ),
    Contract(
        "nbclient",
        "NotebookClient.setup_kernel -> start_new_kernel_client()",
        "autograder/execution.py (BoundedExecute.start_new_kernel_client)",
        kernel_client_start,
        _break_kernel_client_start,
    ),
    Contract(
        "nbclient",
        "NotebookClient.process_message(msg, cell, cell_index)",
        "autograder/execution.py (BoundedExecute output caps)",
        output_messages,
        _break_output_messages,
    ),
    Contract(
        "jupyter_client",
        "KernelManager._async_pre_start_kernel(**kw) and the kernel manager hooks",
        "autograder/execution.py (SandboxKernelManager) and autograder/sandbox.py (configure_kernel)",
        kernel_pre_start,
        _break_kernel_pre_start,
    ),
    Contract(
        "jupyter_client",
        "KernelClient context default and _created_context",
        "autograder/execution.py (BoundedKernelClient)",
        client_context,
        _break_client_context,
    ),
    Contract(
        "nbconvert",
        "HTMLExporter.markdown2html(context, source)",
        "autograder/feedback.py (SafeHTMLExporter)",
        markdown_filter,
        _break_markdown_filter,
    ),
    Contract(
        "nbconvert",
        "SanitizeHTML.sanitize_code_outputs -> sanitize_html_tags(html_str)",
        "autograder/feedback.py (Sanitize)",
        output_sanitizer,
        _break_output_sanitizer,
    ),
    Contract(
        "nbformat",
        "validator.normalize(nbdict, strip_invalid_metadata=True)",
        "autograder/intake.py (read_notebook)",
        notebook_repair,
        _break_notebook_repair,
    ),
    Contract(
        "ipykernel",
        "IPKernelApp.configure_tornado_logger()",
        "autograder/kernel_boot.py",
        kernel_logging,
        _break_kernel_logging,
    ),
]
IDS = [c.check.__name__ for c in CONTRACTS]


@pytest.mark.parametrize("contract", CONTRACTS, ids=IDS)
def test_internal_still_has_the_shape_the_autograder_needs(contract):
    problems = contract.check()
    assert not problems, contract.failure(problems)


@pytest.mark.parametrize("contract", CONTRACTS, ids=IDS)
def test_contract_fails_when_its_internal_changes(contract, monkeypatch):
    with monkeypatch.context() as mp:
        contract.breaks(mp)
        problems = contract.check()
    assert problems, f"{contract.check.__name__} did not notice that {contract.internal} was taken away"
    message = contract.failure(problems)
    assert message.startswith(f"{contract.package} {version(contract.package)} -> ")
    assert "autograder/" in message and message.endswith("relies on it")


def test_xdist_loadgroup_keeps_a_group_on_one_worker(tmp_path):
    """`make test` relies on `--dist loadgroup`: tests sharing an expensive fixture carry one
    xdist_group so one worker builds it. pytest 9.2 + pytest-xdist 3.8 silently stopped grouping
    (pytest-xdist#1386), which doubled that work without failing anything: this fails instead."""
    import subprocess
    import sys
    from importlib import metadata

    (tmp_path / "test_grouped.py").write_text(
        "import os, pytest\n"
        "@pytest.mark.xdist_group('one')\n"
        "@pytest.mark.parametrize('i', range(6))\n"
        "def test_worker(i):\n"
        "    open(f'worker-{i}', 'w').write(os.environ['PYTEST_XDIST_WORKER'])\n"
    )
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-n", "2", "--dist", "loadgroup", "-q", "-p", "no:cacheprovider"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    workers = {(tmp_path / f"worker-{i}").read_text() for i in range(6)}
    assert len(workers) == 1, (
        f"pytest {metadata.version('pytest')} + pytest-xdist {metadata.version('pytest-xdist')}: "
        f"--dist loadgroup spread one xdist_group over {sorted(workers)}; tests/nbgrader_class.py and "
        "every module-scoped fixture of a slow test module would be built on both workers"
    )
