"""Real-time endpoint on your machine: Microsoft's inference server, started and stopped for you.

LOCAL TEACHING EQUIVALENT OF AN AZURE ML REAL-TIME ENDPOINT (``Model.deploy`` / SDK v2
``ManagedOnlineEndpoint``), NOT AZURE. Inside an Azure container, ``score.py`` is served by
``azureml-inference-server-http`` (command ``azmlinfsrv``). Here the same server runs as a managed
subprocess of your Python process:

- :class:`InferenceServer` starts ``azmlinfsrv --entry_script score.py --model_dir DIR --port P``
  on a free port, waits until its health probe answers, and stops it (its whole process group)
  when you leave the ``with`` block, when a cell inside that block fails, when the Python process
  exits (``atexit``), and, on Linux, even when the process is killed (``PR_SET_PDEATHSIG``).
  No orphans.
- :func:`deploy` puts the authentication gate of :mod:`dp100.auth` in front of it and returns a
  :class:`Webservice` with the SDK v1 surface: ``scoring_uri``, ``get_keys``, ``regen_key``,
  ``get_token``, ``run``, ``get_logs``, ``delete``. Several services may share one running
  server (``deploy(..., server=...)``): starting a server costs seconds, a gate milliseconds.
  :func:`stop_on_cell_error` stops a shared server when a Jupyter cell fails and no other cell
  starts within a few seconds (a Run All that stopped at the error).

Two facts of ``azmlinfsrv`` 1.4.1 this module handles (see ``docs`` of the course):
it binds ``0.0.0.0`` (every network interface, and it has no authentication), and gunicorn 26
opens a control socket at a fixed path (``~/.gunicorn/gunicorn.ctl``) that two servers would share.
A gunicorn config hook rebinds to ``127.0.0.1`` and ``--no-control-socket`` disables the socket.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from dp100 import auth as _auth
from dp100.inference_server import InferenceServer, ServingError, free_port, stop_on_cell_error

__all__ = [
    "InferenceServer",
    "ServingError",
    "Webservice",
    "deploy",
    "free_port",
    "stop_on_cell_error",
    "REFERENCE_ENTRY_SCRIPT",
    "write_reference_entry_script",
]


class Webservice:
    """A deployed real-time service: ``azmlinfsrv`` behind the key/token gate of :mod:`dp100.auth`.

    Create it with :func:`deploy`. Use it in a ``with`` block (or call :meth:`delete`).
    """

    def __init__(
        self,
        name: str,
        entry_script: str | os.PathLike,
        model_dir: str | os.PathLike,
        deployment_config: _auth.DeploymentConfiguration | None = None,
        worker_count: int = 1,
        log_path: str | os.PathLike | None = None,
        clock=time.time,
        server: InferenceServer | None = None,
    ):
        self.name = name
        self.deployment_config = deployment_config or _auth.AksWebservice.deploy_configuration()
        if not isinstance(self.deployment_config, _auth.DeploymentConfiguration):
            raise _auth.AuthConfigError(
                "deployment_config must come from AciWebservice/AksWebservice/"
                f"LocalWebservice.deploy_configuration(), got {deployment_config!r}"
            )
        self.compute_type = self.deployment_config.compute_type
        self.auth = _auth.EndpointAuth.from_config(self.deployment_config, clock=clock)
        if server is not None:  # a running (or restartable) server shared by several services
            if not isinstance(server, InferenceServer):
                raise ServingError(f"server must be an InferenceServer, got {type(server).__name__}")
            if entry_script is not None and Path(entry_script).resolve() != server.entry_script:
                raise ServingError(f"server runs {server.entry_script.name}, not {Path(entry_script).name}")
            self.server, self._owns_server = server, False
        else:
            self.server = InferenceServer(entry_script, model_dir, worker_count=worker_count, log_path=log_path)
            self._owns_server = True
        self.gate: _auth.AuthProxy | None = None
        self.state = "Unhealthy"

    @property
    def auth_enabled(self) -> bool:
        return self.auth.mode == _auth.KEY

    @property
    def token_auth_enabled(self) -> bool:
        return self.auth.mode == _auth.TOKEN

    def start(self) -> Webservice:
        self.server.start()
        try:
            self.gate = _auth.AuthProxy(self.auth, self.server.port, port=self.deployment_config.port or 0).start()
        except BaseException:
            if self._owns_server:
                self.server.stop()
            raise
        self.state = "Healthy"
        return self

    @property
    def scoring_uri(self) -> str:
        if self.gate is None or not self.server.running:
            raise ServingError(f"service {self.name!r} is not running")
        return f"http://127.0.0.1:{self.gate.port}/score"

    @property
    def swagger_uri(self) -> str:
        return self.scoring_uri.rsplit("/", 1)[0] + "/swagger.json"

    def wait_for_deployment(self, show_output: bool = False) -> None:
        if show_output:
            print(f"{self.name}: {self.state} ({self.compute_type}, auth: {self.auth.mode}) at {self.scoring_uri}")

    # -- credentials (SDK v1 names) -------------------------------------------------------------
    def get_keys(self) -> tuple[str, str]:
        return self.auth.get_keys()

    def regen_key(self, key: str) -> str:
        return self.auth.regen_key(key)

    def get_token(self):
        return self.auth.get_token()

    def _authorization(self) -> dict[str, str]:
        if self.auth.mode == _auth.KEY:
            return {"Authorization": f"Bearer {self.get_keys()[0]}"}
        if self.auth.mode == _auth.TOKEN:
            return {"Authorization": f"Bearer {self.get_token()[0]}"}
        return {}

    def run(self, input_data: str) -> Any:
        """Send ``input_data`` (a JSON string) with this service's credential; return the JSON answer
        (``service.run(json.dumps(...))`` in SDK v1). A non-2xx answer raises :class:`ServingError`."""
        import json

        import requests

        resp = requests.post(
            self.scoring_uri,
            data=input_data,
            timeout=60,
            headers={"Content-Type": "application/json", **self._authorization()},
        )
        if not resp.ok:
            raise ServingError(f"{resp.status_code} from {self.name}: {resp.text}")
        return json.loads(resp.text)

    def get_logs(self, lines: int = 60) -> str:
        """The end of the server's log, then the gate's request log."""
        gate = self.gate.log_lines[-lines:] if self.gate else []
        return self.server.log_tail(lines) + "\n" + "\n".join(gate)

    def delete(self) -> None:
        """Stop the gate, and the server unless it was given to :func:`deploy` (shared)."""
        if self.gate is not None:
            self.gate.stop()
            self.gate = None
        if self._owns_server:
            self.server.stop()
        self.state = "Deleted"

    def __enter__(self) -> Webservice:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.delete()

    def __repr__(self) -> str:
        where = self.scoring_uri if self.state == "Healthy" and self.server.running else "-"
        return (
            f"Webservice(name={self.name!r}, compute_type={self.compute_type!r}, "
            f"auth={self.auth.mode!r}, state={self.state!r}, scoring_uri={where!r})"
        )


def deploy(
    name: str,
    entry_script: str | os.PathLike | None = None,
    model_dir: str | os.PathLike | None = None,
    deployment_config: _auth.DeploymentConfiguration | None = None,
    worker_count: int = 1,
    log_path: str | os.PathLike | None = None,
    clock=time.time,
    server: InferenceServer | None = None,
) -> Webservice:
    """Start ``entry_script`` on the inference server behind the auth gate; return the running service.

    The local form of ``Model.deploy(ws, name, [model], inference_config, deployment_config)``
    (SDK v1) and of ``ml_client.online_endpoints/online_deployments.begin_create_or_update`` (SDK v2).
    The default ``deployment_config`` is AKS's: key-based authentication.

    ``server``: an :class:`InferenceServer` to put the gate in front of instead of starting a new
    one (started now if it is not running; leaving the service's ``with`` block stops only the gate).
    Starting a server costs seconds; a notebook shares one across cells this way.
    """
    if server is None and (entry_script is None or model_dir is None):
        raise ServingError("deploy needs entry_script and model_dir (or a server to share)")
    return Webservice(name, entry_script, model_dir, deployment_config, worker_count, log_path, clock, server).start()


REFERENCE_ENTRY_SCRIPT = '''\
"""Reference entry script: a scikit-learn model fitted on a DataFrame, saved as model.pkl."""
import json
import os

import joblib
import pandas as pd
from azureml_inference_server_http.api.aml_response import AMLResponse

model = None
columns = []


def init():
    global model, columns
    model = joblib.load(os.path.join(os.environ["AZUREML_MODEL_DIR"], "model.pkl"))
    columns = list(model.feature_names_in_)


def _client_error(status, message):
    return AMLResponse({"message": message}, status, json_str=True)


def run(raw_data):
    try:
        payload = json.loads(raw_data)
    except (json.JSONDecodeError, TypeError) as exc:
        return _client_error(400, f"body is not JSON: {exc}")
    rows = payload.get("data") if isinstance(payload, dict) else None
    if not isinstance(rows, list) or not rows or not all(isinstance(r, dict) for r in rows):
        return _client_error(400, 'expected a JSON object {"data": [{column: value, ...}, ...]}')
    sent = set().union(*rows)
    missing = [c for c in columns if any(c not in r for r in rows)]
    extra = sorted(sent - set(columns))
    if missing or extra:
        return _client_error(422, f"missing columns: {missing}; extra columns: {extra}")
    frame = pd.DataFrame(rows, columns=columns)
    numbers = frame.apply(pd.to_numeric, errors="coerce")
    bad = [c for c in columns if numbers[c].isna().any()]
    if bad:
        return _client_error(422, f"columns with missing or non-numeric values: {bad}")
    return {"predictions": [float(p) for p in model.predict(numbers)]}
'''


def write_reference_entry_script(path: str | os.PathLike) -> Path:
    """Write the course's reference ``score.py`` to ``path`` and return the path."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(REFERENCE_ENTRY_SCRIPT)
    return target
