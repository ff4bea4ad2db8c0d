"""Experiments, runs and script runs, recorded in MLflow: local teaching equivalent of Azure ML's
``Experiment``, ``Run`` and ``ScriptRunConfig`` (SDK v1).

LOCAL TEACHING EQUIVALENT, NOT AZURE. Azure ML records runs in the cloud workspace and runs scripts
on a compute target; here MLflow records them in the workspace folder's SQLite store and a script
runs as its own local process, with the SDK v1 names the DP-100 notes use:

=============================================  ===================================================
Azure ML (SDK v1)                              here
=============================================  ===================================================
``Experiment(ws, name)``                       an MLflow experiment (created on first use)
``experiment.start_logging(snapshot_...)``     an MLflow run you log to from the notebook
``run.log(name, value)``                       ``log_metric``; the same name again = the next step
``run.complete()`` / ``run.fail()``            ``set_terminated(FINISHED / FAILED)``
``ScriptRunConfig(source_directory, script,``  the script runs in a copy of ``source_directory``
``    arguments, environment)``                as its own process with those arguments
``Estimator(..., script_params={...})``        the retired way: a dict flattened to arguments
``experiment.submit(config)``                  starts the run and returns at once
``run.wait_for_completion(show_output=True)``  streams the script's log WHILE it runs
``Run.get_context()`` in the script            the run the script belongs to (or an offline run)
``run.input_datasets["raw_data"]``             ``dataset.as_named_input("raw_data")`` given to
                                               the run (here: ``as_named_input(dataset, name)``)
``./outputs``, ``./logs`` of the script        uploaded as artifacts (``./logs`` while it runs)
snapshot of ``source_directory``               artifacts under ``snapshot/``
Studio link of an experiment / run             the MLflow UI link (``make mlflow-ui WS=...``)
=============================================  ===================================================

What differs from Azure, on purpose: metrics a *script* logs reach the tracking store when the
script ends (its log and ``./logs`` stream while it runs); the named ``environment`` is recorded
but the script runs in the course's own Python; the working directory is deleted after the run,
like a compute node's local disk, so only ``./outputs``, ``./logs`` and datastores persist.
"""
from __future__ import annotations

import atexit
import datetime as _dt
import fnmatch
import json
import math
import numbers
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any, Callable, Iterable

from dp100.datasets import DatasetConsumptionConfig, TabularDataset, as_named_input, dataset_from_spec
from dp100.workspace import Workspace

#: Where ``make mlflow-ui`` serves the MLflow UI (the local "Studio"); DP100_MLFLOW_UI overrides it.
MLFLOW_UI = os.environ.get("DP100_MLFLOW_UI", "http://127.0.0.1:5000").rstrip("/")
#: Azure's limits on a snapshot (source directory): 2,000 files, 300 MB.
SNAPSHOT_MAX_FILES = 2000
SNAPSHOT_MAX_BYTES = 300 * 1024 * 1024
SNAPSHOT_IGNORE = ("__pycache__", "*.pyc", ".ipynb_checkpoints", ".git", ".amlignore")
#: A script that runs longer than this is stopped and its run marked Failed (Azure's default is
#: 30 days; a course notebook wants to hear about a stuck script sooner).
DEFAULT_MAX_RUN_SECONDS = 600
STD_LOG = "user_logs/std_log.txt"

_ENV = {"run": "DP100_RUN_ID", "dir": "DP100_RUN_DIR", "ws": "DP100_WORKSPACE",
        "exp": "DP100_EXPERIMENT", "inputs": "DP100_INPUTS", "parent": "DP100_PARENT_RUN_ID"}
_EXPERIMENT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,254}$")
_METRIC_NAME = re.compile(r"^[\w\-. /]{1,250}$")
#: MLflow status -> the Azure ML status name a learner sees in the notes and in Studio.
AZURE_STATUS = {"RUNNING": "Running", "SCHEDULED": "Queued", "FINISHED": "Completed",
                "FAILED": "Failed", "KILLED": "Canceled"}


class RunConfigError(ValueError):
    """A run, experiment or script configuration is wrong; the message says what and where."""


class RunFailedError(RuntimeError):
    """``wait_for_completion(raise_on_error=True)`` on a run that failed (Azure:
    ``ActivityFailedException``). ``.run`` is the failed run, ``.log_tail`` the end of its log."""

    def __init__(self, message: str, run: "Run | None" = None, log_tail: str = ""):
        super().__init__(message)
        self.run = run
        self.log_tail = log_tail


# --------------------------------------------------------------------------------------------
# MLflow access (imported on first use: the script side never imports mlflow)
# --------------------------------------------------------------------------------------------
_CLIENTS: dict[str, Any] = {}
_LOCK = threading.RLock()   # one writer at a time from this process into the SQLite store


def _client(ws: Workspace):
    uri = ws.get_mlflow_tracking_uri()
    with _LOCK:
        if uri not in _CLIENTS:
            from mlflow import MlflowClient  # 3.6 s on first import
            _CLIENTS[uri] = MlflowClient(tracking_uri=uri)
        return _CLIENTS[uri]


def _now_ms() -> int:
    return int(time.time() * 1000)


def _check_metric(name: Any, value: Any) -> float:
    if not isinstance(name, str) or not _METRIC_NAME.match(name):
        raise RunConfigError(f"metric name {name!r}: 1-250 letters, digits, spaces or _ - . /")
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise RunConfigError(f"run.log({name!r}, {value!r}): the value must be a number, got "
                             f"{type(value).__name__}; use run.tag(name, text) for text")
    return float(value)


