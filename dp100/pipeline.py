"""Pipelines of script steps with data passed between them: local teaching equivalent of Azure ML's
``Pipeline``, ``PythonScriptStep`` and ``PipelineData`` (SDK v1, ``azureml.pipeline``).

LOCAL TEACHING EQUIVALENT, NOT AZURE. Each step is a script run (``dp100.runs``) recorded in MLflow
as a child run of the pipeline run; data passes between steps through a folder in a named
datastore, as in the notes' three steps:

1. register a datastore (``Datastore.register_azure_file_share(...)``, or use the default one);
2. create a ``PipelineData("prepped", datastore=that_store)``;
3. give it as an *output* of the step that writes it and as an *input* of the step that reads it
   (and in both steps' ``arguments``, where it becomes the folder's path).

==============================================  ==================================================
Azure ML (SDK v1)                               here
==============================================  ==================================================
``RunConfiguration()`` (environment, target)    ``dp100.runs.RunConfiguration``, recorded
``PipelineData(name, datastore)``               ``<datastore>/azureml/<pipeline run id>/<name>/``
``PythonScriptStep(name, source_directory,``    a script run, child of the pipeline run
``    script_name, inputs, outputs, runconfig,``
``    arguments)``
``ParallelRunStep(name, parallel_run_config,``  ``dp100.batch.run_parallel`` (worker processes),
``    inputs, output)``                           a child run of the pipeline run
``PipelineParameter(name, default_value)``      a value (here: a step's input data) set at submit
``Pipeline(workspace, steps)``                  steps ordered by the data they pass
``experiment.submit(pipeline,``                 a ``PipelineRun``; ``get_steps()``,
``    pipeline_parameters={...})``              ``find_step_run(name)``; also ``pipeline.submit``
``pipeline.publish(name, description,``         a ``PublishedPipeline`` (frozen, callable again)
``    version)``
``PipelineEndpoint.publish(ws, name,``          one endpoint, published pipelines as versions
``    pipeline)``, ``add_default``,             "1", "2", ... with a default; recorded in
``    submit(..., pipeline_version=...)``       ``<workspace>/pipeline_endpoints.json``
==============================================  ==================================================

Following a run: ``pipeline_run.wait_for_completion(show_output=True)`` blocks and streams every
step's log as it is written (a ``ParallelRunStep``'s log too); ``pipeline_run.get_status()`` only
returns the status (Running, Completed, Failed), printing nothing. A ``ParallelRunStep``'s
:class:`dp100.batch.BatchResult` is ``pipeline_run.results[step name]`` (``pipeline_run.result``
when the pipeline has one such step).

A step that fails stops the steps after it (they stay NotStarted); the pipeline run fails and its
error names the step. Differences from Azure: steps run one at a time (Azure runs independent steps
in parallel), ``allow_reuse`` is accepted but every step runs every time, a published pipeline and
an endpoint live as long as the Python process (the JSON file only records them), and a running
``ParallelRunStep`` is not stopped by ``cancel()`` (the steps after it are).
"""
from __future__ import annotations

import json
import re
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

from dp100.batch import BatchResult, BatchRunError, ParallelRunStep, run_parallel, step_input
from dp100.runs import (DEFAULT_MAX_RUN_SECONDS, STD_LOG, DatasetConsumptionConfig, Experiment,
                        Run, RunConfigError, RunConfiguration, RunFailedError, ScriptRunConfig, _check_deadline,
                        _client, _LoggedJob, _LOCK, _ScriptJob)
from dp100.workspace import Datastore, Workspace

__all__ = ["RunConfiguration", "PipelineData", "PipelineParameter", "PythonScriptStep", "ParallelRunStep",
           "Pipeline", "PipelineRun", "PipelineError", "StepRun", "PublishedPipeline", "PipelineEndpoint"]


class PipelineError(RunConfigError):
    """A pipeline is wired wrongly (missing producer, duplicate names, a cycle...)."""


