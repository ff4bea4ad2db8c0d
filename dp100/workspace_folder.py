"""The folder of a local workspace and its ``config.json``: local equivalent of Azure ML's (SDK v1)
``Workspace(sub, rg, name)``, ``Workspace.from_config`` and ``ws.write_config``.

The lowest layer of the local workspace: datastores, datasets, environments and compute targets
keep their registries (JSON files) in this folder. :class:`dp100.workspace.Workspace` adds the
SDK's listings of those registries (``ws.datastores``, ``ws.datasets``...) on top of it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from dp100.mlflow_store import ensure_store

CONFIG_NAME = "config.json"
CONFIG_KEYS = ("subscription_id", "resource_group", "workspace_name")


class WorkspaceError(ValueError):
    """Something about the local workspace is wrong; the message says what and where."""


def read_json(path: Path, default: Any) -> Any:
    """The JSON value stored at ``path``; ``default`` if there is no such file."""
    if not path.exists():
        return default
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise WorkspaceError(f"{path} is not valid JSON ({exc})") from None


def write_json(path: Path, value: Any) -> None:
    """Store ``value`` at ``path`` as JSON."""
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(value, indent=2, sort_keys=True) + "\n")
    tmp.replace(path)  # atomic: a crash never leaves half a registry


def load_config(path: Path) -> dict[str, str]:
    """The three keys of a workspace ``config.json``, checked."""
    config = read_json(path, None)
    if not isinstance(config, dict):
        raise WorkspaceError(f"{path} must hold a JSON object with keys {', '.join(CONFIG_KEYS)}")
    missing = [k for k in CONFIG_KEYS if not isinstance(config.get(k), str) or not config.get(k)]
    if missing:
        raise WorkspaceError(f"{path} is missing {', '.join(missing)} (needs {', '.join(CONFIG_KEYS)})")
    return {k: config[k] for k in CONFIG_KEYS}


class WorkspaceFolder:
    """An existing local workspace folder, opened by name or from its config file."""

    def __init__(
        self, subscription_id: str, resource_group: str, workspace_name: str, path: str | os.PathLike | None = None
    ):
        root = Path(path) if path is not None else Path.cwd() / workspace_name
        config = load_config(root / CONFIG_NAME) if (root / CONFIG_NAME).exists() else None
        if config is None:
            raise WorkspaceError(
                f"no workspace {workspace_name!r} at {root}: create it first with "
                f"Workspace.create({workspace_name!r}, ..., path={str(root)!r})"
            )
        given = {"subscription_id": subscription_id, "resource_group": resource_group, "workspace_name": workspace_name}
        wrong = {k: (v, config[k]) for k, v in given.items() if v != config[k]}
        if wrong:
            raise WorkspaceError(
                f"workspace at {root} does not match: "
                + ", ".join(f"{k} is {have!r}, not {want!r}" for k, (want, have) in wrong.items())
            )
        self.subscription_id = subscription_id
        self.resource_group = resource_group
        self.name = workspace_name
        self.root = root.resolve()
        #: the config file this object was opened from (``from_config``); None when opened by name
        self._config_file: Path | None = None

    @classmethod
    def from_config(cls, path: str | os.PathLike | None = None):
        """Open the workspace whose ``config.json`` is at ``path`` (a file or a folder).

        Like Azure, a folder is searched for ``config.json`` and ``.azureml/config.json``.
        """
        start = Path(path) if path is not None else Path.cwd()
        candidates = [start] if start.suffix == ".json" else [start / CONFIG_NAME, start / ".azureml" / CONFIG_NAME]
        for candidate in candidates:
            if candidate.is_file():
                config = load_config(candidate)
                # a config written elsewhere by write_config() says where the workspace folder is
                local = read_json(candidate, {}).get("local_path")
                root = Path(local) if local else candidate.parent
                if not local and root.name == ".azureml":
                    root = root.parent
                ws = cls(**config, path=root)
                ws._config_file = candidate.resolve()
                return ws
        raise WorkspaceError("no workspace config found: looked for " + ", ".join(str(c) for c in candidates))

    def write_config(self, path: str | os.PathLike, file_name: str = CONFIG_NAME) -> Path:
        """Write this workspace's config elsewhere (``ws.write_config()`` in the SDK). Azure's file
        identifies a cloud workspace; ours adds ``local_path``, the folder the workspace lives in."""
        target = Path(path) / file_name
        target.parent.mkdir(parents=True, exist_ok=True)
        write_json(
            target,
            {
                "subscription_id": self.subscription_id,
                "resource_group": self.resource_group,
                "workspace_name": self.name,
                "local_path": str(self.root),
            },
        )
        return target

    # -- tracking --------------------------------------------------------------------------
    def get_mlflow_tracking_uri(self) -> str:
        """The MLflow tracking URI of this workspace: a SQLite store in its folder (created on first
        ask from an empty migrated store: dp100/mlflow_store.py says why)."""
        ensure_store(self.root / "mlflow.db")
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
                mlflow.create_experiment(
                    experiment_name, artifact_location=f"{self.artifact_location}/{experiment_name}"
                )
            mlflow.set_experiment(experiment_name)
        return mlflow

    def __repr__(self) -> str:
        return (
            f"Workspace(name={self.name!r}, subscription_id={self.subscription_id!r}, "
            f"resource_group={self.resource_group!r}, root={str(self.root)!r})"
        )
