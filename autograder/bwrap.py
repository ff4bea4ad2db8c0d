"""The command line that starts a kernel in its jail: bubblewrap's namespaces and mounts, then setpriv's uid.

:func:`bwrap_args` gives the kernel a root holding only the read-only system, the paths it may read
and its two writable folders (the submission's box and the kernel's socket folder), size-capped
private ``/tmp`` and ``/dev/shm``, no network; :func:`drop_privileges_args` then drops to the
submission's uid with no groups, capabilities or new privileges. Used by
:func:`autograder.sandbox.configure_kernel`, which decides whether there is a bubblewrap to use.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .sandbox import Box, Capabilities

KERNEL_BOOT = Path(__file__).resolve().parent / "kernel_boot.py"
SETPRIV = shutil.which("setpriv") or "/usr/bin/setpriv"
NAMESPACES = ["--unshare-ipc", "--unshare-pid", "--unshare-net", "--unshare-uts", "--unshare-cgroup-try"]
# what setpriv inside the box needs to drop to the submission's uid (it then clears them all)
UID_CAPS = ["--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID", "--cap-add", "CAP_SETPCAP"]
#: Size caps of the kernel's private /tmp and /dev/shm (tmpfs: also counted in its memory group).
TMP_BYTES = 512 * 1024 * 1024
SHM_BYTES = 256 * 1024 * 1024
SYSTEM = ("/usr", "/etc", "/sys", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")


def _system_binds() -> list[str]:
    """The read-only system a kernel needs (merged-/usr symlinks kept as symlinks)."""
    args = []
    for top in SYSTEM:
        if os.path.islink(top):
            args += ["--symlink", os.readlink(top), top]
        elif os.path.isdir(top):
            args += ["--ro-bind", top, top]
    return args


def _outermost(paths: list[Path]) -> list[Path]:
    """Drop paths inside another one of the list (binding them again would add nothing)."""
    paths = sorted(dict.fromkeys(Path(p) for p in paths), key=lambda p: len(p.parts))
    kept: list[Path] = []
    for p in paths:
        if not any(p == k or k in p.parents for k in kept):
            kept.append(p)
    return kept


def bwrap_args(caps: Capabilities, box: Box, kernel_dir: Path, readable: list[Path]) -> list[str]:
    """bubblewrap's command line: namespaces, a root holding only what a kernel needs, caps to drop
    to the submission's uid with setpriv (which then removes them all)."""
    system = [Path(os.path.realpath(t)) for t in SYSTEM if os.path.exists(t)]
    readable = _outermost(
        [
            Path(p)
            for p in [*readable, KERNEL_BOOT]
            if os.path.exists(p) and not any(Path(p) == t or t in Path(p).parents for t in system)
        ]
    )
    writable = [box.path, kernel_dir]
    args = [
        caps.bwrap,
        *NAMESPACES,
        "--die-with-parent",
        "--new-session",
        "--tmpfs",
        "/",
        *_system_binds(),
        "--dev",
        "/dev",
        "--proc",
        "/proc",
        "--perms",
        "1777",
        "--size",
        str(TMP_BYTES),
        "--tmpfs",
        "/tmp",
        "--perms",
        "1777",
        "--size",
        str(SHM_BYTES),
        "--tmpfs",
        "/dev/shm",
    ]
    made = {Path("/"), Path("/tmp")}
    for target in readable + writable:  # bwrap would create missing parents 0700: make them
        for parent in list(target.parents)[::-1]:  # traversable, not listable (as boxes/ is outside)
            if parent not in made and not any(parent == r or r in parent.parents for r in readable):
                args += ["--perms", "0711", "--dir", str(parent)]
                made.add(parent)
    for p in readable:
        args += ["--ro-bind", str(p), str(p)]
    for p in writable:
        args += ["--bind", str(p), str(p)]
    args += [
        "--remount-ro",
        "/",
        "--chdir",
        str(box.path),
        *UID_CAPS,
        "--",
    ]
    return args


def drop_privileges_args(box: Box) -> list[str]:
    return [
        SETPRIV,
        f"--reuid={box.uid}",
        f"--regid={box.gid}",
        "--clear-groups",
        "--inh-caps=-all",
        "--bounding-set=-all",
        "--no-new-privs",
        "--",
    ]
