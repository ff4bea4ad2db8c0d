"""dp100.serving: Microsoft's inference server as a managed subprocess, behind the auth gate.

Also runs the 04-deploy solution notebook once (nbclient) and checks it leaves no process behind.
"""

import os
import signal
import subprocess
import sys
import textwrap
import time

import joblib
import nbformat
import pandas as pd
import psutil
import pytest
import requests
from nbclient import NotebookClient
from nbgrader_class import graded_class
from sklearn.linear_model import LinearRegression

from dp100 import auth, serving

ECHO = """
import json, os
def init():
    global model_dir
    model_dir = os.environ["AZUREML_MODEL_DIR"]
def run(raw_data):
    return {"n": len(json.loads(raw_data)["data"]), "model_dir": model_dir}
"""


def processes_mentioning(text: str) -> list[psutil.Process]:
    found = []
    for proc in psutil.process_iter(["pid", "cmdline"]):
        try:
            if text in " ".join(proc.info["cmdline"] or []):
                found.append(proc)
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            pass
    return [p for p in found if p.pid != os.getpid()]


def wait_gone(text: str, seconds: float = 10.0) -> list[psutil.Process]:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        left = [p for p in processes_mentioning(text) if p.status() != psutil.STATUS_ZOMBIE]
        if not left:
            return []
        time.sleep(0.1)
    return left


@pytest.fixture()
def echo(tmp_path):
    (tmp_path / "model").mkdir()
    script = tmp_path / "score.py"
    script.write_text(ECHO)
    return script, tmp_path / "model"


def test_server_starts_answers_and_stops_with_its_workers(echo):
    script, model_dir = echo
    with serving.InferenceServer(script, model_dir, worker_count=2) as server:
        assert requests.get(server.health_uri).status_code == 200
        answer = requests.post(server.scoring_uri, json={"data": [1, 2, 3]}).json()
        assert answer == {"n": 3, "model_dir": str(model_dir)}
        master = psutil.Process(server.process.pid)
        workers = master.children(recursive=True)
        assert len(workers) == 2
        listening = {c.laddr.ip for c in master.net_connections(kind="tcp") if c.status == psutil.CONN_LISTEN}
        assert listening == {"127.0.0.1"}, "the server must listen on loopback only (it has no auth)"
    assert not server.running
    assert not any(p.is_running() and p.status() != psutil.STATUS_ZOMBIE for p in [master, *workers])
    with pytest.raises(serving.ServingError, match="not running"):
        server.scoring_uri


def test_a_failing_block_stops_the_server(echo):
    script, model_dir = echo
    with pytest.raises(ZeroDivisionError):
        with serving.InferenceServer(script, model_dir) as server:
            pid = server.process.pid
            1 / 0
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE


def test_bad_entry_script_fails_fast_with_its_error(tmp_path, echo):
    _, model_dir = echo
    bad = tmp_path / "bad_score.py"
    bad.write_text("raise NotImplementedError('write init and run')\n")
    start = time.monotonic()
    with pytest.raises(
        serving.ServingError,
        match=r"exited with code \d+ while starting bad_score.py \(the entry script raised NotImplementedError: write init and run\)",
    ):
        serving.InferenceServer(bad, model_dir).start()
    assert time.monotonic() - start < 30
    assert wait_gone(str(bad)) == []
    with pytest.raises(serving.ServingError, match="entry script not found"):
        serving.InferenceServer(tmp_path / "nope.py", model_dir)
    with pytest.raises(serving.ServingError, match="model directory not found"):
        serving.InferenceServer(bad, tmp_path / "no-model")
    with pytest.raises(serving.ServingError, match="worker_count"):
        serving.InferenceServer(bad, model_dir, worker_count=0)


