"""Kernel launcher: what must happen before the sandbox starts, and that bubblewrap does not do.

    python launcher.py --log FILE [--cgroup PROCS_FILE ...] [--memory-mb M] [--nproc N] \
        [--fsize-mb F] -- COMMAND...

jupyter_client starts this (as the grader's user) instead of the kernel; it then, in this order:

1. sends its stdout/stderr to ``--log``, a file in the grader's private folder (the grader reads
   it to explain a dead kernel; the file-size limit below caps it);
2. joins the submission's control groups (writes its own pid into each ``cgroup.procs``), so
   every process the kernel ever starts counts against that submission's memory, pids and CPU;
3. sets per-process limits: address space (a clear ``MemoryError`` for one huge allocation),
   processes, file size, no core dumps;
4. execs ``COMMAND`` (bubblewrap, or setpriv when there is none) in the same pid, so
   jupyter_client can poll and kill it.

It never opens, creates or changes anything a student can write: the uid change, the namespaces
and the mounts are bubblewrap's and setpriv's (see ``autograder.sandbox``).
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import sys


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
        sys.exit("autograder launcher: expected `-- COMMAND...`")
    split = argv.index("--")
    parser = argparse.ArgumentParser(prog="launcher.py")
    parser.add_argument("--log", required=True)
    parser.add_argument("--cgroup", action="append", default=[], help="a cgroup.procs file to join")
    parser.add_argument("--memory-mb", type=int, default=0)
    parser.add_argument("--nproc", type=int, default=0)
    parser.add_argument("--fsize-mb", type=int, default=1024)
    args = parser.parse_args(argv[:split])
    cmd = argv[split + 1 :]

    log_fd = os.open(args.log, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW, 0o600)
    os.dup2(log_fd, 1)
    os.dup2(log_fd, 2)
    os.close(log_fd)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    for procs in args.cgroup:
        try:
            with open(procs, "w") as fh:
                fh.write(str(os.getpid()))
        except OSError as exc:  # never run a kernel outside its limits
            print(f"[launcher] cannot join {procs}: {exc}", flush=True)
            os._exit(70)
    set_limits(args.memory_mb, args.nproc, args.fsize_mb)
    os.umask(0o077)
    exe = cmd[0] if os.path.isabs(cmd[0]) else shutil.which(cmd[0]) or cmd[0]
    os.execv(exe, cmd)


if __name__ == "__main__":
    main()