def mlflow_ui_command(workspace: Workspace, port: int = 5000) -> str:
    """The shell command that opens the MLflow UI (the local Studio) on ``workspace``."""
    return f"mlflow ui --backend-store-uri {workspace.get_mlflow_tracking_uri()} --port {port}"


# --------------------------------------------------------------------------------------------
# Configurations
# --------------------------------------------------------------------------------------------
class RunConfiguration:
    """``RunConfiguration()``: where and in what environment a script runs.

    ``environment`` (a registered ``Environment``) and ``target`` (a compute target or its name)
    are recorded on the run; locally the script runs in the course's own Python.
    """

    def __init__(self, environment: Any = None, target: Any = "local"):
        self.environment = environment
        self.target = target

    def __repr__(self) -> str:
        return f"RunConfiguration(environment={_env_label(self.environment)!r}, target={_target_label(self.target)!r})"


def _env_label(env: Any) -> str:
    if env is None:
        return "default (the course's Python)"
    name = getattr(env, "name", None)
    if not name:
        raise RunConfigError(f"environment must be an Environment, got {type(env).__name__}")
    return f"{name}:{env.version}" if getattr(env, "version", None) else name


def _target_label(target: Any) -> str:
    if target is None:
        return "local"
    if isinstance(target, str):
        return target
    name = getattr(target, "name", None)
    if not name:
        raise RunConfigError(f"compute target must be a ComputeTarget or its name, got {type(target).__name__}")
    return name


def _check_arguments(arguments: Any, where: str) -> list[Any]:
    if arguments is None:
        return []
    if isinstance(arguments, dict):
        raise RunConfigError(
            f"{where}: arguments is a list like ['--reg-rate', 0.1], not a dict. (A dict was the "
            "retired Estimator's script_params; Estimator(script_params=...) still takes one.)")
    if isinstance(arguments, (str, bytes)) or not isinstance(arguments, (list, tuple)):
        raise RunConfigError(f"{where}: arguments must be a list, got {type(arguments).__name__}")
    for i, a in enumerate(arguments):
        ok = (isinstance(a, (str, numbers.Real)) or isinstance(a, DatasetConsumptionConfig)
              or hasattr(a, "_pipeline_data"))
        if not ok or (isinstance(a, float) and not math.isfinite(a)):
            raise RunConfigError(f"{where}: argument {i} ({a!r}) must be text, a number, a named "
                                 "dataset input or PipelineData")
    return list(arguments)


def _check_script(source_directory: Any, script: Any, where: str) -> tuple[Path, str]:
    if source_directory is None or not str(source_directory):
        raise RunConfigError(f"{where}: source_directory is required")
    src = Path(source_directory)
    if not src.is_dir():
        raise RunConfigError(f"{where}: source_directory {str(src)!r} is not a folder")
    if not isinstance(script, str) or not script:
        raise RunConfigError(f"{where}: script must be the file name of a Python script in {str(src)!r}")
    rel = Path(script)
    if rel.is_absolute() or ".." in rel.parts:
        raise RunConfigError(f"{where}: script {script!r} must be a path inside source_directory")
    if not (src / rel).is_file():
        found = sorted(p.name for p in src.glob("*.py"))
        raise RunConfigError(f"{where}: no script {script!r} in {str(src)!r} (found: {found})")
    return src.resolve(), rel.as_posix()


class ScriptRunConfig:
    """``ScriptRunConfig(source_directory, script, arguments, environment, compute_target)``.

    ``max_run_duration_seconds`` (an SDK v1 parameter too) stops a script that runs too long and
    marks its run Failed, so nothing waits forever.
    """

    def __init__(self, source_directory: Any, script: str | None = None, arguments: Any = None,
                 run_config: RunConfiguration | None = None, compute_target: Any = None,
                 environment: Any = None, max_run_duration_seconds: float = DEFAULT_MAX_RUN_SECONDS):
        self.source_directory, self.script = _check_script(source_directory, script, "ScriptRunConfig")
        self.arguments = _check_arguments(arguments, "ScriptRunConfig")
        base = run_config or RunConfiguration()
        if not isinstance(base, RunConfiguration):
            raise RunConfigError(f"ScriptRunConfig: run_config must be a RunConfiguration, got {type(base).__name__}")
        self.run_config = RunConfiguration(base.environment, base.target)
        if environment is not None:
            self.run_config.environment = environment
        if compute_target is not None:
            self.run_config.target = compute_target
        _env_label(self.run_config.environment)
        _target_label(self.run_config.target)
        if not (isinstance(max_run_duration_seconds, numbers.Real) and max_run_duration_seconds > 0):
            raise RunConfigError(f"max_run_duration_seconds must be > 0, got {max_run_duration_seconds!r}")
        self.max_run_duration_seconds = float(max_run_duration_seconds)

    @property
    def environment(self) -> Any:
        return self.run_config.environment

    def _submit(self, experiment: "Experiment", tags: dict[str, str] | None) -> "Run":
        job = _ScriptJob.start(experiment, self, tags=tags)
        return Run(experiment, job.run_id, _job=job)

    def __repr__(self) -> str:
        return f"ScriptRunConfig(source_directory={str(self.source_directory)!r}, script={self.script!r}, arguments={self.arguments!r})"


