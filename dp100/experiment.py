"""Experiments and runs recorded in MLflow: local equivalent of Azure ML's ``Experiment`` and ``Run`` (SDK v1).

An experiment is an MLflow experiment (created on first use); a run is an MLflow run, logged to from
the notebook (``experiment.start_logging()``) or started by ``experiment.submit(config)`` for any
:class:`Submittable` config (a ``ScriptRunConfig``, an ``Estimator``, a ``Pipeline``).
"""

from __future__ import annotations

import datetime as _dt
import json
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from dp100.log_stream import LoggedJob, check_deadline, log_banner
from dp100.run_context import OfflineRun, ScriptRunContext, current_run
from dp100.run_logging import RunLogging, artifact_name, write_file
from dp100.snapshot import snapshot_files, upload_snapshot
from dp100.tracking import AZURE_STATUS, MLFLOW_UI, STD_LOG, TRACKING_LOCK, RunConfigError, now_ms, tracking_client
from dp100.workspace import Workspace

_EXPERIMENT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,254}$")


class RunFailedError(RuntimeError):
    """``wait_for_completion(raise_on_error=True)`` on a run that failed (Azure:
    ``ActivityFailedException``). ``.run`` is the failed run, ``.log_tail`` the end of its log."""

    def __init__(self, message: str, run: Run | None = None, log_tail: str = ""):
        super().__init__(message)
        self.run = run
        self.log_tail = log_tail


class Submittable:
    """What ``experiment.submit(config)`` takes (``ScriptRunConfig``, ``Estimator``, ``Pipeline``):
    a config that starts its run and returns it at once."""

    #: Whether ``experiment.submit(config, pipeline_parameters=...)`` applies (a Pipeline).
    takes_pipeline_parameters = False

    def start_run(self, experiment: Experiment, tags: dict[str, str] | None, **options: Any) -> Run:
        """Start the run of this config in ``experiment`` (called by ``experiment.submit``)."""
        raise NotImplementedError


def create_run(
    experiment: Experiment, tags: dict[str, str], name: str | None = None, parent_id: str | None = None
) -> Run:
    """A new run of ``experiment`` in the tracking store, Running (a child run if ``parent_id``)."""
    tags = dict(tags)
    if parent_id:
        tags["mlflow.parentRunId"] = parent_id
    with TRACKING_LOCK:
        info = tracking_client(experiment.workspace).create_run(experiment.id, tags=tags, run_name=name).info
    return Run(experiment, info.run_id)


class Experiment:
    """``Experiment(workspace, name)``: a named group of runs, an MLflow experiment here.

    Displaying the experiment (its repr in a notebook) gives its link, as the SDK gives a Studio
    link: here the MLflow UI, started with ``make mlflow-ui WS=<workspace folder>``.
    """

    def __init__(self, workspace: Workspace, name: str):
        if not isinstance(workspace, Workspace):
            raise RunConfigError(
                f"Experiment(workspace, name): workspace must be a Workspace, got {type(workspace).__name__}"
            )
        if not isinstance(name, str) or not _EXPERIMENT_NAME.match(name):
            raise RunConfigError(
                f"experiment name {name!r}: 1-255 letters, digits, _ or -, starting with a letter or digit"
            )
        self.workspace = workspace
        self.name = name
        self._id: str | None = None

    @property
    def id(self) -> str:
        """The MLflow experiment id (the experiment is created in the tracking store on first use)."""
        if self._id is None:
            client = tracking_client(self.workspace)
            with TRACKING_LOCK:
                found = client.get_experiment_by_name(self.name)
                self._id = (
                    found.experiment_id
                    if found
                    else client.create_experiment(
                        self.name, artifact_location=f"{self.workspace.artifact_location}/{self.name}"
                    )
                )
        return self._id

    def submit(
        self,
        config: Any,
        tags: dict[str, str] | None = None,
        pipeline_parameters: dict[str, Any] | None = None,
        **_: Any,
    ) -> Run:
        """Start a run of ``config`` (ScriptRunConfig, Estimator or Pipeline) and return at once.
        ``pipeline_parameters`` (a Pipeline only): the values of its pipeline parameters, by name."""
        if not isinstance(config, Submittable):
            raise RunConfigError(
                f"experiment.submit(config): config must be a ScriptRunConfig, Estimator "
                f"or Pipeline, got {type(config).__name__}"
            )
        if pipeline_parameters is not None:
            if not config.takes_pipeline_parameters:
                raise RunConfigError(
                    f"experiment.submit: pipeline_parameters is for a Pipeline, not a {type(config).__name__}"
                )
            return config.start_run(self, tags, pipeline_parameters=pipeline_parameters)
        return config.start_run(self, tags)

    def start_logging(
        self,
        snapshot_directory: Any = None,
        outputs: Any = "./outputs",
        display_name: str | None = None,
        tags: dict[str, str] | None = None,
    ) -> Run:
        """An interactive run you log to from here (the notebook), until ``run.complete()``.

        ``snapshot_directory``: a folder saved with the run (``None``: no snapshot, as in Azure).
        ``outputs``: a folder whose files are uploaded on ``complete()`` (``False``: none).
        """
        snapshot = None
        if snapshot_directory is not None:
            snapshot = Path(snapshot_directory)
            if not snapshot.is_dir():
                raise RunConfigError(f"start_logging: snapshot_directory {str(snapshot)!r} is not a folder")
            files = snapshot_files(snapshot, self.workspace)  # check the limits before starting
        out = None if outputs in (None, False) else Path(outputs).resolve()
        run = create_run(self, {"azureml.runType": "interactive", **(tags or {})}, display_name)
        if snapshot is not None:
            upload_snapshot(self.workspace, run.id, snapshot, files)
        run._outputs_dir = out
        return run

    def get_runs(self, include_children: bool = False) -> list[Run]:
        """The runs of this experiment, newest first (child runs of pipelines only if asked)."""
        client = tracking_client(self.workspace)
        runs = client.search_runs([self.id], order_by=["attributes.start_time DESC"], max_results=1000)
        return [Run(self, r.info.run_id) for r in runs if include_children or "mlflow.parentRunId" not in r.data.tags]

    def get_portal_url(self) -> str:
        """The link to this experiment in the MLflow UI (Azure: the Studio link)."""
        return f"{MLFLOW_UI}/#/experiments/{self.id}"

    def __repr__(self) -> str:
        return f"Experiment(Name: {self.name}, Workspace: {self.workspace.name}, Report Page: {self.get_portal_url()})"

    def _repr_html_(self) -> str:
        link = f"{_ui_link(self.get_portal_url())} (start it with <code>make mlflow-ui WS={self.workspace.root}</code>)"
        return _html_row({"Name": self.name, "Workspace": self.workspace.name, "Report Page": link})


