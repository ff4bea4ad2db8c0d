"""Kernel launcher: start one student's kernel inside its sandbox.

    python -m autograder.launcher --workdir DIR --uid U --gid G --memory-mb M \
        [--hide PATH ...] [--expose PATH ...] --log FILE -- python -m ipykernel_launcher -f CONN

jupyter_client starts this (as the grader's user) instead of the kernel; it then, in this order:

1. sends its stdout/stderr to ``--log`` (the grader reads it to explain a dead kernel);
2. when running as root and the kernel may create a mount namespace: makes every ``--hide``
   path empty for this process tree (a fresh tmpfs over a folder, /dev/null over a file), then
   binds each ``--expose`` path back (e.g. the venv and the data inside a hidden course root);
3. copies the connection file (HMAC key and ports) into the work dir, readable by the kernel only;
4. sets resource limits: address space (``--memory-mb``), processes, file size, no core dumps;
5. when root: drops to ``--uid``/``--gid`` with no supplementary groups, umask 077;
6. execs the kernel command (same pid, so jupyter_client can poll and kill it).

Nothing here is specific to a course: the grader decides what to hide, expose and limit.
"""
from __future__ import annotations

import argparse
import ctypes
import json
import os
import resource
import shutil
import stat
import sys

CLONE_NEWNS = 0x00020000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_BIND, MS_REC, MS_PRIVATE = 1, 2, 4, 4096, 16384, 1 << 18


def _libc():
    return ctypes.CDLL(None, use_errno=True)


def _mount(libc, source: str | None, target: str, fstype: str | None, flags: int, data: str | None) -> None:
    enc = lambda s: None if s is None else s.encode()  # noqa: E731
    if libc.mount(enc(source), enc(target), enc(fstype), flags, enc(data)) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"mount {source} on {target}: {os.strerror(err)}")


def hide_paths(hide: list[str], expose: list[str]) -> str:
    """Enter a private mount namespace and hide ``hide``; return a one-line report."""
    libc = _libc()
    if libc.unshare(CLONE_NEWNS) != 0:
        err = ctypes.get_errno()
        return f"no mount namespace ({os.strerror(err)}): relying on file permissions"
    _mount(libc, None, "/", None, MS_REC | MS_PRIVATE, None)
    # Keep a handle on what must stay visible before covering its parent.
    keep = [(p, os.open(p, os.O_PATH)) for p in expose if os.path.exists(p)]
    hidden = []
    for path in hide:
        if not os.path.lexists(path) or os.path.islink(path):
            continue
        if os.path.isdir(path):
            _mount(libc, "tmpfs", path, "tmpfs", MS_NOSUID | MS_NODEV, "size=64k,mode=0755")
        else:
            _mount(libc, "/dev/null", path, None, MS_BIND, None)
        hidden.append(path)
    for path, fd in keep:
        under_hidden = any(path == h or path.startswith(h.rstrip("/") + "/") for h in hidden)
        if under_hidden:
            # Recreate the mount point inside the tmpfs (as root, before dropping privileges).
            if stat.S_ISDIR(os.fstat(fd).st_mode):
                os.makedirs(path, exist_ok=True)
            else:
                os.makedirs(os.path.dirname(path), exist_ok=True)
                open(path, "a").close()
            _mount(libc, f"/proc/self/fd/{fd}", path, None, MS_BIND | MS_REC, None)
        os.close(fd)
    return f"mount namespace: hid {len(hidden)} path(s), exposed {len(keep)}"


def set_limits(memory_mb: int, nproc: int, fsize_mb: int) -> None:
    if memory_mb > 0:
        limit = memory_mb * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    if fsize_mb > 0:
        resource.setrlimit(resource.RLIMIT_FSIZE, (fsize_mb << 20, fsize_mb << 20))
    if nproc > 0:
        resource.setrlimit(resource.RLIMIT_NPROC, (nproc, nproc))


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if "--" not in argv:
        sys.exit("autograder.launcher: expected `-- KERNEL COMMAND...`")
    split = argv.index("--")
    parser = argparse.ArgumentParser(prog="python -m autograder.launcher")
    parser.add_argument("--workdir", required=True)
    parser.add_argument("--uid", type=int, default=-1)
    parser.add_argument("--gid", type=int, default=-1)
    parser.add_argument("--memory-mb", type=int, default=0)
    parser.add_argument("--nproc", type=int, default=0)
    parser.add_argument("--fsize-mb", type=int, default=1024)
    parser.add_argument("--hide", action="append", default=[])
    parser.add_argument("--expose", action="append", default=[])
    parser.add_argument("--log", required=True)
    args = parser.parse_args(argv[:split])
    cmd = argv[split + 1:]

    log_fd = os.open(args.log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    os.dup2(log_fd, 1)
    os.dup2(log_fd, 2)
    os.close(log_fd)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)

    root = os.geteuid() == 0
    # The connection file lives in the grader's private runtime dir: read it before hiding that.
    conn = next((cmd[i + 1] for i, a in enumerate(cmd[:-1]) if a == "-f"), None)
    info = None
    if conn:
        with open(conn) as fh:
            info = json.load(fh)
    if root and args.hide:
        try:
            print(f"[launcher] {hide_paths(args.hide, args.expose)}", flush=True)
        except OSError as exc:  # never start a kernel half-hidden
            print(f"[launcher] cannot hide the course: {exc}", flush=True)
            os._exit(70)
    if conn:
        copy = os.path.join(args.workdir, ".kernel.json")
        fd = os.open(copy, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            json.dump(info, fh)
        if root and args.uid >= 0:
            os.chown(copy, args.uid, args.gid)
        cmd[cmd.index(conn)] = copy

    set_limits(args.memory_mb, args.nproc, args.fsize_mb)
    if root and args.uid >= 0:
        os.setgroups([])
        os.setgid(args.gid)
        os.setuid(args.uid)
    os.umask(0o077)
    os.chdir(args.workdir)
    exe = cmd[0] if os.path.isabs(cmd[0]) else shutil.which(cmd[0]) or cmd[0]
    os.execv(exe, cmd)


if __name__ == "__main__":
    main()
