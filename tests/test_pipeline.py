"""dp100.pipeline: script and ParallelRunStep pipelines, data through a named datastore, runtime
parameters, published pipelines and versioned pipeline endpoints."""

import json
import logging
import textwrap

import pandas as pd
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
    (folder / "after.py").write_text(
        textwrap.dedent("""
        from dp100.runs import Run
        ws = Run.get_context().experiment.workspace
        (ws.get_default_datastore().root / "after_ran.txt").write_text("ran")
    """)
    )
    return folder


@pytest.fixture(scope="module")
def bike(ws):
    return Dataset.Tabular.from_delimited_files([(ws.get_default_datastore(), "bike_sharing/hour.csv")])


def two_steps(ws, src, bike, store):
    prepped = PipelineData("prepped_data", datastore=store)
    prep = PythonScriptStep(
        "prep.py",
        name="01 Data Preparation",
        source_directory=src,
        inputs=[as_named_input(bike, "raw_data")],
        outputs=[prepped],
        arguments=["--out-folder", prepped],
        runconfig=RunConfiguration(),
    )
    train = PythonScriptStep(
        "train.py", name="02 Training", source_directory=src, inputs=[prepped], arguments=["--in-folder", prepped]
    )
    return prepped, prep, train


def test_two_step_pipeline_passes_data_through_a_named_datastore(ws, src, bike):
    store = Datastore.register_azure_file_share(ws, "pipeline_files", "pipelinefiles")
    prepped, prep, train = two_steps(ws, src, bike, store)
    pipeline = Pipeline(ws, [train, prep])  # listed out of order: the data decides
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
    prepped, prep, train = two_steps(ws, src, bike, None)  # no datastore: the default one
    run = Experiment(ws, "unit-pipeline").submit(Pipeline(ws, [prep, train]))
    run.wait_for_completion(show_output=True)
    out = capsys.readouterr().out
    assert out.index("Step: 01 Data Preparation") < out.index("prepared ") < out.index("Step: 02 Training")
    assert (ws.get_default_datastore().root / "azureml" / run.id / "prepped_data").is_dir()


def test_failing_step_stops_the_later_ones_and_is_named(ws, src, bike):
    prepped, prep, _ = two_steps(ws, src, bike, None)
    checked = PipelineData("checked")
    fail = PythonScriptStep("fail.py", name="02 Validate", source_directory=src, inputs=[prepped], outputs=[checked])
    after = PythonScriptStep("after.py", name="03 Train", source_directory=src, inputs=[checked])
    run = Experiment(ws, "unit-pipeline").submit(Pipeline(ws, [prep, fail, after]))
    with pytest.raises(RunFailedError) as err:
        run.wait_for_completion(timeout_seconds=120)
    message = str(err.value)
    assert "'02 Validate' failed" in message and "no usable rows" in message and "03 Train" in message
    assert run.get_step_statuses() == {
        "01 Data Preparation": "Completed",
        "02 Validate": "Failed",
        "03 Train": "NotStarted",
    }
    assert not (ws.get_default_datastore().root / "after_ran.txt").exists()
    assert run.get_status() == "Failed"
    assert json.loads(run.get_tags()["azureml.notStarted"]) == ["03 Train"]
    assert "about to fail" in run.find_step_run("02 Validate")[0].read_text("user_logs/std_log.txt")
    assert run.find_step_run("03 Train") == []
    # the SDK's own way (get_step_statuses is a local extra): steps that never started have no run
    assert {s.name: s.get_status() for s in run.get_steps()} == {
        "01 Data Preparation": "Completed",
        "02 Validate": "Failed",
    }


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
    from dp100 import snapshot

    prepped, prep, train = two_steps(ws, src, bike, None)
    pipeline = Pipeline(ws, [prep, train])
    (src / "extra.csv").write_text("x\n")
    monkeypatch.setattr(snapshot, "SNAPSHOT_MAX_FILES", 2)  # the snapshot is now over the limit
    run = Experiment(ws, "unit-pipeline").submit(pipeline)
    details = run.wait_for_completion(raise_on_error=False, timeout_seconds=60)
    (src / "extra.csv").unlink()
    assert details["status"] == "Failed"
    assert "'01 Data Preparation' could not start" in details["error"] and "limit" in details["error"]
    assert details["steps"] == {"01 Data Preparation": "Failed", "02 Training": "NotStarted"}


