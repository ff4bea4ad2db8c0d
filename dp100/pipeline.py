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
``Pipeline(workspace, steps)``                  steps ordered by the data they pass
``experiment.submit(pipeline)``                 a ``PipelineRun``; ``get_steps()``,
                                                ``find_step_run(name)``
==============================================  ==================================================

A step that fails stops the steps after it (they stay NotStarted); the pipeline run fails and its
error names the step. Differences from Azure: steps run one at a time (Azure runs independent steps
in parallel), and ``allow_reuse`` is accepted but every step runs every time.
"""
from __future__ import annotations

import json
import re
import sys
import threading
import time
from pathlib import Path
from typing import Any

from dp100.runs import (DEFAULT_MAX_RUN_SECONDS, STD_LOG, DatasetConsumptionConfig, Experiment,
                        Run, RunConfigError, RunConfiguration, RunFailedError, ScriptRunConfig, _check_deadline,
                        _client, _LOCK, _ScriptJob)
from dp100.workspace import Datastore, Workspace

__all__ = ["RunConfiguration", "PipelineData", "PythonScriptStep", "Pipeline", "PipelineRun",
           "PipelineError", "StepRun"]


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


class Pipeline:
    """``Pipeline(workspace, steps)``. Checks the wiring at once; runs with ``experiment.submit``."""

    def __init__(self, workspace: Workspace, steps: Any, description: str | None = None, **_: Any):
        if not isinstance(workspace, Workspace):
            raise PipelineError(f"Pipeline(workspace, steps): workspace must be a Workspace, got {type(workspace).__name__}")
        if not isinstance(steps, (list, tuple)) or not steps:
            raise PipelineError("Pipeline(workspace, steps): steps must be a non-empty list of PythonScriptStep")
        for i, s in enumerate(steps):
            if not isinstance(s, PythonScriptStep):
                raise PipelineError(f"Pipeline: steps[{i}] is a {type(s).__name__}, not a PythonScriptStep")
        names = [s.name for s in steps]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise PipelineError(f"Pipeline: step names must be unique; repeated: {dupes}")
        self.workspace = workspace
        self.description = description
        self.steps = self._order(list(steps))

    @staticmethod
    def _order(steps: list[PythonScriptStep]) -> list[PythonScriptStep]:
        producer: dict[str, PythonScriptStep] = {}
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
        ordered: list[PythonScriptStep] = []
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

    def submit(self, experiment_name: str, **kwargs: Any) -> "PipelineRun":
        return Experiment(self.workspace, experiment_name).submit(self, **kwargs)

    def _submit(self, experiment: Experiment, tags: dict[str, str] | None) -> "PipelineRun":
        if experiment.workspace.root != self.workspace.root:
            raise PipelineError("the pipeline and the experiment belong to different workspaces")
        parent = Run._create(experiment, {"azureml.runType": "azureml.PipelineRun",
                                          "azureml.steps": json.dumps([s.name for s in self.steps]),
                                          **(tags or {})}, f"pipeline_{int(time.time())}")
        run = PipelineRun(experiment, parent.id, self)
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


class PipelineRun(Run):
    """The run of a pipeline: a parent MLflow run whose steps are child runs."""

    def __init__(self, experiment: Experiment, run_id: str, pipeline: Pipeline):
        super().__init__(experiment, run_id)
        self.pipeline = pipeline
        self.step_status: dict[str, str] = {s.name: "NotStarted" for s in pipeline.steps}
        self._jobs: list[tuple[str, _ScriptJob]] = []
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

    # -- what a learner calls ------------------------------------------------------------------
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
        """``{step name: status}``: Completed, Failed, Running or NotStarted."""
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
        return f"PipelineRun(Experiment: {self.experiment.name}, Id: {self.id}, Status: {self.get_status()})"
