"""dp100.batch: the ParallelRunStep contracts (File: lists of paths; Tabular: DataFrames sized in bytes),
failures and the error threshold (pipelines: test_pipeline.py)."""

import textwrap

import pandas as pd
import pytest

from dp100 import batch

SCRIPT = """
import os
import pandas as pd

def init():
    global factor
    factor = 2
    marker = os.path.join(os.environ["MARKERS"], f"init-{os.getpid()}")
    with open(marker, "a") as fh:
        fh.write("x")

def run(mini_batch):
    with open(os.path.join(os.environ["MARKERS"], "sizes"), "a") as fh:
        fh.write(f"{len(mini_batch)}\\n")
    frames = []
    for path in mini_batch:
        data = pd.read_csv(path)
        frames.append(pd.DataFrame({"file": os.path.basename(path), "id": data["id"], "double": data["x"] * factor}))
    return pd.concat(frames, ignore_index=True)
"""


@pytest.fixture()
def job(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    for i in range(10):
        pd.DataFrame({"id": [10 * i + j for j in range(3)], "x": [i, i + 1, i + 2]}).to_csv(
            data / f"f{i:02d}.csv", index=False
        )
    markers = tmp_path / "markers"
    markers.mkdir()
    script = tmp_path / "entry.py"
    script.write_text(SCRIPT)

    def config(**kw):
        args = dict(
            entry_script=str(script),
            mini_batch_size=3,
            error_threshold=0,
            process_count_per_node=2,
            environment_variables={"MARKERS": str(markers)},
        )
        args.update(kw)
        return batch.ParallelRunConfig(**args)

    return {
        "files": sorted(data.glob("*.csv")),
        "config": config,
        "markers": markers,
        "tmp": tmp_path,
        "script": script,
    }


def write(path, text):
    path.write_text(textwrap.dedent(text))
    return path


# -- configuration ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "kw, match",
    [
        ({"mini_batch_size": 0}, "mini_batch_size"),
        ({"mini_batch_size": "lots"}, "mini_batch_size"),
        ({"mini_batch_size": "1TB"}, "mini_batch_size"),
        ({"mini_batch_size": 2.5}, "mini_batch_size"),
        ({"mini_batch_size": True}, "mini_batch_size"),
        ({"error_threshold": -2}, "error_threshold"),
        ({"error_threshold": True}, "error_threshold"),
        ({"output_action": "append_rows"}, "output_action"),
        ({"process_count_per_node": 0}, "process_count_per_node"),
        ({"node_count": "2"}, "node_count"),
        ({"entry_script": "nowhere.py"}, "entry script not found"),
        ({"append_row_file_name": "a/b.txt"}, "append_row_file_name"),
    ],
)
def test_bad_config_is_named(job, kw, match):
    with pytest.raises(batch.BatchConfigError, match=match):
        job["config"](**kw)


def test_entry_script_needs_init_and_run(job):
    only_run = write(job["tmp"] / "only_run.py", "def run(mini_batch):\n    return []\n")
    with pytest.raises(batch.BatchConfigError, match="missing: init"):
        job["config"](entry_script=str(only_run))
    broken = write(job["tmp"] / "broken.py", "def init(:\n")
    with pytest.raises(batch.BatchConfigError, match="syntax error"):
        job["config"](entry_script=str(broken))


def test_string_mini_batch_size_and_missing_inputs(job):
    assert job["config"](mini_batch_size="4").mini_batch_size == 4
    assert job["config"](mini_batch_size=" 64kb").mini_batch_size == "64KB"
    assert job["config"](mini_batch_size="64KB").bytes_per_batch() == 64 * 1024
    assert job["config"](mini_batch_size=1024).bytes_per_batch() == 1024, "a plain number is bytes for tabular"
    assert job["config"](mini_batch_size=None).files_per_batch() == 10, "Azure's default: 10 files"
    assert job["config"](mini_batch_size=None).bytes_per_batch() == 1024**2, "Azure's default: 1MB"
    with pytest.raises(batch.BatchConfigError, match="data size.*File input"):
        batch.run_parallel(job["config"](mini_batch_size="1MB"), job["files"], job["tmp"] / "out", show_progress=False)
    step = batch.ParallelRunStep("s", job["config"](), inputs=[[job["tmp"] / "missing.csv"]])
    with pytest.raises(batch.BatchConfigError, match="input file.*not found.*missing.csv"):
        step.run(output_dir=job["tmp"] / "out", show_progress=False)
    with pytest.raises(batch.BatchConfigError, match="no input files"):
        batch.run_parallel(job["config"](), [], job["tmp"] / "out", show_progress=False)


