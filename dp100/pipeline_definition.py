"""Local equivalent of Azure ML's Pipeline, PublishedPipeline and PipelineEndpoint (SDK v1): define, publish, version.

``Pipeline(workspace, steps)`` checks the steps' wiring at once and runs with
``experiment.submit(pipeline, pipeline_parameters=...)``; ``pipeline.publish(...)`` freezes it under a
name, and a ``PipelineEndpoint`` keeps published pipelines as versions "1", "2", ... with a default,
recorded in ``<workspace>/pipeline_endpoints.json``. A published pipeline and an endpoint live as
long as the Python process (the JSON file only records them).
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

from dp100.batch import ParallelRunStep, step_input
from dp100.experiment import Experiment, Submittable
from dp100.pipeline_data import PipelineData, PipelineError, PipelineParameter
from dp100.pipeline_run import PipelineRun
from dp100.pipeline_steps import PythonScriptStep, order_steps
from dp100.workspace import Workspace
from dp100.workspace_folder import read_json, write_json

#: Where a workspace records its pipeline endpoints and their published versions.
ENDPOINTS_FILE = "pipeline_endpoints.json"


def _label(value: Any) -> str:
    """A short text for a parameter value (recorded as a tag)."""
    name = getattr(value, "name", None)
    if isinstance(name, str) and name:
        return f"{type(value).__name__}({name!r})"
    text = str(value)
    return text if len(text) <= 200 else text[:197] + "..."


class Pipeline(Submittable):
    """``Pipeline(workspace, steps)``: PythonScriptSteps and ParallelRunSteps. Checks
    the wiring at once; runs with ``experiment.submit(pipeline)`` or ``pipeline.submit(name)``."""

    takes_pipeline_parameters = True

    def __init__(self, workspace: Workspace, steps: Any, description: str | None = None, **_: Any):
        if not isinstance(workspace, Workspace):
            raise PipelineError(
                f"Pipeline(workspace, steps): workspace must be a Workspace, got {type(workspace).__name__}"
            )
        if not isinstance(steps, (list, tuple)) or not steps:
            raise PipelineError(
                "Pipeline(workspace, steps): steps must be a non-empty list of PythonScriptStep / ParallelRunStep"
            )
        for i, s in enumerate(steps):
            if not isinstance(s, (PythonScriptStep, ParallelRunStep)):
                raise PipelineError(
                    f"Pipeline: steps[{i}] is a {type(s).__name__}, not a PythonScriptStep or ParallelRunStep"
                )
        names = [s.name for s in steps]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise PipelineError(f"Pipeline: step names must be unique; repeated: {dupes}")
        self.workspace = workspace
        self.description = description
        self.steps = order_steps(list(steps))

    def validate(self) -> list[str]:
        """Problems found (the constructor already raised on any): an empty list."""
        return []

    @property
    def parameters(self) -> dict[str, PipelineParameter]:
        """The pipeline's parameters by name (the inputs of its steps that are PipelineParameters)."""
        return {p.name: p for s in self.steps for p in s.inputs if isinstance(p, PipelineParameter)}

    def submit(
        self, experiment_name: str, pipeline_parameters: dict[str, Any] | None = None, **kwargs: Any
    ) -> PipelineRun:
        """``Experiment(ws, experiment_name).submit(pipeline, pipeline_parameters=...)`` in one call."""
        return Experiment(self.workspace, experiment_name).submit(
            self, pipeline_parameters=dict(pipeline_parameters or {}), **kwargs
        )

    def publish(self, name: str, description: str = "", version: str = "1.0", **_: Any) -> PublishedPipeline:
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

    def start_run(
        self,
        experiment: Experiment,
        tags: dict[str, str] | None,
        pipeline_parameters: dict[str, Any] | None = None,
        pipeline_version: str | None = None,
        **_: Any,
    ) -> PipelineRun:
        """Start a pipeline run (``experiment.submit(pipeline)`` calls this); a wrong parameter or
        input fails here, before anything runs."""
        if experiment.workspace.root != self.workspace.root:
            raise PipelineError("the pipeline and the experiment belong to different workspaces")
        values, files = self._resolve(pipeline_parameters)
        extra = {"azureml.pipelineParameters": json.dumps({n: _label(v) for n, v in values.items()})} if values else {}
        if pipeline_version is not None:
            extra["azureml.pipelineVersion"] = pipeline_version
        return PipelineRun.start(experiment, self.steps, {**extra, **(tags or {})}, pipeline_version, files)

    def __repr__(self) -> str:
        return f"Pipeline(steps={[s.name for s in self.steps]})"


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
                steps.append(
                    {"name": s.name, "type": "ParallelRunStep", "parallel_run_config": s.parallel_run_config.to_dict()}
                )
            else:
                steps.append(
                    {
                        "name": s.name,
                        "type": "PythonScriptStep",
                        "script_name": s.script_name,
                        "source_directory": str(s.source_directory),
                    }
                )
        return {
            "name": self.name,
            "version": self.version,
            "published_pipeline_id": self.id,
            "parameters": sorted(self.pipeline.parameters),
            "steps": steps,
        }

    def __repr__(self) -> str:
        return f"PublishedPipeline(name={self.name!r}, version={self.version!r}, id={self.id[:8]}...)"


