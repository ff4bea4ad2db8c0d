"""dp100.auth: deployment configurations, key and token checks, and the gate (proxy) in front of a server."""
import http.server
import json
import threading

import jwt
import pytest
import requests

from dp100 import auth


# -- deployment configurations ---------------------------------------------------------------
def test_defaults_follow_azure():
    assert auth.AciWebservice.deploy_configuration().auth_mode == "none"      # ACI: disabled
    assert auth.AksWebservice.deploy_configuration().auth_mode == "key"       # AKS: key-based
    assert auth.AksWebservice.deploy_configuration(token_auth_enabled=True).auth_mode == "token"
    assert auth.AciWebservice.deploy_configuration(auth_enabled=True).auth_mode == "key"
    assert auth.LocalWebservice.deploy_configuration(port=6789).port == 6789
    assert auth.AksWebservice.deploy_configuration().autoscale_max_replicas == 10


def test_key_and_token_cannot_both_be_enabled():
    with pytest.raises(auth.AuthConfigError, match="cannot both be enabled"):
        auth.AksWebservice.deploy_configuration(auth_enabled=True, token_auth_enabled=True)


@pytest.mark.parametrize("call, match", [
    (lambda: auth.AciWebservice.deploy_configuration(token_auth_enabled=True), "only available on AKS"),
    (lambda: auth.AciWebservice.deploy_configuration(auth_enabled="yes"), "auth_enabled"),
    (lambda: auth.AksWebservice.deploy_configuration(token_auth_enabled=1), "token_auth_enabled"),
    (lambda: auth.AksWebservice.deploy_configuration(autoscale_min_replicas=5, autoscale_max_replicas=2),
     "autoscale_min_replicas"),
    (lambda: auth.AksWebservice.deploy_configuration(token_lifetime_s=0), "token_lifetime_s"),
    (lambda: auth.LocalWebservice.deploy_configuration(port=70000), "port"),
    (lambda: auth.EndpointAuth("password"), "auth mode"),
])
def test_bad_configuration_is_named(call, match):
    with pytest.raises(auth.AuthConfigError, match=match):
        call()


# -- keys ---------------------------------------------------------------------------------------
def test_two_keys_and_regeneration_of_one():
    gate = auth.EndpointAuth("key")
    primary, secondary = gate.get_keys()
    assert primary != secondary and len(primary) >= 32
    gate.check(f"Bearer {primary}")
    gate.check(f"bearer {secondary}")
    new_primary = gate.regen_key("Primary")
    assert gate.get_keys() == (new_primary, secondary)
    with pytest.raises(auth.Unauthorized, match="invalid key"):
        gate.check(f"Bearer {primary}")          # the old primary no longer works
    gate.check(f"Bearer {secondary}")            # the other key kept working
    gate.check(f"Bearer {new_primary}")
    with pytest.raises(auth.AuthConfigError, match="'Primary' or 'Secondary'"):
        gate.regen_key("primary")
    with pytest.raises(auth.AuthConfigError, match="not tokens"):
        gate.get_token()


@pytest.mark.parametrize("header, match", [
    (None, "missing Authorization header"),
    ("", "missing Authorization header"),
    ("Basic abc", "must be 'Bearer"),
    ("Bearer ", "must be 'Bearer"),
    ("Bearer not-the-key", "invalid key"),
])
def test_bad_key_headers(header, match):
    with pytest.raises(auth.Unauthorized, match=match):
        auth.EndpointAuth("key").check(header)


def test_no_auth_accepts_anything():
    auth.EndpointAuth("none").check(None)
    with pytest.raises(auth.AuthConfigError):
        auth.EndpointAuth("none").get_keys()


# -- tokens -------------------------------------------------------------------------------------
def test_token_is_time_limited():
    now = [1_000.0]
    gate = auth.EndpointAuth("token", token_lifetime_s=60, clock=lambda: now[0])
    token, refresh_after = gate.get_token()
    assert refresh_after.timestamp() == pytest.approx(1_030.0)   # half-way through its life
    assert jwt.decode(token, options={"verify_signature": False})["exp"] == pytest.approx(1_060.0)
    gate.check(f"Bearer {token}")
    now[0] = 1_059.9
    gate.check(f"Bearer {token}")
    now[0] = 1_060.0
    with pytest.raises(auth.Unauthorized, match="token expired"):
        gate.check(f"Bearer {token}")
    fresh, _ = gate.get_token()
    gate.check(f"Bearer {fresh}")
    with pytest.raises(auth.AuthConfigError, match="not keys"):
        gate.get_keys()