# -- the contract -------------------------------------------------------------------------------
def test_append_row_init_once_per_worker(job):
    result = batch.run_parallel(job["config"](), job["files"], job["tmp"] / "out", show_progress=False)
    assert result.status == "Finished" and result.rows == 30 and result.failed_files == {}
    out = result.read_output(names=["file", "id", "double"])
    assert len(out) == 30 and sorted(out["id"]) == sorted(10 * i + j for i in range(10) for j in range(3))
    assert out.sort_values("id")["double"].tolist() == [2 * (i + j) for i in range(10) for j in range(3)]
    assert result.output_file.name == "parallel_run_step.txt"
    inits = list(job["markers"].glob("init-*"))
    assert 1 <= len(inits) <= 2 and all(p.read_text() == "x" for p in inits), "init() once per worker"
    assert result.init_calls == len(inits)
    sizes = sorted(int(s) for s in (job["markers"] / "sizes").read_text().split())
    assert sizes == [1, 3, 3, 3], "10 files in mini-batches of 3"
    assert result.log_file.exists() and "init() done" in result.log_file.read_text()


def test_list_output_and_summary_only(job):
    lister = write(
        job["tmp"] / "lister.py",
        """
        import os
        def init():
            pass
        def run(mini_batch):
            return [f"{os.path.basename(p)}: ok" for p in mini_batch]
    """,
    )
    result = batch.run_parallel(
        job["config"](entry_script=str(lister)), job["files"], job["tmp"] / "o1", show_progress=False
    )
    assert sorted(result.output_file.read_text().split("\n"))[1:] == sorted(f"f{i:02d}.csv: ok" for i in range(10))
    summary = batch.run_parallel(
        job["config"](entry_script=str(lister), output_action="summary_only"),
        job["files"],
        job["tmp"] / "o2",
        show_progress=False,
    )
    assert summary.output_file is None and summary.rows == 10
    assert not (job["tmp"] / "o2" / "parallel_run_step.txt").exists()


# -- failures -----------------------------------------------------------------------------------
def add_bad_files(job):
    (job["tmp"] / "data" / "f03_bad.csv").write_text("name,value\nfoo,bar\n")  # wrong columns
    (job["tmp"] / "data" / "f07_bad.csv").write_bytes(b'\x00\x01 not a csv \xff\n"')  # malformed
    return sorted((job["tmp"] / "data").glob("*.csv"))


def test_bad_files_are_named_and_the_others_still_scored(job):
    files = add_bad_files(job)
    result = batch.run_parallel(job["config"](error_threshold=2), files, job["tmp"] / "out", show_progress=False)
    assert result.status == "Finished"
    assert set(result.failed_files) == {"f03_bad.csv", "f07_bad.csv"}
    assert "KeyError" in result.failed_files["f03_bad.csv"]
    assert result.rows == 30, "every good file is scored, also those in a mini-batch with a bad one"
    log = result.log_file.read_text()
    assert "FAILED f03_bad.csv" in log and "FAILED f07_bad.csv" in log and "2 failed file(s) ignored" in log


def test_past_the_threshold_the_run_fails_and_keeps_its_rows(job):
    files = add_bad_files(job)
    with pytest.raises(batch.BatchRunError, match=r"error_threshold=1 exceeded: 2 file\(s\) failed") as info:
        batch.run_parallel(
            job["config"](error_threshold=1, process_count_per_node=1, mini_batch_size=1),
            files,
            job["tmp"] / "out",
            show_progress=False,
        )
    message = str(info.value)
    assert "f03_bad.csv" in message and "f07_bad.csv" in message and "Kept:" in message
    result = info.value.result
    assert result.status == "Failed" and result.rows > 0
    kept = result.read_output(names=["file", "id", "double"])
    assert len(kept) == result.rows, "rows scored before the failure stay in the output file"
    assert "FAILED after" in result.log_file.read_text()