# -- ParallelRunStep in a pipeline, runtime parameters, published pipelines and endpoints ----------
BATCH_SCRIPT = """
import os
import pandas as pd

def init():
    global factor
    factor = 2

def run(mini_batch):
    frames = []
    for path in mini_batch:
        data = pd.read_csv(path)
        frames.append(pd.DataFrame({"file": os.path.basename(path), "id": data["id"], "double": data["x"] * factor}))
    return pd.concat(frames, ignore_index=True)
"""


@pytest.fixture()
def batch_job(tmp_path):
    from dp100 import batch

    data = tmp_path / "data"
    data.mkdir()
    for i in range(10):
        pd.DataFrame({"id": [10 * i + j for j in range(3)], "x": [i, i + 1, i + 2]}).to_csv(
            data / f"f{i:02d}.csv", index=False
        )
    script = tmp_path / "entry.py"
    script.write_text(BATCH_SCRIPT)

    def config(**kw):
        args = dict(entry_script=str(script), mini_batch_size=3, error_threshold=0, process_count_per_node=2)
        args.update(kw)
        return batch.ParallelRunConfig(**args)

    bws = Workspace.create("ws-batch-test", path=tmp_path / "ws")
    store = bws.get_default_datastore()
    files = sorted(data.glob("*.csv"))
    store.upload_files(files, relative_root=str(data), target_path="parts", show_progress=False)
    all_parts = Dataset.File.from_files([store.path(f"parts/{f.name}") for f in files])  # run() gets paths
    first_two = Dataset.File.from_files([store.path(f"parts/{f.name}") for f in files[:2]])
    return {
        "ws": bws,
        "config": config,
        "tmp": tmp_path,
        "data": data,
        "all": all_parts.register(bws, "parts"),
        "first_two": first_two.register(bws, "first-two"),
    }


def test_parallel_step_is_a_child_run_streams_its_log_and_takes_a_runtime_dataset(batch_job, capsys):
    from dp100.batch import ParallelRunStep
    from dp100.pipeline import PipelineParameter

    bws = batch_job["ws"]
    param = PipelineParameter("batch_data", default_value=batch_job["all"])
    step = ParallelRunStep("score-parts", batch_job["config"](), inputs=[param])
    pipeline = Pipeline(bws, steps=[step])
    run = pipeline.submit("exp")
    capsys.readouterr()
    assert run.get_status() in ("Running", "Completed")
    assert capsys.readouterr().out == "", "get_status prints nothing"
    details = run.wait_for_completion(show_output=True)
    streamed = capsys.readouterr().out
    assert details["status"] == "Completed" and details["steps"] == {"score-parts": "Completed"}
    assert "Step: score-parts" in streamed and "score-parts: 10 files" in streamed and "finished in" in streamed
    assert run.get_status() == "Completed" and capsys.readouterr().out == ""
    assert run.result.rows == 30 and run.results["score-parts"] is run.result and run.pipeline_version is None
    assert len(run.result.read_output(names=["file", "id", "double"])) == 30
    step_run = run.find_step_run("score-parts")[0]
    assert step_run.parent.id == run.id and step_run.get_metrics()["rows"] == 30
    assert "score-parts: 10 files" in step_run.read_text("user_logs/std_log.txt")
    small = pipeline.submit("exp", pipeline_parameters={"batch_data": batch_job["first_two"]})
    small.wait_for_completion(show_output=False)
    assert small.result.rows == 6
    via_experiment = Experiment(bws, "exp").submit(pipeline, pipeline_parameters={"batch_data": batch_job["first_two"]})
    via_experiment.wait_for_completion()
    assert via_experiment.result.rows == 6
    with pytest.raises(PipelineError, match="unknown pipeline parameter"):
        pipeline.submit("exp", pipeline_parameters={"data": batch_job["first_two"]})


def test_failed_parallel_step_fails_the_pipeline_and_stops_later_steps(batch_job, src):
    from dp100.batch import ParallelRunStep

    (batch_job["data"] / "f03_bad.csv").write_text("name,value\nfoo,bar\n")
    scored = PipelineData("scored")
    step = ParallelRunStep("score", batch_job["config"](), inputs=[batch_job["data"]], output=scored)
    after = PythonScriptStep(
        "train.py", name="after", source_directory=src, inputs=[scored], arguments=["--in-folder", scored]
    )
    run = Pipeline(batch_job["ws"], [after, step]).submit("exp")
    with pytest.raises(RunFailedError, match="error_threshold=0 exceeded"):
        run.wait_for_completion(show_output=False)
    assert run.get_status() == "Failed"
    assert run.get_step_statuses() == {"score": "Failed", "after": "NotStarted"}
    assert run.wait_for_completion(raise_on_error=False)["status"] == "Failed"


