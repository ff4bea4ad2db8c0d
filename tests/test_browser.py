"""The course where people use it: JupyterLab, nbgrader's formgrader and the MLflow UI in a real browser.

Debian's Chromium, driven by Playwright (never a downloaded browser), against servers started here
on free localhost ports from a throw-away copy of the course:

1. the start page notebooks/README.md opens rendered; its link opens the self-paced edition of
   01-workspace; nbgrader's Validate button validates it; Run > Run All Cells runs every cell, and
   the only errors are the unanswered exercises' (answer cells raise NotImplementedError, the check
   cells after them fail), so Run All never stops early;
2. the formgrader (opened from the Nbgrader menu, in a tab of its own, while Run All runs) lists
   every assignment in source/;
3. the MLflow UI, on the tracking store the notebook run created, lists the notebook's experiment.
Validate and Run All each run the notebook, which starts by replacing its workspace folder: they
run one after the other, and the MLflow UI starts on the store of the last run (Run All's).

Screenshots of every step and the server logs go to test-artifacts/browser/ (printed at the end).
In CI (CI=true) a missing Chromium fails the test; elsewhere it skips, saying how to install it.
"""

from __future__ import annotations

import contextlib
import re
import shutil
import sqlite3
import time
from pathlib import Path

import browser_harness as bh
import nbformat
import pytest

pytestmark = [pytest.mark.slow, pytest.mark.browser, pytest.mark.grading, pytest.mark.xdist_group("browser")]

NOTEBOOK = "01-workspace"
NOTEBOOK_PATH = f"notebooks/{NOTEBOOK}.ipynb"  # relative to the course root JupyterLab serves
#: What a check cell may raise when the answer above it is missing (the name is undefined, the
#: answer function raises NotImplementedError, or a visible assert fails on a placeholder value).
UNANSWERED_CHECK_ERRORS = {"NameError", "NotImplementedError", "AssertionError"}
VIEWPORT = {"width": 1400, "height": 900}
RUN_ALL_TIMEOUT = 300  # s; the solution runs in < 45 s on 2 cores, the unanswered edition faster
#: Seconds each step took, reported at the end (and in test-artifacts/browser/report.txt).
TIMINGS: dict[str, float] = {}


# ------------------------------------------------------------------------------------------------
# fixtures: chromium, artifacts folder, course copy, JupyterLab, browser
# ------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def chromium() -> str:
    path = bh.chromium_path()
    if path is None:
        message = (
            "Chromium is not installed, and the real-browser test needs it: "
            "`apt-get install chromium` (Debian/Ubuntu; .ci/run does this)"
        )
        if bh.in_ci():
            pytest.fail(message + ". CI=true: this test must run in CI, not skip.", pytrace=False)
        pytest.skip(message)
    return path


@pytest.fixture(scope="module")
def artifacts(request) -> Path:
    shutil.rmtree(bh.ARTIFACTS, ignore_errors=True)
    bh.ARTIFACTS.mkdir(parents=True)
    yield bh.ARTIFACTS
    shots = sorted(p.name for p in bh.ARTIFACTS.glob("*.png"))
    timings = "".join(f"\n  {what}: {secs:.1f} s" for what, secs in TIMINGS.items())
    report = (
        f"\nbrowser test: {len(shots)} screenshots and the server logs are in {bh.ARTIFACTS}\n  "
        + "\n  ".join(shots)
        + "\nbrowser test timings:"
        + timings
    )
    (bh.ARTIFACTS / "report.txt").write_text(report.strip() + "\n")
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    with capture.global_and_fixture_disabled() if capture else contextlib.nullcontext():
        print(report)


@pytest.fixture(scope="module")
def course(tmp_path_factory, chromium) -> Path:
    course = bh.copy_course(tmp_path_factory.mktemp("browser") / "course")
    assert (course / "notebooks" / f"{NOTEBOOK}.ipynb").is_file(), (
        f"notebooks/{NOTEBOOK}.ipynb is missing: run `make release`"
    )
    return course


