"""Plausible wrong answers, and differently written right answers, for 03-optimise."""

_BANDIT_HEAD = """def bandit_stop(value, best, step, *, maximize=True, slack_factor=None, slack_amount=None,
                evaluation_interval=1, delay_evaluation=0):
"""
_TRUNC_HEAD = """def truncation_stop(value, others, step, *, truncation_percentage, maximize=True,
                    evaluation_interval=1, delay_evaluation=0):
    import math
    if not 1 <= truncation_percentage <= 99:
        raise ValueError("truncation_percentage must be between 1 and 99")
    if step % evaluation_interval != 0 or step < delay_evaluation:
        return False
    others = list(others)
"""
_ONNX_TAIL = """
onnx_rf_pred = onnx_predict(onnx_rf, X_a_val)
"""
_PFI_HEAD = """from sklearn.inspection import permutation_importance

"""
_SURROGATE_HEAD = """from sklearn.metrics import r2_score
from sklearn.tree import DecisionTreeRegressor

"""
_DRIFT_HEAD = """from scipy.stats import wasserstein_distance

"""
_ALIAS_LOAD = """champion_model = mlflow.sklearn.load_model(f"models:/{registered}@champion")
"""

# test cell grade id -> [(why it is wrong, the FULL new source of its answer cell <id>_answer), ...]
WRONG = {
    "nb03_grid_runs": [
        ("max_total_runs taken as the run count", "q_grid_runs = 20\n"),
        ("the choices added instead of multiplied", "q_grid_runs = 4 + 3\n"),
        ("the right number as a string", 'q_grid_runs = "12"\n'),
    ],
    "nb03_choice_samplers": [
        ("the notes' claim: grid only", 'q_choice_samplers = {"a"}\n'),
        ("Bayesian left out", 'q_choice_samplers = {"a", "b"}\n'),
        ("the right letters in a list", 'q_choice_samplers = ["a", "b", "c"]\n'),
    ],
    "nb03_best_run": [
        (
            "the last run of the sweep, not the best",
            "last = grid_run.study.trials[-1]\nbest_grid_params, best_grid_accuracy = last.params, last.value\n",
        ),
        (
            "the wrong direction: the lowest accuracy",
            "worst = min(grid_run.study.trials, key=lambda t: t.value)\n"
            "best_grid_params, best_grid_accuracy = worst.params, worst.value\n",
        ),
        (
            "the accuracy turned into a percentage",
            "best = grid_run.get_best_run_by_primary_metric()\n"
            "best_grid_params, best_grid_accuracy = best['params'], best['accuracy'] * 100\n",
        ),
    ],
    "nb03_bandit": [
        (
            "slack factor as best * (1 - factor)",
            _BANDIT_HEAD
            + """    if (slack_factor is None) == (slack_amount is None):
        raise ValueError("give exactly one slack")
    if step % evaluation_interval != 0 or step < delay_evaluation:
        return False
    if maximize:
        limit = best * (1 - slack_factor) if slack_factor is not None else best - slack_amount
        return value < limit
    limit = best * (1 + slack_factor) if slack_factor is not None else best + slack_amount
    return value > limit
""",
        ),
        (
            "delay_evaluation ignored",
            _BANDIT_HEAD
            + """    if (slack_factor is None) == (slack_amount is None):
        raise ValueError("give exactly one slack")
    if step % evaluation_interval != 0:
        return False
    if maximize:
        limit = best / (1 + slack_factor) if slack_factor is not None else best - slack_amount
        return value < limit
    limit = best * (1 + slack_factor) if slack_factor is not None else best + slack_amount
    return value > limit
""",
        ),
        (
            "minimising not mirrored: always stops below the limit",
            _BANDIT_HEAD
            + """    if (slack_factor is None) == (slack_amount is None):
        raise ValueError("give exactly one slack")
    if step % evaluation_interval != 0 or step < delay_evaluation:
        return False
    limit = best / (1 + slack_factor) if slack_factor is not None else best - slack_amount
    return value < limit
""",
        ),
    ],
    "nb03_truncation": [
        (
            "n leaves this run out",
            _TRUNC_HEAD
            + """    k = math.floor(len(others) * truncation_percentage / 100)
    worse = sum(1 for o in others if (o < value if maximize else o > value))
    return worse < k
""",
        ),
        (
            "rounded up instead of down",
            _TRUNC_HEAD
            + """    k = math.ceil((len(others) + 1) * truncation_percentage / 100)
    worse = sum(1 for o in others if (o < value if maximize else o > value))
    return worse < k
""",
        ),
        (
            "the goal ignored: lower is always worse",
            _TRUNC_HEAD
            + """    k = math.floor((len(others) + 1) * truncation_percentage / 100)
    worse = sum(1 for o in others if o < value)
    return worse < k
""",
        ),
    ],
    "nb03_no_early_termination": [
        ("grid", 'q_no_early_termination = "a"\n'),
        ("all three support it", 'q_no_early_termination = "d"\n'),
    ],
    "nb03_median_stopping": [
        (
            "the two interval arguments swapped",
            "median_policy = MedianStoppingPolicy(evaluation_interval=4, delay_evaluation=2)\n"
            "median_study = sweep(median_policy, replay).study\n",
        ),
        (
            "applied at every interval from 4 on",
            "median_policy = MedianStoppingPolicy(evaluation_interval=1, delay_evaluation=4)\n"
            "median_study = sweep(median_policy, replay).study\n",
        ),
        (
            "off by one: not before interval 5",
            "median_policy = MedianStoppingPolicy(evaluation_interval=2, delay_evaluation=5)\n"
            "median_study = sweep(median_policy, replay).study\n",
        ),
    ],
    "nb03_norm_macro_recall": [
        (
            "macro recall, not normalised",
            """def norm_macro_recall(y_true, y_pred):
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    return float(np.mean([np.mean(y_pred[y_true == c] == c) for c in np.unique(y_true)]))
""",
        ),
        (
            "accuracy (micro recall) normalised",
            """def norm_macro_recall(y_true, y_pred):
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    k = len(np.unique(y_true))
    return float((np.mean(y_true == y_pred) - 1 / k) / (1 - 1 / k))
""",
        ),
        (
            "k counts the predicted classes too",
            """def norm_macro_recall(y_true, y_pred):
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    k = len(np.unique(np.concatenate([y_true, y_pred])))
    macro = np.mean([np.mean(y_pred[y_true == c] == c) for c in np.unique(y_true)])
    return float((macro - 1 / k) / (1 - 1 / k))
""",
        ),
    ],
    "nb03_automl_config": [
        (
            "the timeout of 30 minutes written as 30 hours",
            'my_automl_config = AutoMLConfig(task="classification", training_data=credit, label_column_name="default",\n'
            '                                primary_metric="AUC_weighted", validation_size=0.2, iterations=8,\n'
            "                                max_concurrent_iterations=4, experiment_timeout_hours=30,\n"
            '                                featurization="off")\n',
        ),
        (
            "the validation share as a percentage",
            'my_automl_config = AutoMLConfig(task="classification", training_data=credit, label_column_name="default",\n'
            '                                primary_metric="AUC_weighted", validation_size=20, iterations=8,\n'
            "                                max_concurrent_iterations=4, experiment_timeout_hours=0.5,\n"
            '                                featurization="off")\n',
        ),
        (
            "featurisation left on auto",
            'my_automl_config = AutoMLConfig(task="classification", training_data=credit, label_column_name="default",\n'
            '                                primary_metric="AUC_weighted", validation_size=0.2, iterations=8,\n'
            "                                max_concurrent_iterations=4, experiment_timeout_hours=0.5)\n",
        ),
        (
            "iterations and concurrency swapped",
            'my_automl_config = AutoMLConfig(task="classification", training_data=credit, label_column_name="default",\n'
            '                                primary_metric="AUC_weighted", validation_size=0.2, iterations=4,\n'
            "                                max_concurrent_iterations=8, experiment_timeout_hours=0.5,\n"
            '                                featurization="off")\n',
        ),
    ],
    "nb03_onnx": [
        (
            "the probabilities (second output), flattened",
            """def onnx_predict(onnx_model, X):
    sess = ort.InferenceSession(onnx_model.SerializeToString(), providers=["CPUExecutionProvider"])
    feeds = {i.name: X[i.name].to_numpy().reshape(-1, 1) for i in sess.get_inputs()}
    return np.asarray(sess.run(None, feeds)[1]).ravel()
"""
            + _ONNX_TAIL,
        ),
        (
            "scikit-learn's forest instead of the ONNX model it is given",
            """def onnx_predict(onnx_model, X):
    return best_rf.predict(X)
"""
            + _ONNX_TAIL,
        ),
        (
            "the labels as a list",
            """def onnx_predict(onnx_model, X):
    sess = ort.InferenceSession(onnx_model.SerializeToString(), providers=["CPUExecutionProvider"])
    feeds = {i.name: X[i.name].to_numpy().reshape(-1, 1) for i in sess.get_inputs()}
    return list(sess.run(None, feeds)[0].ravel())
"""
            + _ONNX_TAIL,
        ),
    ],
    "nb03_onnx_export": [
        ("the notes' list without Linear SVC", 'q_onnx_export = {"a", "b"}\n'),
        ("Auto-ARIMA included", 'q_onnx_export = {"a", "b", "c", "d"}\n'),
    ],
    "nb03_auto_arima": [
        ("classification, exportable", 'q_auto_arima = "a"\n'),
        ("any task", 'q_auto_arima = "d"\n'),
    ],
    "nb03_model_agnostic": [
        ("TreeExplainer", 'q_model_agnostic = "a"\n'),
        ("all three", 'q_model_agnostic = "d"\n'),
    ],
    "nb03_global_importance": [
        (
            "mean of the signed SHAP values",
            """def feature_importance_dict(shap_values, feature_names):
    means = np.asarray(shap_values).mean(axis=0)
    pairs = sorted(zip(feature_names, means), key=lambda p: p[1], reverse=True)
    return {name: float(value) for name, value in pairs}

global_fi = feature_importance_dict(shap_global, features)
""",
        ),
        (
            "summed over the rows instead of averaged",
            """def feature_importance_dict(shap_values, feature_names):
    sums = np.abs(np.asarray(shap_values)).sum(axis=0)
    pairs = sorted(zip(feature_names, sums), key=lambda p: p[1], reverse=True)
    return {name: float(value) for name, value in pairs}

global_fi = feature_importance_dict(shap_global, features)
""",
        ),
        (
            "not sorted: in the order of the features",
            """def feature_importance_dict(shap_values, feature_names):
    means = np.abs(np.asarray(shap_values)).mean(axis=0)
    return {name: float(value) for name, value in zip(feature_names, means)}

global_fi = feature_importance_dict(shap_global, features)
""",
        ),
    ],
    "nb03_local_importance": [
        (
            "ranked by absolute value",
            """def ranked_local(shap_values, feature_names):
    names, values = [], []
    for row in np.asarray(shap_values):
        order = np.argsort(np.abs(row))[::-1]
        names.append([feature_names[j] for j in order])
        values.append([float(row[j]) for j in order])
    return names, values

local_names, local_values = ranked_local(shap_local, features)
""",
        ),
        (
            "numpy arrays instead of lists",
            """def ranked_local(shap_values, feature_names):
    shap_values = np.asarray(shap_values)
    order = np.argsort(shap_values, axis=1)[:, ::-1]
    return np.asarray(feature_names)[order], np.take_along_axis(shap_values, order, axis=1)

local_names, local_values = ranked_local(shap_local, features)
""",
        ),
        (
            "lowest value first",
            """def ranked_local(shap_values, feature_names):
    names, values = [], []
    for row in np.asarray(shap_values):
        order = np.argsort(row)
        names.append([feature_names[j] for j in order])
        values.append([float(row[j]) for j in order])
    return names, values

local_names, local_values = ranked_local(shap_local, features)
""",
        ),
    ],
    "nb03_surrogate": [
        (
            "the surrogate trained on the true labels",
            _SURROGATE_HEAD
            + """surrogate = DecisionTreeRegressor(max_depth=4, random_state=0).fit(X_train, y_train)
fidelity = r2_score(bike_model.predict(X_test), surrogate.predict(X_test))
print(f"surrogate fidelity R^2 = {fidelity:.3f}")
""",
        ),
        (
            "fidelity against the true labels",
            _SURROGATE_HEAD
            + """surrogate = DecisionTreeRegressor(max_depth=4, random_state=0).fit(X_train, bike_model.predict(X_train))
fidelity = r2_score(y_test, surrogate.predict(X_test))
print(f"surrogate fidelity R^2 = {fidelity:.3f}")
""",
        ),
        (
            "fidelity on the training rows",
            _SURROGATE_HEAD
            + """surrogate = DecisionTreeRegressor(max_depth=4, random_state=0).fit(X_train, bike_model.predict(X_train))
fidelity = r2_score(bike_model.predict(X_train), surrogate.predict(X_train))
print(f"surrogate fidelity R^2 = {fidelity:.3f}")
""",
        ),
    ],
    "nb03_pfi": [
        (
            "computed on the training rows",
            _PFI_HEAD
            + """result = permutation_importance(bike_model, X_train, y_train, n_repeats=3, random_state=0)
pfi_fi = dict(sorted(zip(features, result.importances_mean), key=lambda p: p[1], reverse=True))
""",
        ),
        (
            "the standard deviation instead of the mean",
            _PFI_HEAD
            + """result = permutation_importance(bike_model, X_global, y_test.iloc[:300], n_repeats=3, random_state=0)
pfi_fi = dict(sorted(zip(features, result.importances_std), key=lambda p: p[1], reverse=True))
""",
        ),
        (
            "n_repeats left at its default",
            _PFI_HEAD
            + """result = permutation_importance(bike_model, X_global, y_test.iloc[:300], random_state=0)
pfi_fi = dict(sorted(zip(features, result.importances_mean), key=lambda p: p[1], reverse=True))
""",
        ),
    ],
    "nb03_explanation_upload": [
        (
            "uploaded, but 'downloaded' is the dict in memory",
            """with mlflow.start_run(run_name="bike-explanation") as run:
    mlflow.log_dict(explanation, "explanation/explanation.json")
explanation_run_id = run.info.run_id
downloaded = explanation
""",
        ),
        (
            "a run without the name",
            """with mlflow.start_run() as run:
    mlflow.log_dict(explanation, "explanation/explanation.json")
explanation_run_id = run.info.run_id
downloaded = mlflow.artifacts.load_dict(f"runs:/{explanation_run_id}/explanation/explanation.json")
""",
        ),
        (
            "the artifact at another path",
            """with mlflow.start_run(run_name="bike-explanation") as run:
    mlflow.log_dict(explanation, "explanation.json")
explanation_run_id = run.info.run_id
downloaded = mlflow.artifacts.load_dict(f"runs:/{explanation_run_id}/explanation.json")
""",
        ),
    ],
    "nb03_drift_target": [
        ("a label column", 'q_drift_target = "a"\n'),
        ("as many rows as the baseline", 'q_drift_target = "c"\n'),
    ],
    "nb03_drift_per_month": [
        (
            "calls the dp100 helper the exercise forbids",
            _DRIFT_HEAD
            + """def drift_per_month(baseline, target, feature, timestamp="datetime"):
    return drift_by_period(baseline, target, timestamp, [feature], "Month")[feature]
""",
        ),
        (
            "dp100's wasserstein instead of scipy's",
            _DRIFT_HEAD
            + """def drift_per_month(baseline, target, feature, timestamp="datetime"):
    from dp100.drift import wasserstein
    months = pd.to_datetime(target[timestamp]).dt.to_period("M")
    return pd.Series({m: wasserstein(baseline[feature], part[feature])
                      for m, part in target.groupby(months, sort=True)})
""",
        ),
        (
            "each month against the previous month, not the baseline",
            _DRIFT_HEAD
            + """def drift_per_month(baseline, target, feature, timestamp="datetime"):
    months = pd.to_datetime(target[timestamp]).dt.to_period("M")
    out, previous = {}, baseline[feature]
    for m, part in target.groupby(months, sort=True):
        out[m] = wasserstein_distance(previous, part[feature])
        previous = part[feature]
    return pd.Series(out)
""",
        ),
        (
            "the baseline restricted to the same calendar month",
            _DRIFT_HEAD
            + """def drift_per_month(baseline, target, feature, timestamp="datetime"):
    months = pd.to_datetime(target[timestamp]).dt.to_period("M")
    base_month = pd.to_datetime(baseline[timestamp]).dt.month
    return pd.Series({m: wasserstein_distance(baseline[feature][base_month == m.month], part[feature])
                      for m, part in target.groupby(months, sort=True)})
""",
        ),
    ],
    "nb03_alias": [
        (
            "the alias on the latest version",
            """latest = max(client.search_model_versions(f"name='{registered}'"), key=lambda v: int(v.version))
client.set_registered_model_alias(registered, "champion", latest.version)
"""
            + _ALIAS_LOAD,
        ),
        (
            "the alias on the lower accuracy (wrong direction)",
            """worst = min(client.search_model_versions(f"name='{registered}'"),
            key=lambda v: client.get_run(v.run_id).data.metrics["val_accuracy"])
client.set_registered_model_alias(registered, "champion", worst.version)
"""
            + _ALIAS_LOAD,
        ),
        (
            "alias set, but the model taken from memory",
            """best_version = max(client.search_model_versions(f"name='{registered}'"),
                   key=lambda v: client.get_run(v.run_id).data.metrics["val_accuracy"])
client.set_registered_model_alias(registered, "champion", best_version.version)
champion_model = candidates["tuned by HyperDrive"]
""",
        ),
    ],
    "nb03_stages": [
        ("stages still recommended", 'q_stages = "d"\n'),
        ("experiments", 'q_stages = "a"\n'),
    ],
}

