"""Servers and a browser for the real-browser test (tests/test_browser.py).

Everything here runs locally and offline: JupyterLab and the MLflow UI are started from the course's
.venv on free localhost ports, Debian's Chromium is driven by Playwright through its
``executable_path`` (Playwright never downloads a browser here), and every server is started in its
own process group and stopped, with everything it started, when the test ends or fails.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent
#: Where a person finds the screenshots and server logs of the last run (gitignored).
ARTIFACTS = ROOT / "test-artifacts" / "browser"

CHROMIUM = "/usr/bin/chromium"  # Debian's package; .ci/run installs it with apt-get
#: Flags known to work as root in a container, and that keep Chromium off the network.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
    "--disable-extensions",
    "--no-default-browser-check",
    "--metrics-recording-only",
    "--password-store=basic",
    "--disable-dev-shm-usage",
]  # containers often have a tiny /dev/shm

#: JupyterLab settings the course ships as defaults (`make lab` writes the same JSON to
#: .venv/share/jupyter/lab/settings/overrides.d/dp100-course.json; a test checks they agree):
#: Markdown opens rendered (the start page notebooks/README.md), and no news fetched from the web.
LAB_OVERRIDES = {
    "@jupyterlab/docmanager-extension:plugin": {"defaultViewers": {"markdown": "Markdown Preview"}},
    "@jupyterlab/apputils-extension:notification": {"fetchNews": "false", "checkForUpdates": False},
}

#: Not copied into the throw-away course copy: environments, VCS, local state of earlier runs
#: (a notebook's workspace is workspace-NN/; dp100/workspace.py is code and is copied).
COPY_IGNORE = shutil.ignore_patterns(
    ".venv",
    ".git",
    "test-artifacts",
    "workspace-*",
    "gradebook.db",
    "submitted",
    "autograded",
    "feedback",
    "__pycache__",
    ".ipynb_checkpoints",
    ".pytest_cache",
    "mlruns",
    "mlartifacts",
    "build",
    ".bench",
    "*.egg-info",
    "exchange",
)


def chromium_path() -> str | None:
    """Debian's Chromium, or whatever `chromium` is on PATH; None when there is none."""
    if os.access(CHROMIUM, os.X_OK):
        return CHROMIUM
    return shutil.which("chromium")


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def offline_env(**extra: str) -> dict[str, str]:
    """The environment for every server: the .venv first on PATH, no telemetry, no proxies."""
    env = dict(os.environ)
    env["PATH"] = f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}"
    env.update(
        MLFLOW_DISABLE_TELEMETRY="true",
        MLFLOW_SERVER_ENABLE_JOB_EXECUTION="false",  # as `make mlflow-ui`: no GenAI job runner (8 more processes)
        DO_NOT_TRACK="true",
        PYTHONDONTWRITEBYTECODE="1",
        NO_PROXY="127.0.0.1,localhost",
        no_proxy="127.0.0.1,localhost",
    )
    env.update(extra)
    return env


def copy_course(dest: Path, src: Path = ROOT) -> Path:
    """A throw-away copy of the course, so a run leaves nothing behind in the repository."""
    shutil.copytree(src, dest, ignore=COPY_IGNORE)
    return dest


def source_assignments(course: Path) -> list[str]:
    return sorted(p.name for p in (course / "source").iterdir() if p.is_dir() and (p / f"{p.name}.ipynb").exists())