class PipelineData:
    """``PipelineData(name, datastore=...)``: an intermediate folder one step writes and later steps
    read. Without a datastore it goes to the workspace's default datastore."""

    _pipeline_data = True

    def __init__(self, name: str, datastore: Datastore | None = None, output_name: str | None = None,
                 is_directory: bool = True, **_: Any):
        if not isinstance(name, str) or not re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", name):
            raise PipelineError(f"PipelineData name {name!r}: letters, digits and _, not starting with a digit")
        if datastore is not None and not isinstance(datastore, Datastore):
            raise PipelineError(f"PipelineData {name!r}: datastore must be a Datastore, got {type(datastore).__name__}")
        self.name = name
        self.datastore = datastore
        self.output_name = output_name or name

    def as_input(self, input_name: str | None = None) -> "PipelineData":
        return self

    def _folder(self, workspace: Workspace, pipeline_run_id: str) -> Path:
        store = self.datastore or workspace.get_default_datastore()
        if store.workspace.root != workspace.root:
            raise PipelineError(f"PipelineData {self.name!r}: datastore {store.name!r} belongs to another workspace")
        return store.resolve(f"azureml/{pipeline_run_id}/{self.name}")

    def __repr__(self) -> str:
        store = self.datastore.name if self.datastore else "(default datastore)"
        return f"PipelineData(name={self.name!r}, datastore={store!r})"


class PipelineParameter:
    """``PipelineParameter(name, default_value)``: a value set when the pipeline is submitted
    (``pipeline_parameters={name: value}``); here, the input data of a ``ParallelRunStep``."""

    def __init__(self, name: str, default_value: Any):
        if not isinstance(name, str) or not name or not name.replace("_", "").isalnum():
            raise PipelineError(f"pipeline parameter name {name!r}: use letters, digits and underscores")
        self.name = name
        self.default_value = default_value

    def __repr__(self) -> str:
        return f"PipelineParameter(name={self.name!r})"


def _label(value: Any) -> str:
    """A short text for a parameter value (recorded as a tag)."""
    name = getattr(value, "name", None)
    if isinstance(name, str) and name:
        return f"{type(value).__name__}({name!r})"
    text = str(value)
    return text if len(text) <= 200 else text[:197] + "..."


class PythonScriptStep:
    """``PythonScriptStep(script_name, name, source_directory, arguments, inputs, outputs, runconfig)``."""

    def __init__(self, script_name: str, name: str | None = None, arguments: Any = None,
                 compute_target: Any = None, runconfig: RunConfiguration | None = None,
                 inputs: Any = None, outputs: Any = None, source_directory: Any = ".",
                 allow_reuse: bool = True, max_run_duration_seconds: float = DEFAULT_MAX_RUN_SECONDS,
                 **_: Any):
        self.name = name or script_name
        if not isinstance(self.name, str) or not self.name.strip():
            raise PipelineError(f"step name {self.name!r}: give the step a name")
        where = f"PythonScriptStep {self.name!r}"
        self.inputs = self._list(inputs, "inputs", (PipelineData, DatasetConsumptionConfig))
        self.outputs = self._list(outputs, "outputs", (PipelineData,))
        runconfig = runconfig or RunConfiguration()
        if not isinstance(runconfig, RunConfiguration):
            raise PipelineError(f"{where}: runconfig must be a RunConfiguration, got {type(runconfig).__name__}")
        self.config = ScriptRunConfig(source_directory, script_name, arguments, run_config=runconfig,
                                      compute_target=compute_target,
                                      max_run_duration_seconds=max_run_duration_seconds)
        self.script_name = script_name
        self.source_directory = self.config.source_directory
        self.arguments = self.config.arguments
        self.runconfig = self.config.run_config
        self.allow_reuse = allow_reuse
        for a in self.arguments:
            if isinstance(a, PipelineData) and not any(a is d for d in self.inputs + self.outputs):
                raise PipelineError(f"{where}: PipelineData {a.name!r} is in arguments but in neither "
                                    "inputs nor outputs; add it to the one it is")

    def _list(self, value: Any, what: str, kinds: tuple[type, ...]) -> list[Any]:
        items = [] if value is None else list(value) if isinstance(value, (list, tuple)) else None
        if items is None:
            raise PipelineError(f"PythonScriptStep {self.name!r}: {what} must be a list")
        for i, item in enumerate(items):
            if not isinstance(item, kinds):
                raise PipelineError(f"PythonScriptStep {self.name!r}: {what}[{i}] is a {type(item).__name__}; "
                                    f"expected {' or '.join(k.__name__ for k in kinds)}")
        return items

    def __repr__(self) -> str:
        return f"PythonScriptStep(name={self.name!r}, script_name={self.script_name!r})"


