"""Plausible wrong answers, and differently written right answers, for 02-experiments.

Each entry is the full new source of the answer cell `<test id>_answer`, written as a learner
would write it. tests/test_answer_catalogue.py grades them: a wrong entry must score 0 on its own
test cell and leave every other cell at full marks; the right entries must keep full marks.
"""

# ------------------------------------------------------------------------------------ pieces
_RIDGE_RUN = """ridge_run = Experiment(ws, "bike-ridge-alphas").start_logging(snapshot_directory=None)
for alpha in RIDGE_ALPHAS:
    ridge = Ridge(alpha=alpha).fit(X_train, y_train)
    ridge_run.log("alpha", alpha)
    ridge_run.log("val_rmse", float(np.sqrt(np.mean((ridge.predict({X}) - {y}) ** 2))))
"""

_EPOCHS = """ws.use_mlflow("bike-sgd")
with mlflow.start_run() as sgd_run:
    model = SGDRegressor(learning_rate="constant", eta0=1e-5, random_state=0)
    for epoch in range(20):
        model.partial_fit(X_train, y_train)
        rmse = float(np.sqrt(np.mean((model.predict({X}) - {y}) ** 2)))
        mlflow.log_metric("val_rmse", rmse, step={step})
history = mlflow.MlflowClient().get_metric_history(sgd_run.info.run_id, "val_rmse")
curve = [m.value for m in sorted(history, key=lambda m: m.step)]
first_below_150 = next(step{plus} for step, value in enumerate(curve) if value < 150)
"""

_SCRIPT_RUN = """config = ScriptRunConfig(source_directory=SRC, script="train_bike.py"{env},
                         arguments=["--alpha", {alpha}, "--input-data", bike_ds.as_named_input("raw_data")])
script_run = Experiment(ws, "bike-script").submit(config)
script_run.wait_for_completion()
script_rmse = {rmse}.get_metrics()["rmse"]
"""

# A season_stats.py as a learner would write it; {data}, {csv} and {season} vary in the wrong ones.
_SEASON_SCRIPT = '''(MY_SRC / "season_stats.py").write_text("""\\
import argparse
from dp100.runs import Run
from dp100.workspace import Dataset

parser = argparse.ArgumentParser()
parser.add_argument("--season", type=int)
parser.add_argument("--input-data")
args = parser.parse_args()

run = Run.get_context()
ws = run.experiment.workspace
df = {data}
hours = df[df["season"] == args.season]
run.log("hours", len(hours))
run.log("mean_cnt", float(hours["cnt"].mean()))
per_hour = {csv}.groupby("hr")["cnt"].mean().reset_index()
per_hour.columns = ["hr", "mean_cnt"]
per_hour.to_csv(f"season_{{args.season}}.csv", index=False)
ws.get_default_datastore().upload_files([f"season_{{args.season}}.csv"], target_path="season_stats",
                                        overwrite=True, show_progress=False)
""")
season_run = Experiment(ws, "bike-script").submit(ScriptRunConfig(
    MY_SRC, "season_stats.py", arguments=["--season", {season}, "--input-data", bike_ds.as_named_input("raw_data")]))
season_run.wait_for_completion(raise_on_error=False)
'''
_FROM_INPUT = 'run.input_datasets["raw_data"].to_pandas_dataframe()'


def _season(data=_FROM_INPUT, csv="hours", season=3):
    return _SEASON_SCRIPT.format(data=data, csv=csv, season=season)