def test_parallel_step_output_feeds_a_script_step(batch_job, src):
    from dp100.batch import ParallelRunStep

    lister = batch_job["tmp"] / "lister.py"
    lister.write_text(
        "def init():\n    pass\n\ndef run(mini_batch):\n    return ['id,x'] + ['1,2'] * len(mini_batch)\n"
    )
    reader = src / "read_scores.py"
    reader.write_text(
        textwrap.dedent("""
        import argparse, os
        from dp100.runs import Run
        p = argparse.ArgumentParser()
        p.add_argument("--in-folder", required=True)
        a = p.parse_args()
        Run.get_context().log("lines", len(open(os.path.join(a.in_folder, "parallel_run_step.txt")).read().split()))
    """)
    )
    scored = PipelineData("scored")
    step = ParallelRunStep(
        "score",
        batch_job["config"](entry_script=str(lister), mini_batch_size=10),
        inputs=[batch_job["data"]],
        output=scored,
    )
    read = PythonScriptStep(
        "read_scores.py", name="read", source_directory=src, inputs=[scored], arguments=["--in-folder", scored]
    )
    run = Pipeline(batch_job["ws"], [read, step]).submit("exp")
    assert run.wait_for_completion()["steps"] == {"score": "Completed", "read": "Completed"}
    assert run.find_step_run("read")[0].get_metrics()["lines"] == 11


def test_pipeline_endpoint_versions(batch_job):
    from dp100.batch import ParallelRunStep
    from dp100.pipeline import PipelineEndpoint, PipelineParameter, PublishedPipeline

    bws, config = batch_job["ws"], batch_job["config"]
    param = PipelineParameter("batch_data", default_value=batch_job["all"])
    v1 = Pipeline(bws, [ParallelRunStep("s", config(), inputs=[param])]).publish("p", version="1.0")
    assert isinstance(v1, PublishedPipeline)
    lister = batch_job["tmp"] / "lister.py"
    lister.write_text("def init():\n    pass\n\ndef run(mini_batch):\n    return ['x'] * len(mini_batch)\n")
    v2 = Pipeline(bws, [ParallelRunStep("s", config(entry_script=str(lister)), inputs=[param])]).publish(
        "p", version="2.0"
    )
    endpoint = PipelineEndpoint.publish(bws, "ep", pipeline=v1, description="d")
    assert endpoint.default_version == "1"
    with pytest.raises(PipelineError, match="already exists"):
        PipelineEndpoint.publish(bws, "ep", pipeline=v1)
    assert endpoint.add_default(v2) == "2" and endpoint.default_version == "2"
    assert PipelineEndpoint.get(bws, "ep") is endpoint and endpoint.list_versions() == ["1", "2"]
    default_run = endpoint.submit("exp", pipeline_parameters={"batch_data": batch_job["first_two"]})
    default_run.wait_for_completion(show_output=False)
    assert default_run.pipeline_version == "2" and default_run.result.rows == 2  # lister: one row per file
    old = endpoint.submit("exp", pipeline_parameters={"batch_data": batch_job["first_two"]}, pipeline_version="1")
    old.wait_for_completion(show_output=False)
    assert old.pipeline_version == "1" and old.result.rows == 6
    assert old.get_tags()["azureml.pipelineVersion"] == "1"
    assert endpoint.default_version == "2", "calling a version does not change the default"
    with pytest.raises(PipelineError, match=r"no version '3'.*\['1', '2'\]"):
        endpoint.submit("exp", pipeline_version=3)
    endpoint.set_default_version(1)
    assert endpoint.get_pipeline() is v1
    recorded = json.loads((bws.root / "pipeline_endpoints.json").read_text())["ep"]
    assert recorded["versions"]["2"]["steps"][0]["type"] == "ParallelRunStep"
    with pytest.raises(PipelineError, match="no pipeline endpoint 'nope'"):
        PipelineEndpoint.get(bws, "nope")


def test_pipeline_parameters_only_for_a_pipeline(ws, src):
    from dp100.runs import RunConfigError, ScriptRunConfig

    with pytest.raises(RunConfigError, match="pipeline_parameters is for a Pipeline"):
        Experiment(ws, "unit-pipeline").submit(ScriptRunConfig(src, "train.py"), pipeline_parameters={"a": 1})