class Estimator:
    """The retired SDK v1 ``Estimator(source_directory, entry_script, script_params={...})``.

    ``script_params`` is the dictionary of command-line arguments for ``entry_script``; each
    ``{"--reg-rate": 0.1}`` becomes ``--reg-rate 0.1`` (a value of ``None`` gives a bare flag).
    Submitting an Estimator runs the equivalent ``ScriptRunConfig``.
    """

    def __init__(self, source_directory: Any, entry_script: str, script_params: dict | None = None,
                 compute_target: Any = None, environment_definition: Any = None, **_: Any):
        if script_params is not None and not isinstance(script_params, dict):
            raise RunConfigError("Estimator: script_params must be a dict like {'--reg-rate': 0.1}")
        self.script_params = dict(script_params or {})
        arguments: list[Any] = []
        for key, value in self.script_params.items():
            if not isinstance(key, str) or not key:
                raise RunConfigError(f"Estimator: script_params key {key!r} must be an option name like '--alpha'")
            arguments += [key] if value is None else [key, value]
        self.run_config = ScriptRunConfig(source_directory, entry_script, arguments,
                                          compute_target=compute_target, environment=environment_definition)

    @property
    def arguments(self) -> list[Any]:
        return self.run_config.arguments

    def _submit(self, experiment: "Experiment", tags: dict[str, str] | None) -> "Run":
        return self.run_config._submit(experiment, tags)


# --------------------------------------------------------------------------------------------
# Experiment
# --------------------------------------------------------------------------------------------
class Experiment:
    """``Experiment(workspace, name)``: a named group of runs, an MLflow experiment here.

    Displaying the experiment (its repr in a notebook) gives its link, as the SDK gives a Studio
    link: here the MLflow UI, started with ``make mlflow-ui WS=<workspace folder>``.
    """

    def __init__(self, workspace: Workspace, name: str):
        if not isinstance(workspace, Workspace):
            raise RunConfigError(f"Experiment(workspace, name): workspace must be a Workspace, got "
                                 f"{type(workspace).__name__}")
        if not isinstance(name, str) or not _EXPERIMENT_NAME.match(name):
            raise RunConfigError(f"experiment name {name!r}: 1-255 letters, digits, _ or -, "
                                 "starting with a letter or digit")
        self.workspace = workspace
        self.name = name
        self._id: str | None = None

    @property
    def id(self) -> str:
        """The MLflow experiment id (the experiment is created in the tracking store on first use)."""
        if self._id is None:
            client = _client(self.workspace)
            with _LOCK:
                found = client.get_experiment_by_name(self.name)
                self._id = found.experiment_id if found else client.create_experiment(
                    self.name, artifact_location=f"{self.workspace.artifact_location}/{self.name}")
        return self._id

    def submit(self, config: Any, tags: dict[str, str] | None = None,
               pipeline_parameters: dict[str, Any] | None = None, **_: Any) -> "Run":
        """Start a run of ``config`` (ScriptRunConfig, Estimator or Pipeline) and return at once.
        ``pipeline_parameters`` (a Pipeline only): the values of its pipeline parameters, by name."""
        if not hasattr(config, "_submit"):
            raise RunConfigError(f"experiment.submit(config): config must be a ScriptRunConfig, Estimator "
                                 f"or Pipeline, got {type(config).__name__}")
        if pipeline_parameters is not None:
            if not getattr(config, "_takes_pipeline_parameters", False):
                raise RunConfigError(f"experiment.submit: pipeline_parameters is for a Pipeline, not a "
                                     f"{type(config).__name__}")
            return config._submit(self, tags, pipeline_parameters=pipeline_parameters)
        return config._submit(self, tags)

    def start_logging(self, snapshot_directory: Any = None, outputs: Any = "./outputs",
                      display_name: str | None = None, tags: dict[str, str] | None = None) -> "Run":
        """An interactive run you log to from here (the notebook), until ``run.complete()``.

        ``snapshot_directory``: a folder saved with the run (``None``: no snapshot, as in Azure).
        ``outputs``: a folder whose files are uploaded on ``complete()`` (``False``: none).
        """
        snapshot = None
        if snapshot_directory is not None:
            snapshot = Path(snapshot_directory)
            if not snapshot.is_dir():
                raise RunConfigError(f"start_logging: snapshot_directory {str(snapshot)!r} is not a folder")
            _snapshot_files(snapshot, self.workspace)   # check the limits before starting
        out = None if outputs in (None, False) else Path(outputs).resolve()
        run = Run._create(self, {"azureml.runType": "interactive", **(tags or {})}, display_name)
        if snapshot is not None:
            run._upload_snapshot(snapshot)
        run._outputs_dir = out
        return run

    def get_runs(self, include_children: bool = False) -> list["Run"]:
        """The runs of this experiment, newest first (child runs of pipelines only if asked)."""
        client = _client(self.workspace)
        runs = client.search_runs([self.id], order_by=["attributes.start_time DESC"], max_results=1000)
        return [Run(self, r.info.run_id) for r in runs
                if include_children or "mlflow.parentRunId" not in r.data.tags]

    def get_portal_url(self) -> str:
        """The link to this experiment in the MLflow UI (Azure: the Studio link)."""
        return f"{MLFLOW_UI}/#/experiments/{self.id}"

    def __repr__(self) -> str:
        return (f"Experiment(Name: {self.name}, Workspace: {self.workspace.name}, "
                f"Report Page: {self.get_portal_url()})")

    def _repr_html_(self) -> str:
        url = self.get_portal_url()
        return (f"<table><tr><th>Name</th><th>Workspace</th><th>Report Page</th></tr><tr>"
                f"<td>{self.name}</td><td>{self.workspace.name}</td><td><a href='{url}' target='_blank'>"
                f"Link to MLflow UI</a> (start it with <code>make mlflow-ui WS={self.workspace.root}</code>)"
                f"</td></tr></table>")