Step = PythonScriptStep | ParallelRunStep


class Pipeline:
    """``Pipeline(workspace, steps)``: PythonScriptSteps and ParallelRunSteps. Checks
    the wiring at once; runs with ``experiment.submit(pipeline)`` or ``pipeline.submit(name)``."""

    _takes_pipeline_parameters = True

    def __init__(self, workspace: Workspace, steps: Any, description: str | None = None, **_: Any):
        if not isinstance(workspace, Workspace):
            raise PipelineError(f"Pipeline(workspace, steps): workspace must be a Workspace, got {type(workspace).__name__}")
        if not isinstance(steps, (list, tuple)) or not steps:
            raise PipelineError("Pipeline(workspace, steps): steps must be a non-empty list of "
                                "PythonScriptStep / ParallelRunStep")
        for i, s in enumerate(steps):
            if not isinstance(s, (PythonScriptStep, ParallelRunStep)):
                raise PipelineError(f"Pipeline: steps[{i}] is a {type(s).__name__}, not a PythonScriptStep "
                                    "or ParallelRunStep")
        names = [s.name for s in steps]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise PipelineError(f"Pipeline: step names must be unique; repeated: {dupes}")
        self.workspace = workspace
        self.description = description
        self.steps = self._order(list(steps))

    @staticmethod
    def _order(steps: list[Step]) -> list[Step]:
        producer: dict[str, Step] = {}
        for s in steps:
            for d in s.outputs:
                if d.name in producer:
                    raise PipelineError(f"PipelineData {d.name!r} is an output of both {producer[d.name].name!r} "
                                        f"and {s.name!r}; each must have one producing step")
                producer[d.name] = s
        needs: dict[str, set[str]] = {}
        for s in steps:
            needs[s.name] = set()
            for d in s.inputs:
                if isinstance(d, PipelineData):
                    if d.name not in producer:
                        raise PipelineError(f"step {s.name!r} reads PipelineData {d.name!r}, but no step has it "
                                            "in its outputs")
                    if producer[d.name] is s:
                        raise PipelineError(f"step {s.name!r} has PipelineData {d.name!r} as input and output")
                    needs[s.name].add(producer[d.name].name)
        ordered: list[Step] = []
        remaining = list(steps)
        while remaining:   # data dependencies first; the list order otherwise
            ready = [s for s in remaining if needs[s.name] <= {o.name for o in ordered}]
            if not ready:
                raise PipelineError("the steps' data form a cycle: " + ", ".join(s.name for s in remaining))
            ordered.append(ready[0])
            remaining.remove(ready[0])
        return ordered

    def validate(self) -> list[str]:
        """Problems found (the constructor already raised on any): an empty list."""
        return []

    @property
    def parameters(self) -> dict[str, PipelineParameter]:
        """The pipeline's parameters by name (the inputs of its steps that are PipelineParameters)."""
        return {p.name: p for s in self.steps for p in s.inputs if isinstance(p, PipelineParameter)}

    def submit(self, experiment_name: str, pipeline_parameters: dict[str, Any] | None = None,
               **kwargs: Any) -> "PipelineRun":
        """``Experiment(ws, experiment_name).submit(pipeline, pipeline_parameters=...)`` in one call."""
        return Experiment(self.workspace, experiment_name).submit(
            self, pipeline_parameters=dict(pipeline_parameters or {}), **kwargs)

    def publish(self, name: str, description: str = "", version: str = "1.0", **_: Any) -> "PublishedPipeline":
        """Publish the pipeline (``PublishedPipeline``); ``PipelineEndpoint`` gives it versions."""
        return PublishedPipeline(self, name, description, version)

    def _resolve(self, pipeline_parameters: dict[str, Any] | None) -> tuple[dict[str, Any], dict[str, list[Path]]]:
        """The parameters' values (given or default) and the input files of each ParallelRunStep."""
        known = self.parameters
        given = dict(pipeline_parameters or {})
        unknown = sorted(set(given) - set(known))
        if unknown:
            raise PipelineError(f"unknown pipeline parameter(s) {unknown}; this pipeline has {sorted(known)}")
        values = {n: given.get(n, p.default_value) for n, p in known.items()}
        files: dict[str, list[Path]] = {}
        for s in self.steps:
            if isinstance(s, ParallelRunStep) and not isinstance(s.inputs[0], PipelineData):
                source = s.inputs[0]
                files[s.name] = step_input(values[source.name] if isinstance(source, PipelineParameter) else source)
        return values, files

    def _submit(self, experiment: Experiment, tags: dict[str, str] | None,
                pipeline_parameters: dict[str, Any] | None = None,
                pipeline_version: str | None = None) -> "PipelineRun":
        if experiment.workspace.root != self.workspace.root:
            raise PipelineError("the pipeline and the experiment belong to different workspaces")
        values, files = self._resolve(pipeline_parameters)   # a wrong parameter or input fails here
        extra = {"azureml.pipelineParameters": json.dumps({n: _label(v) for n, v in values.items()})} if values else {}
        if pipeline_version is not None:
            extra["azureml.pipelineVersion"] = pipeline_version
        parent = Run._create(experiment, {"azureml.runType": "azureml.PipelineRun",
                                          "azureml.steps": json.dumps([s.name for s in self.steps]),
                                          **extra, **(tags or {})}, f"pipeline_{int(time.time())}")
        run = PipelineRun(experiment, parent.id, self, pipeline_version=pipeline_version)
        run._batch_files = files
        run._thread = threading.Thread(target=run._execute, daemon=True, name=f"dp100-pipeline-{parent.id[:8]}")
        run._thread.start()
        return run

    def __repr__(self) -> str:
        return f"Pipeline(steps={[s.name for s in self.steps]})"


