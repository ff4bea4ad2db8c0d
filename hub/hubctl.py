"""Set up, and take down, the workshop hub on one machine (run as root; `make hub` calls `setup`).

    python hub/hubctl.py setup    --roster hub/roster.csv [--hub-root /srv/dp100-hub]
    python hub/hubctl.py grade    --assignment ID [--roster hub/roster.csv] [--hub-root ...] [--jobs 2]
    python hub/hubctl.py teardown [--hub-root /srv/dp100-hub]

`setup` is idempotent. It builds, under the hub root (everything a student's server may read):
  venv/      the course's pinned stack in a venv every user can execute (the default `python3`
             of this machine kind lives under /root, mode 700: its venvs fail for other users),
             with `dp100` installed from the course (not editable: students never read the checkout)
  data/      the course data (`DP100_DATA`)
  exchange/  nbgrader's exchange, root-owned and writable by all (nbgrader's multi-user set-up)
  etc/jupyter/  nbgrader's course id and exchange for every user's server
  state/     (0700, root) the hub's database, cookie secret, and the users this script created
and one system user per roster line: a private home (0700); the instructor gets `~/course`
(source/ with the hidden tests, nbgrader_config.py) and the formgrader; students get the
Assignments tab only. The course checkout itself is made private to its owner (o-rwx): it holds
the hidden tests, the solutions and their history.
`grade` grades what the instructor collected (`~/course/submitted/`, nbgrader's layout) with the
course's autograder (sandboxed, as root), records the scores in the instructor's gradebook, and puts
each student's feedback page where `nbgrader release_feedback` (the formgrader's button) takes it.
`teardown` removes the users this script created (and their homes), the hub root, and gives the
checkout its permissions back.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import os
import pwd
import re
import shutil
import stat
import subprocess
import sys
import sysconfig
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DEFAULT_ROOT = Path("/srv/dp100-hub")
COURSE_ID = "dp100-local"
USERNAME = re.compile(r"[a-z_][a-z0-9_-]{0,30}")
#: Interpreters other users can execute, best first (Debian's python3.11 needs `python3.11-venv`).
PYTHONS = ["/usr/bin/python3.11", "/usr/local/bin/python3.11"]
STUDENT_OFF_SERVER = ["nbgrader.server_extensions.formgrader", "nbgrader.server_extensions.course_list"]
STUDENT_OFF_LAB = [
    "@jupyter/nbgrader:formgrader",
    "@jupyter/nbgrader:course-list",
    "@jupyter/nbgrader:create-assignment",
]


#: The course's JupyterLab defaults (the same as `make lab`): no news fetched from the web.
LAB_SETTINGS = {
    "@jupyterlab/docmanager-extension:plugin": {"defaultViewers": {"markdown": "Markdown Preview"}},
    "@jupyterlab/apputils-extension:notification": {"fetchNews": "false", "checkForUpdates": False},
}


class HubError(RuntimeError):
    pass


def read_roster(path: Path) -> list[tuple[str, str]]:
    """[(username, role)] with exactly one instructor; a clear error naming the bad line."""
    try:
        rows = list(csv.DictReader(Path(path).read_text(encoding="utf-8-sig").splitlines()))
    except OSError as exc:
        raise HubError(f"roster {path}: {exc.strerror or exc}") from None
    if not rows or not {"username", "role"} <= set(rows[0]):
        raise HubError(f"roster {path}: needs a header `username,role`")
    users, seen = [], set()
    for line, row in enumerate(rows, start=2):
        name, role = (row["username"] or "").strip(), (row["role"] or "").strip().lower()
        if not USERNAME.fullmatch(name):
            raise HubError(f"roster {path}, line {line}: {name!r} is not a valid Linux user name")
        if role not in ("instructor", "student"):
            raise HubError(f"roster {path}, line {line}: role {role!r} must be instructor or student")
        if name in seen:
            raise HubError(f"roster {path}, line {line}: {name} appears twice")
        seen.add(name)
        users.append((name, role))
    if sum(r == "instructor" for _, r in users) != 1:
        raise HubError(f"roster {path}: needs exactly one instructor")
    return users


def _run(cmd: list[str], **kw) -> None:
    done = subprocess.run(cmd, capture_output=True, text=True, **kw)
    if done.returncode != 0:
        raise HubError(f"{' '.join(cmd[:4])}... failed ({done.returncode}):\n{(done.stdout + done.stderr)[-2000:]}")


def _python() -> str:
    for candidate in PYTHONS:
        if os.access(candidate, os.X_OK):
            return candidate
    raise HubError("no system Python 3.11 that every user can run: apt-get install python3.11-venv")


def _uv() -> str:
    """The uv that `make venv` installed from the lock beside this interpreter (or one on PATH)."""
    beside = Path(sys.executable).parent / "uv"
    found = str(beside) if os.access(beside, os.X_OK) else shutil.which("uv")
    if not found:
        raise HubError("uv not found: run `make venv` first (it installs uv from requirements.txt)")
    return found


def _empty_mlflow_store(venv: Path, root: Path) -> None:
    """Every workspace's MLflow store starts as a copy of an empty migrated one (dp100/mlflow_store.py).
    Users cannot write into the hub's venv, so it is put there now: copied from the venv running this
    script when that has one for the same MLflow version (same lock), else built by the hub's venv."""
    from dp100 import mlflow_store

    ask = "from dp100.mlflow_store import template_path; print(template_path())"
    theirs = Path(
        subprocess.run(
            [str(venv / "bin" / "python"), "-c", ask], capture_output=True, text=True, check=True
        ).stdout.strip()
    )
    ours = mlflow_store.template_path()
    if ours.name == theirs.name and ours.is_file():
        theirs.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(ours, theirs)
    else:
        _run([str(venv / "bin" / "python"), "-m", "dp100.mlflow_store"], cwd=str(root))


