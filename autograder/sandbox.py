"""Isolation: where and as whom a student's code runs.

Each submission runs in its own work dir (a fresh copy of that student's files only), in a kernel
started by :mod:`autograder.launcher` which, when the grader runs as root:

- runs the kernel as a uid of its own (unique per submission in this run, no passwd entry
  needed), so one student's kernel can neither read nor signal another's;
- hides the course (``source/`` with the hidden tests, ``.git``, gradebooks, the other
  submissions, the output folder, the grader's private dir) in a private mount namespace, and
  binds back only what a notebook needs: the venv, the ``dp100`` package, the data;
- caps the kernel's address space, processes and file size;
- gives it a clean environment (no CI secrets), ``HOME``/``TMPDIR`` in its work dir, and
  ``DP100_DATA`` pointing at the shipped data.

When the grader is not root it cannot change uid: the kernel runs as the grader's user and the
run prints a warning (grading still works; isolation does not).
"""
from __future__ import annotations

import os
import random
import shutil
import stat
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import psutil

#: Largest single student file copied into the sandbox, and most files per submission.
MAX_FILE_BYTES = 50 * 1024 * 1024
MAX_FILES = 500


@dataclass
class Capabilities:
    root: bool
    setuid: bool
    mount_ns: bool
    uid_base: int
    notes: list[str] = field(default_factory=list)


def _probe_child(uid: int) -> int:
    """In a forked child: which isolation features work here? Bit 1 = mount ns, bit 2 = setuid."""
    import ctypes
    code = 0
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.unshare(0x00020000) == 0:
            code |= 1
    except Exception:
        pass
    try:
        os.setgroups([])
        os.setgid(uid)
        os.setuid(uid)
        code |= 2
    except Exception:
        pass
    return code


def probe(uid_base: int | None = None) -> Capabilities:
    """Find out (in a throw-away child process) whether we can change uid and hide paths."""
    root = os.geteuid() == 0
    base = uid_base if uid_base is not None else 200_000 + random.SystemRandom().randrange(1, 2_000_000) * 1000
    if not root:
        return Capabilities(False, False, False, base, [
            f"not running as root (uid {os.geteuid()}): student code runs as this user and could read "
            "the course and hidden tests; run the grader as root (e.g. sudo, or a container) to isolate it"])
    pid = os.fork()
    if pid == 0:  # pragma: no cover - child
        os._exit(_probe_child(base))
    _, status = os.waitpid(pid, 0)
    code = os.waitstatus_to_exitcode(status)
    caps = Capabilities(True, bool(code & 2), bool(code & 1), base)
    if not caps.setuid:
        caps.uid_base = 65534
        caps.notes.append(f"cannot switch to uid {base}: kernels run as nobody (65534), all students share it")
    if not caps.mount_ns:
        caps.notes.append("no mount namespace (CAP_SYS_ADMIN missing): the course is protected by file "
                          "permissions only (see `protect_by_permissions`)")
    return caps


def world_reachable(path: Path) -> bool:
    """Could any user read ``path`` (every ancestor o+x and the path itself o+r)?"""
    path = Path(path).resolve()
    if not path.exists():
        return False
    for parent in list(path.parents)[::-1]:
        if not os.stat(parent).st_mode & stat.S_IXOTH:
            return False
    return bool(os.stat(path).st_mode & stat.S_IROTH)


def protect_by_permissions(paths: list[Path]) -> list[str]:
    """Fallback without a mount namespace: remove 'other' access from secret paths; say what changed."""
    changed = []
    for path in paths:
        if world_reachable(path):
            mode = os.stat(path).st_mode
            os.chmod(path, stat.S_IMODE(mode) & ~0o007)
            changed.append(f"chmod o-rwx {path}")
    return changed


