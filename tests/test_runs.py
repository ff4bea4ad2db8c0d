"""dp100.runs: experiments, interactive runs and script runs recorded in MLflow."""

import io
import logging
import textwrap
import threading
import time

import pytest

from dp100 import runs, snapshot
from dp100.runs import Estimator, Experiment, Run, RunConfigError, RunFailedError, ScriptRunConfig, as_named_input
from dp100.tracking import tracking_client
from dp100.workspace import Dataset, Environment, Workspace

logging.getLogger("mlflow").setLevel(logging.WARNING)
logging.getLogger("alembic").setLevel(logging.WARNING)


@pytest.fixture(scope="module")
def ws(tmp_path_factory):
    return Workspace.create("ws-test-runs", path=tmp_path_factory.mktemp("runs") / "workspace")


@pytest.fixture(scope="module")
def exp(ws):
    return Experiment(ws, "unit-runs")


def write(folder, name, code):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text(textwrap.dedent(code))
    return folder


TRAIN = """
import argparse, os
from dp100.runs import Run
p = argparse.ArgumentParser()
p.add_argument("--reg-rate", type=float, required=True)
p.add_argument("--data", default="")
a = p.parse_args()
run = Run.get_context()
print("workspace", run.experiment.workspace.name, "experiment", run.experiment.name)
if "raw_data" in run.input_datasets:
    df = run.input_datasets["raw_data"].to_pandas_dataframe()
    run.log("rows", len(df))
for epoch in range(4):
    run.log("loss", 1.0 / (epoch + 1) + a.reg_rate)
run.tag("data_argument", a.data)
os.makedirs("outputs", exist_ok=True)
open("outputs/model.txt", "w").write("model")
os.makedirs("logs", exist_ok=True)
open("logs/progress.txt", "w").write("done")
open("scratch.txt", "w").write("not kept")
run.complete()
"""


# -- experiments and interactive runs ---------------------------------------------------------
def test_interactive_run_logs_a_curve_and_completes(exp, tmp_path):
    run = exp.start_logging(outputs=False)
    for epoch in range(5):
        run.log("loss", 1.0 / (epoch + 1))
    run.log("r2", 0.5)
    assert run.get_status() == "Running"
    run.complete()
    assert run.get_status() == "Completed"
    metrics = run.get_metrics()
    assert metrics["loss"] == pytest.approx([1, 1 / 2, 1 / 3, 1 / 4, 1 / 5])
    assert metrics["r2"] == 0.5  # logged once: a value, not a list (as in Azure)
    history = tracking_client(exp.workspace).get_metric_history(run.id, "loss")
    assert sorted(m.step for m in history) == [0, 1, 2, 3, 4]


def test_snapshot_only_when_asked_and_outputs_uploaded(exp, tmp_path):
    src = write(tmp_path / "src", "a.py", "x = 1\n")
    (src / "__pycache__").mkdir()
    (src / "__pycache__" / "a.pyc").write_text("cache")
    (src / ".amlignore").write_text("data\n")
    write(src / "data", "big.csv", "1,2\n")
    out = tmp_path / "outputs"
    out.mkdir()
    (out / "model.pkl").write_text("m")
    run = exp.start_logging(snapshot_directory=src, outputs=out)
    run.complete()
    assert run.get_file_names() == ["outputs/model.pkl", "snapshot/a.py"]
    plain = exp.start_logging(snapshot_directory=None, outputs=False)
    plain.complete()
    assert plain.get_file_names() == []


def test_context_manager_fails_the_run_on_error(exp):
    with pytest.raises(ZeroDivisionError):
        with exp.start_logging(outputs=False) as run:
            run.log("before", 1)
            1 / 0
    assert run.get_status() == "Failed"
    assert "ZeroDivisionError" in run.get_details()["error"]


def test_log_rejects_text_and_bad_names(exp):
    run = exp.start_logging(outputs=False)
    with pytest.raises(RunConfigError, match="must be a number"):
        run.log("accuracy", "high")
    with pytest.raises(RunConfigError, match="metric name"):
        run.log("bad\nname", 1.0)
    run.complete()


def test_experiment_checks_name_workspace_and_config(ws, exp):
    with pytest.raises(RunConfigError, match="experiment name"):
        Experiment(ws, "has spaces")
    with pytest.raises(RunConfigError, match="must be a Workspace"):
        Experiment("ws", "ok")
    with pytest.raises(RunConfigError, match="ScriptRunConfig, Estimator or Pipeline"):
        exp.submit({"script": "train.py"})


def test_portal_url_is_the_mlflow_ui(exp):
    assert exp.get_portal_url().endswith(f"/#/experiments/{exp.id}")
    assert "Link to MLflow UI" in exp._repr_html_()
    assert runs.mlflow_ui_command(exp.workspace).startswith("mlflow ui --backend-store-uri sqlite:///")


