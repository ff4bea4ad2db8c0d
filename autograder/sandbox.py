"""Isolation: where, as whom and within what limits a student's code runs.

Each submission runs in its own work dir (a fresh copy of that student's files only). When the
grader runs as root and Debian's ``bubblewrap`` is installed, every kernel of the submission is
started (:func:`configure_kernel`) as:

    launcher.py (cgroup, rlimits) -> bwrap (namespaces, mounts) -> setpriv (uid) -> kernel_boot.py

- **bubblewrap** (command line: :mod:`autograder.bwrap`): new mount, PID, IPC, network and UTS
  namespaces, ``--die-with-parent``; a root that holds only ``/usr``, ``/etc``, ``/sys``, the
  interpreter, the venv, the ``dp100`` package and the data (read-only), the submission's box and
  the kernel's socket folder (read-write), and a size-capped private ``/tmp`` and ``/dev/shm``.
  The course (``source/`` with hidden tests, ``.git``, gradebooks), other submissions, the output
  folder and the grader's private dir are not bound, so they do not exist for the kernel. No
  network: the grader talks to the kernel over Unix sockets (``transport = "ipc"``) in a folder of
  its own, fresh for every kernel.
- **a uid of its own** per submission (no passwd entry needed), set by util-linux's ``setpriv``
  inside the sandbox with no supplementary groups, no capabilities, ``no_new_privs``. (bubblewrap's
  ``--uid`` needs a user namespace, and run as root it maps the sandbox uid to *root* outside.)
- **control groups** (:mod:`autograder.cgroup`): memory, process count and an equal CPU weight for the
  whole submission; whatever is left (a ``setsid()`` daemon) dies with the PID namespace and is
  killed by pid from the group when the submission is done.
- a clean environment (no CI secrets); ``HOME`` in the box.

The grader never writes, chowns or opens for writing a path the student can write: the box is
filled before any student code runs, each kernel's socket folder is created fresh (the grader
writes the connection file there before handing the folder over), and the kernel log lives in
the grader's private folder. When a feature is missing the run says which (:meth:`Capabilities.report`)
and the runner refuses ``--jobs > 1`` where students would share a uid.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from . import cgroup
from .bwrap import KERNEL_BOOT, bwrap_args, drop_privileges_args
from .capabilities import Capabilities, probe  # noqa: F401  (re-exported: the grader asks sandbox.probe())

#: Largest single student file copied into the sandbox, and most files per submission.
MAX_FILE_BYTES = 50 * 1024 * 1024
MAX_FILES = 500
#: Longest folder for kernel sockets: AF_UNIX paths hold 107 bytes (<folder>/<box>-<n>/kernel-<port>).
SOCKET_DIR_MAX = 64
#: Most processes (and threads) one submission may have at once.
MAX_PIDS = 512
PACKAGE = Path(__file__).resolve().parent


COURSE_SECRETS = (
    "source",
    ".git",
    "gradebook.db",
    "autograded",
    "feedback",
    "submitted",
    "exchange",
    "nbgrader_config.py",
)


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

    ``base`` (0711) holds ``private/`` (0700: course copy, gradebooks, kernel logs), ``boxes/``
    (0711: one 0700 work dir per submission, owned by its uid), ``kernels/`` (0711: one 0700
    folder per kernel, owned by its uid: connection file, IPC sockets, IPython dir) and
    ``shared/`` (0755: read-only caches every kernel may use, e.g. matplotlib's font list).
    With ``caps`` it also creates the run's control group folder; :meth:`cleanup` removes it all,
    killing any process left in the groups.
    """

    def __init__(self, parent: str | None = None, caps: Capabilities | None = None, jobs: int = 1):
        self.base = Path(tempfile.mkdtemp(prefix="autograder-", dir=parent))
        os.chmod(self.base, 0o711)
        self.private = self.base / "private"
        self.boxes = self.base / "boxes"
        self.kernels = self.base / "kernels"
        self.shared = self.base / "shared"
        self.private.mkdir(mode=0o700)
        for folder in (self.boxes, self.kernels):
            folder.mkdir()
            os.chmod(folder, 0o711)
        if len(str(self.kernels)) > SOCKET_DIR_MAX:  # a long TMPDIR: sockets go to a short folder
            self.kernels = Path(tempfile.mkdtemp(prefix="agk-", dir="/tmp"))
            os.chmod(self.kernels, 0o711)
        self.shared.mkdir()
        os.chmod(self.shared, 0o755)
        self.cgroups = caps.cgroups if caps is not None else None
        if self.cgroups is not None:
            try:
                self.cgroups.start_run(self.base.name, jobs)
            except OSError as exc:
                self.cgroups.remove_run()
                caps.cgroups = self.cgroups = None
                caps.notes.append(f"cannot create control groups ({exc}): per-process limits only")

    def cleanup(self) -> None:
        if self.cgroups is not None:
            self.cgroups.remove_run()
        shutil.rmtree(self.kernels, ignore_errors=True)
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
        return subprocess.Popen(
            [sys.executable, "-c", "import matplotlib.font_manager"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

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
    group: cgroup.Group | None = None  # created with the first kernel, removed by remove_box
    kernels: list[Path] = field(default_factory=list)
    oom_kills: int = 0  # the group's OOM kills already reported


def make_box(
    dirs: RunDirs, caps: Capabilities, index: int, student_files: Path | None, extra_files: Path | None = None
) -> Box:
    """Create a work dir for submission ``index`` holding only that student's files.

    Everything here happens before any student code runs, in a folder the grader just created.
    """
    uid = caps.uid_base + index if caps.setuid else (caps.uid_base if caps.root else os.getuid())
    gid = uid if caps.setuid else (caps.uid_base if caps.root else os.getgid())
    path = Path(tempfile.mkdtemp(prefix="box-", dir=dirs.boxes))
    box = Box(path, uid, gid, dirs.private / f"{path.name}.kernel.log")
    if student_files is not None and student_files.is_dir():
        _copy_tree(student_files, path, box.skipped)
    if extra_files is not None and extra_files.is_dir():
        _copy_tree(extra_files, path, box.skipped, overwrite=True)
    for sub in ("tmp", ".mpl"):
        (path / sub).mkdir(exist_ok=True)
    fonts = dirs.shared / "mpl"
    if fonts.is_dir():
        for f in fonts.glob("fontlist-*.json"):
            shutil.copy(f, path / ".mpl" / f.name)
    if caps.root:
        for dirpath, _dirnames, filenames in os.walk(path):
            os.chown(dirpath, uid, gid, follow_symlinks=False)
            for name in filenames:
                os.chown(os.path.join(dirpath, name), uid, gid, follow_symlinks=False)
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


def kernel_env(
    box: Box, data_dir: Path | None, threads: int, kernel_dir: Path | None = None, private_tmp: bool = False
) -> dict[str, str]:
    """A clean environment: nothing from the grader's (CI tokens stay out of student code)."""
    venv_bin = str(Path(sys.executable).parent)
    kernel_dir = kernel_dir or box.path
    env = {
        "PATH": os.pathsep.join([venv_bin, "/usr/local/bin", "/usr/bin", "/bin"]),
        "HOME": str(box.path),
        "USER": "student",  # the kernel's uid has no passwd entry: getpass.getuser() reads these
        "LOGNAME": "student",
        "TMPDIR": "/tmp" if private_tmp else str(box.path / "tmp"),
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
        "MPLCONFIGDIR": str(box.path / ".mpl"),
        # fresh for every kernel: an earlier notebook cannot plant start-up files or config for the
        # next one (nor user site-packages, .pth or usercustomize in its HOME)
        "IPYTHONDIR": str(kernel_dir / "ipython"),
        "JUPYTER_CONFIG_DIR": str(kernel_dir / "jupyter"),
        "JUPYTER_DATA_DIR": str(kernel_dir / "jupyter"),
        "JUPYTER_RUNTIME_DIR": str(kernel_dir),
        "PYTHONNOUSERSITE": "1",
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


def new_kernel_dir(dirs: RunDirs, box: Box) -> Path:
    """A fresh folder for one kernel's connection file, sockets and IPython dir (root's until
    :func:`hand_over_kernel_dir`)."""
    path = dirs.kernels / f"{box.path.name}-{len(box.kernels) + 1}"
    path.mkdir(mode=0o700)
    box.kernels.append(path)
    return path


def hand_over_kernel_dir(kernel_dir: Path, box: Box, caps: Capabilities) -> None:
    """Give the kernel's uid its folder and its connection file (written by the grader just now,
    before anything of the student's ran): by file descriptor, never following a link."""
    if not caps.root:
        return
    dir_fd = os.open(kernel_dir, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    try:
        for name in os.listdir(dir_fd):
            fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW, dir_fd=dir_fd)
            try:
                os.fchown(fd, box.uid, box.gid)
                os.fchmod(fd, 0o400)
            finally:
                os.close(fd)
        os.fchown(dir_fd, box.uid, box.gid)
        os.fchmod(dir_fd, 0o700)
    finally:
        os.close(dir_fd)


def lock_kernel_dir(kernel_dir: Path, caps: Capabilities) -> None:
    """Once the kernel has bound its sockets (before any student code ran): take the folder back,
    so the kernel can no longer swap a socket for a link the grader (root) would connect to."""
    if not caps.root:
        return
    dir_fd = os.open(kernel_dir, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    try:
        os.fchown(dir_fd, 0, 0)
        os.fchmod(dir_fd, 0o711)
    finally:
        os.close(dir_fd)


def configure_kernel(
    km,
    dirs: RunDirs,
    box: Box,
    caps: Capabilities,
    memory_mb: int,
    threads: int,
    readable: list[Path],
    data_dir: Path | None,
) -> None:
    """Set up ``km`` (an ``execution.SandboxKernelManager``) to start this submission's next
    kernel in its sandbox, talking over Unix sockets in a fresh folder of its own."""
    kernel_dir = new_kernel_dir(dirs, box)
    km.transport = "ipc"
    km.ip = str(kernel_dir / "kernel")
    km.connection_file = str(kernel_dir / "kernel.json")
    km.sandbox_env = kernel_env(box, data_dir, threads, kernel_dir, private_tmp=caps.bwrap is not None)
    km.on_connection_file = lambda: hand_over_kernel_dir(kernel_dir, box, caps)
    km.on_ready = lambda: lock_kernel_dir(kernel_dir, caps)
    # SIGINT to the process jupyter_client started would stop at bubblewrap (the kernel is in a
    # session and PID namespace of its own): ask the kernel to interrupt itself instead
    km.kernel_spec.interrupt_mode = "message"
    if box.group is None and caps.cgroups is not None:
        box.group = caps.cgroups.create(box.path.name, memory_mb << 20, MAX_PIDS)
    prefix = [
        sys.executable,
        str(PACKAGE / "launcher.py"),
        "--log",
        str(box.log),
        "--memory-mb",
        str(memory_mb),
        "--nproc",
        str(MAX_PIDS),
    ]
    for procs in box.group.procs_files() if box.group is not None else []:
        prefix += ["--cgroup", procs]
    prefix.append("--")
    if caps.bwrap:
        prefix += bwrap_args(caps, box, kernel_dir, readable)
    if caps.root:
        prefix += drop_privileges_args(box)
    km.launcher = prefix
    km.kernel_argv = [sys.executable, str(KERNEL_BOOT), "-f", "{connection_file}"]


def sandbox_report(box: Box) -> str:
    """Lines for the kernel log the grader reads: what the sandbox saw (e.g. an OOM kill)."""
    kills = box.group.oom_kills() if box.group is not None else 0
    new, box.oom_kills = kills - box.oom_kills, kills
    return f"\n[sandbox] out of memory: the submission's memory group killed {new} process(es)" if new > 0 else ""


def kill_uid(uid: int, wait: float = 0.0) -> int:
    """Kill every process running as ``uid`` (daemons a student started), each by its own pid; with
    ``wait``, look again every 0.2 s until none is left or ``wait`` seconds have passed (the workshop
    hub's teardown, hub/hubctl.py, uses this too). Never root's or the caller's own uid."""
    if uid in (0, os.getuid()):
        return 0
    killed, deadline = 0, time.monotonic() + wait
    while True:
        found = 0
        for proc in psutil.process_iter(["uids"]):
            try:
                if proc.info["uids"] and proc.info["uids"].real == uid:
                    found += 1
                    proc.kill()
                    killed += 1
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                pass
        if not found or time.monotonic() >= deadline:
            return killed
        time.sleep(0.2)


def remove_box(box: Box, caps: Capabilities) -> None:
    """Kill what the submission left running (its group, then its own uid: by pid), delete its files."""
    if box.group is not None:
        box.group.remove()
        box.group = None
    if caps.setuid:  # only a uid of its own: never kill a uid other processes share (nobody)
        kill_uid(box.uid)
    for folder in box.kernels:
        shutil.rmtree(folder, ignore_errors=True)
    shutil.rmtree(box.path, ignore_errors=True)
