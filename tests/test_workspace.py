"""dp100.workspace: the local workspace stand-in, including bad input."""

import time

import pandas as pd
import pytest

from dp100.workspace import (
    AmlCompute,
    ComputeTarget,
    CondaDependencies,
    Dataset,
    Datastore,
    Environment,
    Workspace,
    WorkspaceError,
)


@pytest.fixture()
def ws(tmp_path):
    return Workspace.create("ws-test", subscription_id="sub-1", resource_group="rg-1", path=tmp_path / "ws")


def test_create_and_from_config(ws, tmp_path):
    again = Workspace.from_config(tmp_path / "ws")
    assert again.name == "ws-test" and again.root == ws.root
    assert Workspace.from_config(tmp_path / "ws" / "config.json").resource_group == "rg-1"
    explicit = Workspace("sub-1", "rg-1", "ws-test", path=tmp_path / "ws")
    assert explicit.subscription_id == "sub-1"
    written = ws.write_config(tmp_path / "proj" / ".azureml")
    assert Workspace.from_config(tmp_path / "proj").name == "ws-test"  # finds .azureml/config.json
    assert written.name == "config.json"


def test_default_datastore_holds_the_data(ws):
    store = ws.get_default_datastore()
    assert store.name == "workspaceblobstore"
    assert store.resolve("bike_sharing/hour.csv").is_file()
    assert Datastore.get(ws, "workspaceblobstore").root == store.root


@pytest.mark.parametrize(
    "content, message",
    [
        ("{not json", "not valid JSON"),
        ('["a"]', "JSON object"),
        ('{"subscription_id": "s", "resource_group": "r"}', "missing workspace_name"),
    ],
)
def test_malformed_config(tmp_path, content, message):
    (tmp_path / "config.json").write_text(content)
    with pytest.raises(WorkspaceError, match=message):
        Workspace.from_config(tmp_path)


def test_no_config_and_wrong_identity(tmp_path, ws):
    with pytest.raises(WorkspaceError, match="no workspace config found"):
        Workspace.from_config(tmp_path / "nowhere")
    with pytest.raises(WorkspaceError, match="resource_group is 'rg-1', not 'other'"):
        Workspace("sub-1", "other", "ws-test", path=tmp_path / "ws")
    with pytest.raises(WorkspaceError, match="create it first"):
        Workspace("sub-1", "rg-1", "absent", path=tmp_path / "absent")


def test_dataset_versions(ws, tmp_path):
    store = ws.get_default_datastore()
    ds = Dataset.Tabular.from_delimited_files(path=[(store, "bike_sharing/hour.csv")])
    v1 = ds.register(ws, "bike", create_new_version=True)
    assert v1.version == 1
    # same definition without create_new_version returns the existing version
    assert ds.register(ws, "bike").version == 1
    small = tmp_path / "small.csv"
    v1.to_pandas_dataframe().head(100).to_csv(small, index=False)
    store.upload_files([small], target_path="bike_sharing/v2", overwrite=True, show_progress=False)
    ds2 = Dataset.Tabular.from_delimited_files(path=[(store, "bike_sharing/v2/small.csv")])
    with pytest.raises(WorkspaceError, match="create_new_version=True"):
        ds2.register(ws, "bike")
    v2 = ds2.register(ws, "bike", create_new_version=True)
    assert v2.version == 2
    assert len(Dataset.get_by_name(ws, "bike", version=1).to_pandas_dataframe()) == 17379
    assert len(Dataset.get_by_name(ws, "bike").to_pandas_dataframe()) == 100
    with pytest.raises(WorkspaceError, match="has no version 7"):
        Dataset.get_by_name(ws, "bike", version=7)
    with pytest.raises(WorkspaceError, match="no dataset 'nope'"):
        Dataset.get_by_name(ws, "nope")