_PIPELINE = """pipeline_store = Datastore.{register}
prepped_data = PipelineData("prepped_data"{store})
run_config = RunConfiguration()
run_config.environment = sklearn_env
{target}prep_step = PythonScriptStep(name="01 Data Preparation", source_directory=PIPE_SRC,
                             script_name="prep_step.py", inputs=[bike_ds.as_named_input("raw_data")],
                             outputs=[prepped_data], runconfig=run_config,
                             arguments=["--out-folder", prepped_data])
train_step = PythonScriptStep(name="02 Training", source_directory=PIPE_SRC,
                              script_name="train_step.py", inputs=[prepped_data],
                              runconfig=run_config, arguments=["--in-folder", prepped_data])
pipeline_run = Experiment(ws, "PipelineExp01").submit(Pipeline(workspace=ws, steps=[prep_step, train_step]))
pipeline_run.wait_for_completion()
prepared_rows = int(pipeline_run.find_step_run("{step}")[0].get_metrics()["{metric}"])
"""
_FILE_SHARE = (
    'register_azure_file_share(workspace=ws, datastore_name="pipeline_files", file_share_name="pipelinefiles")'
)
_TARGET = "run_config.target = compute_cluster\n"


def _pipeline(
    register=_FILE_SHARE, store=", datastore=pipeline_store", target=_TARGET, step="02 Training", metric="prepared_rows"
):
    return _PIPELINE.format(register=register, store=store, target=target, step=step, metric=metric)


_LASSO = """for alpha in ALPHAS:
    lasso = Lasso(alpha=alpha, max_iter=10000).fit(X_train, y_train)
    if (lasso.coef_ == 0).sum() {op} K:
        alpha_k = {value}
        kept_at_alpha_k = {{f for f, c in zip(FEATURES, lasso.coef_) if c {keep} 0}}
        break
"""

_RIDGE = """ols = LinearRegression().fit(X_train, y_train)
ridge = Ridge({alpha}).fit(X_train, y_train)
ratios = pd.Series({ratio}, index=FEATURES)
grew = set(ratios[ratios {op} 1].index)
"""

