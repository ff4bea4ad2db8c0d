"""Datastores of a local workspace: local equivalent of Azure ML's ``Datastore`` (SDK v1), a named
folder under the workspace's ``datastores/`` instead of a blob container or file share."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterable
from pathlib import Path, PurePosixPath
from typing import Any

from dp100.workspace_folder import WorkspaceError, WorkspaceFolder, read_json, write_json

DEFAULT_DATASTORE = "workspaceblobstore"
#: the registry of a workspace's datastores, in its folder
REGISTRY = "datastores.json"


class Datastore:
    """A named storage location of the workspace: locally, a folder under ``datastores/``."""

    def __init__(
        self,
        workspace: WorkspaceFolder,
        name: str,
        datastore_type: str = "AzureBlob",
        container: str | None = None,
        account_name: str | None = None,
    ):
        self.workspace = workspace
        self.name = name
        self.datastore_type = datastore_type
        self.container = container
        self.account_name = account_name

    @property
    def root(self) -> Path:
        return self.workspace.root / "datastores" / self.name

    @staticmethod
    def get_all(workspace: WorkspaceFolder) -> dict[str, Datastore]:
        """Every registered datastore, by name (what ``ws.datastores`` lists)."""
        return {
            name: Datastore(workspace, name, **spec) for name, spec in read_json(workspace.root / REGISTRY, {}).items()
        }

    @staticmethod
    def get(workspace: WorkspaceFolder, datastore_name: str) -> Datastore:
        stores = Datastore.get_all(workspace)
        if datastore_name not in stores:
            raise WorkspaceError(
                f"no datastore {datastore_name!r} in workspace {workspace.name!r}; registered: {sorted(stores)}"
            )
        return stores[datastore_name]

    @staticmethod
    def get_default(workspace: WorkspaceFolder) -> Datastore:
        return Datastore.get(workspace, DEFAULT_DATASTORE)

    @classmethod
    def register(cls, workspace: WorkspaceFolder, name: str, datastore_type: str, **spec: Any) -> Datastore:
        """Record datastore ``name`` in the workspace and create its folder (the SDK's
        ``register_azure_*`` methods below call this)."""
        if not name or not name.replace("_", "").isalnum():
            raise WorkspaceError(f"datastore name {name!r}: use letters, digits and underscores")
        registry = read_json(workspace.root / REGISTRY, {})
        registry[name] = {"datastore_type": datastore_type, **spec}
        (workspace.root / "datastores" / name).mkdir(parents=True, exist_ok=True)
        write_json(workspace.root / REGISTRY, registry)
        return cls(workspace, name, datastore_type, **spec)

    # account_key is accepted and not stored (Azure keeps it in Key Vault)
    @classmethod
    def register_azure_blob_container(
        cls,
        workspace: WorkspaceFolder,
        datastore_name: str,
        container_name: str,
        account_name: str | None = None,
        account_key: str | None = None,
        **_: Any,
    ) -> Datastore:
        """Register a blob-container datastore."""
        return cls.register(workspace, datastore_name, "AzureBlob", container=container_name, account_name=account_name)

    @classmethod
    def register_azure_file_share(
        cls,
        workspace: WorkspaceFolder,
        datastore_name: str,
        file_share_name: str,
        account_name: str | None = None,
        account_key: str | None = None,
        **_: Any,
    ) -> Datastore:
        """Register an Azure Files share datastore (the notes' pipeline-data example uses one)."""
        return cls.register(
            workspace, datastore_name, "AzureFile", container=file_share_name, account_name=account_name
        )

    def resolve(self, relative: str | os.PathLike) -> Path:
        """The local path of ``relative`` inside this datastore; refuses paths that leave it."""
        rel = PurePosixPath(str(relative).replace("\\", "/"))
        if rel.is_absolute() or ".." in rel.parts:
            raise WorkspaceError(
                f"path {str(relative)!r} is outside datastore {self.name!r}: "
                "use a path relative to the datastore root, without '..'"
            )
        return self.root.joinpath(*rel.parts)

    def path(self, relative: str = "") -> tuple[Datastore, str]:
        """``datastore.path("x.csv")``: the ``(datastore, "x.csv")`` pair datasets take."""
        self.resolve(relative)
        return (self, relative)

    def upload_files(
        self,
        files: Iterable[str | os.PathLike],
        relative_root: str | None = None,
        target_path: str | None = None,
        overwrite: bool = False,
        show_progress: bool = True,
    ) -> list[str]:
        """Copy files into the datastore under ``target_path``, keeping their path below ``relative_root``."""
        copied = []
        for f in files:
            src = Path(f)
            if not src.is_file():
                raise WorkspaceError(f"cannot upload {src}: no such file")
            rel = src.relative_to(relative_root) if relative_root else Path(src.name)
            dest = self.resolve(PurePosixPath(target_path or "", rel.as_posix()))
            if dest.exists() and not overwrite:
                raise WorkspaceError(
                    f"{dest.relative_to(self.root)} already exists in {self.name!r}; pass overwrite=True to replace it"
                )
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src, dest)
            copied.append(dest.relative_to(self.root).as_posix())
            if show_progress:
                print(f"Uploaded {src} -> {self.name}/{copied[-1]}")
        return copied

    def upload(
        self,
        src_dir: str | os.PathLike,
        target_path: str | None = None,
        overwrite: bool = False,
        show_progress: bool = True,
    ) -> list[str]:
        """Copy a whole folder into the datastore under ``target_path``."""
        src = Path(src_dir)
        if not src.is_dir():
            raise WorkspaceError(f"cannot upload {src}: not a folder")
        files = sorted(p for p in src.rglob("*") if p.is_file())
        return self.upload_files(
            files, relative_root=str(src), target_path=target_path, overwrite=overwrite, show_progress=show_progress
        )

    def __repr__(self) -> str:
        return f"Datastore(name={self.name!r}, type={self.datastore_type!r}, root={str(self.root)!r})"
