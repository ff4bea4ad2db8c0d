"""How a script runs: local equivalent of Azure ML's ``RunConfiguration``, ``ScriptRunConfig``, ``Estimator`` (SDK v1).

A ``ScriptRunConfig`` is checked when it is made (the folder, the script, the arguments, the
environment and target); ``experiment.submit(config)`` starts it as its own process
(:mod:`dp100.script_runner`) and returns the run at once. The named ``environment`` and ``target``
are recorded on the run; locally the script runs in the course's own Python.
"""

from __future__ import annotations

import json
import math
import numbers
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from dp100.compute import ComputeTarget
from dp100.datasets import DatasetConsumptionConfig
from dp100.environments import Environment
from dp100.experiment import Experiment, Run, Submittable, create_run
from dp100.pipeline_data import PipelineData
from dp100.script_runner import ScriptCommand, ScriptJob
from dp100.snapshot import snapshot_files
from dp100.tracking import RunConfigError

#: A script that runs longer than this is stopped and its run marked Failed (Azure's default is
#: 30 days; a course notebook wants to hear about a stuck script sooner).
DEFAULT_MAX_RUN_SECONDS = 600


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
    if not isinstance(env, Environment):
        raise RunConfigError(f"environment must be an Environment, got {type(env).__name__}")
    return f"{env.name}:{env.version}" if env.version else env.name


def _target_label(target: Any) -> str:
    if target is None:
        return "local"
    if isinstance(target, str):
        return target
    if not isinstance(target, ComputeTarget):
        raise RunConfigError(f"compute target must be a ComputeTarget or its name, got {type(target).__name__}")
    return target.name


def _check_arguments(arguments: Any, where: str) -> list[Any]:
    if arguments is None:
        return []
    if isinstance(arguments, dict):
        raise RunConfigError(
            f"{where}: arguments is a list like ['--reg-rate', 0.1], not a dict. (A dict was the "
            "retired Estimator's script_params; Estimator(script_params=...) still takes one.)"
        )
    if isinstance(arguments, (str, bytes)) or not isinstance(arguments, (list, tuple)):
        raise RunConfigError(f"{where}: arguments must be a list, got {type(arguments).__name__}")
    for i, a in enumerate(arguments):
        ok = isinstance(a, (str, numbers.Real, DatasetConsumptionConfig, PipelineData))
        if not ok or (isinstance(a, float) and not math.isfinite(a)):
            raise RunConfigError(
                f"{where}: argument {i} ({a!r}) must be text, a number, a named dataset input or PipelineData"
            )
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


class ScriptRunConfig(Submittable):
    """``ScriptRunConfig(source_directory, script, arguments, environment, compute_target)``.

    ``max_run_duration_seconds`` (an SDK v1 parameter too) stops a script that runs too long and
    marks its run Failed, so nothing waits forever.
    """

    def __init__(
        self,
        source_directory: Any,
        script: str | None = None,
        arguments: Any = None,
        run_config: RunConfiguration | None = None,
        compute_target: Any = None,
        environment: Any = None,
        max_run_duration_seconds: float = DEFAULT_MAX_RUN_SECONDS,
    ):
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

    def start_run(self, experiment: Experiment, tags: dict[str, str] | None, **_: Any) -> Run:
        job = self.start_job(experiment, tags)
        return Run(experiment, job.run_id, job=job)

    def start_job(
        self,
        experiment: Experiment,
        tags: dict[str, str] | None = None,
        parent_id: str | None = None,
        name: str | None = None,
        resolve: Callable[[PipelineData], str] | None = None,
        extra_inputs: Iterable[Any] = (),
        extra_tags: dict[str, str] | None = None,
    ) -> ScriptJob:
        """Start the script as its own process, recorded as a new run of ``experiment`` (a child of
        ``parent_id`` in a pipeline); ``resolve`` turns a PipelineData argument into its folder,
        ``extra_inputs`` adds named datasets that are not arguments (a step's inputs)."""
        ws = experiment.workspace
        # check again: the script may have been deleted since the config was made
        _check_script(self.source_directory, self.script, "experiment.submit")
        files = snapshot_files(self.source_directory, ws)
        inputs: dict[str, dict[str, Any]] = {}
        arguments: list[str] = []
        for a in self.arguments:
            if isinstance(a, DatasetConsumptionConfig):
                inputs[a.name] = a.to_spec()
                arguments.append(f"DatasetConsumptionConfig:{a.name}")
            elif isinstance(a, PipelineData):
                if resolve is None:
                    raise RunConfigError(f"PipelineData {a.name!r} can only be passed to a PythonScriptStep")
                arguments.append(resolve(a))
            else:
                arguments.append(str(a))
        for a in extra_inputs:
            if isinstance(a, DatasetConsumptionConfig):
                inputs[a.name] = a.to_spec()
        all_tags = {
            "azureml.runType": "azureml.scriptrun",
            "azureml.script": self.script,
            "azureml.arguments": json.dumps(arguments),
            "azureml.environment": _env_label(self.environment),
            "azureml.computeTarget": _target_label(self.run_config.target),
            "azureml.inputDatasets": json.dumps(sorted(inputs)),
            "mlflow.source.name": self.script,
            **(extra_tags or {}),
            **(tags or {}),
        }
        run = create_run(
            experiment, all_tags, name or f"{Path(self.script).stem}_{int(time.time())}", parent_id=parent_id
        )
        command = ScriptCommand(self.source_directory, self.script, arguments, inputs, self.max_run_duration_seconds)
        return ScriptJob.start(ws, experiment.name, run.id, command, files, parent_id)

    def __repr__(self) -> str:
        return f"ScriptRunConfig(source_directory={str(self.source_directory)!r}, script={self.script!r}, arguments={self.arguments!r})"


class Estimator(Submittable):
    """The retired SDK v1 ``Estimator(source_directory, entry_script, script_params={...})``.

    ``script_params`` is the dictionary of command-line arguments for ``entry_script``; each
    ``{"--reg-rate": 0.1}`` becomes ``--reg-rate 0.1`` (a value of ``None`` gives a bare flag).
    Submitting an Estimator runs the equivalent ``ScriptRunConfig``.
    """

    def __init__(
        self,
        source_directory: Any,
        entry_script: str,
        script_params: dict | None = None,
        compute_target: Any = None,
        environment_definition: Any = None,
        **_: Any,
    ):
        if script_params is not None and not isinstance(script_params, dict):
            raise RunConfigError("Estimator: script_params must be a dict like {'--reg-rate': 0.1}")
        self.script_params = dict(script_params or {})
        arguments: list[Any] = []
        for key, value in self.script_params.items():
            if not isinstance(key, str) or not key:
                raise RunConfigError(f"Estimator: script_params key {key!r} must be an option name like '--alpha'")
            arguments += [key] if value is None else [key, value]
        self.run_config = ScriptRunConfig(
            source_directory, entry_script, arguments, compute_target=compute_target, environment=environment_definition
        )

    @property
    def arguments(self) -> list[Any]:
        return self.run_config.arguments

    def start_run(self, experiment: Experiment, tags: dict[str, str] | None, **_: Any) -> Run:
        return self.run_config.start_run(experiment, tags)
