"""The workshop, end to end: a real JupyterHub, real system users, Debian's Chromium.

An instructor and three students (system users created for the test and removed after it, even
when it fails) use the hub the way a workshop does:
1. the instructor generates and releases 01-workspace from the formgrader;
2. each student signs in (choosing a password at first sign-in), fetches it in the Assignments tab,
   works on it (one full solution, one partial, one untouched: the sample submissions' notebooks are
   written into the fetched file) and submits;
3. the instructor collects in the formgrader; the course's autograder grades the collection
   (`hub/hubctl.py grade`); the instructor releases the feedback from the formgrader;
4. each student fetches their feedback and sees their own score and no hidden test;
5. a student cannot open another's files (in the browser, or as their own uid on disk), and no
   file a student account can read holds a hidden test.
Screenshots of each step go to test-artifacts/hub/. Needs root, Chromium and configurable-http-proxy
(.ci/run installs them): fails in CI when missing, skips elsewhere with the install command.
"""
from __future__ import annotations

import json
import os
import pwd
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import nbformat
import pytest

from browser_harness import CHROMIUM_ARGS, chromium_path, free_port, in_ci
from conftest import ROOT

A = "01-workspace"
HUBCTL = ROOT / "hub" / "hubctl.py"
ARTIFACTS = ROOT / "test-artifacts" / "hub"
SAMPLES = ROOT / "autograder" / "samples" / A
SUFFIX = secrets.token_hex(2)
TEACHER = f"dpteach{SUFFIX}"
STUDENTS = {f"dpfull{SUFFIX}": "full", f"dppart{SUFFIX}": "partial", f"dpblank{SUFFIX}": "blank"}
PASSWORDS = {name: secrets.token_urlsafe(12) for name in [TEACHER, *STUDENTS]}


def _missing() -> list[str]:
    need = []
    if os.geteuid() != 0:
        need.append("root (the hub creates system users)")
    if not chromium_path():
        need.append("chromium (apt-get install chromium)")
    if not shutil.which("configurable-http-proxy"):
        need.append("configurable-http-proxy (apt-get install node-configurable-http-proxy)")
    if not os.access("/usr/bin/python3.11", os.X_OK) or subprocess.run(
            ["/usr/bin/python3.11", "-c", "import ensurepip"], capture_output=True).returncode != 0:
        need.append("Debian's python3.11 with venv (apt-get install python3.11-venv)")
    return need