def borrow_bytecode(donor: Path, site: Path) -> int:
    """Link (or copy) into ``site`` the ``.pyc`` that ``donor`` has for each module that is the very
    same file in both (one inode: uv links both installs to its cache); only from a donor owned by
    this user. A borrowed ``.pyc`` is checked against its source like any other (compileall
    recompiles a stale one). Returns how many."""
    if site.resolve() == donor.resolve() or not donor.is_dir() or donor.stat().st_uid != os.getuid():
        return 0
    borrowed = 0
    for folder, dirs, files in os.walk(donor):
        here = Path(folder)
        if here.name != "__pycache__":
            continue
        dirs.clear()
        for name in files:
            source = here.parent / f"{name.partition('.')[0]}.py"
            twin = site / source.relative_to(donor)
            if name.endswith(".pyc") and twin.is_file() and source.is_file() and os.path.samefile(source, twin):
                target = twin.parent / "__pycache__" / name
                target.parent.mkdir(exist_ok=True)
                target.unlink(missing_ok=True)
                try:
                    os.link(here / name, target)  # the same bytes: no need to copy them
                except OSError:  # another file system
                    shutil.copyfile(here / name, target)
                borrowed += 1
    return borrowed


def build_venv(root: Path) -> Path:
    """The course's lock in root/venv, every file hash-checked (rebuilt when requirements.txt changes)."""
    venv = root / "venv"
    want = hashlib.sha256((REPO / "requirements.txt").read_bytes()).hexdigest()
    stamp = venv / ".requirements.sha256"
    into_venv = ["--quiet", "--python", str(venv / "bin" / "python")]
    if not (stamp.exists() and stamp.read_text() == want):
        shutil.rmtree(venv, ignore_errors=True)
        _run([_python(), "-m", "venv", "--without-pip", str(venv)])  # uv installs; no pip needed inside
        # sync: exactly the lock, nothing resolved again (requirements-overrides.txt: what it leaves out)
        _run([_uv(), "pip", "sync", *into_venv, "--require-hashes", str(REPO / "requirements.txt")])
        # Bytecode: users cannot write .pyc into this root-owned venv, so without it every kernel would
        # compile mlflow, sklearn... from source at each import. Compiling all of it costs ~40 CPU-s;
        # the venv running this script (`make venv`, same lock, same uv cache) has most of it already.
        site = next((venv / "lib").glob("python3*/site-packages"))
        borrow_bytecode(Path(sysconfig.get_paths()["purelib"]), site)
        # the rest; like uv's --compile-bytecode, a file that does not compile is left to fail at import
        compile_rest = "import compileall, sys; compileall.compile_dir(sys.argv[1], quiet=2, workers=0)"
        _run([str(venv / "bin" / "python"), "-c", compile_rest, str(site)])
        stamp.write_text(want)
    # dp100 itself: always the checkout's current code, copied in (never an editable link), built with
    # the lock's setuptools (no unhashed download).
    _run(
        [
            _uv(),
            "pip",
            "install",
            *into_venv,
            "--no-deps",
            "--reinstall-package",
            "dp100",
            "--no-build-isolation",
            str(REPO),
        ],
        cwd=str(root),
    )
    _run(
        [
            str(venv / "bin" / "python"),
            "-m",
            "ipykernel",
            "install",
            "--sys-prefix",
            "--name",
            "python3",
            "--display-name",
            "Python 3 (dp100)",
        ]
    )
    _empty_mlflow_store(venv, root)
    _write(
        venv / "share" / "jupyter" / "lab" / "settings" / "overrides.d" / "dp100-course.json", json.dumps(LAB_SETTINGS)
    )
    for dirpath, _dirnames, _filenames in os.walk(venv):
        os.chmod(dirpath, 0o755)
    return venv