# ------------------------------------------------------------------------------------ WRONG
WRONG = {
    "nb02_interactive_run": [
        ("never calls run.complete(): the run stays Running", _RIDGE_RUN.format(X="X_val", y="y_val")),
        (
            "logs the training RMSE instead of the validation RMSE",
            _RIDGE_RUN.format(X="X_train", y="y_train") + "ridge_run.complete()\n",
        ),
        (
            "MLflow's start_run instead of the SDK v1 start_logging the exercise asks for",
            """ws.use_mlflow("bike-ridge-alphas")
with mlflow.start_run() as ridge_run:
    for step, alpha in enumerate(RIDGE_ALPHAS):
        ridge = Ridge(alpha=alpha).fit(X_train, y_train)
        mlflow.log_metric("alpha", alpha, step=step)
        mlflow.log_metric("val_rmse", float(np.sqrt(np.mean((ridge.predict(X_val) - y_val) ** 2))), step=step)
""",
        ),
    ],
    "nb02_epoch_curve": [
        (
            "logs the training RMSE (X_train) instead of the validation RMSE",
            _EPOCHS.format(X="X_train", y="y_train", step="epoch", plus=""),
        ),
        (
            "first_below_150 counted from 1 (the epoch number, not the 0-based step)",
            _EPOCHS.format(X="X_val", y="y_val", step="epoch", plus=" + 1"),
        ),
        (
            "off by one: steps 1 to 20 instead of 0 to 19",
            _EPOCHS.format(X="X_val", y="y_val", step="epoch + 1", plus=""),
        ),
    ],
    "nb02_script_run": [
        ("--alpha 10 instead of 100", _SCRIPT_RUN.format(env=", environment=sklearn_env", alpha=10, rmse="script_run")),
        ("no environment: the run does not use sklearn_env", _SCRIPT_RUN.format(env="", alpha=100, rmse="script_run")),
        (
            "script_rmse read from the demo run (alpha=1), not from the new run",
            _SCRIPT_RUN.format(env=", environment=sklearn_env", alpha=100, rmse="demo_run"),
        ),
    ],
    "nb02_failed_run": [
        (
            "lets the failure raise: wait_for_completion() without raise_on_error=False or a try",
            """broken_run = Experiment(ws, "bike-script").submit(
    ScriptRunConfig(SRC, "broken_train.py", arguments=["--input-data", bike_ds.as_named_input("raw_data")]))
broken_run.wait_for_completion()
broken_status = broken_run.get_status()
broken_log = broken_run.get_details_with_logs()["logFiles"]["user_logs/std_log.txt"]
""",
        ),
        (
            "broken_log is the run's error message (get_details), not its log",
            """broken_run = Experiment(ws, "bike-script").submit(
    ScriptRunConfig(SRC, "broken_train.py", arguments=["--input-data", bike_ds.as_named_input("raw_data")]))
details = broken_run.wait_for_completion(raise_on_error=False)
broken_status = details["status"]
broken_log = details["error"]
""",
        ),
        (
            "the dataset is not given as the named input 'raw_data'",
            """broken_run = Experiment(ws, "bike-script").submit(ScriptRunConfig(SRC, "broken_train.py"))
broken_run.wait_for_completion(raise_on_error=False)
broken_status = broken_run.get_status()
broken_log = broken_run.get_details_with_logs()["logFiles"]["user_logs/std_log.txt"]
""",
        ),
    ],
    "nb02_own_script": [
        (
            "the script gets the data by name from the workspace, not from the run's named input",
            _season(data='Dataset.get_by_name(ws, "bike_sharing_data").to_pandas_dataframe()'),
        ),
        ("submitted with --season 2 (spring) instead of 3", _season(season=2)),
        ("the CSV's means are over all hours, not the chosen season's", _season(csv="df")),
    ],
    "nb02_q_script_params": [
        ("the packages option", 'q_script_params = "a"\n'),
        ("the compute option", 'q_script_params = "d"\n'),
    ],
    "nb02_q_outputs": [
        ("./logs forgotten among the places that persist", 'q_outputs_kept = {"b", "c"}\nq_outputs_live = "d"\n'),
        ("the right letters, as a list instead of a set", 'q_outputs_kept = ["b", "c", "d"]\nq_outputs_live = "d"\n'),
        ("./outputs as the folder uploaded live", 'q_outputs_kept = {"b", "c", "d"}\nq_outputs_live = "c"\n'),
    ],
    "nb02_q_submit": [
        ("submit waits for the end", 'q_submit = "a"\n'),
        ("the right letter in upper case", 'q_submit = "B"\n'),
    ],
    "nb02_q_default_datastore": [
        ("registering a blob container named 'default'", 'q_default_datastore = {"a", "c"}\n'),
        ("the right letters, as a list", 'q_default_datastore = ["a", "b"]\n'),
    ],
    "nb02_pipeline": [
        ("PipelineData left in the default datastore (no datastore=)", _pipeline(store="")),
        (
            "a blob container registered instead of a file share",
            _pipeline(
                register='register_azure_blob_container(workspace=ws, datastore_name="pipeline_files", '
                'container_name="pipelinefiles")'
            ),
        ),
        (
            "prepared_rows read from the first step (rows_in) instead of the second",
            _pipeline(step="01 Data Preparation", metric="rows_in"),
        ),
        ("the RunConfiguration has no target: no step runs on the cluster", _pipeline(target="")),
    ],
    "nb02_q_polling": [("how often the experiment runs", 'q_polling = "a"\n'), ("a run timeout", 'q_polling = "d"\n')],
    "nb02_q_pass_files": [
        ("PipelineData created before the datastore", 'q_pass_files = ["C", "B", "A"]\n'),
        ("the right order, as a string", 'q_pass_files = "BCA"\n'),
        ("the right order, as a tuple", 'q_pass_files = ("B", "C", "A")\n'),
    ],
    "nb02_q_select_columns": [
        ("all columns pass", 'q_select_columns = "a"\n'),
        ("numeric columns pass", 'q_select_columns = "b"\n'),
    ],
    "nb02_q_hdinsight": [
        ("Azure Monitor with a custom agent", 'q_hdinsight = "a"\n'),
        ("Log Analytics with custom queries", 'q_hdinsight = "d"\n'),
    ],
    "nb02_q_rl": [("RL on one node", 'q_rl = "a"\n'), ("internet for the workers", 'q_rl = "c"\n')],
    "nb02_q_studio_link": [
        ("a key of get_details()", 'q_studio_link = "a"\n'),
        ("wait_for_completion prints only the link", 'q_studio_link = "d"\n'),
    ],
    "nb02_lasso_alpha": [
        ("strictly more than K zeros (> instead of >=)", _LASSO.format(op=">", value="float(alpha)", keep="!=")),
        ("kept = the features Lasso zeroed", _LASSO.format(op=">=", value="float(alpha)", keep="==")),
        (
            "alpha_k = the position in ALPHAS, not the alpha",
            "for i, alpha in enumerate(ALPHAS):\n"
            "    lasso = Lasso(alpha=alpha, max_iter=10000).fit(X_train, y_train)\n"
            "    if (lasso.coef_ == 0).sum() >= K:\n"
            "        alpha_k = float(i)\n"
            "        kept_at_alpha_k = {f for f, c in zip(FEATURES, lasso.coef_) if c != 0}\n"
            "        break\n",
        ),
    ],
    "nb02_ridge_ratios": [
        (
            "ratio upside down: least squares / Ridge",
            _RIDGE.format(alpha="alpha=1000", ratio="ols.coef_ / ridge.coef_", op=">"),
        ),
        (
            "grew = the features that shrank (ratio below 1)",
            _RIDGE.format(alpha="alpha=1000", ratio="ridge.coef_ / ols.coef_", op="<"),
        ),
        ("Ridge with its default alpha=1", _RIDGE.format(alpha="", ratio="ridge.coef_ / ols.coef_", op=">")),
    ],
    "nb02_q_l1_l2": [
        ("same proportion (the notes' error)", 'q_l1_l2 = "c"\n'),
        ("L1 and L2 swapped", 'q_l1_l2 = "b"\n'),
    ],
}