class StepRun(Run):
    """One step of a pipeline run (an MLflow child run); ``.name`` is the step's name."""

    def __init__(self, experiment: Experiment, run_id: str, step_name: str):
        super().__init__(experiment, run_id)
        self.step_name = step_name

    @property
    def name(self) -> str:
        return self.step_name

    def __repr__(self) -> str:
        return f"StepRun(Step: {self.step_name}, Id: {self.id}, Status: {self.get_status()})"


class _ParallelJob(_LoggedJob):
    """A ``ParallelRunStep`` run by ``dp100.batch.run_parallel`` in the pipeline's thread, recorded as
    a child run; its log lines are kept for ``stream`` (the same interface as a script job's)."""

    def __init__(self, pipeline_run: "PipelineRun", step: ParallelRunStep):
        super().__init__()
        self.step = step
        self.experiment = pipeline_run.experiment
        config = step.parallel_run_config
        self.run = Run._create(self.experiment, {
            "azureml.runType": "azureml.StepRun", "azureml.stepName": step.name,
            "azureml.stepType": "ParallelRunStep", "azureml.computeTarget": "local",
            "azureml.parallelRunConfig": json.dumps(config.to_dict()),
            "mlflow.source.name": Path(config.entry_script).name}, step.name, parent_id=pipeline_run.id)
        self.run_id = self.run.id
        self.reason: str | None = None
        self.result: BatchResult | None = None

    def _say(self, line: str) -> None:
        with self.lines_lock:
            self.lines.append(line + "\n")

    def execute(self, files: list[Path], output_dir: Path) -> None:
        try:
            self.result = run_parallel(self.step.parallel_run_config, files, output_dir, show_progress=False,
                                       log=self._say, desc=self.step.name)
        except BatchRunError as exc:
            self.result, self.reason = exc.result, str(exc)
        except Exception as exc:
            self.reason = f"{type(exc).__name__}: {exc}"
            self._say(self.reason)
        finally:
            self._record()

    def _record(self) -> None:
        client = _client(self.experiment.workspace)
        try:
            with _LOCK:
                if self.result is not None:
                    r = self.result
                    for name, value in (("rows", r.rows), ("files_scored", len(r.files_scored)),
                                        ("files_failed", len(r.failed_files)), ("seconds", r.seconds)):
                        client.log_metric(self.run_id, name, float(value))
                    if r.output_file is not None:
                        client.set_tag(self.run_id, "azureml.outputFile", str(r.output_file))
                with tempfile.TemporaryDirectory() as tmp:
                    log = Path(tmp) / Path(STD_LOG).name
                    with self.lines_lock:
                        log.write_text("".join(self.lines))
                    client.log_artifact(self.run_id, str(log), str(Path(STD_LOG).parent))
                if self.reason is not None:
                    client.set_tag(self.run_id, "azureml.error", self.reason[:5000])
                    client.set_tag(self.run_id, "azureml.logTail", "".join(self.lines[-30:])[-4000:])
        finally:
            with _LOCK:
                client.set_terminated(self.run_id, "FAILED" if self.reason is not None else "FINISHED")
            self.done.set()

    def cancel(self) -> None:
        """A running batch step is not stopped (its worker processes finish their mini-batches)."""


