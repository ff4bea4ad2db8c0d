"""The inference server on your machine: Microsoft's ``azmlinfsrv`` (the server inside an Azure ML
real-time endpoint's container) run as a managed subprocess, started and stopped for you.

:class:`InferenceServer` starts ``azmlinfsrv --entry_script score.py --model_dir DIR --port P`` on a
free port, waits until its health probe answers, and stops its whole process group when you leave
the ``with`` block, when a cell failed and no other cell follows (:func:`stop_on_cell_error`), when
the Python process exits (``atexit``) and, on Linux, when the process is killed (``PR_SET_PDEATHSIG``).
dp100/serving.py puts the authentication gate in front of it (the SDK's ``Webservice``).
"""

from __future__ import annotations

import atexit
import os
import shlex
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any


class ServingError(RuntimeError):
    """The inference server could not start or answer; the message carries the end of its log."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _azmlinfsrv() -> str:
    exe = Path(sys.executable).parent / "azmlinfsrv"
    if exe.exists():
        return str(exe)
    raise ServingError(
        f"azmlinfsrv not found next to {sys.executable}: install "
        "azureml-inference-server-http (it is in requirements.txt)"
    )


# The child sets "die when my parent dies" on itself, then becomes azmlinfsrv (exec keeps the flag).
_LAUNCHER = """
import ctypes, os, signal, sys
parent = int(sys.argv[1])
try:
    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)   # PR_SET_PDEATHSIG
except Exception:
    pass
if os.getppid() != parent:   # the parent died before the flag was set
    sys.exit(0)
os.execv(sys.argv[2], sys.argv[2:])
"""

# gunicorn server hook: azmlinfsrv 1.4.1 hard-codes host 0.0.0.0; serve on loopback only.
_GUNICORN_CONF = """
def on_starting(server):
    server.cfg.set("bind", [b.replace("0.0.0.0", "127.0.0.1", 1) for b in server.cfg.bind])
"""

_LIVE: set[InferenceServer] = set()
_LIVE_LOCK = threading.Lock()


@atexit.register
def _stop_all() -> None:
    with _LIVE_LOCK:
        servers = list(_LIVE)
    for server in servers:
        server.stop()


class InferenceServer:
    """``azmlinfsrv`` as a managed subprocess. Use as a context manager::

    with InferenceServer("score.py", "model_dir") as server:
        requests.post(server.scoring_uri, json=...)
    """

    def __init__(
        self,
        entry_script: str | os.PathLike,
        model_dir: str | os.PathLike,
        port: int | None = None,
        worker_count: int = 1,
        log_path: str | os.PathLike | None = None,
        startup_timeout_s: float = 60.0,
    ):
        self.entry_script = Path(entry_script).resolve()
        self.model_dir = Path(model_dir).resolve()
        if not self.entry_script.is_file():
            raise ServingError(f"entry script not found: {self.entry_script}")
        if not self.model_dir.is_dir():
            raise ServingError(f"model directory not found: {self.model_dir}")
        if not (isinstance(worker_count, int) and worker_count >= 1):
            raise ServingError(f"worker_count must be a whole number >= 1, got {worker_count!r}")
        self.requested_port = port
        self.port: int | None = None
        self.worker_count = worker_count
        self.startup_timeout_s = startup_timeout_s
        self._tmp = tempfile.TemporaryDirectory(prefix="dp100-serve-")
        self.log_path = Path(log_path) if log_path else Path(self._tmp.name) / "azmlinfsrv.log"
        self.process: subprocess.Popen | None = None
        self._log_file = None

    # -- life cycle ---------------------------------------------------------------------------
    @property
    def scoring_uri(self) -> str:
        self._require_running()
        return f"http://127.0.0.1:{self.port}/score"

    @property
    def health_uri(self) -> str:
        self._require_running()
        return f"http://127.0.0.1:{self.port}/"

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def _require_running(self) -> None:
        if not self.running:
            raise ServingError("the inference server is not running (start it, or use a `with` block)")

    def start(self) -> InferenceServer:
        if self.running:
            return self
        self.port = self.requested_port or free_port()
        conf = Path(self._tmp.name) / "gunicorn_conf.py"
        conf.write_text(_GUNICORN_CONF)
        env = dict(os.environ)
        env["GUNICORN_CMD_ARGS"] = f"-c {shlex.quote(str(conf))} --no-control-socket"
        env.pop("AZUREML_MODEL_DIR", None)
        # one request at a time per worker process: one OpenMP/BLAS thread each (no oversubscription)
        for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
            env.setdefault(var, "1")
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log_file = open(self.log_path, "ab")
        cmd = [
            _azmlinfsrv(),
            "--entry_script",
            str(self.entry_script),
            "--model_dir",
            str(self.model_dir),
            "--port",
            str(self.port),
            "--worker_count",
            str(self.worker_count),
        ]
        self.process = subprocess.Popen(
            [sys.executable, "-c", _LAUNCHER, str(os.getpid()), *cmd],
            cwd=self.entry_script.parent,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # own process group: stop() ends gunicorn and its workers together
        with _LIVE_LOCK:
            _LIVE.add(self)
        try:
            self._wait_healthy()
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_healthy(self) -> None:
        deadline = time.monotonic() + self.startup_timeout_s
        url = f"http://127.0.0.1:{self.port}/"
        while True:
            if self.process.poll() is not None:
                raise ServingError(
                    f"azmlinfsrv exited with code {self.process.returncode} while starting "
                    f"{self.entry_script.name}{self._cause()}; end of its log:\n{self.log_tail()}"
                )
            try:
                with urllib.request.urlopen(url, timeout=2) as resp:
                    if resp.status == 200:
                        return
            except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
                pass
            if time.monotonic() > deadline:
                raise ServingError(
                    f"azmlinfsrv not healthy after {self.startup_timeout_s:.0f} s "
                    f"on port {self.port}; end of its log:\n{self.log_tail()}"
                )
            time.sleep(0.05)

    def stop(self, timeout_s: float = 5.0) -> None:
        """Stop the server and its workers (SIGTERM to the process group, then SIGKILL)."""
        proc = self.process
        if proc is not None:
            if proc.poll() is None:
                try:
                    os.killpg(proc.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
                try:
                    proc.wait(timeout_s)
                except subprocess.TimeoutExpired:
                    pass
            try:  # workers may outlive a master that was killed: end the whole group
                os.killpg(proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            try:
                proc.wait(timeout_s)
            except subprocess.TimeoutExpired:
                pass
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None
        with _LIVE_LOCK:
            _LIVE.discard(self)

    def _cause(self) -> str:
        """The entry script's own exception line in the log, if there is one."""
        import re

        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        found = re.findall(r"^(\w+(?:Error|Exception|Exit|Interrupt)\b.*)$", text, flags=re.M)
        found = [f for f in found if not f.startswith("azureml_inference_server_http")]
        return f" (the entry script raised {found[0]})" if found else ""

    def log_tail(self, lines: int = 40) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])

    def __enter__(self) -> InferenceServer:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def __del__(self) -> None:
        try:
            self.stop()
        except Exception:
            pass


