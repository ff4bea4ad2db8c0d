"""The process that runs a submitted script: local equivalent of an Azure ML compute node running a script run (SDK v1).

A script runs as its own process in a copy of its snapshot (the node's local disk, deleted after
the run), forked by :mod:`dp100.script_zygote` with pandas and scikit-learn already imported. While
it runs its output streams to ``user_logs/std_log.txt`` and ``./logs`` is uploaded; it is stopped
after ``max_run_duration_seconds``; when it ends, what it logged through ``Run.get_context()``, its
``./outputs`` and ``./logs`` and its status are recorded in MLflow. A run
that cannot be recorded still ends (Failed), never hangs in Running.
"""

from __future__ import annotations

import atexit
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dp100 import script_zygote
from dp100.log_stream import LoggedJob
from dp100.run_context import METRICS_FILE, TAGS_FILE, logged_files, read_jsonl, script_environment
from dp100.snapshot import upload_snapshot
from dp100.tracking import STD_LOG, TRACKING_LOCK, artifact_folder, tracking_client
from dp100.workspace_folder import WorkspaceFolder


@dataclass
class ScriptCommand:
    """What to run: ``script`` (a path inside ``source_directory``) with ``arguments`` as text, the
    named dataset inputs' specs by name, and the time it may take."""

    source_directory: Path
    script: str
    arguments: list[str]
    inputs: dict[str, dict[str, Any]]
    max_run_duration_seconds: float


_LIVE: set[ScriptJob] = set()


@atexit.register
def _kill_live_jobs() -> None:
    """No script outlives the Python process that started it."""
    for job in list(_LIVE):
        job.cancel()


def _start_process(command: ScriptCommand, workdir: Path, env: dict[str, str]):
    """The script's process: forked by this process's zygote (dp100/script_zygote.py: the imports
    are done once), or, where there is no fork or the zygote fails, a new interpreter."""
    if hasattr(os, "fork"):
        try:
            return script_zygote.spawn([command.script, *command.arguments], str(workdir), env)
        except OSError:
            pass
    return subprocess.Popen(
        [sys.executable, "-u", command.script, *command.arguments],
        cwd=workdir,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        text=True,
        bufsize=1,
        errors="replace",
        start_new_session=(os.name == "posix"),
    )