# --------------------------------------------------------------------------------------------
# Run
# --------------------------------------------------------------------------------------------
class Run:
    """A run recorded in MLflow. ``Run.get_context()`` gives the current run inside a script."""

    def __init__(self, experiment: Experiment, run_id: str, _job: "_ScriptJob | None" = None):
        self.experiment = experiment
        self.id = run_id
        self._job = _job
        self._steps: dict[str, int] = {}
        self._outputs_dir: Path | None = None

    # -- creation ----------------------------------------------------------------------------
    @classmethod
    def _create(cls, experiment: Experiment, tags: dict[str, str], name: str | None = None,
                parent_id: str | None = None) -> "Run":
        client = _client(experiment.workspace)
        tags = dict(tags)
        if parent_id:
            tags["mlflow.parentRunId"] = parent_id
        with _LOCK:
            info = client.create_run(experiment.id, tags=tags, run_name=name).info
        return cls(experiment, info.run_id)

    @staticmethod
    def get_context(allow_offline: bool = True) -> "Run | _ContextRun | _OfflineRun":
        """The run this code belongs to: inside a submitted script, that run; else an offline run
        that prints what it logs (Azure's ``_OfflineRun``)."""
        if os.environ.get(_ENV["run"]):
            return _ContextRun._current()
        if not allow_offline:
            raise RunConfigError("Run.get_context(allow_offline=False): this code is not running "
                                 "inside a submitted run")
        return _OfflineRun()

    @property
    def _client(self):
        return _client(self.experiment.workspace)

    @property
    def _mlflow_run(self):
        return self._client.get_run(self.id)

    # -- logging -----------------------------------------------------------------------------
    def log(self, name: str, value: Any, description: str = "", step: int | None = None) -> None:
        """Log a number. Logging the same name again adds the next step (a curve)."""
        v = _check_metric(name, value)
        if step is None:
            if name not in self._steps:
                self._steps[name] = len(self._client.get_metric_history(self.id, name))
            step = self._steps[name]
        self._steps[name] = int(step) + 1
        with _LOCK:
            self._client.log_metric(self.id, name, v, step=int(step))

    def log_list(self, name: str, value: Iterable[Any], description: str = "") -> None:
        """Log a list of numbers as steps 0, 1, 2, ... of one metric."""
        from mlflow.entities import Metric
        values = [_check_metric(name, v) for v in value]
        ts = _now_ms()
        with _LOCK:
            self._client.log_batch(self.id, metrics=[Metric(name, v, ts, i) for i, v in enumerate(values)])
        self._steps[name] = len(values)

    def tag(self, key: str, value: Any = "") -> None:
        with _LOCK:
            self._client.set_tag(self.id, key, str(value))

    def set_tags(self, tags: dict[str, Any]) -> None:
        for k, v in tags.items():
            self.tag(k, v)

    def get_tags(self) -> dict[str, str]:
        return {k: v for k, v in self._mlflow_run.data.tags.items() if not k.startswith("mlflow.")}

    def get_metrics(self, name: str | None = None) -> dict[str, Any]:
        """``{name: value}``, or ``{name: [values by step]}`` for a name logged more than once."""
        keys = [name] if name else sorted(self._mlflow_run.data.metrics)
        out = {}
        for key in keys:
            history = sorted(self._client.get_metric_history(self.id, key), key=lambda m: (m.step, m.timestamp))
            if history:
                values = [m.value for m in history]
                out[key] = values[0] if len(values) == 1 else values
        return out

    def upload_file(self, name: str, path_or_stream: Any) -> None:
        """Save a file with the run under ``name`` (e.g. ``outputs/model.pkl``)."""
        name = _artifact_name(name)
        src = Path(path_or_stream) if isinstance(path_or_stream, (str, os.PathLike)) else None
        if src is not None and not src.is_file():
            raise RunConfigError(f"upload_file({name!r}): no file {str(src)!r}")
        import tempfile
        with tempfile.TemporaryDirectory() as tmp:
            target = Path(tmp) / Path(name).name
            if src is not None:
                shutil.copyfile(src, target)
            else:
                data = path_or_stream.read()
                target.write_bytes(data.encode() if isinstance(data, str) else data)
            folder = str(Path(name).parent) if Path(name).parent != Path(".") else None
            with _LOCK:
                self._client.log_artifact(self.id, str(target), folder)

    def upload_folder(self, name: str, path: Any) -> None:
        if not Path(path).is_dir():
            raise RunConfigError(f"upload_folder({name!r}): {str(path)!r} is not a folder")
        with _LOCK:
            self._client.log_artifacts(self.id, str(path), _artifact_name(name))

    def get_file_names(self) -> list[str]:
        """Every file saved with the run, as paths (``outputs/model.pkl``, ``user_logs/...``)."""
        client, out, todo = self._client, [], [None]
        while todo:
            for info in client.list_artifacts(self.id, todo.pop()):
                (todo if info.is_dir else out).append(info.path)
        return sorted(out)

    def download_file(self, name: str, output_file_path: Any = None) -> Path:
        if name not in self.get_file_names():
            raise RunConfigError(f"run {self.id} has no file {name!r}; it has {self.get_file_names()}")
        import tempfile
        from urllib.parse import unquote, urlparse
        uri = self._mlflow_run.info.artifact_uri
        if uri.startswith("file:"):   # a local artifact store: read it in place (no progress bar)
            local = Path(unquote(urlparse(uri).path)) / name
        else:
            local = Path(self._client.download_artifacts(self.id, name, tempfile.mkdtemp()))
        if output_file_path is None:
            return local
        target = Path(output_file_path)
        if target.is_dir():
            target = target / Path(name).name
        shutil.copyfile(local, target)
        return target

    def read_text(self, name: str) -> str:
        """The text of a file saved with the run (e.g. its log ``user_logs/std_log.txt``).

        A LOCAL EXTRA, not in the SDK: there, ``run.get_details_with_logs()["logFiles"][name]``
        gives a log's text, or ``run.download_file(name, output_file_path=...)`` saves any file."""
        return self.download_file(name).read_text(errors="replace")

    # -- life cycle --------------------------------------------------------------------------
    def get_status(self) -> str:
        """Azure's status names: Running, Completed, Failed, Canceled."""
        return AZURE_STATUS.get(self._mlflow_run.info.status, self._mlflow_run.info.status)

    @property
    def status(self) -> str:
        return self.get_status()

    def complete(self) -> None:
        """Finish an interactive run: upload its outputs folder, mark it Completed."""
        self._end("FINISHED")

    def fail(self, error_details: Any = None) -> None:
        if error_details is not None:
            self.tag("azureml.error", str(error_details)[:5000])
        self._end("FAILED")

    def cancel(self) -> None:
        if self._job is not None:
            self._job.cancel()
            self._job.join()
        else:
            self._end("KILLED")

    def _end(self, status: str) -> None:
        if self._job is not None:
            raise RunConfigError("a submitted script run ends when its script ends; "
                                 "call run.complete() inside the script (Run.get_context())")
        if self._outputs_dir is not None and self._outputs_dir.is_dir() and any(self._outputs_dir.iterdir()):
            self.upload_folder("outputs", self._outputs_dir)
        with _LOCK:
            self._client.set_terminated(self.id, status)

    def __enter__(self) -> "Run":
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if self._job is None and self.get_status() == "Running":
            self.fail(f"{exc_type.__name__}: {exc}") if exc_type else self.complete()

    def wait_for_completion(self, show_output: bool = False, wait_post_processing: bool = False,
                            raise_on_error: bool = True, timeout_seconds: float | None = None,
                            stream: Any = None) -> dict[str, Any]:
        """Block until the run ends and return its details.

        ``show_output=True`` streams the script's log while the script runs (not only at the end),
        then prints an execution summary. A failed run raises ``RunFailedError`` (its message names
        what failed and ends with the log) unless ``raise_on_error=False``. ``timeout_seconds``
        stops the waiting (not the run) with ``TimeoutError``.
        """
        out = stream or sys.stdout
        deadline = None if timeout_seconds is None else time.monotonic() + timeout_seconds
        if show_output:
            print(f"RunId: {self.id}\nWeb View: {self.get_portal_url()}\n", file=out)
        self._wait(show_output, out, deadline)
        details = self.get_details()
        if show_output:
            print(f"\nExecution Summary\n=================\nRunId: {self.id}\n"
                  f"Web View: {self.get_portal_url()}\nStatus: {details['status']}\n", file=out, flush=True)
        if details["status"] == "Failed" and raise_on_error:
            raise self._failure()
        return details

    def _wait(self, show_output: bool, out: Any, deadline: float | None) -> None:
        job = self._job
        if job is None:   # a run from get_runs() or an interactive run: nothing to stream
            while self.get_status() == "Running":
                if self.get_tags().get("azureml.runType") == "interactive":
                    raise RunConfigError("an interactive run (start_logging) ends with run.complete(); "
                                         "nothing to wait for")
                _check_deadline(deadline, self)
                time.sleep(0.2)
            if show_output and STD_LOG in self.get_file_names():
                print(f"Streaming {STD_LOG}\n{'=' * (10 + len(STD_LOG))}\n", file=out)
                print(self.read_text(STD_LOG), end="", file=out, flush=True)
            return
        if show_output:
            print(f"Streaming {STD_LOG}\n{'=' * (10 + len(STD_LOG))}\n", file=out, flush=True)
        job.stream(out if show_output else None, deadline, self)

    def _failure(self) -> RunFailedError:
        tags = self._mlflow_run.data.tags
        tail = tags.get("azureml.logTail", "")
        error = tags.get("azureml.error", "the run failed")
        return RunFailedError(f"Run {self.id} failed: {error}" + (f"\n--- end of its log ---\n{tail}" if tail else ""),
                              self, tail)

    def get_details(self) -> dict[str, Any]:
        r = self._mlflow_run
        tags = r.data.tags

        def utc(ms: int | None) -> str | None:
            return None if not ms else _dt.datetime.fromtimestamp(ms / 1000, _dt.timezone.utc).isoformat(timespec="seconds")
        details = {"runId": self.id, "status": AZURE_STATUS.get(r.info.status, r.info.status),
                   "startTimeUtc": utc(r.info.start_time), "endTimeUtc": utc(r.info.end_time),
                   "target": tags.get("azureml.computeTarget", "local"),
                   "properties": {k: v for k, v in tags.items() if not k.startswith("mlflow.")},
                   "inputDatasets": json.loads(tags.get("azureml.inputDatasets", "[]")),
                   "logFiles": {STD_LOG: "artifact"} if "azureml.script" in tags else {}}
        if "azureml.error" in tags:
            details["error"] = tags["azureml.error"]
        return details

    def get_details_with_logs(self) -> dict[str, Any]:
        """``get_details()`` with the *text* of each log file in ``logFiles`` (``{name: text}``),
        as the SDK's ``Run.get_details_with_logs()``."""
        details = self.get_details()
        names = self.get_file_names()
        details["logFiles"] = {name: self.read_text(name) for name in names
                               if name.startswith(("user_logs/", "logs/"))}
        return details

    def get_portal_url(self) -> str:
        return f"{MLFLOW_UI}/#/experiments/{self.experiment.id}/runs/{self.id}"

    def get_children(self) -> list["Run"]:
        runs = self._client.search_runs([self.experiment.id], filter_string=f"tags.mlflow.parentRunId = '{self.id}'",
                                        order_by=["attributes.start_time ASC"])
        return [Run(self.experiment, r.info.run_id) for r in runs]

    @property
    def parent(self) -> "Run | None":
        parent = self._mlflow_run.data.tags.get("mlflow.parentRunId")
        return Run(self.experiment, parent) if parent else None

    @property
    def name(self) -> str:
        return self._mlflow_run.info.run_name

    def _upload_snapshot(self, folder: Path) -> None:
        files = _snapshot_files(folder, self.experiment.workspace)
        with _LOCK:
            for f in files:
                rel = f.relative_to(folder).parent.as_posix()
                self._client.log_artifact(self.id, str(f), "snapshot" if rel == "." else f"snapshot/{rel}")

    def __repr__(self) -> str:
        return f"Run(Experiment: {self.experiment.name}, Id: {self.id}, Status: {self.get_status()})"

    def _repr_html_(self) -> str:
        url = self.get_portal_url()
        return (f"<table><tr><th>Experiment</th><th>Id</th><th>Status</th><th>Details Page</th></tr><tr>"
                f"<td>{self.experiment.name}</td><td>{self.id}</td><td>{self.get_status()}</td>"
                f"<td><a href='{url}' target='_blank'>Link to MLflow UI</a></td></tr></table>")


