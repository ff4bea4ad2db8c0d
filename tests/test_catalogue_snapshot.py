"""The snapshot a catalogue copy starts from (tests/nbgrader_class.py, ``SNAPSHOT_CODE``): what an
earlier copy left on disk, in a SQLite store that is still open, in MLflow's process state and in
an object it changed in place is gone when the next copy starts."""

from __future__ import annotations

import contextlib
import sqlite3

from nbgrader_class import SNAPSHOT_CODE


class Endpoint:
    def __init__(self):
        self.default_version = "2"


def test_restore_undoes_what_a_copy_left(tmp_path, monkeypatch):
    import mlflow  # here, not at collection: importing it costs every test worker 1.5 CPU-s

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    kernel = {"Endpoint": Endpoint}
    exec(SNAPSHOT_CODE, kernel)  # the kernel's namespace: the helpers read and bind its names
    kernel["endpoint"] = Endpoint()
    (tmp_path / "ws" / "uploads").mkdir(parents=True)
    (tmp_path / "ws" / "registry.json").write_text('{"v": 1}')
    (tmp_path / "ws" / "latest").symlink_to("registry.json")
    store = sqlite3.connect(tmp_path / "ws" / "store.db")  # open for the whole test, like MLflow's pool
    with store:
        store.execute("CREATE TABLE runs (name TEXT)")
        store.execute("INSERT INTO runs VALUES ('before')")
    uri_before = f"sqlite:///{tmp_path / 'ws' / 'mlflow.db'}"
    mlflow.set_tracking_uri(uri_before)
    try:
        state = kernel["_catalogue_snapshot"](["endpoint"])

        # a wrong copy: uploads, re-registers, writes the store, leaves a run open, moves MLflow on
        (tmp_path / "ws" / "uploads" / "test.csv").write_text("a,b\n")
        (tmp_path / "ws" / "new").mkdir()
        (tmp_path / "ws" / "registry.json").write_text('{"v": 2}')
        (tmp_path / "ws" / "latest").unlink()
        with store:
            store.execute("INSERT INTO runs VALUES ('left by a copy')")
        mlflow.start_run(run_name="left open")
        mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'elsewhere.db'}")
        kernel["endpoint"].default_version = "1"

        kernel["_catalogue_restore"](state)

        assert not (tmp_path / "ws" / "uploads" / "test.csv").exists()
        assert not (tmp_path / "ws" / "new").exists()
        assert (tmp_path / "ws" / "uploads").is_dir()
        assert (tmp_path / "ws" / "registry.json").read_text() == '{"v": 1}'
        assert (tmp_path / "ws" / "latest").readlink().as_posix() == "registry.json"
        assert [r[0] for r in store.execute("SELECT name FROM runs")] == ["before"]  # the open connection sees it
        assert mlflow.active_run() is None
        assert mlflow.get_tracking_uri() == uri_before
        assert kernel["endpoint"].default_version == "2"
        assert kernel["endpoint"] is not state["objects"]["endpoint"]  # the next copy gets a fresh one

        kernel["_catalogue_drop"](state)
        assert not state["tree"].exists()
    finally:
        while mlflow.active_run() is not None:
            mlflow.end_run()
        with contextlib.suppress(Exception):
            store.close()
        mlflow.set_tracking_uri(None)
