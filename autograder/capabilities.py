"""What isolation this machine gives the grader: root, a uid per submission, bubblewrap, cgroups.

``probe()`` tries each feature for real (a fork that switches uid, a bubblewrap that makes its
namespaces, the cgroup hierarchies) and returns :class:`Capabilities`, whose notes say what is
missing and what that means for the students; autograder/sandbox.py builds each box from it.
"""

from __future__ import annotations

import os
import random
import shutil
import subprocess
from dataclasses import dataclass, field

from . import cgroup
from .bwrap import NAMESPACES, SETPRIV, TMP_BYTES, UID_CAPS


@dataclass
class Capabilities:
    root: bool
    setuid: bool  # each submission gets a uid of its own
    bwrap: str | None  # a bubblewrap that works here (namespaces, mounts)
    cgroups: cgroup.Hierarchy | None
    uid_base: int
    notes: list[str] = field(default_factory=list)

    @property
    def mount_ns(self) -> bool:
        return self.bwrap is not None

    @property
    def shared_uid(self) -> bool:
        """Would two submissions graded at once run as the same uid?"""
        return not self.setuid

    def report(self) -> dict:
        """The isolation block of grades.json: what this run had, and what it did not."""
        missing = []
        if not self.root:
            missing.append("root")
        if not self.setuid:
            missing.append("own_uid_per_submission")
        if not self.bwrap:
            missing.append("bubblewrap (mount, pid, ipc, network namespaces; private /tmp)")
        if not self.cgroups:
            missing.append("cgroups (per-submission memory, pids, cpu)")
        return {
            "root": self.root,
            "own_uid_per_submission": self.setuid,
            "bubblewrap": self.bwrap,
            "mount_namespace": self.mount_ns,
            "pid_namespace": self.mount_ns,
            "network": "none" if self.bwrap else "host",
            "private_tmp_mb": TMP_BYTES >> 20 if self.bwrap else None,
            "cgroup": self.cgroups.describe() if self.cgroups else None,
            "kernel_transport": "ipc",
            "missing": missing,
            "notes": list(self.notes),
        }


def _probe_setuid(uid: int) -> bool:
    pid = os.fork()
    if pid == 0:  # pragma: no cover - child
        try:
            os.setgroups([])
            os.setgid(uid)
            os.setuid(uid)
            os._exit(0)
        except Exception:
            os._exit(1)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status) == 0


def _probe_bwrap() -> tuple[str | None, str]:
    exe = shutil.which("bwrap")
    if exe is None:
        return None, "bubblewrap (bwrap) is not installed (Debian/Ubuntu: apt-get install bubblewrap)"
    box = ["--die-with-parent", "--ro-bind", "/", "/", "--proc", "/proc", "--dev", "/dev"]
    cmd = [exe, *NAMESPACES, *box, "--size", "1048576", "--tmpfs", "/tmp", *UID_CAPS, "true"]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return None, f"bubblewrap does not run here: {exc}"
    if proc.returncode != 0:
        return None, f"bubblewrap cannot create namespaces here: {proc.stderr.strip()[:200]}"
    return exe, ""


def probe(uid_base: int | None = None) -> Capabilities:
    """Find out which isolation features this machine gives, and say what is missing."""
    root = os.geteuid() == 0
    base = uid_base if uid_base is not None else 200_000 + random.SystemRandom().randrange(1, 2_000_000) * 1000
    if not root:
        return Capabilities(
            False,
            False,
            None,
            None,
            os.getuid(),
            [
                f"not running as root (uid {os.geteuid()}): student code runs as this user and could read "
                "the course and hidden tests, with no namespaces and no per-submission limits; "
                "run the grader as root (e.g. sudo, or a container) to isolate it"
            ],
        )
    caps = Capabilities(True, _probe_setuid(base), None, None, base)
    if not caps.setuid:
        caps.uid_base = 65534
        caps.notes.append(
            f"cannot switch to uid {base}: kernels run as nobody (65534), all students share it (--jobs 1 only)"
        )
    caps.bwrap, why = _probe_bwrap()
    if why:
        caps.notes.append(
            f"{why}: no mount, PID or network namespace; the course is protected by file "
            "permissions only, the kernel shares the network and /tmp"
        )
    if caps.bwrap and not os.access(SETPRIV, os.X_OK):
        caps.bwrap = None
        caps.notes.append(f"{SETPRIV} (util-linux) is missing: cannot drop to the submission's uid inside bubblewrap")
    caps.cgroups, why = cgroup.detect()
    if why:
        caps.notes.append(f"no per-submission memory/pids/cpu limits ({why}): per-process limits only")
    return caps


#: What a kernel must not read in a course root, hidden by permissions when there is no bubblewrap:
#: the instructor notebooks with hidden tests, history, gradebooks, and every graded or submitted copy.
