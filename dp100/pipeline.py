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
``RunConfiguration()`` (environment, target)    ``dp100.run_config.RunConfiguration``, recorded
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

This module is what notebooks import from; each concept has its own module:

- :mod:`dp100.pipeline_data`: ``PipelineData``, ``PipelineParameter``, ``PipelineError``;
- :mod:`dp100.pipeline_steps`: ``PythonScriptStep`` and the order of a pipeline's steps;
- :mod:`dp100.pipeline_run`: ``PipelineRun`` and ``StepRun`` (how the steps run);
- :mod:`dp100.pipeline_definition`: ``Pipeline``, ``PublishedPipeline``, ``PipelineEndpoint``;
- :mod:`dp100.batch`: ``ParallelRunStep``; :mod:`dp100.run_config`: ``RunConfiguration``.
"""

from __future__ import annotations

from dp100.batch import ParallelRunStep
from dp100.pipeline_data import PipelineData, PipelineError, PipelineParameter
from dp100.pipeline_definition import Pipeline, PipelineEndpoint, PublishedPipeline
from dp100.pipeline_run import PipelineRun, StepRun
from dp100.pipeline_steps import PythonScriptStep
from dp100.run_config import RunConfiguration

__all__ = [
    "RunConfiguration",
    "PipelineData",
    "PipelineParameter",
    "PythonScriptStep",
    "ParallelRunStep",
    "Pipeline",
    "PipelineRun",
    "PipelineError",
    "StepRun",
    "PublishedPipeline",
    "PipelineEndpoint",
]