class Run(RunLogging):
    """A run recorded in MLflow. ``Run.get_context()`` gives the current run inside a script.
    ``job``: the script (or pipeline step) this process runs for it, if any."""

    def __init__(self, experiment: Experiment, run_id: str, job: LoggedJob | None = None):
        super().__init__()
        self.experiment = experiment
        self.id = run_id
        self._job = job
        self._outputs_dir: Path | None = None

    @staticmethod
    def get_context(allow_offline: bool = True) -> ScriptRunContext | OfflineRun:
        """The run this code belongs to: inside a submitted script, that run; else an offline run
        that prints what it logs (Azure's ``_OfflineRun``)."""
        return current_run(allow_offline)

    @property
    def _client(self):
        return tracking_client(self.experiment.workspace)

    @property
    def _mlflow_run(self):
        return self._client.get_run(self.id)

    # -- where run.log, tag and upload_file go (RunLogging checks them) ----------------------
    def _first_step(self, name: str) -> int:
        return len(self._client.get_metric_history(self.id, name))

    def _record_metrics(self, name: str, values: list[float], first_step: int) -> None:
        from mlflow.entities import Metric

        ts = now_ms()
        with TRACKING_LOCK:
            self._client.log_batch(self.id, metrics=[Metric(name, v, ts, first_step + i) for i, v in enumerate(values)])

    def _record_tags(self, tags: dict[str, str]) -> None:
        from mlflow.entities import RunTag

        with TRACKING_LOCK:
            self._client.log_batch(self.id, tags=[RunTag(k, v) for k, v in tags.items()])

    def _record_file(self, name: str, source: Path | bytes) -> None:
        with tempfile.TemporaryDirectory() as tmp:
            target = Path(tmp) / Path(name).name
            write_file(source, target)
            folder = str(Path(name).parent) if Path(name).parent != Path(".") else None
            with TRACKING_LOCK:
                self._client.log_artifact(self.id, str(target), folder)

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

    def upload_folder(self, name: str, path: Any) -> None:
        if not Path(path).is_dir():
            raise RunConfigError(f"upload_folder({name!r}): {str(path)!r} is not a folder")
        with TRACKING_LOCK:
            self._client.log_artifacts(self.id, str(path), artifact_name(name))

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
        uri = self._mlflow_run.info.artifact_uri
        if uri.startswith("file:"):  # a local artifact store: read it in place (no progress bar)
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
            raise RunConfigError(
                "a submitted script run ends when its script ends; "
                "call run.complete() inside the script (Run.get_context())"
            )
        if self._outputs_dir is not None and self._outputs_dir.is_dir() and any(self._outputs_dir.iterdir()):
            self.upload_folder("outputs", self._outputs_dir)
        with TRACKING_LOCK:
            self._client.set_terminated(self.id, status)

    def __enter__(self) -> Run:
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if self._job is None and self.get_status() == "Running":
            self.fail(f"{exc_type.__name__}: {exc}") if exc_type else self.complete()

    def wait_for_completion(
        self,
        show_output: bool = False,
        wait_post_processing: bool = False,
        raise_on_error: bool = True,
        timeout_seconds: float | None = None,
        stream: Any = None,
        **_: Any,
    ) -> dict[str, Any]:
        """Block until the run ends and return its details.

        ``show_output=True`` streams the log while the run runs (not only at the end; a pipeline
        run: each step's log), then prints an execution summary. A failed run raises
        ``RunFailedError`` (its message names what failed and ends with the log) unless
        ``raise_on_error=False``. ``timeout_seconds`` stops the waiting (not the run) with ``TimeoutError``.
        """
        out = stream or sys.stdout
        deadline = None if timeout_seconds is None else time.monotonic() + timeout_seconds
        if show_output:
            print(self._WAIT_HEADER.format(id=self.id, url=self.get_portal_url()), file=out, flush=True)
        self._wait(out if show_output else None, deadline)
        details = self.get_details()
        if show_output:
            print(self._WAIT_SUMMARY.format(id=self.id, url=self.get_portal_url(), **details), file=out, flush=True)
        if details["status"] == "Failed" and raise_on_error:
            raise self._failure()
        return details

    # -- what wait_for_completion prints, waits for and raises (a PipelineRun has its own) ----------
    _WAIT_HEADER = "RunId: {id}\nWeb View: {url}\n"
    _WAIT_SUMMARY = "\nExecution Summary\n=================\nRunId: {id}\nWeb View: {url}\nStatus: {status}\n"

    def _wait(self, out: Any, deadline: float | None) -> None:
        """Wait for the end, writing the log to ``out`` as it grows (None: write nothing)."""
        job = self._job
        if job is None:  # a run from get_runs() or an interactive run: nothing to stream
            while self.get_status() == "Running":
                if self.get_tags().get("azureml.runType") == "interactive":
                    raise RunConfigError(
                        "an interactive run (start_logging) ends with run.complete(); nothing to wait for"
                    )
                check_deadline(deadline, self.id)
                time.sleep(0.2)
            if out is not None and STD_LOG in self.get_file_names():
                print(log_banner() + "\n", file=out)
                print(self.read_text(STD_LOG), end="", file=out, flush=True)
            return
        if out is not None:
            print(log_banner() + "\n", file=out, flush=True)
        job.stream(out, deadline, self.id)

    def _failure(self) -> RunFailedError:
        tags = self.get_tags()
        tail = tags.get("azureml.logTail", "")
        error = tags.get("azureml.error", "the run failed")
        return RunFailedError(
            f"Run {self.id} failed: {error}" + (f"\n--- end of its log ---\n{tail}" if tail else ""), self, tail
        )

    def get_details(self) -> dict[str, Any]:
        r = self._mlflow_run
        tags = r.data.tags

        def utc(ms: int | None) -> str | None:
            return None if not ms else _dt.datetime.fromtimestamp(ms / 1000, _dt.UTC).isoformat(timespec="seconds")

        details = {
            "runId": self.id,
            "status": AZURE_STATUS.get(r.info.status, r.info.status),
            "startTimeUtc": utc(r.info.start_time),
            "endTimeUtc": utc(r.info.end_time),
            "target": tags.get("azureml.computeTarget", "local"),
            "properties": {k: v for k, v in tags.items() if not k.startswith("mlflow.")},
            "inputDatasets": json.loads(tags.get("azureml.inputDatasets", "[]")),
            "logFiles": {STD_LOG: "artifact"} if "azureml.script" in tags else {},
        }
        if "azureml.error" in tags:
            details["error"] = tags["azureml.error"]
        return details

    def get_details_with_logs(self) -> dict[str, Any]:
        """``get_details()`` with the *text* of each log file in ``logFiles`` (``{name: text}``),
        as the SDK's ``Run.get_details_with_logs()``."""
        details = self.get_details()
        names = self.get_file_names()
        details["logFiles"] = {name: self.read_text(name) for name in names if name.startswith(("user_logs/", "logs/"))}
        return details

    def get_portal_url(self) -> str:
        return f"{MLFLOW_UI}/#/experiments/{self.experiment.id}/runs/{self.id}"

    def get_children(self) -> list[Run]:
        runs = self._client.search_runs(
            [self.experiment.id],
            filter_string=f"tags.mlflow.parentRunId = '{self.id}'",
            order_by=["attributes.start_time ASC"],
        )
        return [Run(self.experiment, r.info.run_id) for r in runs]

    @property
    def parent(self) -> Run | None:
        parent = self._mlflow_run.data.tags.get("mlflow.parentRunId")
        return Run(self.experiment, parent) if parent else None

    @property
    def name(self) -> str:
        return self._mlflow_run.info.run_name

    def __repr__(self) -> str:
        return f"Run(Experiment: {self.experiment.name}, Id: {self.id}, Status: {self.get_status()})"

    def _repr_html_(self) -> str:
        return _html_row(
            {
                "Experiment": self.experiment.name,
                "Id": self.id,
                "Status": self.get_status(),
                "Details Page": _ui_link(self.get_portal_url()),
            }
        )


def _html_row(cells: dict[str, str]) -> str:
    """The one-row table Jupyter shows for an experiment or a run (as the SDK's widgets do)."""
    head = "".join(f"<th>{k}</th>" for k in cells)
    row = "".join(f"<td>{v}</td>" for v in cells.values())
    return f"<table><tr>{head}</tr><tr>{row}</tr></table>"


def _ui_link(url: str) -> str:
    return f"<a href='{url}' target='_blank'>Link to MLflow UI</a>"
