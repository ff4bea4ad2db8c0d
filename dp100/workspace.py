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
"""
from __future__ import annotations

import concurrent.futures
import datetime as _dt
import json
import multiprocessing
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, Callable, Iterable

import pandas as pd

from dp100 import data as _data

CONFIG_NAME = "config.json"
CONFIG_KEYS = ("subscription_id", "resource_group", "workspace_name")
DEFAULT_DATASTORE = "workspaceblobstore"
#: The VM sizes this local equivalent accepts (a few real Azure names; the local pool ignores size).
VM_SIZES = {"STANDARD_D11_V2", "STANDARD_DS3_V2", "STANDARD_DS11_V2", "STANDARD_D2_V2",
            "STANDARD_D3_V2", "STANDARD_NC6", "STANDARD_E4DS_V4"}


class WorkspaceError(ValueError):
    """Something about the local workspace is wrong; the message says what and where."""


class ComputeTargetException(WorkspaceError):
    """No such compute target (the SDK's ``azureml.exceptions.ComputeTargetException``), so the
    notes' ``try: ComputeTarget(ws, name) except ComputeTargetException: ComputeTarget.create(...)``
    works here as it does in Azure."""


def _read_json(path: Path, default: Any) -> Any:
    if not path.exists():
        return default
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise WorkspaceError(f"{path} is not valid JSON ({exc})") from None


def _write_json(path: Path, value: Any) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(value, indent=2, sort_keys=True) + "\n")
    tmp.replace(path)  # atomic: a crash never leaves half a registry


# --------------------------------------------------------------------------------------------
# Workspace
# --------------------------------------------------------------------------------------------
class Workspace:
    """A local workspace folder. Create one with :meth:`create`, open it with :meth:`from_config`."""

    def __init__(self, subscription_id: str, resource_group: str, workspace_name: str,
                 path: str | os.PathLike | None = None):
        root = Path(path) if path is not None else Path.cwd() / workspace_name
        config = _load_config(root / CONFIG_NAME) if (root / CONFIG_NAME).exists() else None
        if config is None:
            raise WorkspaceError(
                f"no workspace {workspace_name!r} at {root}: create it first with "
                f"Workspace.create({workspace_name!r}, ..., path={str(root)!r})")
        given = {"subscription_id": subscription_id, "resource_group": resource_group,
                 "workspace_name": workspace_name}
        wrong = {k: (v, config[k]) for k, v in given.items() if v != config[k]}
        if wrong:
            raise WorkspaceError(f"workspace at {root} does not match: " + ", ".join(
                f"{k} is {have!r}, not {want!r}" for k, (want, have) in wrong.items()))
        self.subscription_id = subscription_id
        self.resource_group = resource_group
        self.name = workspace_name
        self.root = root.resolve()
        #: the config file this object was opened from (``from_config``); None when opened by name
        self._config_file: Path | None = None

    @classmethod
    def create(cls, name: str, subscription_id: str = "00000000-0000-0000-0000-000000000000",
               resource_group: str = "dp100-local", path: str | os.PathLike | None = None,
               exist_ok: bool = True) -> "Workspace":
        """Create the workspace folder (config, default datastore with the course data)."""
        root = Path(path) if path is not None else Path.cwd() / name
        if (root / CONFIG_NAME).exists():
            if not exist_ok:
                raise WorkspaceError(f"a workspace already exists at {root}")
            return cls(**{**_load_config(root / CONFIG_NAME)}, path=root)
        root.mkdir(parents=True, exist_ok=True)
        _write_json(root / CONFIG_NAME, {"subscription_id": subscription_id,
                                         "resource_group": resource_group,
                                         "workspace_name": name})
        ws = cls(subscription_id, resource_group, name, path=root)
        store = Datastore._register(ws, DEFAULT_DATASTORE, "AzureBlob", container="azureml-blobstore")
        for relative in _data.CHECKSUMS:  # the default datastore holds the shipped data
            target = store.root / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(_data.verify(relative), target)
        return ws

    @classmethod
    def from_config(cls, path: str | os.PathLike | None = None) -> "Workspace":
        """Open the workspace whose ``config.json`` is at ``path`` (a file or a folder).

        Like Azure, a folder is searched for ``config.json`` and ``.azureml/config.json``.
        """
        start = Path(path) if path is not None else Path.cwd()
        candidates = [start] if start.suffix == ".json" else [
            start / CONFIG_NAME, start / ".azureml" / CONFIG_NAME]
        for candidate in candidates:
            if candidate.is_file():
                config = _load_config(candidate)
                # a config written elsewhere by write_config() says where the workspace folder is
                local = _read_json(candidate, {}).get("local_path")
                root = Path(local) if local else candidate.parent
                if not local and root.name == ".azureml":
                    root = root.parent
                ws = cls(**config, path=root)
                ws._config_file = candidate.resolve()
                return ws
        raise WorkspaceError("no workspace config found: looked for " +
                             ", ".join(str(c) for c in candidates))

    def write_config(self, path: str | os.PathLike, file_name: str = CONFIG_NAME) -> Path:
        """Write this workspace's config elsewhere (``ws.write_config()`` in the SDK). Azure's file
        identifies a cloud workspace; ours adds ``local_path``, the folder the workspace lives in."""
        target = Path(path) / file_name
        target.parent.mkdir(parents=True, exist_ok=True)
        _write_json(target, {"subscription_id": self.subscription_id,
                             "resource_group": self.resource_group,
                             "workspace_name": self.name, "local_path": str(self.root)})
        return target

    # -- tracking --------------------------------------------------------------------------
    def get_mlflow_tracking_uri(self) -> str:
        """The MLflow tracking URI of this workspace: a SQLite store in its folder."""
        return f"sqlite:///{self.root / 'mlflow.db'}"

    @property
    def artifact_location(self) -> str:
        return (self.root / "mlartifacts").as_uri()

    def use_mlflow(self, experiment_name: str | None = None):
        """Point MLflow at this workspace (tracking store and artifacts) and return ``mlflow``.

        The local form of the notes' ``mlflow.set_tracking_uri(ws.get_mlflow_tracking_uri())`` and
        ``mlflow.set_experiment(name)``; artifacts stay inside the workspace folder.
        """
        import logging

        import mlflow  # imported here: 3.6 s, only for notebooks that track

        for noisy in ("mlflow.store.db.utils", "alembic", "alembic.runtime.migration"):
            logging.getLogger(noisy).setLevel(logging.WARNING)  # first-use migration chatter
        mlflow.set_tracking_uri(self.get_mlflow_tracking_uri())
        if experiment_name:
            if mlflow.get_experiment_by_name(experiment_name) is None:
                mlflow.create_experiment(experiment_name,
                                         artifact_location=f"{self.artifact_location}/{experiment_name}")
            mlflow.set_experiment(experiment_name)
        return mlflow

    # -- registries -------------------------------------------------------------------------
    @property
    def datastores(self) -> dict[str, "Datastore"]:
        return {name: Datastore(self, name, **spec)
                for name, spec in _read_json(self.root / "datastores.json", {}).items()}

    def get_default_datastore(self) -> "Datastore":
        return Datastore.get(self, DEFAULT_DATASTORE)

    @property
    def datasets(self) -> dict[str, "TabularDataset"]:
        """The latest version of every registered dataset, by name."""
        return {name: Dataset.get_by_name(self, name) for name in _read_json(self._datasets_file, {})}

    @property
    def environments(self) -> dict[str, "Environment"]:
        folder = self.root / "environments"
        return {p.name: Environment.get(self, p.name) for p in sorted(folder.glob("*"))} if folder.exists() else {}

    @property
    def compute_targets(self) -> dict[str, "ComputeTarget"]:
        return {name: ComputeTarget(self, name) for name in _read_json(self._compute_file, {})}

    @property
    def _datasets_file(self) -> Path:
        return self.root / "datasets.json"

    @property
    def _compute_file(self) -> Path:
        return self.root / "compute.json"

    def __repr__(self) -> str:
        return (f"Workspace(name={self.name!r}, subscription_id={self.subscription_id!r}, "
                f"resource_group={self.resource_group!r}, root={str(self.root)!r})")


def _load_config(path: Path) -> dict[str, str]:
    config = _read_json(path, None)
    if not isinstance(config, dict):
        raise WorkspaceError(f"{path} must hold a JSON object with keys {', '.join(CONFIG_KEYS)}")
    missing = [k for k in CONFIG_KEYS if not isinstance(config.get(k), str) or not config.get(k)]
    if missing:
        raise WorkspaceError(f"{path} is missing {', '.join(missing)} (needs {', '.join(CONFIG_KEYS)})")
    return {k: config[k] for k in CONFIG_KEYS}


# --------------------------------------------------------------------------------------------
# Datastores
# --------------------------------------------------------------------------------------------
class Datastore:
    """A named storage location of the workspace: locally, a folder under ``datastores/``."""

    def __init__(self, workspace: Workspace, name: str, datastore_type: str = "AzureBlob",
                 container: str | None = None, account_name: str | None = None):
        self.workspace = workspace
        self.name = name
        self.datastore_type = datastore_type
        self.container = container
        self.account_name = account_name

    @property
    def root(self) -> Path:
        return self.workspace.root / "datastores" / self.name

    @staticmethod
    def get(workspace: Workspace, datastore_name: str) -> "Datastore":
        stores = workspace.datastores
        if datastore_name not in stores:
            raise WorkspaceError(f"no datastore {datastore_name!r} in workspace {workspace.name!r}; "
                                 f"registered: {sorted(stores)}")
        return stores[datastore_name]

    @staticmethod
    def get_default(workspace: Workspace) -> "Datastore":
        return workspace.get_default_datastore()

    @classmethod
    def _register(cls, workspace: Workspace, name: str, datastore_type: str, **spec: Any) -> "Datastore":
        if not name or not name.replace("_", "").isalnum():
            raise WorkspaceError(f"datastore name {name!r}: use letters, digits and underscores")
        registry = _read_json(workspace.root / "datastores.json", {})
        registry[name] = {"datastore_type": datastore_type, **spec}
        (workspace.root / "datastores" / name).mkdir(parents=True, exist_ok=True)
        _write_json(workspace.root / "datastores.json", registry)
        return cls(workspace, name, datastore_type, **spec)

    @classmethod
    def register_azure_blob_container(cls, workspace: Workspace, datastore_name: str,
                                      container_name: str, account_name: str | None = None,
                                      account_key: str | None = None, **_: Any) -> "Datastore":
        """Register a blob-container datastore. The key is not stored (Azure keeps it in Key Vault)."""
        return cls._register(workspace, datastore_name, "AzureBlob",
                             container=container_name, account_name=account_name)

    @classmethod
    def register_azure_file_share(cls, workspace: Workspace, datastore_name: str,
                                  file_share_name: str, account_name: str | None = None,
                                  account_key: str | None = None, **_: Any) -> "Datastore":
        """Register an Azure Files share datastore (the notes' pipeline-data example uses one)."""
        return cls._register(workspace, datastore_name, "AzureFile",
                             container=file_share_name, account_name=account_name)

    def resolve(self, relative: str | os.PathLike) -> Path:
        """The local path of ``relative`` inside this datastore; refuses paths that leave it."""
        rel = PurePosixPath(str(relative).replace("\\", "/"))
        if rel.is_absolute() or ".." in rel.parts:
            raise WorkspaceError(f"path {str(relative)!r} is outside datastore {self.name!r}: "
                                 "use a path relative to the datastore root, without '..'")
        return self.root.joinpath(*rel.parts)

    def path(self, relative: str = "") -> tuple["Datastore", str]:
        """``datastore.path("x.csv")``: the ``(datastore, "x.csv")`` pair datasets take."""
        self.resolve(relative)
        return (self, relative)

    def upload_files(self, files: Iterable[str | os.PathLike], relative_root: str | None = None,
                     target_path: str | None = None, overwrite: bool = False,
                     show_progress: bool = True) -> list[str]:
        """Copy files into the datastore under ``target_path``, keeping their path below ``relative_root``."""
        copied = []
        for f in files:
            src = Path(f)
            if not src.is_file():
                raise WorkspaceError(f"cannot upload {src}: no such file")
            rel = src.relative_to(relative_root) if relative_root else Path(src.name)
            dest = self.resolve(PurePosixPath(target_path or "", rel.as_posix()))
            if dest.exists() and not overwrite:
                raise WorkspaceError(f"{dest.relative_to(self.root)} already exists in {self.name!r}; "
                                     "pass overwrite=True to replace it")
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src, dest)
            copied.append(dest.relative_to(self.root).as_posix())
            if show_progress:
                print(f"Uploaded {src} -> {self.name}/{copied[-1]}")
        return copied

    def upload(self, src_dir: str | os.PathLike, target_path: str | None = None,
               overwrite: bool = False, show_progress: bool = True) -> list[str]:
        """Copy a whole folder into the datastore under ``target_path``."""
        src = Path(src_dir)
        if not src.is_dir():
            raise WorkspaceError(f"cannot upload {src}: not a folder")
        files = sorted(p for p in src.rglob("*") if p.is_file())
        return self.upload_files(files, relative_root=str(src), target_path=target_path,
                                 overwrite=overwrite, show_progress=show_progress)

    def __repr__(self) -> str:
        return f"Datastore(name={self.name!r}, type={self.datastore_type!r}, root={str(self.root)!r})"


# --------------------------------------------------------------------------------------------
# Datasets
# --------------------------------------------------------------------------------------------
def _as_paths(path: Any) -> list[tuple[Datastore, str]]:
    items = path if isinstance(path, list) else [path]
    out = []
    for item in items:
        if not (isinstance(item, tuple) and len(item) == 2 and isinstance(item[0], Datastore)):
            raise WorkspaceError(f"dataset path {item!r}: expected a (datastore, 'relative/path.csv') pair")
        item[0].resolve(item[1])
        out.append(item)
    return out


@dataclass
class TabularDataset:
    """A lazy reference to delimited files in datastores. Registering names and versions it."""

    paths: list[tuple[str, str]]          # (datastore name, relative path)
    workspace_root: str
    separator: str = ","
    name: str | None = None
    version: int | None = None
    description: str | None = None
    tags: dict[str, str] = field(default_factory=dict)
    timestamp_column: str | None = None
    KIND = "tabular"

    @property
    def _workspace(self) -> Workspace:
        return Workspace.from_config(self.workspace_root)

    def _files(self) -> list[Path]:
        ws = self._workspace
        files = [Datastore.get(ws, store).resolve(rel) for store, rel in self.paths]
        missing = [str(f) for f in files if not f.is_file()]
        if missing:
            raise WorkspaceError(f"dataset {self.name or '(unregistered)'} version {self.version}: "
                                 f"file(s) not found: {', '.join(missing)}")
        return files

    def to_pandas_dataframe(self) -> pd.DataFrame:
        frames = []
        for f in self._files():
            frames.append(pd.read_parquet(f) if f.suffix == ".parquet" else pd.read_csv(f, sep=self.separator))
        df = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
        if self.timestamp_column:
            df[self.timestamp_column] = pd.to_datetime(df[self.timestamp_column])
        return df

    def as_named_input(self, name: str):
        """Hand this dataset to a script run or pipeline step as ``run.input_datasets[name]``."""
        from dp100.runs import DatasetConsumptionConfig  # runs builds on workspace, not the reverse

        return DatasetConsumptionConfig(name, self)

    def with_timestamp_columns(self, timestamp: str) -> "TabularDataset":
        """Give the dataset the timeseries trait (needed by a data-drift target dataset)."""
        return TabularDataset(**{**self.__dict__, "timestamp_column": timestamp, "name": None,
                                 "version": None})

    def register(self, workspace: Workspace, name: str, description: str | None = None,
                 tags: dict[str, str] | None = None, create_new_version: bool = False) -> "TabularDataset":
        """Register under ``name``. An existing name needs ``create_new_version=True`` (as in Azure)
        unless the definition is identical, in which case the existing version is returned."""
        registry = _read_json(workspace._datasets_file, {})
        versions = registry.get(name, [])
        definition = {"paths": [list(p) for p in self.paths], "separator": self.separator,
                      "timestamp_column": self.timestamp_column}
        if self.KIND != "tabular":
            definition["kind"] = self.KIND
        if versions and not create_new_version:
            latest = versions[-1]
            if latest.get("kind", "tabular") == self.KIND and all(latest.get(k) == v for k, v in definition.items()):
                return Dataset.get_by_name(workspace, name, latest["version"])
            raise WorkspaceError(f"dataset {name!r} already exists (version {latest['version']}) with a "
                                 "different definition: pass create_new_version=True to add a version")
        entry = {**definition, "version": len(versions) + 1, "description": description,
                 "tags": tags or {}, "registered": _dt.datetime.now().isoformat(timespec="seconds")}
        registry[name] = versions + [entry]
        _write_json(workspace._datasets_file, registry)
        return Dataset.get_by_name(workspace, name, entry["version"])

    def __repr__(self) -> str:
        where = ", ".join(f"{s}/{r}" for s, r in self.paths)
        return f"TabularDataset(name={self.name!r}, version={self.version}, paths=[{where}])"


class _TabularFactory:
    """``Dataset.Tabular``: factory methods of tabular datasets."""

    @staticmethod
    def from_delimited_files(path: Any, separator: str = ",", header: bool = True) -> TabularDataset:
        pairs = _as_paths(path)
        roots = {str(store.workspace.root) for store, _ in pairs}
        if len(roots) != 1:
            raise WorkspaceError("all paths of one dataset must be in the same workspace")
        ds = TabularDataset(paths=[(s.name, r) for s, r in pairs], workspace_root=roots.pop(),
                            separator=separator)
        ds._files()  # fail now, naming the file, rather than at first use
        return ds

    @staticmethod
    def register_pandas_dataframe(dataframe: pd.DataFrame, target: Any, name: str,
                                  description: str | None = None,
                                  tags: dict[str, str] | None = None) -> TabularDataset:
        """Write ``dataframe`` into ``target`` (a datastore or a (datastore, folder) pair) and
        register it as a new version of ``name``."""
        store, folder = (target, "") if isinstance(target, Datastore) else _as_paths(target)[0]
        registry = _read_json(store.workspace._datasets_file, {})
        version = len(registry.get(name, [])) + 1
        relative = PurePosixPath(folder or "", f"{name}_v{version}.csv").as_posix()
        out = store.resolve(relative)
        out.parent.mkdir(parents=True, exist_ok=True)
        dataframe.to_csv(out, index=False)
        ds = _TabularFactory.from_delimited_files([(store, relative)])
        return ds.register(store.workspace, name, description, tags, create_new_version=True)


class FileDataset(TabularDataset):
    """``Dataset.File.from_files(...)``: files, not rows. A step or script gets their paths
    (``to_path()``; a ``ParallelRunStep``'s ``run(mini_batch)`` a list of file paths), never a
    DataFrame. Registered and versioned like a tabular dataset."""

    KIND = "file"

    def to_path(self) -> list[str]:
        """The files' paths relative to their datastore, as Azure's ``FileDataset.to_path()``."""
        return ["/" + rel for _, rel in self.paths]

    def to_pandas_dataframe(self) -> pd.DataFrame:
        raise WorkspaceError("a FileDataset has no to_pandas_dataframe(): it holds files, not rows "
                             "(read them from to_path(), or use Dataset.Tabular.from_delimited_files)")

    def with_timestamp_columns(self, timestamp: str) -> "TabularDataset":
        raise WorkspaceError("a FileDataset has no columns: use Dataset.Tabular for a timeseries")

    def __repr__(self) -> str:
        return "File" + super().__repr__()[len("Tabular"):]


class _FileFactory:
    """``Dataset.File``: factory methods of file datasets."""

    @staticmethod
    def from_files(path: Any) -> FileDataset:
        pairs = _as_paths(path)
        roots = {str(store.workspace.root) for store, _ in pairs}
        if len(roots) != 1:
            raise WorkspaceError("all paths of one dataset must be in the same workspace")
        ds = FileDataset(paths=[(s.name, r) for s, r in pairs], workspace_root=roots.pop())
        ds._files()  # fail now, naming the file, rather than at first use
        return ds


class Dataset:
    """``Dataset.Tabular.from_delimited_files(...)``, ``Dataset.File.from_files(...)``,
    ``Dataset.get_by_name(ws, name, version)``."""

    Tabular = _TabularFactory
    File = _FileFactory

    @staticmethod
    def get_by_name(workspace: Workspace, name: str, version: int | str = "latest") -> TabularDataset:
        registry = _read_json(workspace._datasets_file, {})
        if name not in registry:
            raise WorkspaceError(f"no dataset {name!r} in workspace {workspace.name!r}; "
                                 f"registered: {sorted(registry)}")
        versions = registry[name]
        if version == "latest":
            entry = versions[-1]
        else:
            match = [v for v in versions if str(v["version"]) == str(version)]
            if not match:
                raise WorkspaceError(f"dataset {name!r} has no version {version!r}; "
                                     f"versions: {[v['version'] for v in versions]}")
            entry = match[0]
        kind = FileDataset if entry.get("kind") == "file" else TabularDataset
        return kind(paths=[tuple(p) for p in entry["paths"]], workspace_root=str(workspace.root),
                              separator=entry["separator"], name=name, version=entry["version"],
                              description=entry.get("description"), tags=entry.get("tags", {}),
                              timestamp_column=entry.get("timestamp_column"))

    @staticmethod
    def get_all(workspace: Workspace) -> dict[str, TabularDataset]:
        return workspace.datasets


# --------------------------------------------------------------------------------------------
# Environments
# --------------------------------------------------------------------------------------------
class CondaDependencies:
    """The packages of an environment, serialised as a conda ``environment.yml``."""

    def __init__(self, python_version: str = "3.11"):
        self.python_version = python_version
        self.conda_packages: list[str] = []
        self.pip_packages: list[str] = []

    @classmethod
    def create(cls, conda_packages: Iterable[str] = (), pip_packages: Iterable[str] = (),
               python_version: str = "3.11") -> "CondaDependencies":
        deps = cls(python_version)
        for p in conda_packages:
            deps.add_conda_package(p)
        for p in pip_packages:
            deps.add_pip_package(p)
        return deps

    def add_conda_package(self, package: str) -> None:
        if not package or not isinstance(package, str) or any(c.isspace() for c in package):
            raise WorkspaceError(f"conda package {package!r}: give one package spec without spaces")
        if package not in self.conda_packages:
            self.conda_packages.append(package)

    def add_pip_package(self, package: str) -> None:
        if not package or not isinstance(package, str) or any(c.isspace() for c in package):
            raise WorkspaceError(f"pip package {package!r}: give one package spec without spaces")
        if package not in self.pip_packages:
            self.pip_packages.append(package)

    def serialize_to_string(self, name: str = "project_environment") -> str:
        lines = [f"name: {name}", "channels:", "  - conda-forge", "dependencies:",
                 f"  - python={self.python_version}"]
        lines += [f"  - {p}" for p in self.conda_packages]
        if self.pip_packages:
            lines += ["  - pip", "  - pip:"] + [f"    - {p}" for p in self.pip_packages]
        return "\n".join(lines) + "\n"


class _PythonSection:
    def __init__(self) -> None:
        self.conda_dependencies = CondaDependencies()
        self.user_managed_dependencies = False


class Environment:
    """A named, versioned environment definition. Locally, runs use the course's own venv; the
    registered conda YAML records what Azure would build into a Docker image."""

    def __init__(self, name: str):
        if not name:
            raise WorkspaceError("an environment needs a name")
        self.name = name
        self.version: int | None = None
        self.python = _PythonSection()

    def register(self, workspace: Workspace) -> "Environment":
        folder = workspace.root / "environments" / self.name
        folder.mkdir(parents=True, exist_ok=True)
        text = self.python.conda_dependencies.serialize_to_string(self.name)
        existing = sorted(folder.glob("*.yml"), key=lambda p: int(p.stem))
        if existing and existing[-1].read_text() == text:
            self.version = int(existing[-1].stem)  # same definition: same version, as in Azure
        else:
            self.version = len(existing) + 1
            (folder / f"{self.version}.yml").write_text(text)
        return self

    @staticmethod
    def get(workspace: Workspace, name: str, version: int | None = None) -> "Environment":
        folder = workspace.root / "environments" / name
        files = sorted(folder.glob("*.yml"), key=lambda p: int(p.stem)) if folder.exists() else []
        if not files:
            raise WorkspaceError(f"no environment {name!r} registered in workspace {workspace.name!r}")
        chosen = files[-1] if version is None else folder / f"{version}.yml"
        if not chosen.exists():
            raise WorkspaceError(f"environment {name!r} has no version {version}")
        import yaml

        spec = yaml.safe_load(chosen.read_text())
        env = Environment(name)
        env.version = int(chosen.stem)
        deps = env.python.conda_dependencies
        for item in spec.get("dependencies", []):
            if isinstance(item, dict):
                for p in item.get("pip", []):
                    deps.add_pip_package(p)
            elif str(item).startswith("python="):
                deps.python_version = str(item).split("=", 1)[1]
            elif item != "pip":
                deps.add_conda_package(str(item))
        return env

    def __repr__(self) -> str:
        return f"Environment(name={self.name!r}, version={self.version})"


# --------------------------------------------------------------------------------------------
# Compute
# --------------------------------------------------------------------------------------------
@dataclass
class ProvisioningConfiguration:
    vm_size: str
    min_nodes: int
    max_nodes: int
    idle_seconds_before_scaledown: int


class AmlCompute:
    @staticmethod
    def provisioning_configuration(vm_size: str = "STANDARD_DS3_V2", min_nodes: int = 0,
                                   max_nodes: int = 4, idle_seconds_before_scaledown: int = 1800,
                                   **_: Any) -> ProvisioningConfiguration:
        if vm_size.upper() not in VM_SIZES:
            raise WorkspaceError(f"vm_size {vm_size!r} is not one this course knows: {sorted(VM_SIZES)}")
        if not (isinstance(max_nodes, int) and max_nodes >= 1):
            raise WorkspaceError(f"max_nodes must be a whole number >= 1, got {max_nodes!r}")
        if not (isinstance(min_nodes, int) and 0 <= min_nodes <= max_nodes):
            raise WorkspaceError(f"min_nodes must be between 0 and max_nodes ({max_nodes}), got {min_nodes!r}")
        return ProvisioningConfiguration(vm_size.upper(), min_nodes, max_nodes, idle_seconds_before_scaledown)


class ComputeTarget:
    """A compute cluster: locally, a pool of at most ``max_nodes`` worker processes.

    ``submit(fn, *args)`` runs ``fn`` on a free node (a process) and returns a future; at most
    ``max_nodes`` run at once, the rest queue, as jobs queue on a busy Azure cluster.
    """

    def __init__(self, workspace: Workspace, name: str):
        registry = _read_json(workspace._compute_file, {})
        if name not in registry:
            raise ComputeTargetException(f"no compute target {name!r} in workspace {workspace.name!r}; "
                                         f"created: {sorted(registry)}")
        self.workspace = workspace
        self.name = name
        self.config = ProvisioningConfiguration(**registry[name])
        self.provisioning_state = "Succeeded"
        self._pool: concurrent.futures.ProcessPoolExecutor | None = None

    @staticmethod
    def create(workspace: Workspace, name: str, provisioning_configuration: ProvisioningConfiguration
               ) -> "ComputeTarget":
        """``ComputeTarget.create(workspace, name, provisioning_configuration)``: the SDK v1 signature
        (the notes' ``compute_config=`` keyword raises ``TypeError`` there as here)."""
        if not isinstance(workspace, Workspace):
            raise WorkspaceError(f"ComputeTarget.create: workspace must be a Workspace, got {workspace!r}")
        if not isinstance(provisioning_configuration, ProvisioningConfiguration):
            raise WorkspaceError("ComputeTarget.create: provisioning_configuration must come from "
                                 f"AmlCompute.provisioning_configuration(...), got {provisioning_configuration!r}")
        if not name or len(name) > 24 or not name.replace("-", "").isalnum():
            raise WorkspaceError(f"compute name {name!r}: 1-24 letters, digits or hyphens")
        registry = _read_json(workspace._compute_file, {})
        registry[name] = provisioning_configuration.__dict__
        _write_json(workspace._compute_file, registry)
        target = ComputeTarget(workspace, name)
        target.provisioning_state = "Creating"
        return target

    @property
    def max_nodes(self) -> int:
        return self.config.max_nodes

    @property
    def vm_size(self) -> str:
        return self.config.vm_size

    def wait_for_completion(self, show_output: bool = False, min_node_count: int | None = None,
                            timeout_in_minutes: int = 20, is_delete_operation: bool = False) -> None:
        """Block until provisioning has finished (in Azure: minutes; here: at once). The SDK's
        other arguments are accepted; locally nodes start on first use, so there is nothing to wait for."""
        if show_output:
            print(f"Provisioning {self.name} ({self.vm_size}, max_nodes={self.max_nodes}): Succeeded")
        self.provisioning_state = "Succeeded"

    def submit(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> concurrent.futures.Future:
        if self._pool is None:  # nodes start on first use and scale down on shutdown()
            self._pool = concurrent.futures.ProcessPoolExecutor(
                max_workers=self.max_nodes, mp_context=multiprocessing.get_context("fork"))
        return self._pool.submit(fn, *args, **kwargs)

    def map(self, fn: Callable[[Any], Any], items: Iterable[Any]) -> list[Any]:
        """Run ``fn`` on every item across the nodes; results in input order."""
        futures = [self.submit(fn, item) for item in items]
        return [f.result() for f in futures]

    def shutdown(self) -> None:
        """Scale down to zero nodes."""
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None

    def delete(self) -> None:
        self.shutdown()
        registry = _read_json(self.workspace._compute_file, {})
        registry.pop(self.name, None)
        _write_json(self.workspace._compute_file, registry)

    def __enter__(self) -> "ComputeTarget":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.shutdown()

    def __repr__(self) -> str:
        return f"ComputeTarget(name={self.name!r}, vm_size={self.vm_size!r}, max_nodes={self.max_nodes})"
