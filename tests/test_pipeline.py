"""dp100.pipeline: two-step pipelines with data passed through a named datastore."""
import json
import logging
import textwrap

import pytest

from dp100.pipeline import Pipeline, PipelineData, PipelineError, PythonScriptStep, RunConfiguration
from dp100.runs import Experiment, RunFailedError, as_named_input
from dp100.workspace import Dataset, Datastore, Workspace

logging.getLogger("mlflow").setLevel(logging.WARNING)
logging.getLogger("alembic").setLevel(logging.WARNING)

PREP = """
import argparse, os
from dp100.runs import Run
p = argparse.ArgumentParser()
p.add_argument("--out-folder", required=True)
a = p.parse_args()
run = Run.get_context()
df = run.input_datasets["raw_data"].to_pandas_dataframe()
df = df[df["weathersit"] < 4]
os.makedirs(a.out_folder, exist_ok=True)
df.to_csv(os.path.join(a.out_folder, "prepped.csv"), index=False)
run.log("rows_out", len(df))
print("prepared", len(df))
"""

TRAIN = """
import argparse, os
import pandas as pd
from dp100.runs import Run
p = argparse.ArgumentParser()
p.add_argument("--in-folder", required=True)
a = p.parse_args()
df = pd.read_csv(os.path.join(a.in_folder, "prepped.csv"))
Run.get_context().log("prepared_rows", len(df))
open("marker_" + os.path.basename(__file__) + ".txt", "w").write("ran")
"""


@pytest.fixture(scope="module")
def ws(tmp_path_factory):
    return Workspace.create("ws-test-pipeline", path=tmp_path_factory.mktemp("pipe") / "workspace")


@pytest.fixture(scope="module")
def src(tmp_path_factory):
    folder = tmp_path_factory.mktemp("src")
    (folder / "prep.py").write_text(textwrap.dedent(PREP))
    (folder / "train.py").write_text(textwrap.dedent(TRAIN))
    (folder / "fail.py").write_text("print('about to fail')\nraise SystemExit('no usable rows')\n")
    # the step after a failure writes a marker into a datastore if it ever runs
    (folder / "after.py").write_text(textwrap.dedent("""
        from dp100.runs import Run
        ws = Run.get_context().experiment.workspace
        (ws.get_default_datastore().root / "after_ran.txt").write_text("ran")
    """))
    return folder


@pytest.fixture(scope="module")
def bike(ws):
    return Dataset.Tabular.from_delimited_files([(ws.get_default_datastore(), "bike_sharing/hour.csv")])


def two_steps(ws, src, bike, store):
    prepped = PipelineData("prepped_data", datastore=store)
    prep = PythonScriptStep("prep.py", name="01 Data Preparation", source_directory=src,
                            inputs=[as_named_input(bike, "raw_data")], outputs=[prepped],
                            arguments=["--out-folder", prepped], runconfig=RunConfiguration())
    train = PythonScriptStep("train.py", name="02 Training", source_directory=src, inputs=[prepped],
                             arguments=["--in-folder", prepped])
    return prepped, prep, train


def test_two_step_pipeline_passes_data_through_a_named_datastore(ws, src, bike):
    store = Datastore.register_azure_file_share(ws, "pipeline_files", "pipelinefiles")
    prepped, prep, train = two_steps(ws, src, bike, store)
    pipeline = Pipeline(ws, [train, prep])            # listed out of order: the data decides
    assert [s.name for s in pipeline.steps] == ["01 Data Preparation", "02 Training"]
    run = Experiment(ws, "unit-pipeline").submit(pipeline)
    details = run.wait_for_completion()
    assert details["status"] == "Completed"
    assert details["steps"] == {"01 Data Preparation": "Completed", "02 Training": "Completed"}
    expected = int((bike.to_pandas_dataframe()["weathersit"] < 4).sum())
    assert run.find_step_run("01 Data Preparation")[0].get_metrics()["rows_out"] == expected
    assert run.find_step_run("02 Training")[0].get_metrics()["prepared_rows"] == expected
    assert (store.root / "azureml" / run.id / "prepped_data" / "prepped.csv").is_file()
    children = run.get_children()
    assert [c.name for c in children] == ["01 Data Preparation", "02 Training"]
    assert all(c.parent.id == run.id for c in children)
    assert run.get_status() == "Completed"


