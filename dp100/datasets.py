"""Datasets of a local workspace: local equivalent of Azure ML's ``Dataset`` (SDK v1: ``Dataset.Tabular``,
``Dataset.File``, ``TabularDataset``, ``FileDataset``) and of ``dataset.as_named_input(name)``
(``DatasetConsumptionConfig``): lazy references to files in datastores, versioned in ``datasets.json``."""

from __future__ import annotations

import datetime as _dt
import re
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import pandas as pd

from dp100.datastores import Datastore
from dp100.workspace_folder import WorkspaceError, WorkspaceFolder, read_json, write_json

#: the registry of a workspace's datasets (every version of every name), in its folder
REGISTRY = "datasets.json"


def _as_paths(path: Any) -> list[tuple[Datastore, str]]:
    items = path if isinstance(path, list) else [path]
    out = []
    for item in items:
        if not (isinstance(item, tuple) and len(item) == 2 and isinstance(item[0], Datastore)):
            raise WorkspaceError(f"dataset path {item!r}: expected a (datastore, 'relative/path.csv') pair")
        item[0].resolve(item[1])
        out.append(item)
    return out


def _new_dataset(kind: type, path: Any, **options: Any) -> Any:
    """A ``kind`` dataset over the (datastore, path) pairs of ``path``; fails now if a file is missing."""
    pairs = _as_paths(path)
    roots = {str(store.workspace.root) for store, _ in pairs}
    if len(roots) != 1:
        raise WorkspaceError("all paths of one dataset must be in the same workspace")
    ds = kind(paths=[(s.name, r) for s, r in pairs], workspace_root=roots.pop(), **options)
    ds._files()  # fail now, naming the file, rather than at first use
    return ds


@dataclass
class TabularDataset:
    """A lazy reference to delimited files in datastores. Registering names and versions it."""

    paths: list[tuple[str, str]]  # (datastore name, relative path)
    workspace_root: str
    separator: str = ","
    name: str | None = None
    version: int | None = None
    description: str | None = None
    tags: dict[str, str] = field(default_factory=dict)
    timestamp_column: str | None = None
    KIND = "tabular"

    def local_paths(self) -> list[Path]:
        """Where the dataset's files are on this machine (in their datastores' folders), found or not."""
        ws = WorkspaceFolder.from_config(self.workspace_root)
        return [Datastore.get(ws, store).resolve(rel) for store, rel in self.paths]

    def _files(self) -> list[Path]:
        files = self.local_paths()
        missing = [str(f) for f in files if not f.is_file()]
        if missing:
            raise WorkspaceError(
                f"dataset {self.name or '(unregistered)'} version {self.version}: "
                f"file(s) not found: {', '.join(missing)}"
            )
        return files

    def to_pandas_dataframe(self) -> pd.DataFrame:
        frames = []
        for f in self._files():
            frames.append(pd.read_parquet(f) if f.suffix == ".parquet" else pd.read_csv(f, sep=self.separator))
        df = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
        if self.timestamp_column:
            df[self.timestamp_column] = pd.to_datetime(df[self.timestamp_column])
        return df

    def as_named_input(self, name: str) -> DatasetConsumptionConfig:
        """Hand this dataset to a script run or pipeline step as ``run.input_datasets[name]``."""
        return DatasetConsumptionConfig(name, self)

    def with_timestamp_columns(self, timestamp: str) -> TabularDataset:
        """Give the dataset the timeseries trait (needed by a data-drift target dataset)."""
        return TabularDataset(**{**self.__dict__, "timestamp_column": timestamp, "name": None, "version": None})

    def register(
        self,
        workspace: WorkspaceFolder,
        name: str,
        description: str | None = None,
        tags: dict[str, str] | None = None,
        create_new_version: bool = False,
    ) -> TabularDataset:
        """Register under ``name``. An existing name needs ``create_new_version=True`` (as in Azure)
        unless the definition is identical, in which case the existing version is returned."""
        registry = read_json(workspace.root / REGISTRY, {})
        versions = registry.get(name, [])
        definition = {
            "paths": [list(p) for p in self.paths],
            "separator": self.separator,
            "timestamp_column": self.timestamp_column,
        }
        if self.KIND != "tabular":
            definition["kind"] = self.KIND
        if versions and not create_new_version:
            latest = versions[-1]
            if latest.get("kind", "tabular") == self.KIND and all(latest.get(k) == v for k, v in definition.items()):
                return Dataset.get_by_name(workspace, name, latest["version"])
            raise WorkspaceError(
                f"dataset {name!r} already exists (version {latest['version']}) with a "
                "different definition: pass create_new_version=True to add a version"
            )
        entry = {
            **definition,
            "version": len(versions) + 1,
            "description": description,
            "tags": tags or {},
            "registered": _dt.datetime.now().isoformat(timespec="seconds"),
        }
        registry[name] = versions + [entry]
        write_json(workspace.root / REGISTRY, registry)
        return Dataset.get_by_name(workspace, name, entry["version"])

    def __repr__(self) -> str:
        where = ", ".join(f"{s}/{r}" for s, r in self.paths)
        return f"TabularDataset(name={self.name!r}, version={self.version}, paths=[{where}])"