class RunDirs:
    """The grader's scratch space for one run.

    ``base`` (0711) holds ``private/`` (0700: course copy, gradebooks, kernel logs, connection
    files), ``boxes/`` (0711: one 0700 work dir per submission, owned by its uid) and ``shared/``
    (0755: read-only caches every kernel may use, e.g. matplotlib's font list).
    """

    def __init__(self, parent: str | None = None):
        self.base = Path(tempfile.mkdtemp(prefix="autograder-", dir=parent))
        os.chmod(self.base, 0o711)
        self.private = self.base / "private"
        self.boxes = self.base / "boxes"
        self.shared = self.base / "shared"
        self.private.mkdir(mode=0o700)
        self.boxes.mkdir()
        os.chmod(self.boxes, 0o711)
        self.shared.mkdir()
        os.chmod(self.shared, 0o755)

    def cleanup(self) -> None:
        shutil.rmtree(self.base, ignore_errors=True)

    def start_font_cache(self) -> subprocess.Popen | None:
        """Give kernels matplotlib's font list without each spending seconds building it.

        Reuses this user's existing cache when there is one; otherwise builds it in the background
        (the caller overlaps it with nbgrader's set-up and waits with :meth:`finish_font_cache`).
        """
        target = self.shared / "mpl"
        target.mkdir(exist_ok=True)
        os.chmod(target, 0o755)
        candidates = [Path(os.environ["MPLCONFIGDIR"])] if os.environ.get("MPLCONFIGDIR") else []
        candidates += [Path.home() / ".cache" / "matplotlib", Path.home() / ".matplotlib"]
        for folder in candidates:
            found = sorted(folder.glob("fontlist-v*.json")) if folder.is_dir() else []
            if found:
                shutil.copy(found[-1], target / found[-1].name)
                os.chmod(target / found[-1].name, 0o644)
                return None
        env = dict(os.environ, MPLCONFIGDIR=str(target))
        return subprocess.Popen([sys.executable, "-c", "import matplotlib.font_manager"], env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def finish_font_cache(self, proc: subprocess.Popen | None) -> None:
        if proc is not None:
            try:
                proc.wait(timeout=120)
            except subprocess.TimeoutExpired:
                proc.kill()
        for f in (self.shared / "mpl").glob("*"):
            os.chmod(f, 0o644)


@dataclass
class Box:
    """One submission's sandbox."""
    path: Path
    uid: int
    gid: int
    log: Path
    skipped: list[str] = field(default_factory=list)


def make_box(dirs: RunDirs, caps: Capabilities, index: int, student_files: Path | None,
             extra_files: Path | None = None) -> Box:
    """Create a work dir for submission ``index`` holding only that student's files."""
    uid = caps.uid_base + index if caps.setuid else (caps.uid_base if caps.root else os.getuid())
    gid = uid if caps.setuid else (caps.uid_base if caps.root else os.getgid())
    path = Path(tempfile.mkdtemp(prefix="box-", dir=dirs.boxes))
    box = Box(path, uid, gid, dirs.private / f"{path.name}.kernel.log")
    if student_files is not None and student_files.is_dir():
        _copy_tree(student_files, path, box.skipped)
    if extra_files is not None and extra_files.is_dir():
        _copy_tree(extra_files, path, box.skipped, overwrite=True)
    for sub in ("tmp", ".mpl", ".ipython", ".runtime"):
        (path / sub).mkdir(exist_ok=True)
    fonts = dirs.shared / "mpl"
    if fonts.is_dir():
        for f in fonts.glob("fontlist-*.json"):
            shutil.copy(f, path / ".mpl" / f.name)
    if caps.root:
        for dirpath, dirnames, filenames in os.walk(path):
            os.chown(dirpath, uid, gid)
            for name in filenames:
                os.chown(os.path.join(dirpath, name), uid, gid)
    os.chmod(path, 0o700)
    return box


def _copy_tree(src: Path, dest: Path, skipped: list[str], overwrite: bool = False) -> None:
    """Copy regular files only: never follow a symlink (it could point at the hidden tests)."""
    count = 0
    for dirpath, dirnames, filenames in os.walk(src, followlinks=False):
        rel = Path(dirpath).relative_to(src)
        for d in list(dirnames):
            if os.path.islink(os.path.join(dirpath, d)) or d in (".ipynb_checkpoints", "__pycache__"):
                dirnames.remove(d)
                if os.path.islink(os.path.join(dirpath, d)):
                    skipped.append(f"{rel / d} (symlink)")
        for name in filenames:
            file = Path(dirpath) / name
            st = os.lstat(file)
            if stat.S_ISLNK(st.st_mode):
                skipped.append(f"{rel / name} (symlink: not followed)")
                continue
            if not stat.S_ISREG(st.st_mode):
                skipped.append(f"{rel / name} (not a regular file)")
                continue
            if st.st_size > MAX_FILE_BYTES:
                skipped.append(f"{rel / name} (larger than {MAX_FILE_BYTES >> 20} MB)")
                continue
            count += 1
            if count > MAX_FILES:
                skipped.append(f"{rel / name} (more than {MAX_FILES} files)")
                continue
            target = dest / rel / name
            target.parent.mkdir(parents=True, exist_ok=True)
            if target.exists() and not overwrite:
                continue
            shutil.copyfile(file, target)


def kernel_env(box: Box, data_dir: Path | None, threads: int) -> dict[str, str]:
    """A clean environment: nothing from the grader's (CI tokens stay out of student code)."""
    venv_bin = str(Path(sys.executable).parent)
    env = {
        "PATH": os.pathsep.join([venv_bin, "/usr/local/bin", "/usr/bin", "/bin"]),
        "HOME": str(box.path),
        "USER": "student",     # the kernel's uid has no passwd entry: getpass.getuser() reads these
        "LOGNAME": "student",
        "TMPDIR": str(box.path / "tmp"),
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
        "MPLCONFIGDIR": str(box.path / ".mpl"),
        "IPYTHONDIR": str(box.path / ".ipython"),
        "JUPYTER_RUNTIME_DIR": str(box.path / ".runtime"),
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYDEVD_DISABLE_FILE_VALIDATION": "1",
        "NBGRADER_EXECUTION": "autograde",
        "TQDM_DISABLE": "1",
    }
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS"):
        env[var] = str(max(1, threads))
    if data_dir is not None:
        env["DP100_DATA"] = str(data_dir)
    return env


def launcher_prefix(box: Box, caps: Capabilities, memory_mb: int, hide: list[Path],
                    expose: list[Path]) -> list[str]:
    cmd = [sys.executable, str(Path(__file__).resolve().parent / "launcher.py"), "--workdir", str(box.path),
           "--log", str(box.log), "--memory-mb", str(memory_mb), "--nproc", "512"]
    if caps.root:
        cmd += ["--uid", str(box.uid), "--gid", str(box.gid)]
    if caps.mount_ns:
        for p in hide:
            cmd += ["--hide", str(p)]
        for p in expose:
            cmd += ["--expose", str(p)]
    return cmd + ["--"]


def kill_uid(uid: int) -> int:
    """Kill every process left running as this submission's uid (daemons a student started)."""
    if uid in (0, os.getuid()):
        return 0
    killed = 0
    for proc in psutil.process_iter(["uids"]):
        try:
            if proc.info["uids"] and proc.info["uids"].real == uid:
                proc.kill()
                killed += 1
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            pass
    return killed


def remove_box(box: Box, caps: Capabilities) -> None:
    if caps.setuid:
        kill_uid(box.uid)
    shutil.rmtree(box.path, ignore_errors=True)