@pytest.mark.parametrize("ending", ["exit", "kill"])
def test_no_orphan_when_the_python_process_ends(echo, tmp_path, ending):
    """atexit stops the server on a normal exit; PR_SET_PDEATHSIG when the parent is killed."""
    script, model_dir = echo
    parent = tmp_path / "parent.py"
    parent.write_text(
        textwrap.dedent(f"""
        import sys, time
        from dp100 import serving
        server = serving.InferenceServer({str(script)!r}, {str(model_dir)!r}).start()
        print(server.process.pid, flush=True)
        if {ending!r} == "kill":
            time.sleep(60)
    """)
    )
    proc = subprocess.Popen([sys.executable, str(parent)], stdout=subprocess.PIPE, text=True)
    server_pid = int(proc.stdout.readline())
    assert psutil.pid_exists(server_pid)
    if ending == "kill":
        proc.send_signal(signal.SIGKILL)
    proc.wait(60)
    assert wait_gone(f"--entry_script {script}") == [], f"server left behind after the parent's {ending}"


# -- the deployed service: gate + reference entry script ------------------------------------------
@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("model")
    frame = pd.DataFrame({"hr": [0, 6, 12, 18, 23], "temp": [0.2, 0.3, 0.6, 0.5, 0.3]})
    joblib.dump(LinearRegression().fit(frame, [5, 80, 200, 300, 40]), folder / "model.pkl")
    return folder


@pytest.fixture(scope="module")
def reference(tmp_path_factory, model_dir):
    script = serving.write_reference_entry_script(tmp_path_factory.mktemp("ref") / "score.py")
    with serving.InferenceServer(script, model_dir) as server:
        yield server


def test_client_mistakes_get_4xx_never_500(reference):
    with serving.deploy(
        "svc", deployment_config=auth.AksWebservice.deploy_configuration(), server=reference
    ) as service:
        key = service.get_keys()[0]
        uri = service.scoring_uri

        def post(body, key=key, **kw):
            headers = {"Authorization": f"Bearer {key}"} if key else {}
            return requests.post(uri, data=body, headers=headers, **kw)

        good = post('{"data": [{"hr": 12, "temp": 0.6}, {"temp": 0.3, "hr": 0}]}')
        assert good.status_code == 200 and len(good.json()["predictions"]) == 2
        assert post('{"data": []}', key=None).status_code == 401
        assert post('{"data": []}', key="wrong").status_code == 401
        cases = {
            "not json": (400, "not JSON"),
            "": (400, "not JSON"),
            "[1, 2]": (400, "expected a JSON object"),
            '{"rows": [{"hr": 1, "temp": 0.1}]}': (400, "expected a JSON object"),
            '{"data": [1]}': (400, "expected a JSON object"),
            '{"data": [{"hr": 1}]}': (422, "missing columns: ['temp']"),
            '{"data": [{"hr": 1, "temp": 0.1, "wind": 3}]}': (422, "extra columns: ['wind']"),
            '{"data": [{"hr": "noon", "temp": 0.1}]}': (422, "non-numeric values: ['hr']"),
            '{"data": [{"hr": null, "temp": 0.1}]}': (422, "missing or non-numeric"),
        }
        for body, (status, words) in cases.items():
            answer = post(body)
            assert answer.status_code == status, f"{body!r}: {answer.status_code} {answer.text}"
            assert words in answer.json()["message"], f"{body!r}: {answer.json()}"
        binary = requests.post(uri, data=b"\xff\xfe", headers={"Authorization": f"Bearer {key}"})
        assert 400 <= binary.status_code < 500
        assert service.run('{"data": [{"hr": 6, "temp": 0.3}]}')["predictions"][0] == pytest.approx(
            joblib.load(reference.model_dir / "model.pkl").predict(pd.DataFrame({"hr": [6], "temp": [0.3]}))[0]
        )
        with pytest.raises(serving.ServingError, match="422"):
            service.run('{"data": [{"hr": 6}]}')
    assert reference.running, "leaving a service that shares a server stops only its gate"
    with pytest.raises(serving.ServingError, match="not running"):
        service.scoring_uri


