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

This module is what notebooks and scripts import from; each concept has its own module:

- :mod:`dp100.experiment`: ``Experiment``, ``Run`` (over MLflow), ``RunFailedError``, ``Submittable``;
- :mod:`dp100.run_config`: ``RunConfiguration``, ``ScriptRunConfig``, ``Estimator``;
- :mod:`dp100.script_runner`: the process that runs a submitted script, its log and its end;
- :mod:`dp100.run_context`: ``Run.get_context()`` inside a script (or an offline run);
- :mod:`dp100.run_logging`: ``run.log``, ``log_list``, ``tag``, ``upload_file`` for every kind of run;
- :mod:`dp100.log_stream`: ``wait_for_completion(show_output=True)``'s log streaming;
- :mod:`dp100.snapshot`: the snapshot of ``source_directory`` and its limits;
- :mod:`dp100.tracking`: the MLflow client per workspace, status names, ``RunConfigError``;
- :mod:`dp100.datasets`: ``as_named_input`` (``DatasetConsumptionConfig``).
"""

from __future__ import annotations

from dp100.datasets import DatasetConsumptionConfig, as_named_input
from dp100.experiment import Experiment, Run, RunFailedError, Submittable
from dp100.run_config import DEFAULT_MAX_RUN_SECONDS, Estimator, RunConfiguration, ScriptRunConfig
from dp100.snapshot import SNAPSHOT_IGNORE, SNAPSHOT_MAX_BYTES, SNAPSHOT_MAX_FILES
from dp100.tracking import AZURE_STATUS, MLFLOW_UI, STD_LOG, RunConfigError, mlflow_ui_command

__all__ = [
    "AZURE_STATUS",
    "DEFAULT_MAX_RUN_SECONDS",
    "MLFLOW_UI",
    "SNAPSHOT_IGNORE",
    "SNAPSHOT_MAX_BYTES",
    "SNAPSHOT_MAX_FILES",
    "STD_LOG",
    "DatasetConsumptionConfig",
    "Estimator",
    "Experiment",
    "Run",
    "RunConfigError",
    "RunConfiguration",
    "RunFailedError",
    "ScriptRunConfig",
    "Submittable",
    "as_named_input",
    "mlflow_ui_command",
]
