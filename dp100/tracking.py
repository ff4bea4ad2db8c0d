"""The workspace's run history: local equivalent of Azure ML's tracking store (SDK v1 run records), here MLflow.

One MLflow client per workspace store, one lock for writing into it from this process, the status
names a learner sees (Azure's, not MLflow's), the MLflow UI standing in for Studio, and the error
every run, experiment or script configuration raises. MLflow is imported on first use only: a
submitted script imports this module without paying for MLflow.
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from typing import Any

from dp100.workspace_folder import WorkspaceFolder

#: Where ``make mlflow-ui`` serves the MLflow UI (the local "Studio"); DP100_MLFLOW_UI overrides it.
MLFLOW_UI = os.environ.get("DP100_MLFLOW_UI", "http://127.0.0.1:5000").rstrip("/")
#: MLflow status -> the Azure ML status name a learner sees in the notes and in Studio.
AZURE_STATUS = {
    "RUNNING": "Running",
    "SCHEDULED": "Queued",
    "FINISHED": "Completed",
    "FAILED": "Failed",
    "KILLED": "Canceled",
}
#: A script run's log, as Azure names it (streamed while the script runs, saved with the run).
STD_LOG = "user_logs/std_log.txt"
#: One writer at a time from this process into a workspace's SQLite store.
TRACKING_LOCK = threading.RLock()

_CLIENTS: dict[str, Any] = {}


class RunConfigError(ValueError):
    """A run, experiment or script configuration is wrong; the message says what and where."""


def tracking_client(workspace: WorkspaceFolder):
    """The ``MlflowClient`` of ``workspace``'s tracking store (one per store, made on first use)."""
    uri = workspace.get_mlflow_tracking_uri()
    with TRACKING_LOCK:
        if uri not in _CLIENTS:
            from mlflow import MlflowClient  # 3.6 s on first import

            _CLIENTS[uri] = MlflowClient(tracking_uri=uri)
        return _CLIENTS[uri]


def now_ms() -> int:
    """The time as MLflow records it: milliseconds since the epoch."""
    return int(time.time() * 1000)


def artifact_folder(file: Path, root: Path, prefix: str | None = None) -> str | None:
    """Where in a run a file of the local folder ``root`` is saved: ``prefix`` and the file's
    sub-folder of ``root`` (None: the run's top level)."""
    rel = file.relative_to(root).parent.as_posix()
    if rel == ".":
        return prefix
    return rel if prefix is None else f"{prefix}/{rel}"


def mlflow_ui_command(workspace: WorkspaceFolder, port: int = 5000) -> str:
    """The shell command that opens the MLflow UI (the local Studio) on ``workspace``."""
    return f"mlflow ui --backend-store-uri {workspace.get_mlflow_tracking_uri()} --port {port}"