def test_token_service_and_key_rotation(reference):
    config = auth.AksWebservice.deploy_configuration(token_auth_enabled=True)
    with serving.deploy("tok", deployment_config=config, server=reference) as service:
        assert service.token_auth_enabled and not service.auth_enabled
        token, _ = service.get_token()
        body = '{"data": [{"hr": 1, "temp": 0.1}]}'
        assert requests.post(service.scoring_uri, data=body, headers={"Authorization": f"Bearer {token}"}).ok
        assert service.run(body)["predictions"]
        with pytest.raises(auth.AuthConfigError):
            service.get_keys()
    with serving.deploy(
        "aci", deployment_config=auth.AciWebservice.deploy_configuration(), server=reference
    ) as open_service:
        assert requests.post(open_service.scoring_uri, data=body).ok  # ACI default: no auth
    with pytest.raises(serving.ServingError, match="runs score.py, not other.py"):
        serving.deploy("x", "other.py", None, server=reference)


def test_own_server_is_stopped_by_delete(echo):
    script, model_dir = echo
    service = serving.deploy("own", script, model_dir, auth.LocalWebservice.deploy_configuration())
    pid = service.server.process.pid
    assert requests.post(service.scoring_uri, json={"data": [1]}).json()["n"] == 1
    assert "POST /score" in service.get_logs()
    service.delete()
    assert service.state == "Deleted" and wait_gone(f"--entry_script {script}") == []
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    assert serving.stop_on_cell_error(service.server) is False, "outside IPython nothing is registered"


def test_a_failing_cell_stops_a_shared_server_unless_the_run_goes_on(echo, tmp_path):
    """A failed cell followed at once by another (nbgrader, Run All without stopping) keeps the shared
    server; a failed cell after which no cell runs (Run All stopped at the error) stops it."""
    script, model_dir = echo
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell(c)
        for c in (
            f"from dp100 import inference_server, serving\n"
            f"backend = serving.InferenceServer({str(script)!r}, {str(model_dir)!r}).start()\n"
            "assert serving.stop_on_cell_error(backend)\n"
            "inference_server.STOP_AFTER_FAILED_CELL_S = 1.0\n"
            "first = backend.process.pid",
            "1 / 0",
            "import time\ntime.sleep(1.5)\nprint('kept:', backend.running and backend.process.pid == first)",
            "1 / 0",
            "print('running after the failed cell:', backend.running)",
        )
    ]
    client = NotebookClient(
        nb, timeout=120, kernel_name="python3", allow_errors=True, resources={"metadata": {"path": str(tmp_path)}}
    )
    with client.setup_kernel():
        for i, cell in enumerate(nb.cells):
            if i == 4:
                time.sleep(3.0)  # no cell runs: the run stopped at the error
            client.execute_cell(cell, i)
    assert "kept: True" in nb.cells[2].outputs[0]["text"], nb.cells[2].outputs
    assert "running after the failed cell: False" in nb.cells[4].outputs[0]["text"], nb.cells[4].outputs
    assert wait_gone(f"--entry_script {script}") == []


# -- the solution notebook: runs top to bottom and leaves nothing behind --------------------------
# It is the solution run of the honest-grading class (tests/nbgrader_class.py): stock nbgrader
# executed it once for the session, and this reads what that run left.
@pytest.mark.slow
@pytest.mark.grading
@pytest.mark.xdist_group("nbgrader-04-deploy")
def test_solution_notebook_leaves_no_process_behind(tmp_path_factory):
    graded = graded_class("04-deploy", tmp_path_factory)
    nb = graded.executed("solution")
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]
    assert not errors, f"the solution notebook raised: {errors[0]['ename']}: {errors[0]['evalue']}"
    assert "processes left behind: none" in nb.cells[-1].outputs[0]["text"]
    # servers name the notebook's workspace; batch workers (forked by the kernel) run in its folder
    left = [p for p in graded.survivors if "/autograded/solution/" in p]
    assert left == [], f"processes of the solution notebook survived it: {left}"
