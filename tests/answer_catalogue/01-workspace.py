"""Plausible wrong answers, and differently written right answers, for 01-workspace.

Each entry is the FULL new source of the answer cell `<test id>_answer`, as a learner would write
it. tests/test_answer_catalogue.py grades them (every wrong entry loses exactly its cell's points).
"""

_OPEN = "ws_from_config = {a}\nws_explicit = {b}\n"
_ENV = (
    'myenv = Environment(name="MyEnvironment")\n'
    "myenv.python.conda_dependencies = CondaDependencies.create({deps})\n"
    "{register}"
)
_CREATE = 'train_config = AmlCompute.provisioning_configuration(vm_size="STANDARD_DS11_V2", {nodes})\n{create}\n{wait}'
_POOL = (
    "spans = cluster.map(timed_job, [0.25] * 6)\n\n\n"
    "def peak_concurrency(spans):\n    return {body}\n\n\npeak = peak_concurrency(spans)\n"
)
_STORE = (
    'Datastore.register_azure_blob_container(workspace=ws, datastore_name="blob_azureml_sdk_01",\n'
    "                                        container_name={container}, account_name={account},\n"
    '                                        account_key="not-a-real-key")\n'
    'az_store = Datastore.get(ws, "blob_azureml_sdk_01")\n'
    "{upload}\n"
)
_VERSIONS = (
    'v1 = Dataset.Tabular.from_delimited_files(path=[(default_store, "bike_sharing/hour.csv")])\n'
    'v1.register(workspace=ws, name="bike_sharing_data", create_new_version=True)\n'
    'local_2012 = WS_DIR / "local" / "hour_2012.csv"\n'
    "full = v1.to_pandas_dataframe()\n"
    'full[full["yr"] == {yr}].to_csv(local_2012, index=False)\n'
    'default_store.upload_files(files=[local_2012], target_path="bike_sharing/2012", overwrite=True)\n'
    'v2 = Dataset.Tabular.from_delimited_files(path=[(default_store, "{v2_path}")])\n'
    'v2.register(workspace=ws, name="bike_sharing_data"{new_version})\n'
    'df_v1 = Dataset.get_by_name(ws, "bike_sharing_data", version=1).to_pandas_dataframe()\n'
    'df_v2 = Dataset.get_by_name(ws, "bike_sharing_data", version=2).to_pandas_dataframe()\n'
)
_FIRST_RUN = (
    'with mlflow.start_run(run_name="register-datasets") as run:\n'
    '    mlflow.log_param("dataset_name", "bike_sharing_data")\n'
    '    mlflow.log_metric("rows_2012", {rows})\n'
    "run_id = run.info.run_id\n"
)

