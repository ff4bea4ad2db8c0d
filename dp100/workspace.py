"""A local Azure ML workspace: config, datastores, versioned datasets, environments, compute.

LOCAL TEACHING EQUIVALENT, NOT AZURE. Azure ML keeps these objects in a cloud workspace; here they
live in one folder on your disk, with the names of the SDK v1 classes the DP-100 notes use, so exam
code maps line by line onto code that runs:

=====================================  ==============================================================
Azure ML (SDK v1)                      here
=====================================  ==============================================================
``Workspace.from_config(path)``        reads ``config.json`` (same keys Azure writes)
``Workspace(sub, rg, name)``           opens an existing local workspace folder by name
``ws.get_default_datastore()``         ``workspaceblobstore``: a folder holding the shipped data
``Datastore.register_azure_blob_...``  a named folder under the workspace
``Dataset.Tabular.from_delimited_...`` a lazy reference to CSV files in a datastore (rows)
``Dataset.File.from_files(...)``       a lazy reference to files in a datastore (paths)
``dataset.register(...)``              a versioned entry in ``datasets.json``
``Environment`` + ``CondaDependencies`` a conda YAML file, versioned on register
``AmlCompute`` / ``ComputeTarget``     a local pool of at most ``max_nodes`` worker processes
``ws.get_mlflow_tracking_uri()``       an MLflow SQLite store inside the workspace folder
=====================================  ==============================================================

This module is what notebooks import from. Each concept has its own module: the folder and its
config in :mod:`dp100.workspace_folder`, then :mod:`dp100.datastores`, :mod:`dp100.datasets`,
:mod:`dp100.environments` and :mod:`dp100.compute`; :class:`Workspace` here adds the SDK's
listings of their registries.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from dp100 import data
from dp100.compute import VM_SIZES, AmlCompute, ComputeTarget, ComputeTargetException, ProvisioningConfiguration
from dp100.datasets import Dataset, DatasetConsumptionConfig, FileDataset, TabularDataset, as_named_input
from dp100.datastores import DEFAULT_DATASTORE, Datastore
from dp100.environments import CondaDependencies, Environment
from dp100.workspace_folder import CONFIG_KEYS, CONFIG_NAME, WorkspaceError, WorkspaceFolder, load_config, write_json

__all__ = [
    "CONFIG_KEYS",
    "CONFIG_NAME",
    "DEFAULT_DATASTORE",
    "VM_SIZES",
    "AmlCompute",
    "ComputeTarget",
    "ComputeTargetException",
    "CondaDependencies",
    "Dataset",
    "DatasetConsumptionConfig",
    "Datastore",
    "Environment",
    "FileDataset",
    "ProvisioningConfiguration",
    "TabularDataset",
    "Workspace",
    "WorkspaceError",
    "as_named_input",
]


class Workspace(WorkspaceFolder):
    """A local workspace folder. Create one with :meth:`create`, open it with :meth:`from_config`."""

    @classmethod
    def create(
        cls,
        name: str,
        subscription_id: str = "00000000-0000-0000-0000-000000000000",
        resource_group: str = "dp100-local",
        path: str | os.PathLike | None = None,
        exist_ok: bool = True,
    ) -> Workspace:
        """Create the workspace folder (config, default datastore with the course data)."""
        root = Path(path) if path is not None else Path.cwd() / name
        if (root / CONFIG_NAME).exists():
            if not exist_ok:
                raise WorkspaceError(f"a workspace already exists at {root}")
            return cls(**load_config(root / CONFIG_NAME), path=root)
        root.mkdir(parents=True, exist_ok=True)
        write_json(
            root / CONFIG_NAME,
            {"subscription_id": subscription_id, "resource_group": resource_group, "workspace_name": name},
        )
        ws = cls(subscription_id, resource_group, name, path=root)
        store = Datastore.register(ws, DEFAULT_DATASTORE, "AzureBlob", container="azureml-blobstore")
        for relative in data.CHECKSUMS:  # the default datastore holds the shipped data
            target = store.root / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(data.verify(relative), target)
        return ws

    # -- registries -------------------------------------------------------------------------
    @property
    def datastores(self) -> dict[str, Datastore]:
        return Datastore.get_all(self)

    def get_default_datastore(self) -> Datastore:
        return Datastore.get_default(self)

    @property
    def datasets(self) -> dict[str, TabularDataset]:
        """The latest version of every registered dataset, by name."""
        return Dataset.get_all(self)

    @property
    def environments(self) -> dict[str, Environment]:
        return Environment.list(self)

    @property
    def compute_targets(self) -> dict[str, ComputeTarget]:
        return ComputeTarget.list(self)