def test_minus_one_ignores_every_failure(job):
    files = add_bad_files(job)
    result = batch.run_parallel(job["config"](error_threshold=-1), files, job["tmp"] / "out", show_progress=False)
    assert result.status == "Finished" and len(result.failed_files) == 2 and result.rows == 30


def test_init_failure_and_wrong_return_type(job):
    no_model = write(
        job["tmp"] / "no_model.py",
        """
        def init():
            raise FileNotFoundError("model.pkl not found in AZUREML_MODEL_DIR")
        def run(mini_batch):
            return []
    """,
    )
    with pytest.raises(batch.BatchRunError, match=r"init\(\) of no_model.py failed .*model.pkl not found"):
        batch.run_parallel(
            job["config"](entry_script=str(no_model)), job["files"], job["tmp"] / "o1", show_progress=False
        )
    returns_dict = write(
        job["tmp"] / "returns_dict.py",
        """
        def init():
            pass
        def run(mini_batch):
            return {"n": len(mini_batch)}
    """,
    )
    with pytest.raises(batch.BatchRunError, match="must return a pandas DataFrame or a list"):
        batch.run_parallel(
            job["config"](entry_script=str(returns_dict)), job["files"], job["tmp"] / "o2", show_progress=False
        )


# -- the tabular contract: DataFrames sized in bytes, failures counted in records --------------
TABULAR_SCRIPT = """
import os
import pandas as pd

def init():
    global factor
    factor = 2

def run(mini_batch):
    assert isinstance(mini_batch, pd.DataFrame), type(mini_batch)
    with open(os.path.join(os.environ["MARKERS"], "batches"), "a") as fh:
        fh.write(f"{len(mini_batch)}\\n")
    if (mini_batch["x"] < 0).any():
        raise ValueError("negative x")
    return pd.DataFrame({"id": mini_batch["id"], "double": mini_batch["x"] * factor})
"""


@pytest.fixture()
def tabular(job):
    from dp100.workspace import Dataset, Workspace

    ws = Workspace.create("ws-batch", path=job["tmp"] / "ws")
    store = ws.get_default_datastore()
    store.upload_files(job["files"], relative_root=str(job["tmp"] / "data"), target_path="parts", show_progress=False)
    paths = [store.path(f"parts/{f.name}") for f in job["files"]]
    script = write(job["tmp"] / "tabular_entry.py", TABULAR_SCRIPT)
    return {
        "ws": ws,
        "store": store,
        "script": script,
        "rows": Dataset.Tabular.from_delimited_files(paths).register(ws, "parts"),
        "files": Dataset.File.from_files(paths).register(ws, "part-files"),
    }


def test_tabular_dataset_gives_dataframes_sized_by_bytes(job, tabular):
    # every data line of the files is "id,x" of 3-5 bytes + newline: 30 rows, 10 files
    line_bytes = [len(line) for f in job["files"] for line in f.read_bytes().splitlines(keepends=True)[1:]]
    size = 20
    config = job["config"](entry_script=str(tabular["script"]), mini_batch_size=size)
    result = batch.run_parallel(config, tabular["rows"], job["tmp"] / "out", show_progress=False)
    assert result.input_kind == "tabular" and result.status == "Finished"
    assert result.items_total == 30 and result.items_scored == 30 and result.rows == 30
    out = result.read_output(names=["id", "double"]).sort_values("id")
    assert out["double"].tolist() == [2 * (i + j) for i in range(10) for j in range(3)]
    sizes = [int(n) for n in (job["markers"] / "batches").read_text().split()]
    expected, total, count = [], 0, 0  # greedy cut: a row that would pass the size starts a batch
    for b in line_bytes:
        if total and total + b > size:
            expected.append(count)
            total = count = 0
        total += b
        count += 1
    expected.append(count)
    assert sorted(sizes) == sorted(expected) and result.mini_batches == len(expected)
    assert all(n < 10 for n in sizes), "mini-batches cross file boundaries only by size, not per file"
    assert "30 records of 10 file(s)" in result.log[0] and "of up to 20 bytes" in result.log[0]


