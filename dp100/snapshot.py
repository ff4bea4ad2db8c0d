"""A run's snapshot: local equivalent of the copy of ``source_directory`` Azure ML saves with a run (SDK v1).

As in Azure: caches and the patterns of ``.amlignore`` are left out, and a folder over 2,000 files
or 300 MB is refused (data belongs in a datastore). Here a workspace folder inside the source
folder is left out too, and the files are saved as the run's artifacts under ``snapshot/``.
"""

from __future__ import annotations

import fnmatch
import os
from pathlib import Path

from dp100.tracking import TRACKING_LOCK, RunConfigError, artifact_folder, tracking_client
from dp100.workspace_folder import WorkspaceFolder

#: Azure's limits on a snapshot (source directory): 2,000 files, 300 MB.
SNAPSHOT_MAX_FILES = 2000
SNAPSHOT_MAX_BYTES = 300 * 1024 * 1024
SNAPSHOT_IGNORE = ("__pycache__", "*.pyc", ".ipynb_checkpoints", ".git", ".amlignore")


def snapshot_files(folder: Path, workspace: WorkspaceFolder | None = None) -> list[Path]:
    """The files of ``folder`` a snapshot holds: without caches, ``.amlignore`` patterns and any
    workspace folder inside it; refuses more than Azure's 2,000 files or 300 MB."""
    folder = Path(folder).resolve()
    patterns = list(SNAPSHOT_IGNORE)
    ignore_file = folder / ".amlignore"
    if ignore_file.is_file():
        patterns += [
            p.strip().strip("/") for p in ignore_file.read_text().splitlines() if p.strip() and not p.startswith("#")
        ]
    skip_roots = {workspace.root.resolve()} if workspace is not None else set()
    files, total = [], 0
    for dirpath, dirnames, filenames in os.walk(folder):
        here = Path(dirpath)
        dirnames[:] = sorted(
            d
            for d in dirnames
            if not any(fnmatch.fnmatch(d, p) for p in patterns)
            and (here / d).resolve() not in skip_roots
            and not ((here / d / "mlflow.db").exists() and (here / d / "config.json").exists())
        )
        for name in sorted(filenames):
            if any(fnmatch.fnmatch(name, p) for p in patterns):
                continue
            path = here / name
            files.append(path)
            total += path.stat().st_size
            if len(files) > SNAPSHOT_MAX_FILES or total > SNAPSHOT_MAX_BYTES:
                raise RunConfigError(
                    f"snapshot of {str(folder)!r} is over Azure's limit of {SNAPSHOT_MAX_FILES} files / "
                    f"{SNAPSHOT_MAX_BYTES // 2**20} MB: keep data out of source_directory (use a "
                    "datastore) or list what to leave out in .amlignore"
                )
    return files


def upload_snapshot(workspace: WorkspaceFolder, run_id: str, folder: Path, files: list[Path]) -> None:
    """Save ``files`` (from :func:`snapshot_files` of ``folder``) with the run under ``snapshot/``."""
    folder = Path(folder).resolve()
    client = tracking_client(workspace)
    with TRACKING_LOCK:
        for f in files:
            client.log_artifact(run_id, str(f), artifact_folder(f, folder, "snapshot"))