class ScriptJob(LoggedJob):
    """One script run as a local process: stream its output to the log, sync ``./logs``, stop it
    after ``max_run_duration_seconds``, then record metrics, files and status in MLflow."""

    def __init__(self, workspace: WorkspaceFolder, run_id: str, command: ScriptCommand, control: Path):
        super().__init__(run_id)
        self.workspace = workspace
        self.command = command
        self.control = control  # the run's folder next to the workspace: its log and what it logged
        self.workdir = control / "wd"  # the script's working directory (a copy of the snapshot)
        self.proc: subprocess.Popen | None = None
        self.returncode: int | None = None
        self._cancelled = False
        self._synced: dict[Path, tuple[float, int]] = {}
        self._pump_thread: threading.Thread | None = None

    # -- start -------------------------------------------------------------------------------
    @classmethod
    def start(
        cls,
        workspace: WorkspaceFolder,
        experiment_name: str,
        run_id: str,
        command: ScriptCommand,
        files: list[Path],
        parent_id: str | None = None,
    ) -> ScriptJob:
        """Start ``command`` for the run ``run_id`` (created by the caller) in a copy of ``files``
        (its snapshot) and return at once. A script that cannot start ends its run Failed."""
        job = cls(workspace, run_id, command, workspace.root / "runs" / run_id)
        try:
            (job.control / "user_logs").mkdir(parents=True, exist_ok=True)
            for f in files:  # the run's working directory is a copy of the snapshot, as on a node
                target = job.workdir / f.relative_to(command.source_directory)
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(f, target)
            job.workdir.mkdir(parents=True, exist_ok=True)
            upload_snapshot(workspace, run_id, command.source_directory, files)
            env = dict(os.environ)
            env.update(
                script_environment(run_id, job.control, workspace.root, experiment_name, command.inputs, parent_id)
            )
            env.update({"PYTHONUNBUFFERED": "1", "MPLBACKEND": "Agg"})
            job.proc = _start_process(command, job.workdir, env)
        except Exception as exc:
            job.reason = f"could not start {command.script}: {type(exc).__name__}: {exc}"
            job._finish()
            return job
        _LIVE.add(job)
        job._pump_thread = threading.Thread(target=job._pump, daemon=True, name=f"dp100-log-{run_id[:8]}")
        job._pump_thread.start()
        threading.Thread(target=job._supervise, daemon=True, name=f"dp100-run-{run_id[:8]}").start()
        return job

    # -- while it runs -----------------------------------------------------------------------
    def _pump(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        with open(self.control / STD_LOG, "a", encoding="utf-8") as log:
            for line in self.proc.stdout:
                log.write(line)
                log.flush()
                with self.lines_lock:
                    self.lines.append(line)

    def _supervise(self) -> None:
        assert self.proc is not None
        start = time.monotonic()
        last_sync = 0.0
        limit = self.command.max_run_duration_seconds
        while True:
            try:
                self.returncode = self.proc.wait(timeout=0.1)
                break
            except subprocess.TimeoutExpired:
                pass
            if self._cancelled:
                self._kill()
            elif time.monotonic() - start > limit:
                self._kill()
                self.reason = f"stopped after max_run_duration_seconds={limit:g} s"
            if time.monotonic() - last_sync > 0.5:  # ./logs is uploaded while the script runs
                self._sync_logs()
                last_sync = time.monotonic()
        self._finish()

    def _kill(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        try:
            if os.name == "posix":
                os.killpg(self.proc.pid, signal.SIGKILL)
            else:
                self.proc.kill()
        except ProcessLookupError:
            pass

    def cancel(self) -> None:
        if not self.done.is_set() and self.reason is None:
            self.reason = "canceled"
        self._cancelled = True
        self._kill()

    def _sync_logs(self) -> None:
        client = tracking_client(self.workspace)
        for folder, prefix in ((self.workdir / "logs", "logs"), (self.control / "user_logs", "user_logs")):
            if not folder.is_dir():
                continue
            for f in sorted(p for p in folder.rglob("*") if p.is_file()):
                try:
                    stat = f.stat()
                except FileNotFoundError:
                    continue
                if self._synced.get(f) == (stat.st_mtime, stat.st_size):
                    continue
                try:
                    client.log_artifact(self.run_id, str(f), artifact_folder(f, folder, prefix))
                    self._synced[f] = (stat.st_mtime, stat.st_size)
                except OSError:
                    pass  # the file changed while copying: the next sync gets it

    # -- the end -----------------------------------------------------------------------------
    def _finish(self) -> None:
        client = tracking_client(self.workspace)
        status = "FINISHED"
        try:
            if self.proc is not None:
                try:
                    self.proc.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    self._kill()
                if self._pump_thread is not None:
                    self._pump_thread.join(timeout=5)  # the last lines of the log
            if self.reason is None and self.returncode not in (0, None):
                self.reason = f"script {self.command.script} exited with code {self.returncode}"
            if self.reason is not None:
                status = "KILLED" if self.reason == "canceled" else "FAILED"
            self._record_logged()
            self._sync_logs()
            with TRACKING_LOCK:
                for folder in ("outputs", "logs"):
                    if (self.workdir / folder).is_dir() and any((self.workdir / folder).rglob("*")):
                        client.log_artifacts(self.run_id, str(self.workdir / folder), folder)
                tags = {"azureml.exitCode": str(self.returncode)}
                if self.reason is not None:
                    tags.update({"azureml.error": self.reason, "azureml.logTail": self.log_tail()})
                for k, v in tags.items():
                    client.set_tag(self.run_id, k, v)
        except Exception as exc:  # never leave a run hanging in Running
            status = "FAILED"
            self.reason = f"recording the run failed: {type(exc).__name__}: {exc}"
            try:
                client.set_tag(self.run_id, "azureml.error", self.reason)
            except Exception:
                pass
        finally:
            try:
                with TRACKING_LOCK:
                    client.set_terminated(self.run_id, status)
            finally:
                shutil.rmtree(self.control, ignore_errors=True)  # the node's local disk is gone
                _LIVE.discard(self)
                self.done.set()

    def _record_logged(self) -> None:
        """Send what the script logged through ``Run.get_context()`` to the tracking store."""
        from mlflow.entities import Metric

        client = tracking_client(self.workspace)
        metrics = [
            Metric(r["key"], float(r["value"]), int(r["timestamp"]), int(r["step"]))
            for r in read_jsonl(self.control / METRICS_FILE)
        ]
        tags = {str(r["key"]): str(r["value"]) for r in read_jsonl(self.control / TAGS_FILE)}
        with TRACKING_LOCK:
            for i in range(0, len(metrics), 1000):
                client.log_batch(self.run_id, metrics=metrics[i : i + 1000])
            for k, v in tags.items():
                client.set_tag(self.run_id, k, v)
            for f, folder in logged_files(self.control):
                client.log_artifact(self.run_id, str(f), folder)