@pytest.fixture(scope="module")
def lab(course, artifacts, tmp_path_factory, request):
    t0 = time.monotonic()
    server, base, token = bh.start_lab(course, tmp_path_factory.mktemp("lab-state"), artifacts, wait=False)
    try:
        request.getfixturevalue("browser")  # Chromium starts while JupyterLab boots
        server.wait_http(f"{base}/api/status?token={token}", 120)
        TIMINGS["JupyterLab server start (and Chromium)"] = time.monotonic() - t0
        yield base, token
    finally:
        killed = server.stop()
        assert server.proc.poll() is not None, "JupyterLab is still running after stop()"
        if killed:
            print(f"had to kill: {killed}")


class Browser:
    """One Chromium for the module; every page it opens is recorded, external requests too."""

    def __init__(self, executable: str):
        from playwright.sync_api import sync_playwright

        self._pw = sync_playwright().start()
        try:
            self.browser = self._pw.chromium.launch(executable_path=executable, headless=True, args=bh.CHROMIUM_ARGS)
        except Exception:
            self._pw.stop()
            raise
        self.context = self.browser.new_context(viewport=VIEWPORT)
        self.context.set_default_timeout(60_000)
        self.external: list[str] = []
        self.context.on("request", self._record)

    def _record(self, request) -> None:
        url = request.url
        host = url.split("/")[2].split(":")[0] if "//" in url else ""
        if url.startswith(("http://", "https://", "ws://", "wss://")) and host not in {"127.0.0.1", "localhost"}:
            self.external.append(url)

    def close(self) -> None:
        try:
            self.context.close()
            self.browser.close()
        finally:
            self._pw.stop()


@pytest.fixture(scope="module")
def browser(chromium):
    b = Browser(chromium)
    try:
        yield b
    finally:
        b.close()


def shot(page, artifacts: Path, name: str) -> Path:
    path = artifacts / f"{name}.png"
    page.screenshot(path=str(path))
    return path


# ------------------------------------------------------------------------------------------------
# JupyterLab helpers (all actions go through menus, links and buttons, as a person clicks them)
# ------------------------------------------------------------------------------------------------
#: The state of the notebook at ``path`` (found among the main area's tabs: it need not be the one shown).
NOTEBOOK_STATE = """(path) => {
  const app = window.jupyterapp;
  let w = null;
  for (const x of app ? app.shell.widgets('main') : []) {
    if (x.content && x.sessionContext && x.context && x.context.path === path) { w = x; break; }
  }
  if (!w) return {state: 'no notebook'};
  const kernel = w.sessionContext.session && w.sessionContext.session.kernel;
  const prompts = [...w.node.querySelectorAll('.jp-CodeCell .jp-InputArea-prompt')].map(e => e.textContent.trim());
  return {state: kernel ? kernel.status : 'no kernel', dirty: w.context.model.dirty,
          path: w.context.path, prompts: prompts, busy: prompts.filter(p => p.includes('*')).length};
}"""


#: Scroll so the first failing cell's exercise statement (the cell above it) is at the top.
SCROLL_TO_FIRST_EXERCISE = """() => {
  const err = document.querySelector(".jp-CodeCell .jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']");
  if (!err) return false;
  const cell = err.closest('.jp-Cell');
  (cell.previousElementSibling || cell).scrollIntoView({block: 'start'});
  return true;
}"""


#: Resolves after the browser has painted twice (what a screenshot should wait for after a scroll).
PAINTED = "() => new Promise(done => requestAnimationFrame(() => requestAnimationFrame(done)))"


def notebook_state(page) -> dict:
    return page.evaluate(NOTEBOOK_STATE, NOTEBOOK_PATH)


def wait_notebook(page, predicate, timeout: float, what: str, stable: int = 1) -> dict:
    """Poll the open notebook's state until ``predicate`` holds ``stable`` times in a row."""
    deadline, hits, state = time.monotonic() + timeout, 0, {}
    while time.monotonic() < deadline:
        state = notebook_state(page)
        if state.get("state") == "dead":
            raise AssertionError(f"the kernel is {state['state']} while waiting for {what}")
        hits = hits + 1 if predicate(state) else 0
        if hits >= stable:
            return state
        time.sleep(0.25)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}; last state {state}")


