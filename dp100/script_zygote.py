"""Start submitted scripts fast: a process that has imported pandas, scikit-learn and dp100 once forks
one child per script run (no Azure equivalent: on Azure each run starts its own interpreter on the
node; here that start would cost more CPU than most of the course's scripts spend on their work).

Importing pandas and scikit-learn costs ~1.4 s of CPU and a notebook submits up to seven scripts. A
child forked from the zygote has them already; everything else is as ``python -u script.py ARGS``
would have it: its own process and session (``setsid``), the run's working directory and
environment, ``sys.argv``, ``sys.path[0]`` = the script's folder, ``__name__ == "__main__"``, stdout
and stderr unbuffered on the run's log pipe, a traceback that starts at the script, the exit code,
``atexit`` handlers and non-daemon threads waited for.

The zygote is a child of the Python process that submits (one per process, started on first use)
and ends when that process does (its socket closes). :class:`ScriptProcess` is what
:mod:`dp100.script_runner` supervises: ``pid``, ``stdout``, ``wait``, ``poll``, like a ``Popen``.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
from concurrent.futures import Future
from typing import Any

#: What the zygote imports before its first fork: what the course's scripts import.
PRELOAD = (
    "numpy",
    "pandas",
    "sklearn.linear_model",
    "sklearn.model_selection",
    "sklearn.pipeline",
    "sklearn.preprocessing",
    "sklearn.metrics",
    "dp100.runs",
    "dp100.workspace",
)


class ScriptProcess:
    """A script run forked by the zygote, with the part of ``subprocess.Popen`` the runner uses."""

    def __init__(self, pid: int, stdout_fd: int):
        self.pid = pid
        self.stdout = open(stdout_fd, encoding="utf-8", errors="replace", newline=None)  # noqa: SIM115
        self.returncode: int | None = None
        self._ended = threading.Event()

    def _end(self, code: int) -> None:
        self.returncode = code
        self._ended.set()

    def poll(self) -> int | None:
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        if not self._ended.wait(timeout):
            raise subprocess.TimeoutExpired(f"script run {self.pid}", timeout or 0)
        return self.returncode  # type: ignore[return-value]


class Zygote:
    """The submitting process's side: the zygote process and a thread that reads what it reports."""

    def __init__(self) -> None:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "dp100.script_zygote", str(theirs.fileno())],
            pass_fds=[theirs.fileno()],
            cwd="/",
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,  # its own output would land in the running notebook cell
            stderr=subprocess.DEVNULL,
            # not in the kernel's process group: an interrupt (SIGINT to the group) would end it, and
            # at shutdown ipykernel waits seconds for every child of its group to be gone
            start_new_session=True,
        )
        theirs.close()
        self.sock = ours
        self._lock = threading.Lock()
        self._pending: dict[int, tuple[Future, int]] = {}  # request -> (its ScriptProcess, its pipe)
        self._running: dict[int, ScriptProcess] = {}
        self._next = 0
        self.alive = True
        threading.Thread(target=self._read, daemon=True, name="dp100-zygote").start()

    def spawn(self, argv: list[str], cwd: str, env: dict[str, str]) -> ScriptProcess:
        """Fork a child that runs the script ``argv[0]`` with the arguments ``argv[1:]``."""
        read_end, write_end = os.pipe()
        started: Future = Future()
        with self._lock:
            self._next += 1
            req = self._next
            self._pending[req] = (started, read_end)
        try:
            body = json.dumps({"id": req, "argv": argv, "cwd": cwd, "env": env}).encode()
            socket.send_fds(self.sock, [body], [write_end])
            return started.result(timeout=60)
        except (OSError, TimeoutError) as exc:
            with self._lock:
                if self._pending.pop(req, None) is not None:
                    os.close(read_end)
            raise OSError(f"the script zygote did not start the script: {exc}") from exc
        finally:
            os.close(write_end)  # the child holds it now: the pipe ends when the child does

    def _read(self) -> None:
        try:
            while True:
                data = self.sock.recv(65536)
                if not data:
                    break
                msg = json.loads(data)
                with self._lock:
                    if "pid" in msg:  # registered here, before any exit of it can be read
                        if msg["id"] not in self._pending:  # its caller gave up waiting: end it
                            with contextlib.suppress(ProcessLookupError):
                                os.kill(msg["pid"], signal.SIGKILL)
                            continue
                        started, read_end = self._pending.pop(msg["id"])
                        self._running[msg["pid"]] = proc = ScriptProcess(msg["pid"], read_end)
                        started.set_result(proc)
                    elif (proc := self._running.pop(msg["exit"], None)) is not None:
                        proc._end(msg["code"])
        except OSError:
            pass
        with self._lock:
            self.alive = False
            for started, read_end in self._pending.values():
                os.close(read_end)
                started.set_exception(OSError("the script zygote ended"))
            self._pending.clear()
            for proc in self._running.values():
                proc._end(-9)  # the zygote was killed: its children are no longer reported