class PipelineEndpoint:
    """One endpoint, several published pipelines as versions "1", "2", ...; callers pick a version
    or get the default. ``PipelineEndpoint.publish(ws, name, pipeline, description)`` creates it."""

    _REGISTRY: dict[tuple[str, str], PipelineEndpoint] = {}

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
        return (
            f"https://<region>.api.azureml.ms/pipelines/v1.0/subscriptions/{self.workspace.subscription_id}"
            f"/resourceGroups/{self.workspace.resource_group}/providers/Microsoft.MachineLearningServices"
            f"/workspaces/{self.workspace.name}/PipelineRuns/PipelineEndpointSubmit/Id/{self.id}"
        )

    @classmethod
    def publish(
        cls, workspace: Workspace, name: str, pipeline: PublishedPipeline, description: str = ""
    ) -> PipelineEndpoint:
        key = (str(workspace.root), name)
        published = read_json(workspace.root / ENDPOINTS_FILE, {})
        if key in cls._REGISTRY and name not in published:
            del cls._REGISTRY[key]  # the workspace folder was recreated: forget the old endpoint
        if key in cls._REGISTRY:
            raise PipelineError(
                f"pipeline endpoint {name!r} already exists: use "
                "PipelineEndpoint.get(ws, name).add_default(pipeline) to add a version"
            )
        ep = cls(workspace, name, description)
        ep.add_default(pipeline)
        cls._REGISTRY[key] = ep
        ep._save()
        return ep

    @classmethod
    def get(cls, workspace: Workspace, name: str) -> PipelineEndpoint:
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
            raise PipelineError(
                f"pipeline endpoint {self.name!r} has no version {version!r}; "
                f"versions: {self.list_versions()}, default {self.default_version!r}"
            )
        return version

    def get_pipeline(self, version: str | int | None = None) -> PublishedPipeline:
        return self._versions[self._check_version(version)]

    def submit(
        self,
        experiment_name: str,
        pipeline_parameters: dict[str, Any] | None = None,
        pipeline_version: str | int | None = None,
    ) -> PipelineRun:
        """Run the default version, or ``pipeline_version``, with optional runtime parameters."""
        version = self._check_version(pipeline_version)
        pipeline = self._versions[version].pipeline
        return pipeline.start_run(
            Experiment(self.workspace, experiment_name),
            None,
            pipeline_parameters=pipeline_parameters,
            pipeline_version=version,
        )

    def _save(self) -> None:
        registry = read_json(self.workspace.root / ENDPOINTS_FILE, {})
        registry[self.name] = {
            "id": self.id,
            "description": self.description,
            "default_version": self.default_version,
            "versions": {v: p._record() for v, p in self._versions.items()},
        }
        write_json(self.workspace.root / ENDPOINTS_FILE, registry)

    def __repr__(self) -> str:
        return (
            f"PipelineEndpoint(name={self.name!r}, versions={self.list_versions()}, "
            f"default_version={self.default_version!r})"
        )