def test_show_output_names_each_step(ws, src, bike, capsys):
    prepped, prep, train = two_steps(ws, src, bike, None)   # no datastore: the default one
    run = Experiment(ws, "unit-pipeline").submit(Pipeline(ws, [prep, train]))
    run.wait_for_completion(show_output=True)
    out = capsys.readouterr().out
    assert out.index("Step: 01 Data Preparation") < out.index("prepared ") < out.index("Step: 02 Training")
    assert (ws.get_default_datastore().root / "azureml" / run.id / "prepped_data").is_dir()


def test_failing_step_stops_the_later_ones_and_is_named(ws, src, bike):
    prepped, prep, _ = two_steps(ws, src, bike, None)
    checked = PipelineData("checked")
    fail = PythonScriptStep("fail.py", name="02 Validate", source_directory=src, inputs=[prepped],
                            outputs=[checked])
    after = PythonScriptStep("after.py", name="03 Train", source_directory=src, inputs=[checked])
    run = Experiment(ws, "unit-pipeline").submit(Pipeline(ws, [prep, fail, after]))
    with pytest.raises(RunFailedError) as err:
        run.wait_for_completion(timeout_seconds=120)
    message = str(err.value)
    assert "'02 Validate' failed" in message and "no usable rows" in message and "03 Train" in message
    assert run.get_step_statuses() == {"01 Data Preparation": "Completed", "02 Validate": "Failed",
                                       "03 Train": "NotStarted"}
    assert not (ws.get_default_datastore().root / "after_ran.txt").exists()
    assert run.get_status() == "Failed"
    assert json.loads(run.get_tags()["azureml.notStarted"]) == ["03 Train"]
    assert "about to fail" in run.find_step_run("02 Validate")[0].read_text("user_logs/std_log.txt")
    assert run.find_step_run("03 Train") == []


def test_wiring_errors_are_named(ws, src, bike):
    data = PipelineData("d")
    lonely = PythonScriptStep("train.py", name="reads d", source_directory=src, inputs=[data])
    with pytest.raises(PipelineError, match="reads PipelineData 'd', but no step has it in its outputs"):
        Pipeline(ws, [lonely])
    a = PythonScriptStep("prep.py", name="a", source_directory=src, outputs=[data])
    b = PythonScriptStep("prep.py", name="b", source_directory=src, outputs=[PipelineData("d")])
    with pytest.raises(PipelineError, match="output of both 'a' and 'b'"):
        Pipeline(ws, [a, b])
    with pytest.raises(PipelineError, match="unique"):
        Pipeline(ws, [a, PythonScriptStep("train.py", name="a", source_directory=src)])
    with pytest.raises(PipelineError, match="neither inputs nor outputs"):
        PythonScriptStep("train.py", name="c", source_directory=src, arguments=["--in-folder", data])
    x, y = PipelineData("x"), PipelineData("y")
    s1 = PythonScriptStep("prep.py", name="s1", source_directory=src, inputs=[y], outputs=[x])
    s2 = PythonScriptStep("prep.py", name="s2", source_directory=src, inputs=[x], outputs=[y])
    with pytest.raises(PipelineError, match="cycle"):
        Pipeline(ws, [s1, s2])
    with pytest.raises(PipelineError, match="non-empty list"):
        Pipeline(ws, [])
    with pytest.raises(PipelineError, match=r"steps\[0\] is a str"):
        Pipeline(ws, ["prep.py"])
    with pytest.raises(PipelineError, match="PipelineData name"):
        PipelineData("prepped data")
    with pytest.raises(PipelineError, match=r"outputs\[0\] is a str"):
        PythonScriptStep("prep.py", name="e", source_directory=src, outputs=["folder"])


def test_missing_script_is_caught_when_the_step_is_made(src):
    with pytest.raises(ValueError, match="no script 'prepare.py'"):
        PythonScriptStep("prepare.py", name="01", source_directory=src)


def test_a_step_that_cannot_start_fails_the_pipeline_by_name(ws, src, bike, monkeypatch):
    from dp100 import runs
    prepped, prep, train = two_steps(ws, src, bike, None)
    pipeline = Pipeline(ws, [prep, train])
    (src / "extra.csv").write_text("x\n")
    monkeypatch.setattr(runs, "SNAPSHOT_MAX_FILES", 2)   # the snapshot is now over the limit
    run = Experiment(ws, "unit-pipeline").submit(pipeline)
    details = run.wait_for_completion(raise_on_error=False, timeout_seconds=60)
    (src / "extra.csv").unlink()
    assert details["status"] == "Failed"
    assert "'01 Data Preparation' could not start" in details["error"] and "limit" in details["error"]
    assert details["steps"] == {"01 Data Preparation": "Failed", "02 Training": "NotStarted"}
