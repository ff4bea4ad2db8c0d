"""JupyterHub for a workshop on one machine: `make hub` (after `hub/hubctl.py setup`) starts it.

Settings come from the environment so the same file serves a workshop and the test:
  DP100_HUB_ROOT    what hubctl built (default /srv/dp100-hub): venv, data, exchange, state
  DP100_HUB_ROSTER  the roster CSV (default hub/roster.csv): who may sign in, who is the instructor
  DP100_HUB_IP      address to listen on (default 0.0.0.0: people on the local network)
  DP100_HUB_PORT    port (default 8000)

Sign-in: FirstUseAuthenticator. Only the people on the roster may sign in; each chooses their
password at their first sign-in (so no password is ever written in a file or handed round), and
the instructor, an admin of the hub, can reset one from the admin page. See hub/README.md.
"""

import os
import sys
from pathlib import Path

c = get_config()  # noqa: F821

HERE = Path(__file__).resolve().parent
ROOT = Path(os.environ.get("DP100_HUB_ROOT", "/srv/dp100-hub"))
ROSTER = Path(os.environ.get("DP100_HUB_ROSTER", HERE / "roster.csv"))
sys.path.insert(0, str(HERE))
from hubctl import read_roster  # noqa: E402  (the same checks as the set-up)

people = read_roster(ROSTER)
instructor = next(name for name, role in people if role == "instructor")

c.JupyterHub.ip = os.environ.get("DP100_HUB_IP", "0.0.0.0")
c.JupyterHub.port = int(os.environ.get("DP100_HUB_PORT", "8000"))
# The hub's own API and the proxy's API, on loopback only (change them to run two hubs on one machine).
c.JupyterHub.hub_port = int(os.environ.get("DP100_HUB_API_PORT", "8081"))
c.ConfigurableHTTPProxy.api_url = f"http://127.0.0.1:{int(os.environ.get('DP100_PROXY_API_PORT', '8001'))}"
c.JupyterHub.db_url = f"sqlite:///{ROOT / 'state' / 'jupyterhub.sqlite'}"
c.JupyterHub.cookie_secret_file = str(ROOT / "state" / "jupyterhub_cookie_secret")
c.JupyterHub.pid_file = str(ROOT / "state" / "jupyterhub.pid")
c.JupyterHub.log_level = "INFO"

# Debian's configurable-http-proxy, run by the NodeSource node of this machine kind, finds its
# modules only with NODE_PATH (the hub passes its environment to the proxy it starts).
os.environ.setdefault("NODE_PATH", "/usr/share/nodejs")
c.ConfigurableHTTPProxy.command = ["configurable-http-proxy"]
c.ConfigurableHTTPProxy.pid_file = str(ROOT / "state" / "proxy.pid")

c.JupyterHub.authenticator_class = "firstuseauthenticator.FirstUseAuthenticator"
c.FirstUseAuthenticator.create_users = False  # roster only
c.FirstUseAuthenticator.dbm_path = str(ROOT / "state" / "passwords.dbm")
c.FirstUseAuthenticator.min_password_length = 8
c.Authenticator.allowed_users = {name for name, _ in people}
c.Authenticator.admin_users = {instructor}

# Each person's own JupyterLab, as their own system user, from the hub's venv (course kernel,
# nbgrader's extensions). Students' servers have the formgrader switched off by hubctl.
venv_bin = ROOT / "venv" / "bin"
c.Spawner.cmd = [str(venv_bin / "jupyterhub-singleuser")]
c.Spawner.default_url = "/lab"
c.Spawner.notebook_dir = "~"
c.Spawner.http_timeout = 120
c.Spawner.start_timeout = 120
c.Spawner.environment = {
    "PATH": f"{venv_bin}:/usr/local/bin:/usr/bin:/bin",
    "JUPYTER_CONFIG_PATH": str(ROOT / "etc" / "jupyter"),
    "DP100_DATA": str(ROOT / "data"),
    "DP100_EXCHANGE": str(ROOT / "exchange"),  # read by the course's nbgrader_config.py
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "DO_NOT_TRACK": "true",
    "JUPYTERHUB_SINGLEUSER_EXTENSION": "1",
}
c.Spawner.args = ["--LabApp.news_url=None", "--LabApp.extension_manager=readonly"]