class PipelineRun(Run):
    """The run of a pipeline: a parent MLflow run whose steps are child runs.

    ``get_status()`` returns the status and prints nothing; ``wait_for_completion(show_output=True)``
    streams the steps' logs. ``results[step name]``: a ParallelRunStep's ``BatchResult``
    (``result``: that of the pipeline's one ParallelRunStep); ``pipeline_version``: the endpoint
    version that was called (None when the pipeline was submitted directly).
    """

    def __init__(self, experiment: Experiment, run_id: str, pipeline: Pipeline, pipeline_version: str | None = None):
        super().__init__(experiment, run_id)
        self.pipeline = pipeline
        self.pipeline_version = pipeline_version
        self.results: dict[str, BatchResult] = {}
        self._batch_files: dict[str, list[Path]] = {}
        self.step_status: dict[str, str] = {s.name: "NotStarted" for s in pipeline.steps}
        self._jobs: list[tuple[str, Any]] = []
        self._jobs_lock = threading.Lock()
        self._done = threading.Event()
        self._thread: threading.Thread | None = None

    # -- the pipeline's own thread -------------------------------------------------------------
    def _execute(self) -> None:
        ws = self.experiment.workspace
        failed: str | None = None
        error = ""
        current = "(pipeline)"
        try:
            for step in self.pipeline.steps:
                if failed is not None:
                    continue   # stays NotStarted
                current = step.name
                missing = [d.name for d in step.inputs if isinstance(d, PipelineData)
                           and not d._folder(ws, self.id).exists()]
                for d in step.outputs:
                    d._folder(ws, self.id).mkdir(parents=True, exist_ok=True)
                if missing:
                    failed, error = step.name, f"step {step.name!r}: its input(s) {missing} were not written"
                    self.step_status[step.name] = "Failed"
                    continue
                self.step_status[step.name] = "Running"
                if isinstance(step, ParallelRunStep):
                    reason = self._run_parallel_step(step)
                    if reason is not None:
                        failed, error = step.name, f"step {step.name!r} failed: {reason}"
                    continue
                job = _ScriptJob.start(self.experiment, step.config, parent_id=self.id, name=step.name,
                                       resolve=lambda d: str(d._folder(ws, self.id)), extra_inputs=step.inputs,
                                       extra_tags={"azureml.runType": "azureml.StepRun",
                                                   "azureml.stepName": step.name})
                with self._jobs_lock:
                    self._jobs.append((step.name, job))
                job.join()
                if job.reason is not None:
                    self.step_status[step.name] = "Canceled" if job.reason == "canceled" else "Failed"
                    failed, error = step.name, f"step {step.name!r} failed: {job.reason}"
                else:
                    self.step_status[step.name] = "Completed"
        except Exception as exc:   # never leave the pipeline run hanging
            failed = failed or current
            error = error or f"step {current!r} could not start: {type(exc).__name__}: {exc}"
            if current in self.step_status:
                self.step_status[current] = "Failed"
        finally:
            client = _client(ws)
            try:
                with _LOCK:
                    client.set_tag(self.id, "azureml.stepStatus", json.dumps(self.step_status))
                    if failed is not None:
                        client.set_tag(self.id, "azureml.error", error)
                        client.set_tag(self.id, "azureml.failedStep", failed)
                        not_run = [n for n, s in self.step_status.items() if s == "NotStarted"]
                        if not_run:
                            client.set_tag(self.id, "azureml.notStarted", json.dumps(not_run))
            finally:
                with _LOCK:
                    client.set_terminated(self.id, "FAILED" if failed is not None else "FINISHED")
                self._done.set()

    def _run_parallel_step(self, step: ParallelRunStep) -> str | None:
        ws = self.experiment.workspace
        source = step.inputs[0]
        files = (self._batch_files[step.name] if not isinstance(source, PipelineData)
                 else step_input(source._folder(ws, self.id)))
        output_dir = (step.output._folder(ws, self.id) if isinstance(step.output, PipelineData)
                      else ws.get_default_datastore().resolve(f"azureml/{self.id}/{step.output.name}"))
        job = _ParallelJob(self, step)
        with self._jobs_lock:
            self._jobs.append((step.name, job))
        job.execute(files, output_dir)
        if job.result is not None:
            self.results[step.name] = job.result
        self.step_status[step.name] = "Failed" if job.reason is not None else "Completed"
        return job.reason

    # -- what a learner calls ------------------------------------------------------------------
    @property
    def result(self) -> BatchResult | None:
        """The ``BatchResult`` of the pipeline's ParallelRunStep (None until it ran)."""
        names = [s.name for s in self.pipeline.steps if isinstance(s, ParallelRunStep)]
        if len(names) != 1:
            raise PipelineError(f"this pipeline has {len(names)} ParallelRunSteps {names}: use results[step name]")
        return self.results.get(names[0])

    @property
    def output_file(self) -> Path | None:
        """The append_row output file of the pipeline's ParallelRunStep."""
        return self.result.output_file if self.result is not None else None

    def get_steps(self) -> list[StepRun]:
        """The step runs started so far, in the order they ran."""
        with self._jobs_lock:
            return [StepRun(self.experiment, job.run_id, name) for name, job in self._jobs]

    def find_step_run(self, name: str) -> list[StepRun]:
        """The run(s) of the step called ``name`` (a list, as in the SDK)."""
        if name not in self.step_status:
            raise PipelineError(f"no step {name!r} in this pipeline; steps: {list(self.step_status)}")
        return [s for s in self.get_steps() if s.step_name == name]

    def get_step_statuses(self) -> dict[str, str]:
        """``{step name: status}``: Completed, Failed, Running or NotStarted.

        A LOCAL EXTRA, not in the SDK: there, ``{s.name: s.get_status() for s in
        pipeline_run.get_steps()}`` (steps that never started have no step run)."""
        return dict(self.step_status)

    def _failure(self) -> RunFailedError:
        tags = self._mlflow_run.data.tags
        failed = tags.get("azureml.failedStep", "")
        tail = ""
        for step in (self.find_step_run(failed) if failed in self.step_status else []):
            tail = step._mlflow_run.data.tags.get("azureml.logTail", "")
        not_run = json.loads(tags.get("azureml.notStarted", "[]"))
        message = f"Pipeline run {self.id} failed: {tags.get('azureml.error', 'a step failed')}"
        if not_run:
            message += f"; not started: {not_run}"
        if tail:
            message += f"\n--- end of the log of step {failed!r} ---\n{tail}"
        return RunFailedError(message, self, tail)

    def cancel(self) -> None:
        with self._jobs_lock:
            jobs = list(self._jobs)
        for _, job in jobs:
            job.cancel()

    def _wait(self, show_output: bool, out: Any, deadline: float | None) -> None:
        shown = 0
        while True:
            finished = self._done.wait(0.05)
            with self._jobs_lock:
                jobs = list(self._jobs)
            while shown < len(jobs):
                name, job = jobs[shown]
                if show_output:
                    print(f"StepRunId: {job.run_id}\nStep: {name}\n"
                          f"Streaming {STD_LOG}\n{'=' * (10 + len(STD_LOG))}", file=out, flush=True)
                job.stream(out if show_output else None, deadline, self)
                if show_output:
                    state = "Completed" if job.reason is None else ("Canceled" if job.reason == "canceled" else "Failed")
                    print(f"StepRun({name}) Execution Summary: {state}\n", file=out, flush=True)
                shown += 1
            if finished and shown == len(jobs):
                return
            _check_deadline(deadline, self)

    def wait_for_completion(self, show_output: bool = False, raise_on_error: bool = True,
                            timeout_seconds: float | None = None, stream: Any = None,
                            **_: Any) -> dict[str, Any]:
        """Wait for every step; ``show_output=True`` streams each step's log as it runs. A failed
        step raises ``RunFailedError`` naming the step (unless ``raise_on_error=False``)."""
        out = stream or sys.stdout
        deadline = None if timeout_seconds is None else time.monotonic() + timeout_seconds
        if show_output:
            print(f"PipelineRunId: {self.id}\nLink to MLflow UI: {self.get_portal_url()}\n", file=out, flush=True)
        self._wait(show_output, out, deadline)
        details = self.get_details()
        details["steps"] = self.get_step_statuses()
        if show_output:
            print(f"PipelineRun Execution Summary\n==============================\nPipelineRunId: {self.id}\n"
                  f"Status: {details['status']}\nSteps: {details['steps']}\n", file=out, flush=True)
        if details["status"] == "Failed" and raise_on_error:
            raise self._failure()
        return details

    def __repr__(self) -> str:
        version = f", Pipeline version: {self.pipeline_version}" if self.pipeline_version else ""
        return f"PipelineRun(Experiment: {self.experiment.name}, Id: {self.id}, Status: {self.get_status()}{version})"