# test cell grade id -> [(how it differs, the FULL source of its answer cell), ...]
RIGHT = {
    "nb03_choice_samplers": [("set() of a string", 'q_choice_samplers = set("abc")\n')],
    "nb03_best_run": [
        (
            "the Optuna study's own best trial",
            "best_grid_params = dict(grid_run.study.best_params)\nbest_grid_accuracy = grid_run.study.best_value\n",
        ),
    ],
    "nb03_median_stopping": [
        (
            "positional arguments",
            "median_study = sweep(MedianStoppingPolicy(2, 4), replay).study\nmedian_policy = MedianStoppingPolicy(2, 4)\n",
        ),
    ],
    "nb03_norm_macro_recall": [
        (
            "with recall_score over the classes of y_true",
            """from sklearn.metrics import recall_score

def norm_macro_recall(y_true, y_pred):
    labels = np.unique(np.asarray(y_true))
    k = len(labels)
    r = recall_score(np.asarray(y_true), np.asarray(y_pred), labels=labels, average="macro", zero_division=0)
    return (r - 1 / k) / (1 - 1 / k)
""",
        ),
    ],
    "nb03_automl_config": [
        (
            "the timeout in minutes, other keyword order",
            'my_automl_config = AutoMLConfig(featurization="off", experiment_timeout_minutes=30,\n'
            "                                max_concurrent_iterations=4, iterations=8, validation_size=0.2,\n"
            '                                primary_metric="AUC_weighted", label_column_name="default",\n'
            '                                training_data=credit, task="classification")\n',
        ),
    ],
    "nb03_pfi": [
        (
            "a pandas Series, sorted",
            _PFI_HEAD
            + """result = permutation_importance(bike_model, X_global, y_test.iloc[:300], n_repeats=3, random_state=0)
pfi_fi = pd.Series(result.importances_mean, index=X_global.columns).sort_values(ascending=False).to_dict()
""",
        ),
    ],
    "nb03_explanation_upload": [
        (
            "MlflowClient and download_artifacts + json",
            """import json
import tempfile

with mlflow.start_run(run_name="bike-explanation"):
    mlflow.log_dict(explanation, "explanation/explanation.json")
    explanation_run_id = mlflow.active_run().info.run_id
with tempfile.TemporaryDirectory() as tmp:
    local = mlflow.artifacts.download_artifacts(run_id=explanation_run_id,
                                                artifact_path="explanation/explanation.json", dst_path=tmp)
    with open(local) as f:
        downloaded = json.load(f)
""",
        ),
    ],
    "nb03_drift_per_month": [
        (
            "an explicit loop over the months",
            _DRIFT_HEAD
            + """def drift_per_month(baseline, target, feature, timestamp="datetime"):
    months = pd.to_datetime(target[timestamp]).dt.to_period("M")
    values = {}
    for month in sorted(months.unique()):
        values[month] = wasserstein_distance(baseline[feature].to_numpy(), target.loc[months == month, feature].to_numpy())
    return pd.Series(values)
""",
        ),
    ],
    "nb03_surrogate": [
        (
            "r2_score with keywords",
            _SURROGATE_HEAD
            + """forest_train, forest_test = bike_model.predict(X_train), bike_model.predict(X_test)
surrogate = DecisionTreeRegressor(random_state=0, max_depth=4)
surrogate.fit(X_train, forest_train)
fidelity = r2_score(y_true=forest_test, y_pred=surrogate.predict(X_test))
""",
        ),
    ],
}
