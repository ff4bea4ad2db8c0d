"""A new workspace's MLflow store is a copy of an empty migrated one (dp100/mlflow_store.py).

The copy must be indistinguishable from a store MLflow migrated itself: the same schema and
revision, and the Default experiment MLflow adds on first open, for the folder it would have
chosen. These are also the contract with MLflow: if an upgrade stops adding the Default experiment
to a migrated store without one, or changes the schema, these tests say so.
"""

from __future__ import annotations

import os
import sqlite3
from importlib import metadata

import pytest

from dp100 import mlflow_store


def _schema(path) -> dict:
    """Tables with their columns, indexes and foreign keys, and the Alembic revision. (Not the CREATE
    text nor creation order: MLflow renders some from sets, in an order that changes run to run.)"""
    con = sqlite3.connect(path)
    try:
        tables = [name for (name,) in con.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]
        schema = {
            t: (
                con.execute(f"PRAGMA table_info('{t}')").fetchall(),
                sorted(row[1:] for row in con.execute(f"PRAGMA index_list('{t}')")),  # without creation order
                sorted(row[2:] for row in con.execute(f"PRAGMA foreign_key_list('{t}')")),
            )
            for t in tables
        }
        schema["alembic_version"] = con.execute("SELECT * FROM alembic_version").fetchall()
        return schema
    finally:
        con.close()


@pytest.fixture(scope="module")
def stores(tmp_path_factory):
    """An empty store built by dp100 and a store MLflow migrated itself, in the same folder."""
    from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

    tmp = tmp_path_factory.mktemp("stores")
    template = mlflow_store.build_template(tmp / "empty.db")
    fresh = tmp / "fresh.db"
    SqlAlchemyStore(f"sqlite:///{fresh}", str(tmp / "artifacts")).engine.dispose()
    return template, fresh


def test_the_empty_store_has_mlflows_schema_and_no_rows(stores):
    template, fresh = stores
    assert _schema(template) == _schema(fresh), (
        f"mlflow {metadata.version('mlflow')}: the migrated schema differs from the empty store dp100 built"
    )
    con = sqlite3.connect(template)
    try:
        assert con.execute("SELECT COUNT(*) FROM experiments").fetchone() == (0,)
    finally:
        con.close()


def test_a_copied_store_opens_with_the_default_experiment_mlflow_would_make(stores, tmp_path, monkeypatch):
    import mlflow
    from mlflow import MlflowClient

    template, _ = stores
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(mlflow_store, "template_path", lambda: template)
    (tmp_path / "copied").mkdir()
    mlflow_store.ensure_store(tmp_path / "copied" / "mlflow.db")
    default = MlflowClient(tracking_uri=f"sqlite:///{tmp_path / 'copied' / 'mlflow.db'}").get_experiment("0")
    assert default is not None and default.name == "Default", (
        f"mlflow {mlflow.__version__} no longer adds the Default experiment when it opens a migrated store "
        "without one (SqlAlchemyStore._initialize_store_state): dp100/mlflow_store.py relies on it"
    )
    (tmp_path / "migrated").mkdir()
    made_by_mlflow = MlflowClient(tracking_uri=f"sqlite:///{tmp_path / 'migrated' / 'mlflow.db'}").get_experiment("0")
    assert (default.artifact_location, default.lifecycle_stage) == (
        made_by_mlflow.artifact_location,
        made_by_mlflow.lifecycle_stage,
    )


def test_an_existing_store_is_never_overwritten(tmp_path):
    db = tmp_path / "mlflow.db"
    db.write_bytes(b"the learner's runs")
    mlflow_store.ensure_store(db)
    assert db.read_bytes() == b"the learner's runs"
    assert [p.name for p in tmp_path.iterdir()] == ["mlflow.db"], "a temporary copy was left behind"


def test_a_read_only_environment_leaves_the_store_to_mlflow(tmp_path, monkeypatch):
    readonly = tmp_path / "prefix"
    readonly.mkdir()
    os.chmod(readonly, 0o555)
    monkeypatch.setattr(mlflow_store, "TEMPLATE_DIR", readonly / "share" / "dp100")
    monkeypatch.setattr(mlflow_store, "template_path", lambda: readonly / "share" / "dp100" / "x.db")
    monkeypatch.setattr(os, "access", lambda path, mode: False)  # root ignores 0555: ask as a user would
    (tmp_path / "ws").mkdir()
    mlflow_store.ensure_store(tmp_path / "ws" / "mlflow.db")
    assert not (tmp_path / "ws" / "mlflow.db").exists()
    assert not (readonly / "share").exists()