# --------------------------------------------------------------------------------------------
# Published pipelines and pipeline endpoints
# --------------------------------------------------------------------------------------------
class PublishedPipeline:
    """``pipeline.publish(name, description, version)``: a frozen pipeline with an id, callable
    (``submit``) again and again; Azure gives it a REST endpoint."""

    def __init__(self, pipeline: Pipeline, name: str, description: str, version: str):
        if not isinstance(pipeline, Pipeline):
            raise PipelineError("publish: give a Pipeline")
        if not name:
            raise PipelineError("a published pipeline needs a name")
        self.pipeline = pipeline
        self.name = name
        self.description = description
        self.version = version
        self.id = uuid.uuid4().hex

    def submit(self, experiment_name: str, pipeline_parameters: dict[str, Any] | None = None) -> PipelineRun:
        return self.pipeline.submit(experiment_name, pipeline_parameters=pipeline_parameters)

    def _record(self) -> dict[str, Any]:
        steps = []
        for s in self.pipeline.steps:
            if isinstance(s, ParallelRunStep):
                steps.append({"name": s.name, "type": "ParallelRunStep",
                              "parallel_run_config": s.parallel_run_config.to_dict()})
            else:
                steps.append({"name": s.name, "type": "PythonScriptStep", "script_name": s.script_name,
                              "source_directory": str(s.source_directory)})
        return {"name": self.name, "version": self.version, "published_pipeline_id": self.id,
                "parameters": sorted(self.pipeline.parameters), "steps": steps}

    def __repr__(self) -> str:
        return f"PublishedPipeline(name={self.name!r}, version={self.version!r}, id={self.id[:8]}...)"