def test_forged_or_foreign_tokens_are_refused():
    gate = auth.EndpointAuth("token")
    token, _ = gate.get_token()
    other, _ = auth.EndpointAuth("token").get_token()            # signed with another secret
    with pytest.raises(auth.Unauthorized, match="invalid token"):
        gate.check(f"Bearer {other}")
    forged = jwt.encode({"aud": "dp100-local-endpoint", "exp": 9e9}, "a-guessed-secret-of-32-bytes-len", algorithm="HS256")
    with pytest.raises(auth.Unauthorized, match="invalid token"):
        gate.check(f"Bearer {forged}")
    with pytest.raises(auth.Unauthorized, match="invalid token"):
        gate.check(f"Bearer {token[:-4]}abcd")


# -- the gate in front of a server --------------------------------------------------------------
class _Upstream(http.server.BaseHTTPRequestHandler):
    seen = []

    def log_message(self, *args):
        pass

    def _answer(self):
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        _Upstream.seen.append({"path": self.path, "auth": self.headers.get("Authorization"), "body": body})
        status = 500 if self.path == "/score/boom" else 200
        payload = json.dumps({"echo": body.decode(), "path": self.path}).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST = _answer


@pytest.fixture()
def upstream():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Upstream)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    _Upstream.seen.clear()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


def test_gate_refuses_then_forwards(upstream):
    policy = auth.EndpointAuth("key")
    key = policy.get_keys()[1]
    with auth.AuthProxy(policy, upstream) as gate:
        url = f"http://127.0.0.1:{gate.port}/score"
        refused = requests.post(url, data="{}")
        assert refused.status_code == 401 and "missing Authorization" in refused.json()["message"]
        assert refused.headers["WWW-Authenticate"].startswith("Bearer")
        assert requests.post(url, data="{}", headers={"Authorization": "Bearer nope"}).status_code == 401
        assert _Upstream.seen == [], "a refused request must never reach the server"
        ok = requests.post(url, data='{"x": 1}', headers={"Authorization": f"Bearer {key}"})
        assert ok.status_code == 200 and ok.json()["echo"] == '{"x": 1}'
        assert _Upstream.seen[-1]["auth"] is None, "the key is not passed on to the entry script"
        assert requests.get(f"http://127.0.0.1:{gate.port}/").status_code == 200   # health: no key
        boom = requests.post(url + "/boom", data="{}", headers={"Authorization": f"Bearer {key}"})
        assert boom.status_code == 500                                            # passed through
        with requests.Session() as session:                                       # keep-alive
            for _ in range(3):
                assert session.post(url, data="{}", headers={"Authorization": f"Bearer {key}"}).ok
        assert gate.rejected == 2
        assert any("POST /score" in line for line in gate.log_lines)


def test_gate_reports_a_dead_server_and_chunked_bodies(upstream):
    policy = auth.EndpointAuth("none")
    with auth.AuthProxy(policy, upstream) as gate:
        chunked = requests.post(f"http://127.0.0.1:{gate.port}/score", data=iter([b"{}"]))
        assert chunked.status_code == 411 and "Content-Length" in chunked.json()["message"]
    from dp100.serving import free_port
    with auth.AuthProxy(policy, free_port()) as gate:
        dead = requests.post(f"http://127.0.0.1:{gate.port}/score", data="{}")
        assert dead.status_code == 502 and "not reachable" in dead.json()["message"]


def test_a_client_hanging_up_writes_nothing_to_stderr(upstream, capfd):
    import socket

    with auth.AuthProxy(auth.EndpointAuth("key"), upstream) as gate:
        for _ in range(3):
            with socket.create_connection(("127.0.0.1", gate.port)) as sock:
                sock.sendall(b"POST /score HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n{\"da")
            with socket.create_connection(("127.0.0.1", gate.port)) as sock:
                sock.sendall(b"GARBAGE\r\n\r\n")
        assert requests.get(f"http://127.0.0.1:{gate.port}/").status_code == 200, "the gate still serves"
    assert capfd.readouterr().err == ""