@pytest.fixture(scope="module")
def hub(tmp_path_factory):
    missing = _missing()
    if missing:
        message = "the hub test needs " + ", ".join(missing)
        if in_ci():
            pytest.fail(message)
        pytest.skip(message)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for old in ARTIFACTS.glob("*.png"):
        old.unlink()
    # DP100_HUB_TEST_ROOT (for someone working on the hub): reuse that root's venv between runs.
    keep = os.environ.get("DP100_HUB_TEST_ROOT")
    root = Path(keep) if keep else Path(tempfile.mkdtemp(prefix="dp100-hub-"))
    root.mkdir(parents=True, exist_ok=True)
    os.chmod(root, 0o755)
    roster = root / "roster.csv"
    roster.write_text("username,role\n" + f"{TEACHER},instructor\n" + "".join(f"{s},student\n" for s in STUDENTS))
    for name in [TEACHER, *STUDENTS]:
        with pytest.raises(KeyError):  # never touch an account the test did not create
            pwd.getpwnam(name)
    proc = None
    log = open(root / "hub.log", "w")
    try:
        t0 = time.monotonic()
        setup = subprocess.run([sys.executable, str(HUBCTL), "setup", "--roster", str(roster), "--hub-root", str(root)],
                               capture_output=True, text=True, timeout=1200)
        assert setup.returncode == 0, setup.stderr[-3000:]
        port = free_port()
        env = {**os.environ, "DP100_HUB_ROOT": str(root), "DP100_HUB_ROSTER": str(roster),
               "DP100_HUB_IP": "127.0.0.1", "DP100_HUB_PORT": str(port),
               "DP100_HUB_API_PORT": str(free_port()), "DP100_PROXY_API_PORT": str(free_port())}
        proc = subprocess.Popen([str(root / "venv" / "bin" / "jupyterhub"), "-f", str(ROOT / "hub" / "jupyterhub_config.py")],
                                cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        base = f"http://127.0.0.1:{port}"
        for _ in range(120):
            try:
                if urllib.request.urlopen(f"{base}/hub/health", timeout=2).status == 200:
                    break
            except OSError:
                time.sleep(1)
        else:
            pytest.fail("the hub did not answer /hub/health:\n" + (root / "hub.log").read_text()[-3000:])
        print(f"hub set up and started in {time.monotonic() - t0:.1f} s")
        yield {"root": root, "roster": roster, "base": base}
    finally:
        if proc is not None:
            try:
                os.killpg(proc.pid, signal.SIGTERM)
                proc.wait(timeout=30)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        log.close()
        shutil.copy(root / "hub.log", ARTIFACTS / "hub.log") if (root / "hub.log").exists() else None
        subprocess.run([sys.executable, str(HUBCTL), "teardown", "--hub-root", str(root)] + (["--keep-venv"] if keep else []),
                       capture_output=True, timeout=300)
        for name in [TEACHER, *STUDENTS]:
            try:
                pwd.getpwnam(name)
                subprocess.run(["userdel", "--remove", name], capture_output=True)
            except KeyError:
                pass


@pytest.fixture(scope="module")
def browser(hub):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        yield b
        b.close()


def shot(page, name: str) -> None:
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"))


def sign_in(browser, hub, user: str):
    ctx = browser.new_context(viewport={"width": 1400, "height": 900})
    page = ctx.new_page()
    page.set_default_timeout(180_000)
    page.goto(f"{hub['base']}/hub/login")
    page.fill("input[name=username]", user)
    page.fill("input[name=password]", PASSWORDS[user])
    page.click("#login_submit")
    page.wait_for_url(f"**/user/{user}/**")
    page.wait_for_selector("#jp-main-dock-panel")
    return ctx, page


def assignments_tab(page):
    page.click(".lm-MenuBar-itemLabel:text-is('Nbgrader')")
    page.locator(".lm-Menu-itemLabel", has_text="Assignment List").click()
    page.wait_for_selector("text=Released assignments")
    return page


def formgrader(page, hub, user: str):
    page.goto(f"{hub['base']}/user/{user}/formgrader")
    page.wait_for_selector(f"tr:has-text('{A}')")
    return page.locator("tr", has_text=A)


def modal_ok(page, expect: str) -> str:
    page.wait_for_selector(".modal-dialog")
    text = page.locator(".modal-dialog").inner_text()
    assert expect in text, text
    page.locator(".modal-footer button").last.click()
    page.wait_for_selector(".modal-dialog", state="detached")
    return text


def hidden_lines() -> list[str]:
    """Lines only the hidden tests of the source notebook have (what must never reach a student)."""
    nb = nbformat.read(ROOT / "source" / A / f"{A}.ipynb", as_version=4)
    lines = []
    for cell in nb.cells:
        for block in re.findall(r"### BEGIN HIDDEN TESTS\n(.*?)### END HIDDEN TESTS", cell.source, re.S):
            lines += [line.strip() for line in block.splitlines() if len(line.strip()) > 25]
    assert lines, "01-workspace has no hidden tests to look for"
    return lines


def as_user(hub, name: str, code: str) -> subprocess.CompletedProcess:
    """Run Python code as a student's uid, with the hub's interpreter (the only one they can run)."""
    user = pwd.getpwnam(name)
    return subprocess.run([str(hub["root"] / "venv" / "bin" / "python"), "-c", code], capture_output=True, text=True, timeout=600,
                          user=user.pw_uid, group=user.pw_gid, extra_groups=[], cwd="/",
                          env={"PATH": "/usr/bin:/bin", "HOME": user.pw_dir})


@pytest.fixture(scope="module")
def workshop(hub, browser):
    """Run the whole workshop once; the tests below check what each person saw."""
    seen = {}
    t0 = time.monotonic()
    ctx, page = sign_in(browser, hub, TEACHER)
    row = formgrader(page, hub, TEACHER)
    shot(page, "01-formgrader-draft")
    row.locator("td.assign a").click()
    modal_ok(page, "Successfully created the student version")
    row.locator("td.release a").click()
    modal_ok(page, f"Successfully released '{A}'")
    shot(page, "02-formgrader-released")
    ctx.close()

    for i, (student, kind) in enumerate(STUDENTS.items()):
        sctx, spage = sign_in(browser, hub, student)
        assignments_tab(spage)
        spage.locator("#released_assignments_list button", has_text="Fetch").click()
        spage.wait_for_selector("#fetched_assignments_list >> text=" + A)
        if i == 0:
            shot(spage, "03-student-fetched")
        home = Path(pwd.getpwnam(student).pw_dir)
        fetched = home / A / f"{A}.ipynb"
        assert fetched.exists(), f"{student}: fetch did not create {fetched}"
        user = pwd.getpwnam(student)
        shutil.copyfile(SAMPLES / kind / A / f"{A}.ipynb", fetched)  # the student's work
        os.chown(fetched, user.pw_uid, user.pw_gid)
        spage.locator("#fetched_assignments_list button", has_text="Submit").click()
        spage.wait_for_selector("#submitted_assignments_list >> text=" + A)
        if i == 0:
            shot(spage, "04-student-submitted")
        sctx.close()

    ctx, page = sign_in(browser, hub, TEACHER)
    row = formgrader(page, hub, TEACHER)
    row.locator("td.collect a").click()
    modal_ok(page, "Successfully collected")
    graded = subprocess.run([sys.executable, str(HUBCTL), "grade", "--assignment", A, "--roster", str(hub["roster"]),
                             "--hub-root", str(hub["root"])], capture_output=True, text=True, timeout=1200)
    assert graded.returncode == 0, graded.stdout[-2000:] + graded.stderr[-3000:]
    teacher_home = Path(pwd.getpwnam(TEACHER).pw_dir)
    seen["grades"] = json.loads((teacher_home / "course" / "autograder" / A / "grades.json").read_text())
    row = formgrader(page, hub, TEACHER)
    shot(page, "05-formgrader-collected-graded")
    row.locator("td.release-feedback a").click()
    modal_ok(page, "Successfully released feedback")
    shot(page, "06-feedback-released")
    ctx.close()

    seen["feedback"] = {}
    for i, student in enumerate(STUDENTS):
        sctx, spage = sign_in(browser, hub, student)
        assignments_tab(spage)
        spage.locator("#submitted_assignments_list button", has_text="Fetch Feedback").click()
        home = Path(pwd.getpwnam(student).pw_dir)
        deadline = time.monotonic() + 120
        pages = []
        while time.monotonic() < deadline and not pages:
            pages = sorted((home / A / "feedback").glob(f"*/{A}.html"))
            time.sleep(1)
        assert pages, f"{student}: no feedback fetched into {home / A / 'feedback'}"
        rel = pages[-1].relative_to(home).as_posix()
        spage.goto(f"{hub['base']}/user/{student}/files/{rel}")
        seen["feedback"][student] = spage.content()
        shot(spage, f"07-feedback-{STUDENTS[student]}")
        # another student's files, through the hub
        other = next(s for s in STUDENTS if s != student)
        resp = spage.request.get(f"{hub['base']}/user/{other}/files/{A}/{A}.ipynb")
        seen.setdefault("cross", {})[student] = (resp.status, resp.url, '"nbformat"' in resp.text())
        sctx.close()
    seen["seconds"] = time.monotonic() - t0
    print(f"workshop (release, 3 fetch+submit, collect, grade, feedback) in {seen['seconds']:.1f} s")
    return seen


def test_scores_follow_the_work(workshop):
    by_kind = {STUDENTS[s["student_id"]]: s for s in workshop["grades"]["students"]}
    maximum = workshop["grades"]["max_score"]
    assert by_kind["full"]["score"] == maximum, by_kind["full"]
    assert 0 < by_kind["partial"]["score"] < maximum, by_kind["partial"]
    assert by_kind["blank"]["score"] == 0, by_kind["blank"]
    assert all(s["status"] == "graded" for s in by_kind.values()), by_kind


def test_each_student_sees_their_own_score_and_no_hidden_test(workshop):
    by_id = {s["student_id"]: s for s in workshop["grades"]["students"]}
    hidden = hidden_lines()
    for student, page in workshop["feedback"].items():
        score = by_id[student]["score"]
        assert re.search(rf"Score:\s*{score:g}(\.0)?\s*/\s*{workshop['grades']['max_score']:g}(\.0)?", page), \
            f"{student}'s feedback does not show their score {score:g}"
        leaked = [line for line in hidden if line in page]
        assert not leaked, f"{student}'s feedback shows hidden tests: {leaked[:2]}"


def test_a_student_cannot_open_another_students_files(workshop, hub):
    for student, (status, url, got_notebook) in workshop["cross"].items():
        assert not got_notebook, f"{student} opened another student's notebook (HTTP {status} at {url})"
        assert status in (403, 404) or f"/user/{student}/" in url or "/hub/" in url, (student, status, url)
    names = list(STUDENTS)
    target = Path(pwd.getpwnam(names[1]).pw_dir) / A / f"{A}.ipynb"
    probe = as_user(hub, names[0], f"open({str(target)!r}).read()")
    assert probe.returncode != 0 and "PermissionError" in probe.stderr, probe.stdout + probe.stderr


def test_no_file_a_student_can_read_holds_a_hidden_test(workshop, hub):
    """Walk, as a student's uid, every place the course or the hub put files."""
    teacher_home = pwd.getpwnam(TEACHER).pw_dir
    places = [str(ROOT), teacher_home, str(hub["root"]), "/tmp", "/home", "/srv"]
    code = (
        "import os, sys, json\n"
        f"needles = [l.encode() for l in {hidden_lines()!r}]\n"
        "found = []\n"
        f"for top in {places!r}:\n"
        "    for d, dirs, files in os.walk(top):\n"
        "        dirs[:] = [x for x in dirs if x not in ('site-packages', 'node_modules', 'proc')]\n"
        "        for f in files:\n"
        "            p = os.path.join(d, f)\n"
        "            try:\n"
        "                data = open(p, 'rb').read(20_000_000)\n"
        "            except OSError:\n"
        "                continue\n"
        "            if any(n in data for n in needles):\n"
        "                found.append(p)\n"
        "print(json.dumps(found))\n")
    probe = as_user(hub, next(iter(STUDENTS)), code)
    assert probe.returncode == 0, probe.stderr[-2000:]
    assert json.loads(probe.stdout) == [], f"a student can read hidden tests in: {probe.stdout[:1000]}"