# test cell grade id -> [(why it is wrong, the FULL new source of its answer cell <id>_answer), ...]
WRONG = {
    "nb01_open_workspace": [
        (
            "from_config twice: the explicit constructor is never used",
            _OPEN.format(a="Workspace.from_config(config_file)", b="Workspace.from_config(config_file)"),
        ),
        (
            "from_config pointed at the workspace folder, not at config_file",
            _OPEN.format(
                a="Workspace.from_config(WS_DIR)",
                b="Workspace(ws.subscription_id, ws.resource_group, ws.name, path=WS_DIR)",
            ),
        ),
        (
            "reuses ws instead of opening the workspace again",
            _OPEN.format(a="Workspace.from_config(config_file)", b="ws"),
        ),
    ],
    "nb01_environment": [
        (
            "mlflow added as a conda package, not a pip package",
            _ENV.format(deps='conda_packages=["scikit-learn", "mlflow"]', register="myenv.register(ws)\n"),
        ),
        (
            "never registered in the workspace",
            _ENV.format(deps='conda_packages=["scikit-learn"], pip_packages=["mlflow"]', register=""),
        ),
        (
            "registered before the dependencies were set",
            'myenv = Environment(name="MyEnvironment")\nmyenv.register(ws)\n'
            'myenv.python.conda_dependencies = CondaDependencies.create(conda_packages=["scikit-learn"],\n'
            '                                                           pip_packages=["mlflow"])\n',
        ),
    ],
    "nb01_compute_create": [
        (
            "the notes' compute_config= keyword: TypeError, no cluster",
            _CREATE.format(
                nodes="min_nodes=0, max_nodes=4, idle_seconds_before_scaledown=600",
                create='train_cluster = ComputeTarget.create(workspace=ws, name="train-cluster", compute_config=train_config)',
                wait="train_cluster.wait_for_completion(show_output=True)\n",
            ),
        ),
        (
            "min_nodes=1: the cluster never scales to zero",
            _CREATE.format(
                nodes="min_nodes=1, max_nodes=4, idle_seconds_before_scaledown=600",
                create='train_cluster = ComputeTarget.create(ws, "train-cluster", train_config)',
                wait="train_cluster.wait_for_completion(show_output=True)\n",
            ),
        ),
        (
            "does not wait for provisioning to finish",
            _CREATE.format(
                nodes="min_nodes=0, max_nodes=4, idle_seconds_before_scaledown=600",
                create='train_cluster = ComputeTarget.create(ws, "train-cluster", train_config)',
                wait="",
            ),
        ),
        (
            "idle time left at the default (1800 s)",
            _CREATE.format(
                nodes="min_nodes=0, max_nodes=4",
                create='train_cluster = ComputeTarget.create(ws, "train-cluster", train_config)',
                wait="train_cluster.wait_for_completion(show_output=True)\n",
            ),
        ),
    ],
    "nb01_compute_pool": [
        ("hard-coded peak: the constant the visible check allows", _POOL.format(body="2")),
        (
            "counts the distinct nodes instead of the jobs running at once",
            _POOL.format(body="len({pid for pid, _, _ in spans})"),
        ),
        (
            "off by one at the end: a job that has ended still counts (start <= t <= end)",
            _POOL.format(body="max(sum(s <= t <= e for _, s, e in spans) for _, t, _ in spans)"),
        ),
    ],
    "nb01_q_compute_wait": [
        ("runs a test job (wrong option)", 'q_compute_wait = "a"\n'),
        ("waits for queued runs (wrong option)", 'q_compute_wait = "d"\n'),
    ],
    "nb01_datastore": [
        (
            "container and account swapped",
            _STORE.format(
                container='"dp100storage"',
                account='"bike-data"',
                upload='az_store.upload_files(files=[extra_file], target_path="uploads", overwrite=True)',
            ),
        ),
        (
            "uploaded into the datastore's root, not the folder 'uploads'",
            _STORE.format(
                container='"bike-data"',
                account='"dp100storage"',
                upload="az_store.upload_files(files=[extra_file], overwrite=True)",
            ),
        ),
        (
            "uploaded into the default datastore instead of the new one",
            _STORE.format(
                container='"bike-data"',
                account='"dp100storage"',
                upload='ws.get_default_datastore().upload_files(files=[extra_file], target_path="uploads", overwrite=True)',
            ),
        ),
    ],
    "nb01_datastore_upload": [
        (
            "upload_files of every file without relative_root: the sub-folders are flattened",
            'default_store.upload_files(files=sorted(p for p in batch_dir.rglob("*") if p.is_file()),\n'
            '                           target_path="bike_sharing/by_year", overwrite=True)\n',
        ),
        (
            "src_dir is the parent folder: one level too many",
            'default_store.upload(src_dir=batch_dir.parent, target_path="bike_sharing/by_year", overwrite=True)\n',
        ),
        (
            "only the 2012 folder uploaded",
            'default_store.upload(src_dir=batch_dir / "2012", target_path="bike_sharing/by_year/2012", overwrite=True)\n',
        ),
    ],
    "nb01_dataset_versions": [
        (
            "version 2 holds the 2011 rows (yr == 0)",
            _VERSIONS.format(yr=0, v2_path="bike_sharing/2012/hour_2012.csv", new_version=", create_new_version=True"),
        ),
        (
            "version 2 registered from the whole file again, not the uploaded one",
            _VERSIONS.format(yr=1, v2_path="bike_sharing/hour.csv", new_version=", create_new_version=True"),
        ),
        (
            "version 2 registered without create_new_version: WorkspaceError",
            _VERSIONS.format(yr=1, v2_path="bike_sharing/2012/hour_2012.csv", new_version=""),
        ),
    ],
    "nb01_pandas_dataset": [
        (
            "hourly rows, not daily totals",
            'daily = load_bike_sharing()[["dteday", "cnt"]]\n'
            'daily_ds = Dataset.Tabular.register_pandas_dataframe(daily, (default_store, "derived"), "bike_daily")\n',
        ),
        (
            "the daily mean instead of the total",
            'daily = load_bike_sharing().groupby("dteday", as_index=False)["cnt"].mean()\n'
            'daily_ds = Dataset.Tabular.register_pandas_dataframe(daily, (default_store, "derived"), "bike_daily")\n',
        ),
        (
            "registered in the datastore's root, not the folder 'derived'",
            'daily = load_bike_sharing().groupby("dteday", as_index=False)["cnt"].sum()\n'
            'daily_ds = Dataset.Tabular.register_pandas_dataframe(daily, default_store, "bike_daily")\n',
        ),
    ],
    "nb01_tracking_uri": [
        (
            "no set_tracking_uri: the run lands in MLflow's default store, not the workspace's",
            'experiment = mlflow.set_experiment("01-tracking")\n'
            'with mlflow.start_run(run_name="uri-check"):\n'
            '    mlflow.log_param("workspace", ws.name)\n',
        ),
        (
            "the helper the exercise forbids (ws.use_mlflow)",
            'ws.use_mlflow("01-tracking")\n'
            'experiment = mlflow.get_experiment_by_name("01-tracking")\n'
            'with mlflow.start_run(run_name="uri-check"):\n'
            '    mlflow.log_param("workspace", ws.name)\n',
        ),
        (
            "create_experiment without set_experiment: the run lands in Default",
            "mlflow.set_tracking_uri(ws.get_mlflow_tracking_uri())\n"
            'experiment = mlflow.create_experiment("01-tracking")\n'
            'with mlflow.start_run(run_name="uri-check"):\n'
            '    mlflow.log_param("workspace", ws.name)\n',
        ),
        (
            "the run is not named",
            "mlflow.set_tracking_uri(ws.get_mlflow_tracking_uri())\n"
            'experiment = mlflow.set_experiment("01-tracking")\n'
            "with mlflow.start_run():\n"
            '    mlflow.log_param("workspace", ws.name)\n',
        ),
    ],
    "nb01_first_run": [
        ("counts the 2011 rows (yr == 0)", _FIRST_RUN.format(rows='int((load_bike_sharing()["yr"] == 0).sum())')),
        ("counts every row", _FIRST_RUN.format(rows="len(load_bike_sharing())")),
        (
            "the run is started but never ended",
            'run = mlflow.start_run(run_name="register-datasets")\n'
            'mlflow.log_param("dataset_name", "bike_sharing_data")\n'
            'mlflow.log_metric("rows_2012", int((load_bike_sharing()["yr"] == 1).sum()))\n'
            "run_id = run.info.run_id\n",
        ),
    ],
    "nb01_q_sync_keys": [
        ("renews the storage keys again (wrong option)", 'q_sync_keys = "b"\n'),
        ("believes the keys are read on every access (wrong option)", 'q_sync_keys = "d"\n'),
    ],
    "nb01_q_editions": [
        ("basic in the notes' terms", 'q_edition_exam = "basic"\nq_edition_today = "b"\n'),
        ("today's answer taken from the notes", 'q_edition_exam = "enterprise"\nq_edition_today = "a"\n'),
    ],
    "nb01_q_labeling_order": [
        ("the right order, but as a string (wrong type)", 'q_labeling_order = "CEFADB"\n'),
        ("data before the task type", 'q_labeling_order = ["E", "C", "F", "A", "D", "B"]\n'),
        ("ML assist first", 'q_labeling_order = ["B", "C", "E", "F", "A", "D"]\n'),
    ],
    "nb01_q_show_output": [
        ("the notes' claim (wrong option)", 'q_show_output = "a"\n'),
        ("only the final status (wrong option)", 'q_show_output = "d"\n'),
    ],
}