def test_register_pandas_dataframe(ws):
    df = pd.DataFrame({"a": [1, 2], "b": [3, 4]})
    ds = Dataset.Tabular.register_pandas_dataframe(df, (ws.get_default_datastore(), "frames"), "tiny")
    assert ds.version == 1 and ds.to_pandas_dataframe().equals(df)
    assert Dataset.Tabular.register_pandas_dataframe(df, ws.get_default_datastore(), "tiny").version == 2


@pytest.mark.parametrize("bad", ["../outside.csv", "/etc/passwd", "a/../../b.csv"])
def test_path_outside_datastore(ws, bad):
    with pytest.raises(WorkspaceError, match="outside datastore"):
        Dataset.Tabular.from_delimited_files(path=[(ws.get_default_datastore(), bad)])


def test_missing_file_and_bad_path_shape(ws):
    with pytest.raises(WorkspaceError, match="not found"):
        Dataset.Tabular.from_delimited_files(path=[(ws.get_default_datastore(), "nope.csv")])
    with pytest.raises(WorkspaceError, match="expected a \\(datastore"):
        Dataset.Tabular.from_delimited_files(path="bike_sharing/hour.csv")


def test_register_datastores_and_upload(ws, tmp_path):
    store = Datastore.register_azure_blob_container(
        ws, "blob_azureml_sdk_01", container_name="c", account_name="acct", account_key="secret"
    )
    assert "secret" not in (ws.root / "datastores.json").read_text()
    assert Datastore.get(ws, "blob_azureml_sdk_01").container == "c"
    share = Datastore.register_azure_file_share(ws, "pipeline_share", file_share_name="share")
    assert share.datastore_type == "AzureFile"
    src = tmp_path / "up"
    (src / "sub").mkdir(parents=True)
    (src / "a.csv").write_text("x\n1\n")
    (src / "sub" / "b.csv").write_text("x\n2\n")
    assert store.upload(src, target_path="t", show_progress=False) == ["t/a.csv", "t/sub/b.csv"]
    with pytest.raises(WorkspaceError, match="already exists"):
        store.upload(src, target_path="t", show_progress=False)
    with pytest.raises(WorkspaceError, match="no datastore 'nope'"):
        Datastore.get(ws, "nope")
    with pytest.raises(WorkspaceError, match="no such file"):
        store.upload_files([tmp_path / "missing.csv"])


def test_environment_versions(ws):
    env = Environment("MyEnvironment")
    env.python.conda_dependencies = CondaDependencies.create(conda_packages=["scikit-learn"])
    assert env.register(ws).version == 1
    assert env.register(ws).version == 1  # unchanged definition, same version
    env.python.conda_dependencies.add_pip_package("mlflow")
    assert env.register(ws).version == 2
    back = Environment.get(ws, "MyEnvironment")
    assert back.python.conda_dependencies.conda_packages == ["scikit-learn"]
    assert back.python.conda_dependencies.pip_packages == ["mlflow"]
    assert Environment.get(ws, "MyEnvironment", version=1).python.conda_dependencies.pip_packages == []
    with pytest.raises(WorkspaceError, match="no environment"):
        Environment.get(ws, "Nope")
    with pytest.raises(WorkspaceError, match="one package spec"):
        CondaDependencies.create(conda_packages=["scikit-learn numpy"])


def _busy(seconds):
    start = time.time()
    time.sleep(seconds)
    return start, time.time()


def test_compute_pool_caps_concurrency(ws):
    config = AmlCompute.provisioning_configuration(vm_size="STANDARD_D11_V2", max_nodes=2)
    with ComputeTarget.create(ws, "my-cluster-001", config) as cluster:
        cluster.wait_for_completion()
        spans = cluster.map(_busy, [0.3] * 5)
    peak = max(sum(s <= t < e for s, e in spans) for t, _ in spans)
    assert peak == 2
    assert ComputeTarget(ws, "my-cluster-001").max_nodes == 2


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"vm_size": "HUGE"}, "vm_size"),
        ({"max_nodes": 0}, "max_nodes"),
        ({"max_nodes": 2, "min_nodes": 3}, "min_nodes"),
    ],
)
def test_bad_compute_config(kwargs, message):
    with pytest.raises(WorkspaceError, match=message):
        AmlCompute.provisioning_configuration(**kwargs)