def _write(path: Path, text: str, owner: pwd.struct_passwd | None = None, mode: int = 0o644) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    os.chmod(path, mode)
    if owner is not None:
        for p in [path] + [q for q in path.parents if str(q).startswith(owner.pw_dir + "/")]:
            os.chown(p, owner.pw_uid, owner.pw_gid)


def ensure_user(name: str, state: Path) -> pwd.struct_passwd:
    created = state / "created_users.txt"
    try:
        user = pwd.getpwnam(name)
    except KeyError:
        _run(["useradd", "--create-home", "--shell", "/bin/bash", "--user-group", name])
        with open(created, "a") as fh:
            fh.write(name + "\n")
        user = pwd.getpwnam(name)
    os.chmod(user.pw_dir, 0o700)
    return user


def configure_user(user: pwd.struct_passwd, role: str) -> None:
    """Students: the Assignments tab, no formgrader or course list. Instructor: ~/course."""
    home = Path(user.pw_dir)
    if role == "student":
        server = {"ServerApp": {"jpserver_extensions": {ext: False for ext in STUDENT_OFF_SERVER}}}
        lab = {"disabledExtensions": {ext: True for ext in STUDENT_OFF_LAB}}
        _write(home / ".jupyter" / "jupyter_server_config.json", json.dumps(server, indent=1), user)
        _write(home / ".jupyter" / "labconfig" / "page_config.json", json.dumps(lab, indent=1), user)
        return
    course = home / "course"
    source = course / "source"
    if not source.exists():
        shutil.copytree(REPO / "source", source)
    # The course's own grading settings (its root is the folder the file is in: ~/course), read
    # by nbgrader or the autograder run in ~/course, and by the formgrader through ~/.jupyter.
    _write(course / "nbgrader_config.py", (REPO / "nbgrader_config.py").read_text(), user)
    _write(
        home / ".jupyter" / "nbgrader_config.py",
        f"c = get_config()  # noqa: F821\nload_subconfig('nbgrader_config.py', path={str(course)!r})  # noqa: F821\n",
        user,
    )
    for dirpath, _dirnames, filenames in os.walk(course):
        os.chown(dirpath, user.pw_uid, user.pw_gid)
        for f in filenames:
            os.chown(os.path.join(dirpath, f), user.pw_uid, user.pw_gid)
    os.chmod(course, 0o700)


def setup(roster_file: Path, root: Path) -> dict:
    if os.geteuid() != 0:
        raise HubError("run as root: the hub creates system users and a shared exchange")
    users = read_roster(roster_file)
    root.mkdir(parents=True, exist_ok=True)
    os.chmod(root, 0o755)
    state = root / "state"
    state.mkdir(exist_ok=True)
    os.chmod(state, 0o700)
    mode_file = state / "checkout_mode"
    if not mode_file.exists():
        mode_file.write_text(oct(stat.S_IMODE(os.stat(REPO).st_mode)))
    os.chmod(REPO, stat.S_IMODE(os.stat(REPO).st_mode) & ~0o007)
    build_venv(root)
    if not (root / "data").exists():
        shutil.copytree(REPO / "data", root / "data", ignore=shutil.ignore_patterns("build_data.py", "__pycache__"))
    for dirpath, _dirnames, filenames in os.walk(root / "data"):
        os.chmod(dirpath, 0o755)
        for f in filenames:
            os.chmod(os.path.join(dirpath, f), 0o644)
    exchange = root / "exchange"
    exchange.mkdir(exist_ok=True)
    os.chmod(exchange, 0o1777)  # nbgrader: `chmod ugo+rw` on the exchange root (sticky: no deleting others')
    _write(
        root / "etc" / "jupyter" / "nbgrader_config.py",  # every user's server (JUPYTER_CONFIG_PATH)
        "c = get_config()  # noqa: F821\n"
        f"c.CourseDirectory.course_id = {COURSE_ID!r}\n"
        f"c.Exchange.root = {str(exchange)!r}\n",
    )
    os.chmod(root / "etc", 0o755)
    os.chmod(root / "etc" / "jupyter", 0o755)
    people = {}
    for name, role in users:
        user = ensure_user(name, state)
        configure_user(user, role)
        people[name] = role
    return people


