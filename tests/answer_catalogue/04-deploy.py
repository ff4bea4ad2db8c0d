"""Plausible wrong answers, and differently written right answers, for 04-deploy."""

_SCORE_HEAD = """%%writefile workspace-04/score.py
import json
import os

import joblib
import pandas as pd
from azureml_inference_server_http.api.aml_response import AMLResponse

model = None


def init():
    global model
    model = joblib.load(os.path.join(os.environ["AZUREML_MODEL_DIR"], "model.pkl"))


def error(status, message):
    return AMLResponse({"message": message}, status, json_str=True)

"""

_BATCH_HEAD = """%%writefile workspace-04/batch_score.py
import os

import joblib
import pandas as pd

model = None


def init():
    global model
    model = joblib.load(os.path.join(os.environ["AZUREML_MODEL_DIR"], "model.pkl"))

"""

# test cell grade id -> [(why it is wrong, the FULL new source of its answer cell <id>_answer), ...]
WRONG = {
    "nb04_q_compute_target": [
        (
            "local web service and ACI swapped (both are 'testing')",
            'q_compute_target = {"debug": "c", "production": "b", "test": "a", "batch": "d", "devices": "e"}\n',
        ),
        (
            "batch scoring on the AKS inference cluster",
            'q_compute_target = {"debug": "a", "production": "b", "test": "c", "batch": "b", "devices": "e"}\n',
        ),
        (
            "right letters in the wrong type: one-letter lists",
            'q_compute_target = {"debug": ["a"], "production": ["b"], "test": ["c"], "batch": ["d"], "devices": ["e"]}\n',
        ),
    ],
    "nb04_q_compute_kinds": [
        ("reads the notes literally: c judged false", 'q_compute_kinds = {"a", "d", "e"}\n'),
        ("b: a compute cluster for real-time because it autoscales", 'q_compute_kinds = {"a", "b", "c", "d", "e"}\n'),
        ("right letters in a list, not a set", 'q_compute_kinds = ["a", "c", "d", "e"]\n'),
    ],
    "nb04_entry_script": [
        (
            "no try/except around json.loads: a body that is not JSON gives a 500",
            _SCORE_HEAD
            + """def run(raw_data):
    payload = json.loads(raw_data)
    rows = payload.get("data") if isinstance(payload, dict) else None
    if not isinstance(rows, list) or not rows or not all(isinstance(r, dict) for r in rows):
        return error(400, "expected {'data': [...]}")
    columns = list(model.feature_names_in_)
    missing = sorted({c for r in rows for c in columns if c not in r})
    extra = sorted({c for r in rows for c in r if c not in columns})
    if missing or extra:
        return error(422, f"missing columns: {missing}; extra columns: {extra}")
    return {"predictions": model.predict(pd.DataFrame(rows, columns=columns)).tolist()}
""",
        ),
        (
            "one status for every client mistake: missing/extra columns answered 400, not 422",
            _SCORE_HEAD
            + """def run(raw_data):
    try:
        rows = json.loads(raw_data)["data"]
        assert isinstance(rows, list) and rows and all(isinstance(r, dict) for r in rows)
        columns = list(model.feature_names_in_)
        bad = sorted({c for r in rows for c in columns if c not in r} | {c for r in rows for c in r if c not in columns})
        if bad:
            return error(400, f"bad columns: {bad}")
        return {"predictions": model.predict(pd.DataFrame(rows, columns=columns)).tolist()}
    except Exception as exc:
        return error(400, f"bad request: {exc}")
""",
        ),
        (
            "DataFrame built in the JSON's column order: reordered columns make the model raise (500)",
            _SCORE_HEAD
            + """def run(raw_data):
    try:
        payload = json.loads(raw_data)
    except json.JSONDecodeError as exc:
        return error(400, f"body is not JSON: {exc}")
    rows = payload.get("data") if isinstance(payload, dict) else None
    if not isinstance(rows, list) or not rows or not all(isinstance(r, dict) for r in rows):
        return error(400, "expected {'data': [...]}")
    columns = list(model.feature_names_in_)
    missing = sorted({c for r in rows for c in columns if c not in r})
    extra = sorted({c for r in rows for c in r if c not in columns})
    if missing or extra:
        return error(422, f"missing columns: {missing}; extra columns: {extra}")
    return {"predictions": model.predict(pd.DataFrame(rows)).tolist()}
""",
        ),
    ],
    "nb04_q_local_deploy": [
        ("token authentication instead of the port", 'q_local_deploy = {"a", "d"}\n'),
        ("a compute instance instead of Docker", 'q_local_deploy = {"b", "e"}\n'),
    ],
    "nb04_client": [
        (
            "the key without the word Bearer",
            """def predict(scoring_uri, key, rows):
    response = requests.post(scoring_uri, json={"data": rows}, headers={"Authorization": key}, timeout=30)
    response.raise_for_status()
    return response.json()["predictions"]
""",
        ),
        (
            "no raise_for_status: a 401 returns None instead of raising",
            """def predict(scoring_uri, key, rows):
    response = requests.post(scoring_uri, json={"data": rows}, headers={"Authorization": f"Bearer {key}"}, timeout=30)
    return response.json().get("predictions")
""",
        ),
        (
            "the body is Python's repr, not JSON",
            """def predict(scoring_uri, key, rows):
    response = requests.post(scoring_uri, data=str({"data": rows}),
                             headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"}, timeout=30)
    response.raise_for_status()
    return response.json()["predictions"]
""",
        ),
    ],
    "nb04_handle_401": [
        (
            "always fetches a fresh key first, even when the cached one works",
            """def predict_with_refresh(scoring_uri, key, rows, fetch_key):
    key = fetch_key()
    response = requests.post(scoring_uri, json={"data": rows}, headers={"Authorization": f"Bearer {key}"}, timeout=30)
    response.raise_for_status()
    return response.json()["predictions"], key
""",
        ),
        (
            "refreshes the key on any error, not only on a 401",
            """def predict_with_refresh(scoring_uri, key, rows, fetch_key):
    def post(k):
        return requests.post(scoring_uri, json={"data": rows}, headers={"Authorization": f"Bearer {k}"}, timeout=30)
    response = post(key)
    if not response.ok:
        key = fetch_key()
        response = post(key)
    response.raise_for_status()
    return response.json()["predictions"], key
""",
        ),
        (
            "returns the stale key it was given, not the key that worked",
            """def predict_with_refresh(scoring_uri, key, rows, fetch_key):
    def post(k):
        return requests.post(scoring_uri, json={"data": rows}, headers={"Authorization": f"Bearer {k}"}, timeout=30)
    response = post(key)
    if response.status_code == 401:
        response = post(fetch_key())
    response.raise_for_status()
    return response.json()["predictions"], key
""",
        ),
    ],
    "nb04_token_expiry": [
        (
            "no cache: asks for a token on every call",
            """class TokenCache:
    def __init__(self, get_token):
        self._get_token = get_token

    def token(self):
        return self._get_token()[0]
""",
        ),
        (
            "caches forever: never refreshes after refresh_after",
            """class TokenCache:
    def __init__(self, get_token):
        self._get_token = get_token
        self._token = None

    def token(self):
        if self._token is None:
            self._token, _ = self._get_token()
        return self._token
""",
        ),
        (
            "compares with a naive local time: TypeError against the aware refresh_after",
            """from datetime import datetime


class TokenCache:
    def __init__(self, get_token):
        self._get_token = get_token
        self._token = None
        self._refresh_after = None

    def token(self):
        if self._token is None or datetime.now() >= self._refresh_after:
            self._token, self._refresh_after = self._get_token()
        return self._token
""",
        ),
    ],
    "nb04_q_auth_facts": [
        ("e: tokens on ACI too", 'q_auth_facts = {"b", "c", "d", "e", "f", "g"}\n'),
        ("a: key and token both on one service", 'q_auth_facts = {"a", "b", "c", "d", "f", "g"}\n'),
    ],
    "nb04_q_designer": [
        (
            "Publish and Deploy swapped",
            'q_designer = {"rest_pipeline_endpoint": "Deploy", "web_service": "Publish", "runs_pipeline": "Submit"}\n',
        ),
        (
            "believes Publish runs the pipeline",
            'q_designer = {"rest_pipeline_endpoint": "Publish", "web_service": "Deploy", "runs_pipeline": "Publish"}\n',
        ),
    ],
    "nb04_q_autoscale_steps": [
        ("deploys before the cluster exists", 'q_autoscale_steps = ["c", "a", "d"]\n'),
        ("ACI instead of AKS", 'q_autoscale_steps = ["c", "b", "a"]\n'),
        ("right letters in a string, not a list", 'q_autoscale_steps = "c, d, a"\n'),
    ],
    "nb04_q_aks_503": [
        (
            "raises the utilisation target instead of lowering it",
            'q_aks_503 = {"a", "b", "f"}\nq_aks_max_replicas_default = 10\n',
        ),
        ("wrong default of autoscale_max_replicas", 'q_aks_503 = {"a", "b", "c"}\nq_aks_max_replicas_default = 5\n'),
        ("the default as a string", 'q_aks_503 = {"a", "b", "c"}\nq_aks_max_replicas_default = "10"\n'),
    ],
    "nb04_q_deploy_order": [
        ("the notes' order, which cannot work", 'q_deploy_order = ["a", "b", "c", "d"]\n'),
        ("deploys before creating the cluster", 'q_deploy_order = ["a", "c", "d", "b"]\n'),
        ("tests before deploying", 'q_deploy_order = ["a", "d", "b", "c"]\n'),
    ],
    "nb04_batch_script": [
        (
            "File contract on a Tabular input: treats the DataFrame as a list of paths",
            _BATCH_HEAD
            + """def run(mini_batch):
    frames = []
    for path in mini_batch:
        data = pd.read_csv(path)
        frames.append(pd.DataFrame({"instant": data["instant"],
                                    "predicted_cnt": model.predict(data[list(model.feature_names_in_)])}))
    return pd.concat(frames, ignore_index=True)
""",
        ),
        (
            "swallows errors: rows it cannot score give an empty table, so nothing fails",
            _BATCH_HEAD
            + """def run(mini_batch):
    try:
        predictions = model.predict(mini_batch[list(model.feature_names_in_)])
        return pd.DataFrame({"instant": mini_batch["instant"], "predicted_cnt": predictions})
    except Exception:
        return pd.DataFrame(columns=["instant", "predicted_cnt"])
""",
        ),
        (
            "loads the model again in every run(), not once in init()",
            """%%writefile workspace-04/batch_score.py
import os

import joblib
import pandas as pd


def init():
    pass


def run(mini_batch):
    model = joblib.load(os.path.join(os.environ["AZUREML_MODEL_DIR"], "model.pkl"))
    predictions = model.predict(mini_batch[list(model.feature_names_in_)])
    return pd.DataFrame({"instant": mini_batch["instant"], "predicted_cnt": predictions})
""",
        ),
        (
            "columns in the wrong order: predicted_cnt, then instant",
            _BATCH_HEAD
            + """def run(mini_batch):
    predictions = model.predict(mini_batch[list(model.feature_names_in_)])
    return pd.DataFrame({"predicted_cnt": predictions, "instant": mini_batch["instant"]})
""",
        ),
    ],
    "nb04_pipeline_version": [
        (
            "no version given: runs the default, version 2",
            'version1_run = bike_endpoint.submit("bike-batch", pipeline_parameters={"batch_data": month_files_2012})\n'
            "version1_run.wait_for_completion(show_output=False)\n",
        ),
        (
            "version 1, but on all the data instead of 2012",
            'version1_run = bike_endpoint.submit("bike-batch", pipeline_parameters={"batch_data": month_files_ds},\n'
            '                                    pipeline_version="1")\n'
            "version1_run.wait_for_completion(show_output=False)\n",
        ),
        (
            "makes version 1 the default to run it",
            'bike_endpoint.set_default_version("1")\n'
            'version1_run = bike_endpoint.submit("bike-batch", pipeline_parameters={"batch_data": month_files_2012})\n'
            "version1_run.wait_for_completion(show_output=False)\n",
        ),
    ],
    "nb04_q_stream_logs": [
        ("get_status only returns the status", 'q_stream_logs = "a"\n'),
        ("get_details prints no log while running", 'q_stream_logs = "c"\n'),
    ],
    "nb04_q_publish_steps": [
        (
            "a new endpoint for the test: the scanned endpoint must stay",
            'q_publish_steps = ["b", "e", "a"]\nq_runtime_data = "p"\n',
        ),
        (
            "a new dataset version per call instead of a parameter",
            'q_publish_steps = ["b", "d", "a"]\nq_runtime_data = "q"\n',
        ),
        ("the steps as one string", 'q_publish_steps = "b, d, a"\nq_runtime_data = "p"\n'),
    ],
}