# -- configurations -----------------------------------------------------------------------------
def test_script_run_config_names_what_is_wrong(tmp_path):
    src = write(tmp_path / "src", "train.py", TRAIN)
    with pytest.raises(RunConfigError, match="no script 'trian.py'.*train.py"):
        ScriptRunConfig(src, "trian.py")
    with pytest.raises(RunConfigError, match="not a folder"):
        ScriptRunConfig(tmp_path / "nowhere", "train.py")
    with pytest.raises(RunConfigError, match="not a dict.*script_params"):
        ScriptRunConfig(src, "train.py", arguments={"--reg-rate": 0.1})
    with pytest.raises(RunConfigError, match="argument 1"):
        ScriptRunConfig(src, "train.py", arguments=["--reg-rate", object()])
    with pytest.raises(RunConfigError, match="inside source_directory"):
        ScriptRunConfig(src, "../train.py")
    with pytest.raises(RunConfigError, match="max_run_duration_seconds"):
        ScriptRunConfig(src, "train.py", max_run_duration_seconds=0)


def test_estimator_flattens_script_params(tmp_path):
    src = write(tmp_path / "src", "train.py", TRAIN)
    est = Estimator(src, "train.py", script_params={"--reg-rate": 0.1, "--verbose": None})
    assert est.arguments == ["--reg-rate", 0.1, "--verbose"]
    with pytest.raises(RunConfigError, match="script_params must be a dict"):
        Estimator(src, "train.py", script_params=["--reg-rate", 0.1])


# -- script runs --------------------------------------------------------------------------------
def test_script_run_with_arguments_dataset_outputs_and_snapshot(ws, exp, tmp_path):
    src = write(tmp_path / "src", "train.py", TRAIN)
    bike = Dataset.Tabular.from_delimited_files([(ws.get_default_datastore(), "bike_sharing/hour.csv")])
    env = Environment("sklearn-env")
    env.python.conda_dependencies.add_conda_package("scikit-learn")
    env.register(ws)
    config = ScriptRunConfig(
        src, "train.py", environment=env, arguments=["--reg-rate", 0.5, "--data", as_named_input(bike, "raw_data")]
    )
    run = exp.submit(config)
    details = run.wait_for_completion()
    assert details["status"] == "Completed", run.read_text("user_logs/std_log.txt")
    metrics = run.get_metrics()
    assert metrics["loss"] == pytest.approx([1.5, 1.0, 0.5 + 1 / 3, 0.75])
    assert metrics["rows"] == 17379
    assert run.get_tags()["data_argument"] == "DatasetConsumptionConfig:raw_data"
    assert details["properties"]["azureml.environment"] == "sklearn-env:1"
    assert details["inputDatasets"] == ["raw_data"]
    files = run.get_file_names()
    assert {"outputs/model.txt", "logs/progress.txt", "snapshot/train.py", "user_logs/std_log.txt"} <= set(files)
    assert not any("scratch" in f for f in files)  # the node's local disk does not persist
    assert not (ws.root / "runs" / run.id).exists()
    assert f"workspace {ws.name} experiment unit-runs" in run.read_text("user_logs/std_log.txt")


def test_estimator_submits_like_a_script_run(exp, tmp_path):
    src = write(tmp_path / "src", "train.py", TRAIN)
    run = exp.submit(Estimator(src, "train.py", script_params={"--reg-rate": 1.0}))
    run.wait_for_completion()
    assert run.get_metrics()["loss"][0] == pytest.approx(2.0)


def test_show_output_streams_while_the_script_runs(exp, tmp_path):
    src = write(
        tmp_path / "src",
        "wait.py",
        """
        import os, sys, time
        os.makedirs("logs", exist_ok=True)
        open("logs/live.txt", "w").write("started")
        print("ready", flush=True)
        flag = sys.argv[1]
        for _ in range(300):
            if os.path.exists(flag):
                break
            time.sleep(0.1)
        print("finished")
    """,
    )
    flag = tmp_path / "go"
    run = exp.submit(ScriptRunConfig(src, "wait.py", arguments=[str(flag)]))
    buffer = io.StringIO()
    waiter = threading.Thread(target=run.wait_for_completion, kwargs={"show_output": True, "stream": buffer})
    waiter.start()
    deadline = time.monotonic() + 30
    while "ready" not in buffer.getvalue() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert "ready" in buffer.getvalue(), "the log line did not arrive while the script ran"
    assert run.get_status() == "Running"
    while "logs/live.txt" not in run.get_file_names() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert "logs/live.txt" in run.get_file_names(), "./logs is uploaded while the run is going"
    assert run.get_status() == "Running"
    flag.write_text("go")
    waiter.join(30)
    text = buffer.getvalue()
    assert text.index("ready") < text.index("finished") < text.index("Execution Summary")
    assert run.get_status() == "Completed"


