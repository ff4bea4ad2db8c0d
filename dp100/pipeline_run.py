"""The run of a pipeline: local equivalent of Azure ML's ``PipelineRun`` and ``StepRun`` (SDK v1).

A pipeline run is a parent MLflow run; each step is a child run, started one at a time in the
pipeline run's own thread: a script step as a script run, a ``ParallelRunStep`` by
:func:`dp100.batch.run_parallel`. A step that fails stops the steps after it (they stay
NotStarted) and the pipeline run fails naming the step.
"""

from __future__ import annotations

import json
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from dp100.batch import BatchResult, BatchRunError, ParallelRunStep, run_parallel, step_input
from dp100.experiment import Experiment, Run, RunFailedError, create_run
from dp100.log_stream import LoggedJob, check_deadline, log_banner
from dp100.pipeline_data import PipelineData, PipelineError
from dp100.pipeline_steps import Step
from dp100.tracking import STD_LOG, TRACKING_LOCK, tracking_client


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


class ParallelStepJob(LoggedJob):
    """A ``ParallelRunStep`` run by ``dp100.batch.run_parallel`` in the pipeline's thread, recorded as
    a child run; its log lines are kept for ``stream`` (the same interface as a script job's)."""

    def __init__(self, pipeline_run: PipelineRun, step: ParallelRunStep):
        self.step = step
        self.experiment = pipeline_run.experiment
        config = step.parallel_run_config
        run = create_run(
            self.experiment,
            {
                "azureml.runType": "azureml.StepRun",
                "azureml.stepName": step.name,
                "azureml.stepType": "ParallelRunStep",
                "azureml.computeTarget": "local",
                "azureml.parallelRunConfig": json.dumps(config.to_dict()),
                "mlflow.source.name": Path(config.entry_script).name,
            },
            step.name,
            parent_id=pipeline_run.id,
        )
        super().__init__(run.id)
        self.result: BatchResult | None = None

    def execute(self, files: list[Path], output_dir: Path) -> None:
        try:
            self.result = run_parallel(
                self.step.parallel_run_config, files, output_dir, show_progress=False, log=self.say, desc=self.step.name
            )
        except BatchRunError as exc:
            self.result, self.reason = exc.result, str(exc)
        except Exception as exc:
            self.reason = f"{type(exc).__name__}: {exc}"
            self.say(self.reason)
        finally:
            self._record()

    def _record(self) -> None:
        client = tracking_client(self.experiment.workspace)
        try:
            with TRACKING_LOCK:
                if self.result is not None:
                    r = self.result
                    for name, value in (
                        ("rows", r.rows),
                        ("files_scored", len(r.files_scored)),
                        ("files_failed", len(r.failed_files)),
                        ("seconds", r.seconds),
                    ):
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
                    client.set_tag(self.run_id, "azureml.logTail", self.log_tail())
        finally:
            with TRACKING_LOCK:
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

    def __init__(
        self,
        experiment: Experiment,
        run_id: str,
        steps: list[Step],
        pipeline_version: str | None = None,
        batch_files: dict[str, Any] | None = None,
    ):
        super().__init__(experiment, run_id)
        self.steps = steps
        self.pipeline_version = pipeline_version
        self.results: dict[str, BatchResult] = {}
        self._batch_files = dict(batch_files or {})  # a ParallelRunStep's input, when not a PipelineData
        self.step_status: dict[str, str] = {s.name: "NotStarted" for s in steps}
        self._jobs: list[tuple[str, LoggedJob]] = []
        self._jobs_lock = threading.Lock()
        self._done = threading.Event()

    @classmethod
    def start(
        cls,
        experiment: Experiment,
        steps: list[Step],
        tags: dict[str, str],
        pipeline_version: str | None,
        batch_files: dict[str, Any],
    ) -> PipelineRun:
        """Record a new pipeline run with ``tags`` and run its ``steps`` (in order) in a thread of its own."""
        parent = create_run(
            experiment,
            {"azureml.runType": "azureml.PipelineRun", "azureml.steps": json.dumps([s.name for s in steps]), **tags},
            f"pipeline_{int(time.time())}",
        )
        run = cls(experiment, parent.id, steps, pipeline_version, batch_files)
        threading.Thread(target=run._execute, daemon=True, name=f"dp100-pipeline-{run.id[:8]}").start()
        return run

    # -- the pipeline's own thread -------------------------------------------------------------
    def _execute(self) -> None:
        ws = self.experiment.workspace
        failed: str | None = None
        error = ""
        current = "(pipeline)"
        try:
            for step in self.steps:
                if failed is not None:
                    continue  # stays NotStarted
                current = step.name
                missing = [
                    d.name
                    for d in step.inputs
                    if isinstance(d, PipelineData) and not d.run_folder(ws, self.id).exists()
                ]
                for d in step.outputs:
                    d.run_folder(ws, self.id).mkdir(parents=True, exist_ok=True)
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
                job = step.config.start_job(
                    self.experiment,
                    parent_id=self.id,
                    name=step.name,
                    resolve=lambda d: str(d.run_folder(ws, self.id)),
                    extra_inputs=step.inputs,
                    extra_tags={"azureml.runType": "azureml.StepRun", "azureml.stepName": step.name},
                )
                with self._jobs_lock:
                    self._jobs.append((step.name, job))
                job.join()
                self.step_status[step.name] = job.state
                if job.reason is not None:
                    failed, error = step.name, f"step {step.name!r} failed: {job.reason}"
        except Exception as exc:  # never leave the pipeline run hanging
            failed = failed or current
            error = error or f"step {current!r} could not start: {type(exc).__name__}: {exc}"
            if current in self.step_status:
                self.step_status[current] = "Failed"
        finally:
            client = tracking_client(ws)
            try:
                with TRACKING_LOCK:
                    client.set_tag(self.id, "azureml.stepStatus", json.dumps(self.step_status))
                    if failed is not None:
                        client.set_tag(self.id, "azureml.error", error)
                        client.set_tag(self.id, "azureml.failedStep", failed)
                        not_run = [n for n, s in self.step_status.items() if s == "NotStarted"]
                        if not_run:
                            client.set_tag(self.id, "azureml.notStarted", json.dumps(not_run))
            finally:
                with TRACKING_LOCK:
                    client.set_terminated(self.id, "FAILED" if failed is not None else "FINISHED")
                self._done.set()

    def _run_parallel_step(self, step: ParallelRunStep) -> str | None:
        ws = self.experiment.workspace
        source = step.inputs[0]
        files = (
            self._batch_files[step.name]
            if not isinstance(source, PipelineData)
            else step_input(source.run_folder(ws, self.id))
        )
        output_dir = (
            step.output.run_folder(ws, self.id)
            if isinstance(step.output, PipelineData)
            else ws.get_default_datastore().resolve(f"azureml/{self.id}/{step.output.name}")
        )
        job = ParallelStepJob(self, step)
        with self._jobs_lock:
            self._jobs.append((step.name, job))
        job.execute(files, output_dir)
        if job.result is not None:
            self.results[step.name] = job.result
        self.step_status[step.name] = job.state
        return job.reason

    # -- what a learner calls ------------------------------------------------------------------
    @property
    def result(self) -> BatchResult | None:
        """The ``BatchResult`` of the pipeline's ParallelRunStep (None until it ran)."""
        names = [s.name for s in self.steps if isinstance(s, ParallelRunStep)]
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
        tags = self.get_tags()
        failed = tags.get("azureml.failedStep", "")
        tail = ""
        for step in self.find_step_run(failed) if failed in self.step_status else []:
            tail = step.get_tags().get("azureml.logTail", "")
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

    def get_details(self) -> dict[str, Any]:
        """The run's details, with ``steps``: each step's status (see ``get_step_statuses``)."""
        return {**super().get_details(), "steps": self.get_step_statuses()}

    # -- what wait_for_completion prints and waits for (Run.wait_for_completion calls these) ---------
    _WAIT_HEADER = "PipelineRunId: {id}\nLink to MLflow UI: {url}\n"
    _WAIT_SUMMARY = (
        "PipelineRun Execution Summary\n==============================\nPipelineRunId: {id}\n"
        "Status: {status}\nSteps: {steps}\n"
    )

    def _wait(self, out: Any, deadline: float | None) -> None:
        """Wait for every step, writing each step's log to ``out`` as it runs (None: write nothing)."""
        shown = 0
        while True:
            finished = self._done.wait(0.05)
            with self._jobs_lock:
                jobs = list(self._jobs)
            while shown < len(jobs):
                name, job = jobs[shown]
                if out is not None:
                    print(f"StepRunId: {job.run_id}\nStep: {name}\n{log_banner()}", file=out, flush=True)
                job.stream(out, deadline, self.id)
                if out is not None:
                    print(f"StepRun({name}) Execution Summary: {job.state}\n", file=out, flush=True)
                shown += 1
            if finished and shown == len(jobs):
                return
            check_deadline(deadline, self.id)

    def __repr__(self) -> str:
        version = f", Pipeline version: {self.pipeline_version}" if self.pipeline_version else ""
        return f"PipelineRun(Experiment: {self.experiment.name}, Id: {self.id}, Status: {self.get_status()}{version})"