def grade(roster_file: Path, root: Path, assignment: str, jobs: int) -> Path:
    """The course's autograder on the instructor's collected submissions; feedback ready to release."""
    if os.geteuid() != 0:
        raise HubError("run as root: the autograder sandboxes each student's kernel")
    users = read_roster(roster_file)
    teacher = pwd.getpwnam(next(n for n, r in users if r == "instructor"))
    course = Path(teacher.pw_dir) / "course"
    submitted = course / "submitted"
    if not submitted.is_dir():
        raise HubError(f"nothing collected yet: {submitted} does not exist (Collect in the formgrader first)")
    out = course / "autograder" / assignment
    env = {
        **os.environ,
        "DP100_DATA": str(root / "data"),
        "DP100_EXCHANGE": str(root / "exchange"),
        "PATH": f"{root / 'venv' / 'bin'}:{os.environ.get('PATH', '')}",
    }
    _run(
        [
            str(root / "venv" / "bin" / "python"),
            "-m",
            "autograder",
            "grade",
            str(submitted),
            "--assignment",
            assignment,
            "--out",
            str(out),
            "--jobs",
            str(jobs),
            "--instructor-dir",
            str(course),
        ],
        cwd=str(course),
        env=env,
    )
    grades = json.loads((out / "grades.json").read_text())
    for student in grades["students"]:
        sid = student["student_id"]
        dest = course / "feedback" / sid / assignment
        dest.mkdir(parents=True, exist_ok=True)
        for page in (out / "feedback" / sid / assignment).glob("*.html"):
            shutil.copyfile(page, dest / page.name)
        for name in ("timestamp.txt", "submission_secret.txt"):  # what release_feedback matches on
            if (submitted / sid / assignment / name).exists():
                shutil.copyfile(submitted / sid / assignment / name, dest / name)
    for dirpath, _dirnames, filenames in os.walk(course):
        os.chown(dirpath, teacher.pw_uid, teacher.pw_gid)
        for f in filenames:
            os.chown(os.path.join(dirpath, f), teacher.pw_uid, teacher.pw_gid)
    return out


def stop_hub(root: Path) -> None:
    """Stop the hub and its proxy by the pids they recorded (the proxy runs in a session of its own)."""
    for name in ("jupyterhub.pid", "proxy.pid"):
        pid_file = root / "state" / name
        try:
            os.kill(int(pid_file.read_text().strip()), 15)
        except (OSError, ValueError):
            pass


def teardown(root: Path, keep_venv: bool = False) -> None:
    # the grader's own: every process of a uid, each by its pid, waiting until they are gone (hubctl
    # runs from the course's venv, where the autograder package is installed)
    from autograder.sandbox import kill_uid

    stop_hub(root)
    created = root / "state" / "created_users.txt"
    if created.exists():
        for name in dict.fromkeys(created.read_text().split()):
            try:
                kill_uid(pwd.getpwnam(name).pw_uid, wait=15)
            except KeyError:
                continue
            subprocess.run(["userdel", "--remove", name], capture_output=True)
    mode_file = root / "state" / "checkout_mode"
    if mode_file.exists():
        os.chmod(REPO, int(mode_file.read_text(), 8))
    if not keep_venv:
        shutil.rmtree(root, ignore_errors=True)
        return
    for item in root.iterdir():
        if item.name != "venv":
            shutil.rmtree(item) if item.is_dir() else item.unlink()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python hub/hubctl.py")
    sub = ap.add_subparsers(dest="command", required=True)
    s = sub.add_parser("setup")
    s.add_argument("--roster", type=Path, default=REPO / "hub" / "roster.csv")
    s.add_argument("--hub-root", type=Path, default=Path(os.environ.get("DP100_HUB_ROOT", DEFAULT_ROOT)))
    g = sub.add_parser("grade")
    g.add_argument("--assignment", required=True)
    g.add_argument("--roster", type=Path, default=REPO / "hub" / "roster.csv")
    g.add_argument("--hub-root", type=Path, default=Path(os.environ.get("DP100_HUB_ROOT", DEFAULT_ROOT)))
    g.add_argument("--jobs", type=int, default=2)
    t = sub.add_parser("teardown")
    t.add_argument("--hub-root", type=Path, default=Path(os.environ.get("DP100_HUB_ROOT", DEFAULT_ROOT)))
    t.add_argument("--keep-venv", action="store_true", help="keep the hub's venv for the next setup")
    args = ap.parse_args(argv)
    try:
        if args.command == "setup":
            people = setup(args.roster, args.hub_root)
            print(f"hub ready in {args.hub_root}: " + ", ".join(f"{n} ({r})" for n, r in people.items()))
        elif args.command == "grade":
            out = grade(args.roster, args.hub_root, args.assignment, args.jobs)
            print(f"graded: {out / 'grades.csv'}; release the feedback from the formgrader")
        else:
            teardown(args.hub_root, args.keep_venv)
    except HubError as exc:
        print(f"hubctl: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