def test_failing_script_gives_a_failed_run_with_its_log(exp, tmp_path):
    src = write(
        tmp_path / "src",
        "bad.py",
        """
        print("loading data")
        raise ValueError("column 'cnt' is missing")
    """,
    )
    run = exp.submit(ScriptRunConfig(src, "bad.py"))
    with pytest.raises(RunFailedError, match="exited with code 1") as err:
        run.wait_for_completion(timeout_seconds=60)
    assert "column 'cnt' is missing" in str(err.value)
    assert run.get_status() == "Failed"
    log = run.read_text("user_logs/std_log.txt")
    assert "loading data" in log and "ValueError: column 'cnt' is missing" in log
    details = run.wait_for_completion(raise_on_error=False)
    assert details["status"] == "Failed" and "exited with code 1" in details["error"]


def test_get_details_with_logs_gives_the_text_of_each_log(exp, tmp_path):
    src = write(
        tmp_path / "src",
        "logs.py",
        """
        import os
        print("first line")
        os.makedirs("logs", exist_ok=True)
        open("logs/progress.txt", "w").write("epoch 1")
        raise SystemExit("stopped on purpose")
    """,
    )
    run = exp.submit(ScriptRunConfig(src, "logs.py"))
    run.wait_for_completion(raise_on_error=False, timeout_seconds=60)
    details = run.get_details_with_logs()
    assert details["status"] == "Failed" and "exited with code 1" in details["error"]
    assert set(details["logFiles"]) == {"user_logs/std_log.txt", "logs/progress.txt"}
    assert details["logFiles"]["user_logs/std_log.txt"] == run.read_text("user_logs/std_log.txt")
    assert "first line" in details["logFiles"]["user_logs/std_log.txt"]
    assert "stopped on purpose" in details["logFiles"]["user_logs/std_log.txt"]
    assert details["logFiles"]["logs/progress.txt"] == "epoch 1"
    assert run.get_details()["logFiles"] == {"user_logs/std_log.txt": "artifact"}  # names only
    interactive = exp.start_logging()
    interactive.complete()
    assert interactive.get_details_with_logs()["logFiles"] == {}


def test_bad_argument_value_fails_the_run_with_usage(exp, tmp_path):
    src = write(tmp_path / "src", "train.py", TRAIN)
    run = exp.submit(ScriptRunConfig(src, "train.py", arguments=["--reg-rate", "high"]))
    details = run.wait_for_completion(raise_on_error=False)
    assert details["status"] == "Failed"
    assert "invalid float value: 'high'" in run.read_text("user_logs/std_log.txt")


def test_a_stuck_script_is_stopped_not_waited_for(exp, tmp_path):
    src = write(tmp_path / "src", "stuck.py", "import time\nprint('stuck', flush=True)\ntime.sleep(120)\n")
    start = time.monotonic()
    run = exp.submit(ScriptRunConfig(src, "stuck.py", max_run_duration_seconds=1.5))
    with pytest.raises(RunFailedError, match="max_run_duration_seconds=1.5"):
        run.wait_for_completion()
    assert time.monotonic() - start < 30
    assert "stuck" in run.read_text("user_logs/std_log.txt")


def test_wait_timeout_and_cancel(exp, tmp_path):
    src = write(tmp_path / "src", "slow.py", "import time\ntime.sleep(120)\n")
    run = exp.submit(ScriptRunConfig(src, "slow.py"))
    with pytest.raises(TimeoutError, match="still running"):
        run.wait_for_completion(timeout_seconds=0.5)
    run.cancel()
    assert run.get_status() == "Canceled"


def test_deleted_script_is_caught_at_submit(exp, tmp_path):
    src = write(tmp_path / "src", "train.py", TRAIN)
    config = ScriptRunConfig(src, "train.py", arguments=["--reg-rate", 1])
    (src / "train.py").unlink()
    with pytest.raises(RunConfigError, match="no script 'train.py'"):
        exp.submit(config)


def test_snapshot_limit(exp, tmp_path, monkeypatch):
    src = write(tmp_path / "src", "train.py", TRAIN)
    for i in range(3):
        (src / f"data{i}.csv").write_text("x\n")
    monkeypatch.setattr(snapshot, "SNAPSHOT_MAX_FILES", 2)
    with pytest.raises(RunConfigError, match="over Azure's limit.*amlignore"):
        exp.submit(ScriptRunConfig(src, "train.py", arguments=["--reg-rate", 1]))


def test_get_context_outside_a_run_is_offline(capsys):
    run = Run.get_context()
    run.log("alpha", 0.1)
    assert "alpha" in capsys.readouterr().out
    assert run.get_metrics() == {"alpha": 0.1}
    assert run.input_datasets == {}
    with pytest.raises(RunConfigError, match="offline run"):
        run.experiment.workspace
    with pytest.raises(RunConfigError, match="not running inside a submitted run"):
        Run.get_context(allow_offline=False)


def test_get_runs_lists_newest_first(exp):
    run = exp.start_logging(outputs=False)
    run.complete()
    assert exp.get_runs()[0].id == run.id