# --------------------------------------------------------------------------------------------
# A web service: server + authentication gate, with the SDK v1 surface
# --------------------------------------------------------------------------------------------
_STOP_ON_ERROR: set[InferenceServer] = set()
_HOOKED: set[int] = set()
# After a failed cell the shared servers stop once no other cell has started for this long: a Run All
# that stopped at the error leaves nothing running, while a run that goes on (nbgrader runs every
# cell, or you run the next one) keeps its server instead of paying seconds to start it again.
STOP_AFTER_FAILED_CELL_S = 5.0
_STOP_LOCK = threading.Lock()  # a stop that has begun ends before the next cell runs
_stop_timer: threading.Timer | None = None


def _stop_unless_a_cell_started(timer: threading.Timer) -> None:
    with _STOP_LOCK:
        if _stop_timer is timer:  # not cancelled by a cell that started meanwhile
            for server in list(_STOP_ON_ERROR):
                server.stop()


def _stop_after_failed_cell(result: Any) -> None:
    global _stop_timer
    if not getattr(result, "success", True):
        with _STOP_LOCK:
            if _stop_timer is not None:
                _stop_timer.cancel()
            timer = threading.Timer(STOP_AFTER_FAILED_CELL_S, _stop_unless_a_cell_started)
            timer.args, timer.daemon = (timer,), True
            _stop_timer = timer
            timer.start()


def _keep_servers_for_the_next_cell(*_: Any) -> None:
    global _stop_timer
    with _STOP_LOCK:
        if _stop_timer is not None:
            _stop_timer.cancel()
            _stop_timer = None


def stop_on_cell_error(server: InferenceServer) -> bool:
    """In IPython/Jupyter: stop ``server`` when a cell fails and no other cell starts within
    :data:`STOP_AFTER_FAILED_CELL_S` seconds (the next :func:`deploy` that shares it starts it
    again). Returns False outside IPython, where nothing is registered."""
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    if shell is None:
        return False
    _STOP_ON_ERROR.add(server)
    if id(shell) not in _HOOKED:
        shell.events.register("pre_run_cell", _keep_servers_for_the_next_cell)
        shell.events.register("post_run_cell", _stop_after_failed_cell)
        _HOOKED.add(id(shell))
    return True


# --------------------------------------------------------------------------------------------
# The course's reference entry script (used by teaching cells, tests and `make bench`)
# --------------------------------------------------------------------------------------------