# test cell grade id -> [(how it differs, the FULL source of its answer cell), ...]
RIGHT = {
    "nb01_open_workspace": [
        (
            "keyword arguments and literal values",
            "ws_from_config = Workspace.from_config(path=config_file)\n"
            'ws_explicit = Workspace(subscription_id="11111111-2222-3333-4444-555555555555",\n'
            '                        resource_group="rg-dp100", workspace_name="ws-dp100-01", path=WS_DIR)\n',
        ),
    ],
    "nb01_compute_create": [
        (
            "the get-or-create pattern with ComputeTargetException, keywords, a lower-case VM size",
            "from dp100.workspace import ComputeTargetException\n\n"
            "try:\n"
            '    train_cluster = ComputeTarget(workspace=ws, name="train-cluster")\n'
            "except ComputeTargetException:\n"
            '    config = AmlCompute.provisioning_configuration(vm_size="Standard_DS11_v2", max_nodes=4,\n'
            "                                                   idle_seconds_before_scaledown=600)\n"
            '    train_cluster = ComputeTarget.create(workspace=ws, name="train-cluster",\n'
            "                                         provisioning_configuration=config)\n"
            "train_cluster.wait_for_completion(show_output=True)\n",
        ),
    ],
    "nb01_compute_pool": [
        (
            "submit + result, and a sweep over start/end events",
            "futures = [cluster.submit(timed_job, 0.25) for _ in range(6)]\n"
            "spans = [f.result() for f in futures]\n\n\n"
            "def peak_concurrency(spans):\n"
            "    # at equal times an end (-1) sorts before a start (+1): intervals are half-open\n"
            "    events = sorted([(s, 1) for _, s, _ in spans] + [(e, -1) for _, _, e in spans])\n"
            "    running = best = 0\n"
            "    for _, step in events:\n"
            "        running += step\n"
            "        best = max(best, running)\n"
            "    return best\n\n\n"
            "peak = peak_concurrency(spans)\n",
        ),
    ],
    "nb01_datastore_upload": [
        ("positional arguments", 'default_store.upload(str(batch_dir), "bike_sharing/by_year", True)\n'),
    ],
    "nb01_tracking_uri": [
        (
            "explicit start_run/end_run and log_params",
            "uri = ws.get_mlflow_tracking_uri()\n"
            "mlflow.set_tracking_uri(uri)\n"
            'experiment = mlflow.set_experiment(experiment_name="01-tracking")\n'
            'mlflow.start_run(run_name="uri-check")\n'
            'mlflow.log_params({"workspace": ws.name})\n'
            "mlflow.end_run()\n",
        ),
    ],
}

# Exercises whose copies each start from a snapshot of the notebook's folder and MLflow state taken
# before the exercise's answer (tests/nbgrader_class.py): their checks read what answers leave on disk
# or in MLflow. Found by the control copies (the solution, run again after the wrong copies, lost its
# points) and by a right answer that gets the cluster a wrong copy had registered.
FROM_SNAPSHOT = {
    "nb01_compute_create": "a get-or-create right answer would get the cluster an earlier copy registered",
    "nb01_datastore": "checks the files under the registered datastore: an earlier copy's upload stays there",
    "nb01_datastore_upload": "checks exactly which files are under bike_sharing/by_year: earlier uploads stay",
    "nb01_dataset_versions": "checks the latest registered version is 2: each copy registers one more",
    "nb01_tracking_uri": "checks the runs of the '01-tracking' experiment: earlier copies' runs stay",
    "nb01_first_run": "a copy that left its MLflow run open changes the next one's run (MLflow's active run)",
}