class Server:
    """A server process in its own process group, with its output in a log file.

    ``stop()`` ends the whole tree: SIGTERM to the group (the server shuts its kernels or workers
    down cleanly), then SIGKILL to anything of the tree still alive, kernels included (Jupyter
    starts each kernel in a session of its own, so they are found by ancestry, not by group).
    """

    def __init__(self, name: str, argv: list[str], cwd: Path, env: dict[str, str], log: Path):
        self.name, self.argv, self.cwd, self.env, self.log = name, argv, cwd, env, log
        self.proc: subprocess.Popen | None = None
        self._known: dict[int, psutil.Process] = {}

    def start(self) -> Server:
        self.log.parent.mkdir(parents=True, exist_ok=True)
        self._logfile = open(self.log, "wb")
        self.proc = subprocess.Popen(
            self.argv,
            cwd=self.cwd,
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=self._logfile,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        return self

    def remember_children(self) -> None:
        """Note every descendant now alive, so stop() can end it even after its parent died."""
        if self.proc is None:
            return
        try:
            for child in psutil.Process(self.proc.pid).children(recursive=True):
                self._known.setdefault(child.pid, child)
        except psutil.NoSuchProcess:
            pass

    def log_tail(self, chars: int = 3000) -> str:
        try:
            return self.log.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def wait_http(self, url: str, timeout: float, ok=lambda status, body: status == 200) -> None:
        """Poll ``url`` until ``ok``; fail early, with the log, if the server exits."""
        deadline = time.monotonic() + timeout
        last = "no answer yet"
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"{self.name} exited with code {self.proc.returncode} before it "
                    f"answered {url}; log {self.log}:\n{self.log_tail()}"
                )
            try:
                with urllib.request.urlopen(url, timeout=5) as resp:
                    body = resp.read()
                    if ok(resp.status, body):
                        self.remember_children()
                        return
                    last = f"HTTP {resp.status}"
            except (urllib.error.URLError, OSError) as exc:
                last = str(exc)
            time.sleep(0.25)
        raise TimeoutError(
            f"{self.name} did not answer {url} within {timeout:.0f} s ({last}); log {self.log}:\n{self.log_tail()}"
        )

    def stop(self, grace: float = 15.0) -> list[str]:
        """Stop the server and everything it started; return what had to be killed."""
        if self.proc is None:
            return []
        self.remember_children()
        killed = []
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(grace)
            except subprocess.TimeoutExpired:
                killed.append(f"{self.name} (pid {self.proc.pid})")
                try:
                    os.killpg(self.proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                self.proc.wait(10)
        survivors = [p for p in self._known.values() if _alive(p)]
        if survivors:
            psutil.wait_procs(survivors, timeout=5)
        for proc in (p for p in self._known.values() if _alive(p)):
            killed.append(f"{self.name} child {proc.pid}")
            try:
                proc.kill()
            except psutil.NoSuchProcess:
                pass
        psutil.wait_procs([p for p in self._known.values() if _alive(p)], timeout=5)
        self._logfile.close()
        return killed


def _alive(proc: psutil.Process) -> bool:
    try:
        return proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def start_lab(
    course: Path, state: Path, logs: Path, timeout: float = 120, wait: bool = True
) -> tuple[Server, str, str]:
    """JupyterLab (with nbgrader's extensions) on ``course``; returns (server, base URL, token).

    With ``wait=False`` it returns at once (start Chromium meanwhile, then
    ``server.wait_http(base + "/api/status?token=" + token, timeout)``).

    The working directory is the course root, where nbgrader's server extensions read
    nbgrader_config.py. User settings, workspaces and runtime files live in ``state`` so neither the
    machine's JupyterLab state nor this run affects the other.
    """
    port, token = free_port(), os.urandom(16).hex()
    settings, app_settings = state / "user-settings", state / "app-settings"
    (app_settings / "overrides.d").mkdir(parents=True, exist_ok=True)
    (app_settings / "overrides.d" / "dp100-course.json").write_text(json.dumps(LAB_OVERRIDES))
    env = offline_env(
        JUPYTERLAB_SETTINGS_DIR=str(settings),
        JUPYTERLAB_WORKSPACES_DIR=str(state / "workspaces"),
        JUPYTER_RUNTIME_DIR=str(state / "runtime"),
    )
    argv = [
        str(VENV_BIN / "jupyter"),
        "lab",
        "--no-browser",
        "--allow-root",
        "--ip=127.0.0.1",
        f"--port={port}",
        "--port-retries=0",
        f"--IdentityProvider.token={token}",
        f"--ServerApp.root_dir={course}",
        f"--LabApp.app_settings_dir={app_settings}",
        # nothing from the network: no news, no update check, no extension-manager queries to PyPI
        "--LabApp.news_url=None",
        "--LabApp.extension_manager=readonly",
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
        # lets the test read the kernel's state; every action still goes through menus and buttons
        "--LabApp.expose_app_in_browser=True",
    ]
    server = Server("jupyter lab", argv, course, env, logs / "jupyterlab.log").start()
    base = f"http://127.0.0.1:{port}"
    if not wait:
        return server, base, token
    try:
        server.wait_http(f"{base}/api/status?token={token}", timeout)
    except Exception:
        server.stop()
        raise
    return server, base, token


def start_mlflow_ui(workspace: Path, logs: Path, timeout: float = 120, wait: bool = True) -> tuple[Server, str]:
    """``mlflow ui`` on a workspace's tracking store, as `make mlflow-ui WS=...` starts it.

    With ``wait=False`` it returns at once (MLflow takes a while to import: start it early, and
    call ``server.wait_http(base + "/health", timeout)`` when it is needed)."""
    db = workspace / "mlflow.db"
    if not db.is_file():
        raise FileNotFoundError(f"no MLflow tracking store at {db}: the notebook did not create it")
    port = free_port()
    argv = [
        str(VENV_BIN / "mlflow"),
        "ui",
        "--backend-store-uri",
        f"sqlite:///{db}",
        "--default-artifact-root",
        str(workspace / "mlartifacts"),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        "1",
    ]
    server = Server("mlflow ui", argv, workspace, offline_env(), logs / "mlflow-ui.log").start()
    base = f"http://127.0.0.1:{port}"
    if not wait:
        return server, base
    try:
        server.wait_http(f"{base}/health", timeout)
    except Exception:
        server.stop()
        raise
    return server, base


def makefile_lab_overrides(makefile: Path = ROOT / "Makefile") -> dict:
    """The JSON the `lab` recipe writes to overrides.d (to check it equals LAB_OVERRIDES)."""
    match = re.search(r"printf '%s\\n' '(\{.*\})' > \S*overrides\.d/dp100-course\.json", makefile.read_text())
    if not match:
        raise AssertionError("the Makefile's lab recipe does not write overrides.d/dp100-course.json")
    return json.loads(match.group(1))