def _check_deadline(deadline: float | None, run: Any) -> None:
    if deadline is not None and time.monotonic() > deadline:
        raise TimeoutError(f"run {run.id} still running when wait_for_completion's timeout ran out "
                           "(the run goes on; wait again or cancel it)")


def _artifact_name(name: Any) -> str:
    if not isinstance(name, str) or not name or name.startswith("/") or ".." in Path(name).parts:
        raise RunConfigError(f"file name {name!r}: a relative path such as 'outputs/model.pkl'")
    return name.replace("\\", "/")


def _snapshot_files(folder: Path, workspace: Workspace | None = None) -> list[Path]:
    """The files of ``folder`` a snapshot holds: without caches, ``.amlignore`` patterns and any
    workspace folder inside it; refuses more than Azure's 2,000 files or 300 MB."""
    folder = Path(folder).resolve()
    patterns = list(SNAPSHOT_IGNORE)
    ignore_file = folder / ".amlignore"
    if ignore_file.is_file():
        patterns += [p.strip().strip("/") for p in ignore_file.read_text().splitlines()
                     if p.strip() and not p.startswith("#")]
    skip_roots = {workspace.root.resolve()} if workspace is not None else set()
    files, total = [], 0
    for dirpath, dirnames, filenames in os.walk(folder):
        here = Path(dirpath)
        dirnames[:] = sorted(d for d in dirnames if not any(fnmatch.fnmatch(d, p) for p in patterns)
                             and (here / d).resolve() not in skip_roots
                             and not ((here / d / "mlflow.db").exists() and (here / d / "config.json").exists()))
        for name in sorted(filenames):
            if any(fnmatch.fnmatch(name, p) for p in patterns):
                continue
            path = here / name
            files.append(path)
            total += path.stat().st_size
            if len(files) > SNAPSHOT_MAX_FILES or total > SNAPSHOT_MAX_BYTES:
                raise RunConfigError(
                    f"snapshot of {str(folder)!r} is over Azure's limit of {SNAPSHOT_MAX_FILES} files / "
                    f"{SNAPSHOT_MAX_BYTES // 2**20} MB: keep data out of source_directory (use a "
                    "datastore) or list what to leave out in .amlignore")
    return files