class _TabularFactory:
    """``Dataset.Tabular``: factory methods of tabular datasets."""

    @staticmethod
    def from_delimited_files(path: Any, separator: str = ",", header: bool = True) -> TabularDataset:
        return _new_dataset(TabularDataset, path, separator=separator)

    @staticmethod
    def register_pandas_dataframe(
        dataframe: pd.DataFrame,
        target: Any,
        name: str,
        description: str | None = None,
        tags: dict[str, str] | None = None,
    ) -> TabularDataset:
        """Write ``dataframe`` into ``target`` (a datastore or a (datastore, folder) pair) and
        register it as a new version of ``name``."""
        store, folder = (target, "") if isinstance(target, Datastore) else _as_paths(target)[0]
        registry = read_json(store.workspace.root / REGISTRY, {})
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
        raise WorkspaceError(
            "a FileDataset has no to_pandas_dataframe(): it holds files, not rows "
            "(read them from to_path(), or use Dataset.Tabular.from_delimited_files)"
        )

    def with_timestamp_columns(self, timestamp: str) -> TabularDataset:
        raise WorkspaceError("a FileDataset has no columns: use Dataset.Tabular for a timeseries")

    def __repr__(self) -> str:
        return "File" + super().__repr__()[len("Tabular") :]


class _FileFactory:
    """``Dataset.File``: factory methods of file datasets."""

    @staticmethod
    def from_files(path: Any) -> FileDataset:
        return _new_dataset(FileDataset, path)


class Dataset:
    """``Dataset.Tabular.from_delimited_files(...)``, ``Dataset.File.from_files(...)``,
    ``Dataset.get_by_name(ws, name, version)``."""

    Tabular = _TabularFactory
    File = _FileFactory

    @staticmethod
    def get_by_name(workspace: WorkspaceFolder, name: str, version: int | str = "latest") -> TabularDataset:
        registry = read_json(workspace.root / REGISTRY, {})
        if name not in registry:
            raise WorkspaceError(f"no dataset {name!r} in workspace {workspace.name!r}; registered: {sorted(registry)}")
        versions = registry[name]
        if version == "latest":
            entry = versions[-1]
        else:
            match = [v for v in versions if str(v["version"]) == str(version)]
            if not match:
                raise WorkspaceError(
                    f"dataset {name!r} has no version {version!r}; versions: {[v['version'] for v in versions]}"
                )
            entry = match[0]
        kind = FileDataset if entry.get("kind") == "file" else TabularDataset
        return kind(
            paths=[tuple(p) for p in entry["paths"]],
            workspace_root=str(workspace.root),
            separator=entry["separator"],
            name=name,
            version=entry["version"],
            description=entry.get("description"),
            tags=entry.get("tags", {}),
            timestamp_column=entry.get("timestamp_column"),
        )

    @staticmethod
    def get_all(workspace: WorkspaceFolder) -> dict[str, TabularDataset]:
        """The latest version of every registered dataset, by name (what ``ws.datasets`` lists)."""
        return {name: Dataset.get_by_name(workspace, name) for name in read_json(workspace.root / REGISTRY, {})}


# --------------------------------------------------------------------------------------------
# Named dataset inputs of runs and pipeline steps
# --------------------------------------------------------------------------------------------
class DatasetConsumptionConfig:
    """A dataset handed to a run under a name (SDK: ``dataset.as_named_input("raw_data")``).

    Inside the script, ``Run.get_context().input_datasets["raw_data"]`` is the dataset. Used as a
    script argument it becomes the text ``DatasetConsumptionConfig:raw_data``, as in Azure.
    """

    def __init__(self, name: str, dataset: TabularDataset):
        if not isinstance(dataset, TabularDataset):
            raise WorkspaceError(f"as_named_input: expected a TabularDataset, got {type(dataset).__name__}")
        if not isinstance(name, str) or not re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", name):
            raise WorkspaceError(f"input name {name!r}: letters, digits and _, not starting with a digit")
        self.name = name
        self.dataset = dataset

    def to_spec(self) -> dict[str, Any]:
        d = self.dataset
        return {
            "paths": [list(p) for p in d.paths],
            "separator": d.separator,
            "name": d.name,
            "version": d.version,
            "timestamp_column": d.timestamp_column,
        }

    def __repr__(self) -> str:
        return f"DatasetConsumptionConfig(name={self.name!r}, dataset={self.dataset!r})"


def as_named_input(dataset: TabularDataset, name: str) -> DatasetConsumptionConfig:
    """``dataset.as_named_input(name)`` of the SDK, as a function."""
    return DatasetConsumptionConfig(name, dataset)


def dataset_from_spec(spec: dict[str, Any], workspace_root: str) -> TabularDataset:
    """The dataset a run's ``DatasetConsumptionConfig`` spec describes (inside the submitted script)."""
    return TabularDataset(
        paths=[tuple(p) for p in spec["paths"]],
        workspace_root=workspace_root,
        separator=spec.get("separator", ","),
        name=spec.get("name"),
        version=spec.get("version"),
        timestamp_column=spec.get("timestamp_column"),
    )