def test_tabular_default_size_is_one_megabyte_and_the_step_accepts_the_dataset(job, tabular):
    config = job["config"](entry_script=str(tabular["script"]), mini_batch_size=None)
    step = batch.ParallelRunStep("rows", config, inputs=[tabular["rows"].as_named_input("batch_data")])
    result = step.run(output_dir=job["tmp"] / "out", show_progress=False)
    assert result.mini_batches == 1 and result.rows == 30, "30 small rows fit in one 1MB mini-batch"
    assert (job["markers"] / "batches").read_text().split() == ["30"]


def test_file_dataset_gives_paths_counted_in_files(job, tabular):
    result = batch.run_parallel(
        job["config"](mini_batch_size=4), tabular["files"], job["tmp"] / "out", show_progress=False
    )
    assert result.input_kind == "file" and result.files_total == 10 and result.rows == 30
    assert sorted(int(s) for s in (job["markers"] / "sizes").read_text().split()) == [2, 4, 4]
    from dp100.workspace import Dataset, WorkspaceError

    assert type(Dataset.get_by_name(tabular["ws"], "part-files")).__name__ == "FileDataset"
    with pytest.raises(WorkspaceError, match="no to_pandas_dataframe"):
        tabular["files"].to_pandas_dataframe()
    paths_script = job["script"]  # reads files: on a Tabular input it would get a DataFrame, not paths
    with pytest.raises(batch.BatchRunError, match="error_threshold=0 exceeded"):
        batch.run_parallel(
            job["config"](entry_script=str(paths_script), mini_batch_size="1KB"),
            tabular["rows"],
            job["tmp"] / "out2",
            show_progress=False,
        )


def test_tabular_failures_count_records_against_the_threshold(job, tabular):
    bad = job["tmp"] / "data" / "f10.csv"
    pd.DataFrame({"id": [100, 101], "x": [-1, 5]}).to_csv(bad, index=False)  # 2 records, one bad value
    tabular["store"].upload_files(
        [bad], relative_root=str(job["tmp"] / "data"), target_path="parts", show_progress=False
    )
    from dp100.workspace import Dataset

    rows = Dataset.Tabular.from_delimited_files([tabular["store"].path(f"parts/f{i:02d}.csv") for i in range(11)])
    one_batch_per_file = 20  # each file's 3 rows are < 20 bytes; the next file's rows start a new mini-batch
    lenient = job["config"](entry_script=str(tabular["script"]), mini_batch_size=one_batch_per_file, error_threshold=2)
    result = batch.run_parallel(lenient, rows, job["tmp"] / "o1", show_progress=False)
    assert result.status == "Finished" and result.failed_items >= 2 and result.rows == 32 - result.failed_items
    assert list(result.failed_files)[0].startswith("records ") and "negative x" in next(
        iter(result.failed_files.values())
    )
    strict = job["config"](
        entry_script=str(tabular["script"]), mini_batch_size=one_batch_per_file, error_threshold=result.failed_items - 1
    )
    with pytest.raises(batch.BatchRunError, match=r"record\(s\) failed") as info:
        batch.run_parallel(strict, rows, job["tmp"] / "o2", show_progress=False)
    assert info.value.result.failed_items == result.failed_items, "every record of the failed mini-batch counts"


def test_tabular_run_returning_a_list_and_summary_only(job, tabular):
    lister = write(
        job["tmp"] / "rows_lister.py",
        """
        def init():
            pass
        def run(mini_batch):
            return [f"id {i}" for i in mini_batch["id"]]
    """,
    )
    result = batch.run_parallel(
        job["config"](entry_script=str(lister), mini_batch_size="1KB"),
        tabular["rows"],
        job["tmp"] / "o1",
        show_progress=False,
    )
    assert sorted(result.output_file.read_text().split("\n"))[1:] == sorted(
        f"id {10 * i + j}" for i in range(10) for j in range(3)
    )
    summary = batch.run_parallel(
        job["config"](entry_script=str(lister), output_action="summary_only"),
        tabular["rows"],
        job["tmp"] / "o2",
        show_progress=False,
    )
    assert summary.output_file is None and summary.rows == 30