def menu(page, top: str, item: str) -> None:
    """Click ``top`` in the menu bar, then the item labelled exactly ``item``."""
    page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(f"^{re.escape(top)}$")).first.click()
    page.locator(".lm-Menu-itemLabel", has_text=re.compile(f"^{re.escape(item)}$")).first.click()


def open_lab(page, lab, path: str = "") -> None:
    base, token = lab
    # ?reset: start from an empty layout, whatever an earlier page of this run left open
    page.goto(f"{base}/lab/tree/{path}?reset&token={token}" if path else f"{base}/lab?reset&token={token}")
    page.wait_for_selector(".lm-MenuBar-itemLabel", timeout=120_000)


# ------------------------------------------------------------------------------------------------
# steps 1 and 2: the start page, the self-paced notebook, Validate, Run All (the formgrader meanwhile)
# ------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def notebook_run(lab, browser, course, artifacts, request):
    """Runs steps 1 and 2 once, in one JupyterLab page; the tests below assert on what it saw (and
    step 3 uses its workspace: the MLflow UI is started on it here, in the background, because it
    takes long to start)."""
    page = browser.context.new_page()
    seen: dict = {}
    t0 = time.monotonic()

    # the start page `make lab` opens, rendered, and its link to the notebook
    open_lab(page, lab, "notebooks/README.md")
    start = page.locator(".jp-MainAreaWidget .jp-RenderedMarkdown").first
    link = start.get_by_role("link", name=NOTEBOOK, exact=True).first
    link.wait_for(timeout=120_000)  # rendered (Markdown Preview), not the text editor
    seen["start_page_text"] = start.inner_text()
    TIMINGS["lab loaded"] = time.monotonic() - t0
    shot(page, artifacts, "01-start-page")
    link.click()
    page.wait_for_selector(".jp-NotebookPanel .jp-Notebook", timeout=120_000)
    wait_notebook(page, lambda s: s["state"] == "idle", 120, "the notebook's kernel to start")
    TIMINGS["notebook opened from the start page, kernel idle"] = time.monotonic() - t0
    shot(page, artifacts, "02-notebook-opened")

    # nbgrader's Validate button, on the unanswered notebook: it must report the failing checks
    t1 = time.monotonic()
    page.locator(".jp-NotebookPanel-toolbar").get_by_role("button", name="Validate").click()
    dialog = page.locator(".jp-Dialog")
    dialog.wait_for(timeout=RUN_ALL_TIMEOUT * 1000)
    page.wait_for_function(
        "() => !document.querySelector('.jp-Dialog') || "
        "!/Validating/.test(document.querySelector('.jp-Dialog').innerText)",
        timeout=RUN_ALL_TIMEOUT * 1000,
    )
    seen["validate_text"] = dialog.inner_text()
    TIMINGS["validate"] = time.monotonic() - t1
    shot(page, artifacts, "03-validate-unanswered")
    dialog.get_by_role("button", name="Ok").click()
    dialog.wait_for(state="detached")

    # Run > Run All Cells; while the cells run, the formgrader from the Nbgrader menu (a tab of its own)
    t2 = time.monotonic()
    menu(page, "Run", "Run All Cells")
    wait_notebook(
        page,
        lambda s: s["busy"] > 0 or s["state"] == "busy" or all(re.fullmatch(r"\[\d+\]:", p) for p in s["prompts"]),
        60,
        "Run All to start",
    )
    menu(page, "Nbgrader", "Formgrader")
    frame = page.frame_locator("iframe[src*='formgrader']")
    rows = frame.locator("table tbody tr")
    frame.locator("table tbody tr a", has_text=bh.source_assignments(course)[-1]).first.wait_for(timeout=120_000)
    seen["formgrader_listed"] = [
        rows.nth(i).locator("td").first.inner_text().strip().replace("\n", "") for i in range(rows.count())
    ]
    shot(page, artifacts, "04-formgrader")
    TIMINGS["formgrader (while Run All runs)"] = time.monotonic() - t2
    page.locator(".lm-DockPanel-tabBar .lm-TabBar-tab", has_text=f"{NOTEBOOK}.ipynb").first.click()
    state = wait_notebook(
        page, lambda s: s["state"] == "idle" and s["busy"] == 0, RUN_ALL_TIMEOUT, "Run All Cells to finish", stable=3
    )
    TIMINGS["run all"] = time.monotonic() - t2
    seen["prompts"] = state["prompts"]
    menu(page, "File", "Save Notebook")
    wait_notebook(page, lambda s: not s["dirty"], 60, "the notebook to be saved")
    seen["saved"] = nbformat.read(course / NOTEBOOK_PATH, as_version=4)
    workspace = course / "notebooks" / f"workspace-{NOTEBOOK[:2]}"
    if (workspace / "mlflow.db").is_file():
        server, base = bh.start_mlflow_ui(workspace, artifacts, wait=False)
        request.addfinalizer(server.stop)
        seen["mlflow_ui"] = (server, base, time.monotonic())

    # screenshots: the first exercise (error + folded hint and solution), and the end of the notebook
    page.locator("details summary", has_text="Hint").first.click()  # unfold one hint, as a learner would
    page.evaluate(SCROLL_TO_FIRST_EXERCISE)
    page.evaluate(PAINTED)
    shot(page, artifacts, "05-run-all-first-exercise")
    page.locator(".jp-Notebook .jp-Cell").last.scroll_into_view_if_needed()
    shot(page, artifacts, "06-run-all-end")
    TIMINGS["steps 1 and 2 in all"] = time.monotonic() - t0
    page.close()
    return seen


