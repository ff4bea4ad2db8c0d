"""The workshop, end to end: a real JupyterHub, real system users, Debian's Chromium.

An instructor and three students (system users created for the test and removed after it, even
when it fails) use the hub the way a workshop does:
1. the instructor generates and releases 01-workspace from the formgrader;
2. each student signs in (choosing a password at first sign-in; a wrong one is refused later), fetches
   it in the Assignments tab, works on it (one full solution, one partial, one untouched: the sample
   submissions' notebooks are written into the fetched file) and submits;
3. the instructor signs in again, collects in the formgrader; the course's autograder grades the
   collection (`hub/hubctl.py grade`); the instructor releases the feedback from the formgrader;
4. each student fetches their feedback and sees their own score and no hidden test;
5. a student cannot open another's files (in the browser, or as their own uid on disk), and no
   file a student account can read holds a hidden test.
The hub is set up from a copy of the checkout (hubctl's course is the folder above its hub/), so
the checkout itself is never made private while other tests run from it: the copy is what hubctl
protects here, and what step 5 walks. The four people work at once where a class would (their
servers start while the instructor releases; the students fetch and submit side by side).
Screenshots of each step go to test-artifacts/hub/. Needs root, Chromium and configurable-http-proxy
(.ci/run installs them): fails in CI when missing, skips elsewhere with the install command.
"""

from __future__ import annotations

import contextlib
import json
import os
import pwd
import re
import secrets
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import nbformat
import pytest
from browser_harness import CHROMIUM_ARGS, chromium_path, copy_course, free_port, in_ci
from conftest import ROOT

from autograder.sandbox import world_reachable

pytestmark = [
    pytest.mark.slow,
    pytest.mark.browser,
    pytest.mark.root,
    pytest.mark.grading,
    pytest.mark.xdist_group("hub"),
]

A = "01-workspace"
ARTIFACTS = ROOT / "test-artifacts" / "hub"
SAMPLES = ROOT / "autograder" / "samples" / A
SUFFIX = secrets.token_hex(2)
TEACHER = f"dpteach{SUFFIX}"
STUDENTS = {f"dpfull{SUFFIX}": "full", f"dppart{SUFFIX}": "partial", f"dpblank{SUFFIX}": "blank"}
PASSWORDS = {name: secrets.token_urlsafe(12) for name in [TEACHER, *STUDENTS]}
VIEWPORT = {"width": 1400, "height": 900}
#: Seconds each phase took (printed, and written to test-artifacts/hub/report.txt).
TIMINGS: dict[str, float] = {}
#: What a student's uid may read, walked for hidden tests (read the first 20 MB of each regular file).
WALK = """
import json, os, stat, sys
needles = [n.encode() for n in json.loads(sys.argv[1])]
found = []
for top in json.loads(sys.argv[2]):
    for d, dirs, files in os.walk(top):
        dirs[:] = [x for x in dirs if x not in ('site-packages', 'node_modules', 'proc')]
        for f in files:
            p = os.path.join(d, f)
            try:
                if not stat.S_ISREG(os.stat(p).st_mode):   # never block on a FIFO or a socket
                    continue
                with open(p, 'rb') as fh:
                    data = fh.read(20_000_000)
            except OSError:
                continue
            if any(n in data for n in needles):
                found.append(p)
print(json.dumps(found))
"""


def _missing() -> list[str]:
    need = []
    if os.geteuid() != 0:
        need.append("root (the hub creates system users)")
    if not chromium_path():
        need.append("chromium (apt-get install chromium)")
    if not shutil.which("configurable-http-proxy"):
        need.append("configurable-http-proxy (apt-get install node-configurable-http-proxy)")
    if (
        not os.access("/usr/bin/python3.11", os.X_OK)
        or subprocess.run(["/usr/bin/python3.11", "-c", "import ensurepip"], capture_output=True).returncode != 0
    ):
        need.append("Debian's python3.11 with venv (apt-get install python3.11-venv)")
    return need


def _stop_group(proc: subprocess.Popen, grace: float) -> None:
    """SIGTERM to the process group we started (the hub stops its users' servers), SIGKILL if it lingers."""
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=grace)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait(timeout=10)