# ------------------------------------------------------------------------------------ RIGHT
RIGHT = {
    "nb02_interactive_run": [
        (
            "the values computed first, then logged with run.log_list",
            """from sklearn.metrics import mean_squared_error
rmses = [float(mean_squared_error(y_val, Ridge(alpha=a).fit(X_train, y_train).predict(X_val)) ** 0.5)
         for a in RIDGE_ALPHAS]
experiment = Experiment(workspace=ws, name="bike-ridge-alphas")
ridge_run = experiment.start_logging(snapshot_directory=None)
ridge_run.log_list("alpha", RIDGE_ALPHAS)
ridge_run.log_list("val_rmse", rmses)
ridge_run.complete()
""",
        )
    ],
    "nb02_epoch_curve": [
        (
            "an explicit client and numpy for the first step below 150",
            """from mlflow import MlflowClient
ws.use_mlflow("bike-sgd")
sgd = SGDRegressor(learning_rate="constant", eta0=1e-5, random_state=0)
with mlflow.start_run() as sgd_run:
    for step in range(20):
        sgd.partial_fit(X_train, y_train)
        mlflow.log_metric("val_rmse", float(np.sqrt(((sgd.predict(X_val) - y_val) ** 2).mean())), step=step)
points = MlflowClient().get_metric_history(sgd_run.info.run_id, "val_rmse")
points.sort(key=lambda m: m.step)
curve = [float(m.value) for m in points]
first_below_150 = int(np.argmax(np.array(curve) < 150))
""",
        )
    ],
    "nb02_script_run": [
        (
            "the retired Estimator with script_params",
            """est = Estimator(source_directory=SRC, entry_script="train_bike.py", environment_definition=sklearn_env,
                script_params={"--alpha": 100, "--input-data": bike_ds.as_named_input("raw_data")})
script_run = Experiment(ws, "bike-script").submit(est)
script_run.wait_for_completion(show_output=False)
script_rmse = float(script_run.get_metrics("rmse")["rmse"])
""",
        )
    ],
    "nb02_failed_run": [
        (
            "a try/except and download_file",
            """broken_run = Experiment(ws, "bike-script").submit(ScriptRunConfig(
    source_directory=SRC, script="broken_train.py", arguments=["--input-data", bike_ds.as_named_input("raw_data")]))
try:
    broken_run.wait_for_completion()
except RunFailedError as error:
    print("failed as expected:", str(error).splitlines()[0])
broken_status = broken_run.get_status()
saved = broken_run.download_file("user_logs/std_log.txt", output_file_path=str(WS_DIR))
broken_log = Path(saved).read_text()
""",
        )
    ],
    "nb02_own_script": [
        (
            "parse_known_args, Datastore.get and a pivot-free loop",
            '''script = """\\
import argparse
import pandas as pd
from dp100.runs import Run
from dp100.workspace import Datastore

parser = argparse.ArgumentParser()
parser.add_argument("--season", type=int, default=1)
args, _ = parser.parse_known_args()
context = Run.get_context()
workspace = context.experiment.workspace
data = context.input_datasets["raw_data"].to_pandas_dataframe()
season = data.loc[data.season == args.season]
context.log("hours", season.shape[0])
context.log("mean_cnt", season.cnt.mean())
rows = [{"hr": h, "mean_cnt": season.loc[season.hr == h, "cnt"].mean()} for h in range(24)]
out = "season_%d.csv" % args.season
pd.DataFrame(rows).to_csv(out, index=False)
Datastore.get(workspace, "workspaceblobstore").upload_files([out], target_path="season_stats",
                                                             overwrite=True, show_progress=False)
"""
with open(MY_SRC / "season_stats.py", "w") as f:
    f.write(script)
config = ScriptRunConfig(source_directory=MY_SRC, script="season_stats.py",
                         arguments=["--input-data", bike_ds.as_named_input("raw_data"), "--season", "3"])
season_run = Experiment(ws, "bike-script").submit(config)
season_run.wait_for_completion()
''',
        )
    ],
    "nb02_pipeline": [
        (
            "the run configuration on the first step only; Pipeline.submit; get_steps",
            """files = Datastore.register_azure_file_share(ws, "pipeline_files", "pipelinefiles")
prepped_data = PipelineData("prepped_data", datastore=files)
cfg = RunConfiguration()
cfg.environment = sklearn_env
cfg.target = compute_cluster
steps = [
    PythonScriptStep(script_name="prep_step.py", name="01 Data Preparation", source_directory=PIPE_SRC,
                     arguments=["--out-folder", prepped_data], runconfig=cfg,
                     inputs=[bike_ds.as_named_input("raw_data")], outputs=[prepped_data]),
    PythonScriptStep(script_name="train_step.py", name="02 Training", source_directory=PIPE_SRC,
                     arguments=["--in-folder", prepped_data], inputs=[prepped_data]),
]
pipeline_run = Pipeline(ws, steps).submit("PipelineExp01")
pipeline_run.wait_for_completion(show_output=False)
train = [s for s in pipeline_run.get_steps() if s.name == "02 Training"][0]
prepared_rows = int(train.get_metrics()["prepared_rows"])
""",
        )
    ],
    "nb02_lasso_alpha": [
        (
            "count the zeros for every alpha first, then pick",
            """zero_counts = [int(np.sum(Lasso(alpha=a, max_iter=10000).fit(X_train, y_train).coef_ == 0)) for a in ALPHAS]
first = next(i for i, n in enumerate(zero_counts) if n >= K)
alpha_k = float(ALPHAS[first])
coefs = Lasso(alpha=alpha_k, max_iter=10000).fit(X_train, y_train).coef_
kept_at_alpha_k = set(np.array(FEATURES)[coefs != 0].tolist())
""",
        )
    ],
    "nb02_ridge_ratios": [
        (
            "numpy first, Series built from a dict",
            """r = Ridge(alpha=1000.0).fit(X_train, y_train).coef_ / LinearRegression().fit(X_train, y_train).coef_
ratios = pd.Series(dict(zip(FEATURES, r)))
grew = {name for name in FEATURES if abs(ratios[name]) > 1}
""",
        )
    ],
}