class PipelineEndpoint:
    """One endpoint, several published pipelines as versions "1", "2", ...; callers pick a version
    or get the default. ``PipelineEndpoint.publish(ws, name, pipeline, description)`` creates it."""

    _REGISTRY: dict[tuple[str, str], "PipelineEndpoint"] = {}

    def __init__(self, workspace: Workspace, name: str, description: str = ""):
        self.workspace = workspace
        self.name = name
        self.description = description
        self.id = uuid.uuid4().hex
        self._versions: dict[str, PublishedPipeline] = {}
        self.default_version: str | None = None

    @property
    def endpoint(self) -> str:
        """The REST address Azure would give (shown for reference; locally, call ``submit``)."""
        return (f"https://<region>.api.azureml.ms/pipelines/v1.0/subscriptions/{self.workspace.subscription_id}"
                f"/resourceGroups/{self.workspace.resource_group}/providers/Microsoft.MachineLearningServices"
                f"/workspaces/{self.workspace.name}/PipelineRuns/PipelineEndpointSubmit/Id/{self.id}")

    @classmethod
    def publish(cls, workspace: Workspace, name: str, pipeline: PublishedPipeline,
                description: str = "") -> "PipelineEndpoint":
        key = (str(workspace.root), name)
        registry_file = Path(workspace.root) / "pipeline_endpoints.json"
        published = json.loads(registry_file.read_text()) if registry_file.exists() else {}
        if key in cls._REGISTRY and name not in published:
            del cls._REGISTRY[key]   # the workspace folder was recreated: forget the old endpoint
        if key in cls._REGISTRY:
            raise PipelineError(f"pipeline endpoint {name!r} already exists: use "
                                "PipelineEndpoint.get(ws, name).add_default(pipeline) to add a version")
        ep = cls(workspace, name, description)
        ep.add_default(pipeline)
        cls._REGISTRY[key] = ep
        ep._save()
        return ep

    @classmethod
    def get(cls, workspace: Workspace, name: str) -> "PipelineEndpoint":
        key = (str(workspace.root), name)
        if key not in cls._REGISTRY:
            known = sorted(n for root, n in cls._REGISTRY if root == str(workspace.root))
            raise PipelineError(f"no pipeline endpoint {name!r} in workspace {workspace.name!r}; known: {known}")
        return cls._REGISTRY[key]

    def add(self, pipeline: PublishedPipeline) -> str:
        """Add ``pipeline`` as the next version (the default does not change); return the version."""
        if not isinstance(pipeline, PublishedPipeline):
            raise PipelineError("add: give a PublishedPipeline (pipeline.publish(...) returns one)")
        if pipeline.pipeline.workspace.root != self.workspace.root:
            raise PipelineError("add: the pipeline belongs to another workspace")
        version = str(len(self._versions) + 1)
        self._versions[version] = pipeline
        self._save()
        return version

    def add_default(self, pipeline: PublishedPipeline) -> str:
        """Add ``pipeline`` as the next version and make it the default."""
        version = self.add(pipeline)
        self.default_version = version
        self._save()
        return version

    def set_default_version(self, version: str | int) -> None:
        self.default_version = self._check_version(version)
        self._save()

    def list_versions(self) -> list[str]:
        return list(self._versions)

    def _check_version(self, version: str | int | None) -> str:
        version = self.default_version if version is None else str(version)
        if version not in self._versions:
            raise PipelineError(f"pipeline endpoint {self.name!r} has no version {version!r}; "
                                f"versions: {self.list_versions()}, default {self.default_version!r}")
        return version

    def get_pipeline(self, version: str | int | None = None) -> PublishedPipeline:
        return self._versions[self._check_version(version)]

    def submit(self, experiment_name: str, pipeline_parameters: dict[str, Any] | None = None,
               pipeline_version: str | int | None = None) -> PipelineRun:
        """Run the default version, or ``pipeline_version``, with optional runtime parameters."""
        version = self._check_version(pipeline_version)
        pipeline = self._versions[version].pipeline
        return pipeline._submit(Experiment(self.workspace, experiment_name), None,
                                pipeline_parameters=pipeline_parameters, pipeline_version=version)

    def _save(self) -> None:
        registry_file = Path(self.workspace.root) / "pipeline_endpoints.json"
        registry = json.loads(registry_file.read_text()) if registry_file.exists() else {}
        registry[self.name] = {"id": self.id, "description": self.description,
                               "default_version": self.default_version,
                               "versions": {v: p._record() for v, p in self._versions.items()}}
        registry_file.write_text(json.dumps(registry, indent=2, sort_keys=True) + "\n")

    def __repr__(self) -> str:
        return (f"PipelineEndpoint(name={self.name!r}, versions={self.list_versions()}, "
                f"default_version={self.default_version!r})")