# --------------------------------------------------------------------------------------------
# A script run: the process, its log, its end
# --------------------------------------------------------------------------------------------
_LIVE: set["_ScriptJob"] = set()


@atexit.register
def _kill_live_jobs() -> None:
    for job in list(_LIVE):
        job.cancel()


class _LoggedJob:
    """A job whose log lines a waiting caller streams (``wait_for_completion(show_output=True)``)."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.lines_lock = threading.Lock()
        self.done = threading.Event()

    def join(self, timeout: float | None = None) -> bool:
        return self.done.wait(timeout)

    def stream(self, out: Any, deadline: float | None, run: Any) -> None:
        shown = 0
        while True:
            finished = self.done.wait(0.05)
            if out is not None:
                with self.lines_lock:
                    new = self.lines[shown:]
                shown += len(new)
                if new:
                    out.write("".join(new))
                    out.flush()
            if finished:
                return
            _check_deadline(deadline, run)


class _ScriptJob(_LoggedJob):
    """One script run as a local process: stream its output to the log, sync ``./logs``, stop it
    after ``max_run_duration_seconds``, then record metrics, files and status in MLflow."""

    def __init__(self, experiment: Experiment, run: Run, config: ScriptRunConfig, control: Path,
                 workdir: Path):
        super().__init__()
        self.experiment = experiment
        self.run_id = run.id
        self.run = run
        self.config = config
        self.control = control
        self.workdir = workdir
        self.proc: subprocess.Popen | None = None
        self.returncode: int | None = None
        self.reason: str | None = None
        self._cancelled = False
        self._synced: dict[Path, tuple[float, int]] = {}
        self._pump_thread: threading.Thread | None = None

    # -- start -------------------------------------------------------------------------------
    @classmethod
    def start(cls, experiment: Experiment, config: ScriptRunConfig, tags: dict[str, str] | None = None,
              parent_id: str | None = None, name: str | None = None,
              resolve: Callable[[Any], str] | None = None, extra_inputs: Iterable[Any] = (),
              extra_tags: dict[str, str] | None = None) -> "_ScriptJob":
        ws = experiment.workspace
        # check again: the script may have been deleted since the config was made
        _check_script(config.source_directory, config.script, "experiment.submit")
        files = _snapshot_files(config.source_directory, ws)
        inputs: dict[str, dict[str, Any]] = {}
        arguments: list[str] = []
        for a in config.arguments:
            if isinstance(a, DatasetConsumptionConfig):
                inputs[a.name] = a._spec()
                arguments.append(f"DatasetConsumptionConfig:{a.name}")
            elif hasattr(a, "_pipeline_data"):
                if resolve is None:
                    raise RunConfigError(f"PipelineData {a.name!r} can only be passed to a PythonScriptStep")
                arguments.append(resolve(a))
            else:
                arguments.append(str(a))
        for a in extra_inputs:
            if isinstance(a, DatasetConsumptionConfig):
                inputs[a.name] = a._spec()
        all_tags = {"azureml.runType": "azureml.scriptrun", "azureml.script": config.script,
                    "azureml.arguments": json.dumps(arguments),
                    "azureml.environment": _env_label(config.environment),
                    "azureml.computeTarget": _target_label(config.run_config.target),
                    "azureml.inputDatasets": json.dumps(sorted(inputs)),
                    "mlflow.source.name": config.script, **(extra_tags or {}), **(tags or {})}
        run = Run._create(experiment, all_tags, name or f"{Path(config.script).stem}_{int(time.time())}",
                          parent_id=parent_id)
        control = ws.root / "runs" / run.id
        workdir = control / "wd"
        job = cls(experiment, run, config, control, workdir)
        try:
            (control / "user_logs").mkdir(parents=True, exist_ok=True)
            for f in files:   # the run's working directory is a copy of the snapshot, as on a node
                target = workdir / f.relative_to(config.source_directory)
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(f, target)
            workdir.mkdir(parents=True, exist_ok=True)
            with _LOCK:
                client = _client(ws)
                for f in files:
                    rel = f.relative_to(config.source_directory).parent.as_posix()
                    client.log_artifact(run.id, str(f), "snapshot" if rel == "." else f"snapshot/{rel}")
            env = dict(os.environ)
            env.update({_ENV["run"]: run.id, _ENV["dir"]: str(control), _ENV["ws"]: str(ws.root),
                        _ENV["exp"]: experiment.name, _ENV["inputs"]: json.dumps(inputs),
                        _ENV["parent"]: parent_id or "", "AZUREML_RUN_ID": run.id,
                        "PYTHONUNBUFFERED": "1", "MPLBACKEND": "Agg"})
            job.proc = subprocess.Popen([sys.executable, "-u", config.script, *arguments], cwd=workdir,
                                        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                        stdin=subprocess.DEVNULL, text=True, bufsize=1,
                                        errors="replace", start_new_session=(os.name == "posix"))
        except Exception as exc:
            job.reason = f"could not start {config.script}: {type(exc).__name__}: {exc}"
            job._finish()
            return job
        _LIVE.add(job)
        job._pump_thread = threading.Thread(target=job._pump, daemon=True, name=f"dp100-log-{run.id[:8]}")
        job._pump_thread.start()
        threading.Thread(target=job._supervise, daemon=True, name=f"dp100-run-{run.id[:8]}").start()
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
        while True:
            try:
                self.returncode = self.proc.wait(timeout=0.1)
                break
            except subprocess.TimeoutExpired:
                pass
            if self._cancelled:
                self._kill()
            elif time.monotonic() - start > self.config.max_run_duration_seconds:
                self._kill()
                self.reason = (f"stopped after max_run_duration_seconds="
                               f"{self.config.max_run_duration_seconds:g} s")
            if time.monotonic() - last_sync > 0.5:   # ./logs is uploaded while the script runs
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
        client = _client(self.experiment.workspace)
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
                rel = f.relative_to(folder).parent.as_posix()
                try:
                    client.log_artifact(self.run_id, str(f), prefix if rel == "." else f"{prefix}/{rel}")
                    self._synced[f] = (stat.st_mtime, stat.st_size)
                except OSError:
                    pass  # the file changed while copying: the next sync gets it

    # -- the end -----------------------------------------------------------------------------
    def _finish(self) -> None:
        client = _client(self.experiment.workspace)
        status = "FINISHED"
        try:
            if self.proc is not None:
                try:
                    self.proc.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    self._kill()
                if self._pump_thread is not None:
                    self._pump_thread.join(timeout=5)   # the last lines of the log
            if self.reason is None and self.returncode not in (0, None):
                self.reason = f"script {self.config.script} exited with code {self.returncode}"
            if self.reason is not None:
                status = "KILLED" if self.reason == "canceled" else "FAILED"
            self._record_logged()
            self._sync_logs()
            with _LOCK:
                for folder in ("outputs", "logs"):
                    if (self.workdir / folder).is_dir() and any((self.workdir / folder).rglob("*")):
                        client.log_artifacts(self.run_id, str(self.workdir / folder), folder)
                tags = {"azureml.exitCode": str(self.returncode)}
                if self.reason is not None:
                    tail = "".join(self.lines[-30:])[-4000:]
                    tags.update({"azureml.error": self.reason, "azureml.logTail": tail})
                for k, v in tags.items():
                    client.set_tag(self.run_id, k, v)
        except Exception as exc:   # never leave a run hanging in Running
            status = "FAILED"
            self.reason = f"recording the run failed: {type(exc).__name__}: {exc}"
            try:
                client.set_tag(self.run_id, "azureml.error", self.reason)
            except Exception:
                pass
        finally:
            try:
                with _LOCK:
                    client.set_terminated(self.run_id, status)
            finally:
                shutil.rmtree(self.control, ignore_errors=True)   # the node's local disk is gone
                _LIVE.discard(self)
                self.done.set()

    def _record_logged(self) -> None:
        """Send what the script logged through ``Run.get_context()`` to the tracking store."""
        from mlflow.entities import Metric
        client = _client(self.experiment.workspace)
        metrics, tags = [], {}
        for line in _read_jsonl(self.control / "metrics.jsonl"):
            metrics.append(Metric(line["key"], float(line["value"]), int(line["timestamp"]), int(line["step"])))
        for line in _read_jsonl(self.control / "tags.jsonl"):
            tags[str(line["key"])] = str(line["value"])
        with _LOCK:
            for i in range(0, len(metrics), 1000):
                client.log_batch(self.run_id, metrics=metrics[i:i + 1000])
            for k, v in tags.items():
                client.set_tag(self.run_id, k, v)
            uploads = self.control / "uploads"
            if uploads.is_dir():
                for f in sorted(p for p in uploads.rglob("*") if p.is_file()):
                    rel = f.relative_to(uploads).parent.as_posix()
                    client.log_artifact(self.run_id, str(f), None if rel == "." else rel)



def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        return []
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError:
            continue   # a line cut short when the script was killed
    return out


# --------------------------------------------------------------------------------------------
# Inside the script
# --------------------------------------------------------------------------------------------
class _ContextExperiment:
    """``run.experiment`` inside a script: its name and workspace (no tracking store needed)."""

    def __init__(self, name: str, workspace_root: str):
        self.name = name
        self._root = workspace_root
        self._ws: Workspace | None = None

    @property
    def workspace(self) -> Workspace:
        if self._ws is None:
            self._ws = Workspace.from_config(self._root)
        return self._ws

    def __repr__(self) -> str:
        return f"Experiment(Name: {self.name})"


class _ContextRun:
    """``Run.get_context()`` inside a submitted script. What it logs is written next to the run
    and recorded in MLflow when the script ends (so the script does not import mlflow)."""

    _instance: "_ContextRun | None" = None

    def __init__(self) -> None:
        self.id = os.environ[_ENV["run"]]
        self._dir = Path(os.environ[_ENV["dir"]])
        self.experiment = _ContextExperiment(os.environ[_ENV["exp"]], os.environ[_ENV["ws"]])
        self._parent_id = os.environ.get(_ENV["parent"]) or None
        self._inputs = json.loads(os.environ.get(_ENV["inputs"]) or "{}")
        self._steps: dict[str, int] = {}
        self._completed = False

    @classmethod
    def _current(cls) -> "_ContextRun":
        if cls._instance is None or cls._instance.id != os.environ.get(_ENV["run"]):
            cls._instance = cls()
        return cls._instance

    @property
    def input_datasets(self) -> dict[str, TabularDataset]:
        """The datasets given to this run with ``as_named_input(dataset, name)``, by name."""
        return {name: dataset_from_spec(spec, str(self.experiment.workspace.root))
                for name, spec in self._inputs.items()}

    @property
    def parent(self) -> Any:
        return None if self._parent_id is None else type("ParentRun", (), {"id": self._parent_id})()

    def _append(self, file: str, record: dict[str, Any]) -> None:
        with open(self._dir / file, "a", encoding="utf-8") as f:
            f.write(json.dumps(record) + "\n")

    def log(self, name: str, value: Any, description: str = "", step: int | None = None) -> None:
        v = _check_metric(name, value)
        step = self._steps.get(name, 0) if step is None else int(step)
        self._steps[name] = step + 1
        self._append("metrics.jsonl", {"key": name, "value": v, "step": step, "timestamp": _now_ms()})

    def log_list(self, name: str, value: Iterable[Any], description: str = "") -> None:
        for v in value:
            self.log(name, v)

    def tag(self, key: str, value: Any = "") -> None:
        self._append("tags.jsonl", {"key": str(key), "value": str(value)})

    def set_tags(self, tags: dict[str, Any]) -> None:
        for k, v in tags.items():
            self.tag(k, v)

    def upload_file(self, name: str, path_or_stream: Any) -> None:
        target = self._dir / "uploads" / _artifact_name(name)
        target.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(path_or_stream, (str, os.PathLike)):
            shutil.copyfile(path_or_stream, target)
        else:
            data = path_or_stream.read()
            target.write_bytes(data.encode() if isinstance(data, str) else data)

    def complete(self) -> None:
        """Optional in a script: the run completes when the script exits with code 0."""
        self._completed = True

    def get_status(self) -> str:
        return "Running"

    def __repr__(self) -> str:
        return f"Run(Experiment: {self.experiment.name}, Id: {self.id}, Status: Running)"


class _OfflineRun:
    """``Run.get_context()`` outside a submitted run: logs are printed and kept in memory."""

    def __init__(self) -> None:
        self.id = f"OfflineRun_{uuid.uuid4()}"
        self.input_datasets: dict[str, TabularDataset] = {}
        self.parent = None
        self._metrics: dict[str, list[float]] = {}

    @property
    def experiment(self) -> Any:
        raise RunConfigError("this is an offline run (the code is not running inside a submitted run): "
                             "it has no experiment; open the workspace with Workspace.from_config()")

    def log(self, name: str, value: Any, description: str = "", step: int | None = None) -> None:
        v = _check_metric(name, value)
        self._metrics.setdefault(name, []).append(v)
        print(f"Attempted to log scalar metric {name}:\n{value}")

    def log_list(self, name: str, value: Iterable[Any], description: str = "") -> None:
        for v in value:
            self.log(name, v)

    def get_metrics(self) -> dict[str, Any]:
        return {k: v[0] if len(v) == 1 else list(v) for k, v in self._metrics.items()}

    def tag(self, key: str, value: Any = "") -> None:
        pass

    def upload_file(self, name: str, path_or_stream: Any) -> None:
        pass

    def complete(self) -> None:
        pass

    def get_status(self) -> str:
        return "Running"