# test cell grade id -> [(how it differs, the FULL source of its answer cell), ...]
RIGHT = {
    "nb04_q_autoscale_steps": [
        ("the AKS cluster first, then the inference pipeline (also works)", 'q_autoscale_steps = ["d", "c", "a"]\n')
    ],
    "nb04_q_deploy_order": [("the cluster first (the erratum accepts it)", 'q_deploy_order = ["d", "a", "c", "b"]\n')],
    "nb04_client": [
        (
            "json.dumps with an explicit Content-Type, status checked by hand",
            """import json


def predict(scoring_uri, key, rows):
    headers = {"Content-Type": "application/json", "Authorization": "Bearer " + key}
    response = requests.post(scoring_uri, data=json.dumps({"data": rows}), headers=headers)
    if not 200 <= response.status_code < 300:
        raise requests.HTTPError(f"{response.status_code}: {response.text}", response=response)
    return list(response.json()["predictions"])
""",
        )
    ],
    "nb04_token_expiry": [
        (
            "epoch seconds instead of datetimes",
            """import time


class TokenCache:
    def __init__(self, get_token):
        self.get_token = get_token
        self.cached = None
        self.refresh_at = 0.0

    def token(self):
        if self.cached is None or time.time() >= self.refresh_at:
            self.cached, refresh_after = self.get_token()
            self.refresh_at = refresh_after.timestamp()
        return self.cached
""",
        )
    ],
    "nb04_batch_script": [
        (
            "builds the output from a copy of the instant column",
            _BATCH_HEAD
            + """def run(mini_batch):
    features = mini_batch.loc[:, list(model.feature_names_in_)]
    out = mini_batch[["instant"]].copy()
    out["predicted_cnt"] = model.predict(features)
    return out
""",
        )
    ],
    "nb04_q_compute_kinds": [("the same set written with set()", 'q_compute_kinds = set("edca")\n')],
}

# Exercises whose copies each start from a snapshot of the notebook's folder and MLflow state taken
# before the exercise's answer (tests/nbgrader_class.py): found by the control copy (the solution, run
# again after the wrong copies, lost its points).
FROM_SNAPSHOT = {
    "nb04_pipeline_version": "publishing under the endpoint again moves its versions on: the check reads them",
}
# Objects those answers change in place (a wrong answer calls bike_endpoint.set_default_version):
# each copy gets a copy of the one the exercise started with.
SNAPSHOT_OBJECTS = {"nb04_pipeline_version": ["bike_endpoint"]}