def _errors(nb) -> list[dict]:
    found = []
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        for out in cell.get("outputs", []):
            if out.get("output_type") == "error":
                meta = cell.metadata.get("nbgrader", {})
                found.append(
                    {
                        "index": index,
                        "id": cell.get("id"),
                        "ename": out.get("ename"),
                        "evalue": str(out.get("evalue"))[:200],
                        "answer": bool(meta.get("solution")),
                        "check": bool(meta.get("grade")),
                        "tagged": "raises-exception" in cell.metadata.get("tags", []),
                    }
                )
    return found


def test_start_page_opens_rendered_and_lists_the_five_notebooks(notebook_run):
    text = notebook_run["start_page_text"]
    for name in ("01-workspace", "02-experiments", "03-optimise", "04-deploy", "05-responsible-ai"):
        assert name in text, f"the start page (notebooks/README.md, rendered) does not list {name}"
    assert "Validate" in text and "make mlflow-ui" in text, (
        "the start page should say how to check answers (Validate) and open the MLflow UI"
    )


def test_validate_button_reports_the_unanswered_checks(notebook_run):
    text = notebook_run["validate_text"]
    assert "Validation Results" in text, f"no validation results dialog: {text[:500]}"
    assert "failed" in text.lower(), (
        f"Validate on the unanswered notebook should report failing checks; it said: {text[:800]}"
    )


def test_run_all_runs_every_cell_and_fails_only_unanswered_exercises(notebook_run):
    nb = notebook_run["saved"]
    code = [(i, c) for i, c in enumerate(nb.cells) if c.cell_type == "code"]
    not_run = [c.get("id") for _, c in code if c.get("execution_count") is None]
    assert not not_run, (
        f"Run All Cells stopped early or skipped cells: {len(not_run)} of {len(code)} code "
        f"cells never ran, first {not_run[:5]}; prompts seen: {notebook_run['prompts'][:40]}"
    )
    errors = _errors(nb)
    unexpected = [
        e
        for e in errors
        if not e["tagged"]
        or (e["answer"] and e["ename"] != "NotImplementedError")
        or (e["check"] and e["ename"] not in UNANSWERED_CHECK_ERRORS)
        or not (e["answer"] or e["check"])
    ]
    assert not unexpected, "cells failed that are not unanswered exercises:\n" + "\n".join(
        f"  cell {e['index']} ({e['id']}): {e['ename']}: {e['evalue']}" for e in unexpected
    )
    answers = [c.get("id") for _, c in code if c.metadata.get("nbgrader", {}).get("solution")]
    raised = {e["id"] for e in errors if e["answer"]}
    assert answers, "the self-paced edition has no answer cells"
    assert raised == set(answers), (
        f"answer cells that did not raise NotImplementedError (not the unanswered edition?): {set(answers) - raised}"
    )