@pytest.fixture(scope="module")
def hub():
    missing = _missing()
    if missing:
        message = "the hub test needs " + ", ".join(missing)
        if in_ci():
            pytest.fail(message)
        pytest.skip(message)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for old in [*ARTIFACTS.glob("*.png"), *ARTIFACTS.glob("*.html"), *ARTIFACTS.glob("*.json")]:
        old.unlink()
    for name in [TEACHER, *STUDENTS]:
        with pytest.raises(KeyError):  # never touch an account the test did not create
            pwd.getpwnam(name)
    checkout_mode = stat.S_IMODE(os.stat(ROOT).st_mode)
    tmp_before = set(os.listdir("/tmp"))
    # scratch (0755, as a checkout's parent usually is) holds the course copy and the hub root
    scratch = Path(tempfile.mkdtemp(prefix="dp100-hubtest-"))
    course, hubctl, roster = scratch / "course", scratch / "course" / "hub" / "hubctl.py", scratch / "roster.csv"
    # DP100_HUB_TEST_ROOT (for someone working on the hub): a hub root whose venv is kept between runs
    keep = os.environ.get("DP100_HUB_TEST_ROOT")
    root = Path(keep) if keep else scratch / "hub"
    proc = log = None
    try:
        os.chmod(scratch, 0o755)
        copy_course(course)
        os.chmod(course, 0o755)
        assert world_reachable(course / "source" / A / f"{A}.ipynb"), (
            "the copy must start readable to all, as a checkout is"
        )
        roster.write_text("username,role\n" + f"{TEACHER},instructor\n" + "".join(f"{s},student\n" for s in STUDENTS))
        t0 = time.monotonic()
        setup = subprocess.run(
            [sys.executable, str(hubctl), "setup", "--roster", str(roster), "--hub-root", str(root)],
            capture_output=True,
            text=True,
            timeout=1200,
        )
        assert setup.returncode == 0, setup.stderr[-3000:]
        TIMINGS["hubctl setup (venv from the lock, users, course)"] = time.monotonic() - t0
        t1 = time.monotonic()
        port = free_port()
        env = {
            **os.environ,
            "DP100_HUB_ROOT": str(root),
            "DP100_HUB_ROSTER": str(roster),
            "DP100_HUB_IP": "127.0.0.1",
            "DP100_HUB_PORT": str(port),
            "DP100_HUB_API_PORT": str(free_port()),
            "DP100_PROXY_API_PORT": str(free_port()),
        }
        log = open(root / "hub.log", "w")
        proc = subprocess.Popen(
            [str(root / "venv" / "bin" / "jupyterhub"), "-f", str(course / "hub" / "jupyterhub_config.py")],
            cwd=root,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 120
        while True:
            try:
                if urllib.request.urlopen(f"{base}/hub/health", timeout=2).status == 200:
                    break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail("the hub did not answer /hub/health:\n" + (root / "hub.log").read_text()[-3000:])
            time.sleep(0.25)
        TIMINGS["JupyterHub start"] = time.monotonic() - t1
        yield {
            "root": root,
            "roster": roster,
            "base": base,
            "course": course,
            "hubctl": hubctl,
            "scratch": scratch,
            "tmp_before": tmp_before,
            "checkout_mode": checkout_mode,
        }
    finally:
        t2 = time.monotonic()
        if proc is not None:
            _stop_group(proc, 30)
        if log is not None:
            log.close()
            shutil.copy(root / "hub.log", ARTIFACTS / "hub.log")
        TIMINGS["JupyterHub stopped (with the users' servers)"] = time.monotonic() - t2
        t2 = time.monotonic()
        if hubctl.exists():
            with contextlib.suppress(subprocess.TimeoutExpired):  # the users and files are removed below anyway
                subprocess.run(
                    [sys.executable, str(hubctl), "teardown", "--hub-root", str(root)]
                    + (["--keep-venv"] if keep else []),
                    capture_output=True,
                    timeout=300,
                )
        for name in [TEACHER, *STUDENTS]:
            try:
                pwd.getpwnam(name)
                subprocess.run(["userdel", "--remove", name], capture_output=True)
            except KeyError:
                pass
        shutil.rmtree(scratch, ignore_errors=True)
        TIMINGS["hubctl teardown, users and files removed"] = time.monotonic() - t2
        report = "hub test timings:" + "".join(f"\n  {what}: {secs:.1f} s" for what, secs in TIMINGS.items())
        (ARTIFACTS / "report.txt").write_text(report + "\n")
        print("\n" + report)


@pytest.fixture(scope="module")
def browser(hub):
    from playwright.sync_api import sync_playwright

    # Playwright gives each launch a fresh profile dir and talks to Chromium over a pipe (no port):
    # another Chromium on the machine (the browser test in the other xdist worker) shares nothing
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        yield b
        b.close()


def shot(page, name: str) -> None:
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"))


def submit_sign_in(browser, hub, user: str, password: str | None = None):
    """A fresh browser session submits the sign-in form; the hub starts the person's server meanwhile
    (finish with :func:`signed_in`)."""
    ctx = browser.new_context(viewport=VIEWPORT)
    page = ctx.new_page()
    page.set_default_timeout(180_000)
    page.goto(f"{hub['base']}/hub/login")
    page.fill("input[name=username]", user)
    page.fill("input[name=password]", password or PASSWORDS[user])
    page.click("#login_submit")
    return ctx, page


def signed_in(page, user: str, lab: bool = True):
    """Wait until the hub has sent ``user`` to their own server (and, with ``lab``, JupyterLab is up)."""
    page.wait_for_url(f"**/user/{user}/**", wait_until="commit")
    if lab:
        page.wait_for_selector("#jp-main-dock-panel")
    return page


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


def as_user(hub, name: str | None, code: str, *args: str) -> subprocess.CompletedProcess:
    """Run Python code as a student's uid (root when ``name`` is None), with the hub's interpreter
    (the only one they can run)."""
    kw = {}
    if name is not None:
        user = pwd.getpwnam(name)
        kw = {
            "user": user.pw_uid,
            "group": user.pw_gid,
            "extra_groups": [],
            "env": {"PATH": "/usr/bin:/bin", "HOME": user.pw_dir},
        }
    return subprocess.run(
        [str(hub["root"] / "venv" / "bin" / "python"), "-c", code, *args],
        capture_output=True,
        text=True,
        timeout=600,
        cwd="/",
        **kw,
    )


@pytest.fixture(scope="module")
def workshop(hub, browser):
    """Run the whole workshop once; the tests below check what each person saw."""
    seen = {}
    t0 = time.monotonic()
    lap = t0

    def timed(what: str) -> None:
        nonlocal lap
        TIMINGS[what] = time.monotonic() - lap
        lap = time.monotonic()

    # everyone signs in at once (first sign-in: the password they type is theirs from now on); the
    # students' servers start while the instructor releases
    tctx, tpage = submit_sign_in(browser, hub, TEACHER)
    desks = {student: submit_sign_in(browser, hub, student) for student in STUDENTS}
    signed_in(tpage, TEACHER, lab=False)
    row = formgrader(tpage, hub, TEACHER)
    shot(tpage, "01-formgrader-draft")
    row.locator("td.assign a").click()
    modal_ok(tpage, "Successfully created the student version")
    row.locator("td.release a").click()
    modal_ok(tpage, f"Successfully released '{A}'")
    shot(tpage, "02-formgrader-released")
    tctx.close()
    timed("instructor signed in, generated and released (students' servers starting meanwhile)")

    for student, (_, spage) in desks.items():
        assignments_tab(signed_in(spage, student))
        spage.locator("#released_assignments_list button", has_text="Fetch").click()
    first = next(iter(STUDENTS))
    for i, (student, kind) in enumerate(STUDENTS.items()):
        spage = desks[student][1]
        spage.wait_for_selector("#fetched_assignments_list >> text=" + A)
        if i == 0:
            shot(spage, "03-student-fetched")
        user = pwd.getpwnam(student)
        fetched = Path(user.pw_dir) / A / f"{A}.ipynb"
        assert fetched.exists(), f"{student}: fetch did not create {fetched}"
        shutil.copyfile(SAMPLES / kind / A / f"{A}.ipynb", fetched)  # the student's work
        os.chown(fetched, user.pw_uid, user.pw_gid)
        spage.locator("#fetched_assignments_list button", has_text="Submit").click()
    for _, spage in desks.values():
        spage.wait_for_selector("#submitted_assignments_list >> text=" + A)
    shot(desks[first][1], "04-student-submitted")
    timed("3 students signed in, fetched, worked and submitted")

    # the instructor comes back: a new session, signed in with the password chosen at first sign-in
    tctx, tpage = submit_sign_in(browser, hub, TEACHER)
    row = formgrader(signed_in(tpage, TEACHER, lab=False), hub, TEACHER)
    row.locator("td.collect a").click()
    modal_ok(tpage, "Successfully collected")
    timed("instructor signed in again and collected")
    grading = subprocess.Popen(
        [
            sys.executable,
            str(hub["hubctl"]),
            "grade",
            "--assignment",
            A,
            "--roster",
            str(hub["roster"]),
            "--hub-root",
            str(hub["root"]),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    # while the grader runs: a student's chosen password is now required
    wctx, wpage = submit_sign_in(browser, hub, first, password=PASSWORDS[first] + "-wrong")
    wpage.wait_for_load_state()
    seen["wrong_password"] = (wpage.url, wpage.locator("body").inner_text())
    wctx.close()
    out, err = grading.communicate(timeout=1200)
    assert grading.returncode == 0, out[-2000:] + err[-3000:]
    timed("hubctl grade (the course's autograder, sandboxed)")
    teacher_home = Path(pwd.getpwnam(TEACHER).pw_dir)
    seen["grades"] = json.loads((teacher_home / "course" / "autograder" / A / "grades.json").read_text())
    (ARTIFACTS / "grades.json").write_text(json.dumps(seen["grades"], indent=1))
    row = formgrader(tpage, hub, TEACHER)
    shot(tpage, "05-formgrader-collected-graded")
    row.locator("td.release-feedback a").click()
    modal_ok(tpage, "Successfully released feedback")
    shot(tpage, "06-feedback-released")
    tctx.close()

    # each student, still signed in, fetches the feedback in the Assignments tab
    for _, spage in desks.values():
        spage.locator("#refresh_assignments_list").click()
        spage.locator("#submitted_assignments_list button", has_text="Fetch Feedback").click()
    seen["feedback"], seen["cross"] = {}, {}
    for student, (sctx, spage) in desks.items():
        home = Path(pwd.getpwnam(student).pw_dir)
        deadline = time.monotonic() + 120
        pages = sorted((home / A / "feedback").glob(f"*/{A}.html"))
        while time.monotonic() < deadline and not pages:
            time.sleep(0.25)
            pages = sorted((home / A / "feedback").glob(f"*/{A}.html"))
        assert pages, f"{student}: no feedback fetched into {home / A / 'feedback'}"
        rel = pages[-1].relative_to(home).as_posix()
        spage.goto(f"{hub['base']}/user/{student}/files/{rel}")
        seen["feedback"][student] = spage.content()
        (ARTIFACTS / f"07-feedback-{STUDENTS[student]}.html").write_text(seen["feedback"][student])
        shot(spage, f"07-feedback-{STUDENTS[student]}")
        # another student's files, through the hub
        other = next(s for s in STUDENTS if s != student)
        resp = spage.request.get(f"{hub['base']}/user/{other}/files/{A}/{A}.ipynb")
        seen["cross"][student] = (resp.status, resp.url, '"nbformat"' in resp.text())
        sctx.close()
    timed("instructor released feedback, 3 students fetched and opened it")
    seen["checkout_mode"] = stat.S_IMODE(os.stat(ROOT).st_mode)
    seen["seconds"] = time.monotonic() - t0
    TIMINGS["workshop in all"] = seen["seconds"]
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
        assert re.search(rf"Score:\s*{score:g}(\.0)?\s*/\s*{workshop['grades']['max_score']:g}(\.0)?", page), (
            f"{student}'s feedback does not show their score {score:g}"
        )
        leaked = [line for line in hidden if line in page]
        assert not leaked, f"{student}'s feedback shows hidden tests: {leaked[:2]}"


def test_a_student_cannot_open_another_students_files(workshop, hub):
    for student, (status, url, got_notebook) in workshop["cross"].items():
        assert not got_notebook, f"{student} opened another student's notebook (HTTP {status} at {url})"
        assert status in (403, 404) or f"/user/{student}/" in url or "/hub/" in url, (student, status, url)
    names = list(STUDENTS)
    target = Path(pwd.getpwnam(names[1]).pw_dir) / A / f"{A}.ipynb"
    probe = as_user(hub, names[0], "import sys; open(sys.argv[1]).read()", str(target))
    assert probe.returncode != 0 and "PermissionError" in probe.stderr, probe.stdout + probe.stderr


def test_a_password_chosen_at_first_sign_in_is_required_from_then_on(workshop):
    url, text = workshop["wrong_password"]
    assert "/hub/login" in url and "/user/" not in url, f"a wrong password signed in: {url}"
    assert "Invalid username or password" in text, text[:500]


def test_no_file_a_student_can_read_holds_a_hidden_test(workshop, hub):
    """Walk, as a student's uid, every place the course or the hub put files: the course the hub was
    set up from (here the copy: hubctl made it private), the hub root, every home, /srv, and what
    appeared in /tmp while the workshop ran (whatever /tmp held before is not the hub's)."""
    hidden = json.dumps(hidden_lines())
    new_in_tmp = sorted(f"/tmp/{name}" for name in set(os.listdir("/tmp")) - hub["tmp_before"])
    places = [str(hub["course"]), str(hub["root"]), pwd.getpwnam(TEACHER).pw_dir, "/home", "/srv"] + new_in_tmp
    # the walk can find them: as root, it finds the hidden tests in the course copy
    control = as_user(hub, None, WALK, hidden, json.dumps([str(hub["course"] / "source")]))
    assert str(hub["course"] / "source" / A / f"{A}.ipynb") in json.loads(control.stdout), control.stderr[-2000:]
    probe = as_user(hub, next(iter(STUDENTS)), WALK, hidden, json.dumps(places))
    assert probe.returncode == 0, probe.stderr[-2000:]
    assert json.loads(probe.stdout) == [], f"a student can read hidden tests in: {probe.stdout[:1000]}"


def test_the_checkout_is_never_made_private(workshop, hub):
    """The hub ran from a copy: tests in the other xdist worker keep a checkout other uids can traverse."""
    assert workshop["checkout_mode"] == hub["checkout_mode"], (
        f"{ROOT} changed mode from {hub['checkout_mode']:o} to {workshop['checkout_mode']:o} while the hub ran"
    )