_ZYGOTE: Zygote | None = None
_ZYGOTE_LOCK = threading.Lock()


def spawn(argv: list[str], cwd: str, env: dict[str, str]) -> ScriptProcess:
    """Run a script in a child of this process's zygote (started now if it is not running)."""
    global _ZYGOTE
    with _ZYGOTE_LOCK:
        if _ZYGOTE is None or not _ZYGOTE.alive or _ZYGOTE.proc.poll() is not None:
            _ZYGOTE = Zygote()
        zygote = _ZYGOTE
    return zygote.spawn(argv, cwd, env)


# -- the zygote process ------------------------------------------------------------------------
def _serve(sock: socket.socket) -> None:
    import importlib
    import select

    for name in PRELOAD:
        try:
            importlib.import_module(name)
        except Exception:  # a script that needs it gets the error itself
            pass
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_w, False)
    signal.set_wakeup_fd(wake_w)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    children: set[int] = set()
    while True:
        ready, _, _ = select.select([sock, wake_r], [], [])
        if wake_r in ready:
            os.read(wake_r, 4096)
        if sock in ready:
            try:
                data, fds, _, _ = socket.recv_fds(sock, 1 << 20, 1)
            except OSError:
                data = b""
            if not data:
                return  # the submitting process has ended
            req = json.loads(data)
            pid = os.fork()
            if pid == 0:
                sock.close()
                os.close(wake_r)
                os.close(wake_w)
                _child(req, fds[0])  # never returns
            os.close(fds[0])
            children.add(pid)
            sock.send(json.dumps({"id": req["id"], "pid": pid}).encode())
        while children:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if pid == 0:
                break
            children.discard(pid)
            sock.send(json.dumps({"exit": pid, "code": os.waitstatus_to_exitcode(status)}).encode())


def _child(req: dict[str, Any], out: int) -> None:
    import atexit
    import builtins
    import io
    import traceback
    import types

    code = 1
    try:
        signal.set_wakeup_fd(-1)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        os.setsid()
        os.dup2(out, 1)
        os.dup2(out, 2)
        os.close(out)
        os.chdir(req["cwd"])
        os.environ.clear()
        os.environ.update(req["env"])
        sys.stdout = io.TextIOWrapper(io.FileIO(1, "w", closefd=False), encoding="utf-8", write_through=True)
        sys.stderr = io.TextIOWrapper(
            io.FileIO(2, "w", closefd=False), encoding="utf-8", errors="backslashreplace", write_through=True
        )
        script = os.path.abspath(req["argv"][0])  # as `python script.py` shows it in a traceback
        sys.argv = list(req["argv"])
        sys.path[0] = os.path.dirname(script)
        main = types.ModuleType("__main__")  # a fresh __main__, as the interpreter makes one
        main.__file__, main.__builtins__ = script, builtins
        sys.modules["__main__"] = main
        try:
            with open(script, "rb") as fh:
                source = fh.read()
            exec(compile(source, script, "exec"), main.__dict__)
            code = 0
        except SystemExit as exc:
            if exc.code is None or isinstance(exc.code, int):
                code = exc.code or 0
            else:
                print(exc.code, file=sys.stderr)
        except BaseException as exc:
            tb = exc.__traceback__  # from the script's own frame, as `python script.py` shows it
            while tb is not None and tb.tb_frame.f_code.co_filename != script:
                tb = tb.tb_next
            traceback.print_exception(type(exc), exc, tb or exc.__traceback__)
        for thread in threading.enumerate():  # what the interpreter waits for before it exits
            if thread is not threading.current_thread() and not thread.daemon:
                thread.join()
        atexit._run_exitfuncs()
        sys.stdout.flush()
        sys.stderr.flush()
    finally:
        os._exit(code)


if __name__ == "__main__":
    _serve(socket.socket(fileno=int(sys.argv[1])))
