"""Data of pipeline steps: local equivalent of Azure ML's ``PipelineData`` and ``PipelineParameter`` (SDK v1).

A ``PipelineData`` is a folder one step writes and later steps read, in a datastore under
``azureml/<pipeline run id>/<name>/``; a ``PipelineParameter`` is a value set when the pipeline is
submitted. They live below the runners (script runs, batch steps) so those recognise them by type.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from dp100.datastores import Datastore
from dp100.tracking import RunConfigError
from dp100.workspace import Workspace


class PipelineError(RunConfigError):
    """A pipeline is wired wrongly (missing producer, duplicate names, a cycle...)."""


class PipelineData:
    """``PipelineData(name, datastore=...)``: an intermediate folder one step writes and later steps
    read. Without a datastore it goes to the workspace's default datastore."""

    def __init__(
        self,
        name: str,
        datastore: Datastore | None = None,
        output_name: str | None = None,
        is_directory: bool = True,
        **_: Any,
    ):
        if not isinstance(name, str) or not re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", name):
            raise PipelineError(f"PipelineData name {name!r}: letters, digits and _, not starting with a digit")
        if datastore is not None and not isinstance(datastore, Datastore):
            raise PipelineError(f"PipelineData {name!r}: datastore must be a Datastore, got {type(datastore).__name__}")
        self.name = name
        self.datastore = datastore
        self.output_name = output_name or name

    def as_input(self, input_name: str | None = None) -> PipelineData:
        return self

    def run_folder(self, workspace: Workspace, pipeline_run_id: str) -> Path:
        """The folder of this data in the pipeline run ``pipeline_run_id``."""
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
