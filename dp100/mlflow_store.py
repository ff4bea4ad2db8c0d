"""A workspace's MLflow tracking store (the local stand-in for the workspace's MLflow backend), started
from an empty, fully migrated copy.

MLflow builds a new SQLite store by running its whole Alembic migration history: 2-3 s on a quiet
machine and 10 s on a busy one, paid by every notebook run, every graded submission and every test
that makes a workspace. A copy of a migrated store takes milliseconds. The copy holds MLflow's
tables at its current schema and no rows: MLflow itself then adds the Default experiment (id 0)
when it first opens the store, with the artifact location and creation time it would have given
a store it had just migrated (``SqlAlchemyStore._initialize_store_state``;
tests/test_contracts.py checks that this still holds after an MLflow upgrade).

The empty store is built once per environment, by `make venv` or on first use, next to the
interpreter (``<venv>/share/dp100/``), and named after the MLflow version that built it, so an
upgrade builds a new one. Where that folder is read-only and has none (a sandboxed grader), MLflow
migrates the new store itself, as it always did.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import sys
import tempfile
from importlib import metadata
from pathlib import Path

TEMPLATE_DIR = Path(sys.prefix) / "share" / "dp100"


def template_path() -> Path:
    """Where this environment keeps its empty store: one per MLflow version."""
    return TEMPLATE_DIR / f"mlflow-empty-store-{metadata.version('mlflow')}.db"


def build_template(path: Path | None = None) -> Path:
    """Let MLflow migrate a new store in a temporary file, remove the Default experiment it adds
    (MLflow adds it again, for the right folder, when a copy is opened), and move it into place."""
    from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

    path = path or template_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.parent / f".building-{os.getpid()}-{path.name}"
    try:
        with tempfile.TemporaryDirectory() as artifacts:  # MLflow creates nothing there: it must exist
            SqlAlchemyStore(f"sqlite:///{tmp}", artifacts).engine.dispose()  # runs the migrations
        con = sqlite3.connect(tmp)
        with con:
            con.execute("DELETE FROM experiments WHERE experiment_id = 0")
        con.execute("VACUUM")
        con.close()
        os.chmod(tmp, 0o644)  # sandboxed kernels run as other uids and only read it
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def ensure_store(db_path: Path) -> None:
    """Create ``db_path`` as a copy of the empty store unless it exists; never overwrite a store."""
    db_path = Path(db_path)
    if db_path.exists() or not db_path.parent.is_dir():
        return
    template = template_path()
    if not template.is_file():
        if not os.access(TEMPLATE_DIR if TEMPLATE_DIR.is_dir() else TEMPLATE_DIR.parent, os.W_OK):
            return  # read-only environment: MLflow migrates the new store itself
        try:
            build_template(template)
        except OSError:
            return
    fd, tmp = tempfile.mkstemp(prefix=".mlflow-", suffix=".db", dir=db_path.parent)
    os.close(fd)
    try:
        shutil.copyfile(template, tmp)
        try:
            os.link(tmp, db_path)  # fails if another process made the store meanwhile: keep theirs
        except FileExistsError:
            pass
    finally:
        os.unlink(tmp)


if __name__ == "__main__":
    print(f"empty MLflow store: {build_template()}")