def test_formgrader_lists_every_assignment(notebook_run, course):
    expected = bh.source_assignments(course)
    assert expected, "source/ holds no assignment"
    listed = notebook_run["formgrader_listed"]
    assert sorted(x for x in listed if x) == expected, f"the formgrader lists {listed}; source/ holds {expected}"


# ------------------------------------------------------------------------------------------------
# step 3: the MLflow UI on the notebook's workspace
# ------------------------------------------------------------------------------------------------
def tracked(db: Path) -> tuple[list[str], dict[str, list[str]]]:
    """Active experiments other than Default, and the run names of each, read from the store."""
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as con:
        experiments = [
            (eid, name)
            for eid, name in con.execute(
                "SELECT experiment_id, name FROM experiments WHERE lifecycle_stage = 'active' AND name != 'Default'"
            )
        ]
        runs = {
            name: [
                r
                for (r,) in con.execute(
                    "SELECT name FROM runs WHERE experiment_id = ? AND lifecycle_stage = 'active'", (eid,)
                )
            ]
            for eid, name in experiments
        }
    return [name for _, name in experiments], runs


def test_mlflow_ui_lists_the_notebooks_experiment(notebook_run, browser, course, artifacts):
    db = course / "notebooks" / f"workspace-{NOTEBOOK[:2]}" / "mlflow.db"
    assert db.is_file() and "mlflow_ui" in notebook_run, (
        f"running {NOTEBOOK} in JupyterLab did not create {db.relative_to(course)}"
    )
    experiments, runs = tracked(db)
    assert experiments, f"{NOTEBOOK} created no MLflow experiment in {db.relative_to(course)}"
    server, base, started = notebook_run["mlflow_ui"]
    server.wait_http(f"{base}/health", 180)
    t0 = time.monotonic()
    TIMINGS["MLflow UI server start (in the background from the save)"] = t0 - started
    try:
        page = browser.context.new_page()
        page.goto(f"{base}/#/experiments")
        toggle = page.get_by_text("Model training", exact=True)
        toggle.first.wait_for(timeout=120_000)
        toggle.first.click()  # the classic-ML view of MLflow 3 (runs, metrics), not the GenAI one
        for name in experiments:
            page.get_by_role("link", name=name, exact=True).first.wait_for(timeout=60_000)
        close = page.get_by_role("button", name="Close")  # MLflow 3's assistant side panel, if open
        if close.count():
            close.first.click()
        shot(page, artifacts, "07-mlflow-experiments")
        page.get_by_role("link", name=experiments[0], exact=True).first.click()
        page.get_by_text("Run Name", exact=True).first.wait_for(timeout=120_000)  # the runs table
        for run in runs[experiments[0]][:3]:
            page.get_by_text(run, exact=True).first.wait_for(timeout=60_000)
        page.evaluate(PAINTED)
        shot(page, artifacts, "08-mlflow-runs")
        page.close()
        TIMINGS["MLflow UI pages"] = time.monotonic() - t0
    finally:
        server.stop()
    assert server.proc.poll() is not None, "the MLflow UI is still running after stop()"


# ------------------------------------------------------------------------------------------------
# the whole run: nothing fetched from the network; `make lab` ships the settings used here
# ------------------------------------------------------------------------------------------------
def test_nothing_was_requested_from_the_network(notebook_run, browser):
    assert not browser.external, f"the browser requested external URLs: {browser.external[:10]}"


def test_make_lab_writes_the_settings_this_test_uses():
    assert bh.makefile_lab_overrides() == bh.LAB_OVERRIDES, (
        "the Makefile's lab recipe and tests/browser_harness.LAB_OVERRIDES disagree"
    )