def test_unknown_compute(ws):
    with pytest.raises(WorkspaceError, match="no compute target"):
        ComputeTarget(ws, "ghost")


def test_registry_file_corruption_is_named(ws):
    (ws.root / "datasets.json").write_text("{broken")
    with pytest.raises(WorkspaceError, match="datasets.json is not valid JSON"):
        Dataset.get_by_name(ws, "bike")


def test_compute_create_takes_the_sdk_v1_call_shapes(ws):
    config = AmlCompute.provisioning_configuration(
        vm_size="STANDARD_DS11_V2",
        min_nodes=0,
        max_nodes=3,
        idle_seconds_before_scaledown=600,
        vm_priority="lowpriority",
    )  # other SDK args accepted
    by_keyword = ComputeTarget.create(workspace=ws, name="kw-cluster", provisioning_configuration=config)
    positional = ComputeTarget.create(ws, "pos-cluster", config)
    assert by_keyword.provisioning_state == "Creating"
    by_keyword.wait_for_completion(show_output=False, min_node_count=None, timeout_in_minutes=20)
    assert by_keyword.provisioning_state == "Succeeded"
    assert ws.compute_targets["kw-cluster"].config == ws.compute_targets["pos-cluster"].config == config
    assert positional.max_nodes == 3 and positional.vm_size == "STANDARD_DS11_V2"
    # the notes' keyword does not exist in the SDK either
    with pytest.raises(TypeError, match="compute_config"):
        ComputeTarget.create(workspace=ws, name="x", compute_config=config)
    with pytest.raises(WorkspaceError, match="provisioning_configuration must come from"):
        ComputeTarget.create(ws, "y", {"vm_size": "STANDARD_DS11_V2", "max_nodes": 2})


def test_get_or_create_pattern_with_compute_target_exception(ws):
    from dp100.workspace import ComputeTargetException

    def get_or_create(name):
        try:
            return ComputeTarget(workspace=ws, name=name), "found"
        except ComputeTargetException:
            config = AmlCompute.provisioning_configuration(vm_size="STANDARD_D11_V2", max_nodes=2)
            return ComputeTarget.create(ws, name, config), "created"

    assert get_or_create("cpu-cluster")[1] == "created"
    assert get_or_create("cpu-cluster")[1] == "found"
    assert issubclass(ComputeTargetException, WorkspaceError)


def test_from_config_records_the_config_file(ws, tmp_path):
    config_file = ws.write_config(tmp_path / "project" / ".azureml")
    opened = Workspace.from_config(config_file)
    assert opened._config_file == config_file.resolve() and opened.root == ws.root
    by_folder = Workspace.from_config(tmp_path / "project")  # searches .azureml/ too
    assert by_folder._config_file == config_file.resolve()
    explicit = Workspace(ws.subscription_id, ws.resource_group, ws.name, path=ws.root)
    assert explicit._config_file is None


def test_upload_keeps_the_folder_structure(ws, tmp_path):
    src = tmp_path / "batch"
    (src / "2012").mkdir(parents=True)
    (src / "a.csv").write_text("x\n1\n")
    (src / "2012" / "b.csv").write_text("x\n2\n")
    store = ws.get_default_datastore()
    copied = store.upload(src_dir=src, target_path="incoming", overwrite=True, show_progress=False)
    assert sorted(copied) == ["incoming/2012/b.csv", "incoming/a.csv"]
    with pytest.raises(WorkspaceError, match="already exists"):
        store.upload(src_dir=src, target_path="incoming", show_progress=False)
    with pytest.raises(WorkspaceError, match="not a folder"):
        store.upload(src_dir=src / "a.csv", target_path="incoming", show_progress=False)
