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
    assert auth.AciWebservice.deploy_configuration().auth_mode == "none"  # ACI: disabled
    assert auth.AksWebservice.deploy_configuration().auth_mode == "key"  # AKS: key-based
    assert auth.AksWebservice.deploy_configuration(token_auth_enabled=True).auth_mode == "token"
    assert auth.AciWebservice.deploy_configuration(auth_enabled=True).auth_mode == "key"
    assert auth.LocalWebservice.deploy_configuration(port=6789).port == 6789
    assert auth.AksWebservice.deploy_configuration().autoscale_max_replicas == 10


def test_key_and_token_cannot_both_be_enabled():
    with pytest.raises(auth.AuthConfigError, match="cannot both be enabled"):
        auth.AksWebservice.deploy_configuration(auth_enabled=True, token_auth_enabled=True)


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: auth.AciWebservice.deploy_configuration(token_auth_enabled=True), "only available on AKS"),
        (lambda: auth.AciWebservice.deploy_configuration(auth_enabled="yes"), "auth_enabled"),
        (lambda: auth.AksWebservice.deploy_configuration(token_auth_enabled=1), "token_auth_enabled"),
        (
            lambda: auth.AksWebservice.deploy_configuration(autoscale_min_replicas=5, autoscale_max_replicas=2),
            "autoscale_min_replicas",
        ),
        (lambda: auth.AksWebservice.deploy_configuration(token_lifetime_s=0), "token_lifetime_s"),
        (lambda: auth.LocalWebservice.deploy_configuration(port=70000), "port"),
        (lambda: auth.EndpointAuth("password"), "auth mode"),
    ],
)
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
        gate.check(f"Bearer {primary}")  # the old primary no longer works
    gate.check(f"Bearer {secondary}")  # the other key kept working
    gate.check(f"Bearer {new_primary}")
    with pytest.raises(auth.AuthConfigError, match="'Primary' or 'Secondary'"):
        gate.regen_key("primary")
    with pytest.raises(auth.AuthConfigError, match="not tokens"):
        gate.get_token()


@pytest.mark.parametrize(
    "header, match",
    [
        (None, "missing Authorization header"),
        ("", "missing Authorization header"),
        ("Basic abc", "must be 'Bearer"),
        ("Bearer ", "must be 'Bearer"),
        ("Bearer not-the-key", "invalid key"),
    ],
)
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
    assert refresh_after.timestamp() == pytest.approx(1_030.0)  # half-way through its life
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
    other, _ = auth.EndpointAuth("token").get_token()  # signed with another secret
    with pytest.raises(auth.Unauthorized, match="invalid token"):
        gate.check(f"Bearer {other}")
    forged = jwt.encode(
        {"aud": "dp100-local-endpoint", "exp": 9e9}, "a-guessed-secret-of-32-bytes-len", algorithm="HS256"
    )
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

    def do_HEAD(self):
        _Upstream.seen.append({"path": self.path, "auth": self.headers.get("Authorization"), "body": b""})
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_GET = do_POST = _answer


@pytest.fixture()
def upstream():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Upstream)
    # a short poll: shutdown() waits for the loop to look, and the default 0.5 s is paid by every test
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
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
        assert requests.get(f"http://127.0.0.1:{gate.port}/").status_code == 200  # health: no key
        boom = requests.post(url + "/boom", data="{}", headers={"Authorization": f"Bearer {key}"})
        assert boom.status_code == 500  # passed through
        with requests.Session() as session:  # keep-alive
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
                sock.sendall(b'POST /score HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n{"da')
            with socket.create_connection(("127.0.0.1", gate.port)) as sock:
                sock.sendall(b"GARBAGE\r\n\r\n")
        assert requests.get(f"http://127.0.0.1:{gate.port}/").status_code == 200, "the gate still serves"
    assert capfd.readouterr().err == ""


# -- deny by default, whatever the spelling of the request line -----------------------------------
def _raw(port: int, request_line: str, headers: dict[str, str] | None = None, body: bytes = b"") -> tuple[int, bytes]:
    """Send ``request_line`` verbatim over a socket (no client library normalises it); return
    (status, body)."""
    import socket

    head = [request_line, "Host: 127.0.0.1", "Connection: close", f"Content-Length: {len(body)}"]
    head += [f"{k}: {v}" for k, v in (headers or {}).items()]
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    status_line, _, rest = data.partition(b"\r\n")
    return int(status_line.split()[1]), rest.partition(b"\r\n\r\n")[2]


@pytest.fixture()
def key_gate(upstream):
    policy = auth.EndpointAuth("key")
    with auth.AuthProxy(policy, upstream) as gate:
        yield gate, policy.get_keys()[0]


SCORE_SPELLINGS = [
    "/score",
    "/%73core",
    "/%73%63%6F%72%65",
    "//score",
    "///score/",
    "/score/",
    "/./score",
    "/x/../score",
    "/%2e/score",
    "/score%2F",
    "/SCORE",
    "/Score/",
    "/score?x=1",
    "/score#frag",
    "http://127.0.0.1/score",
    "HTTP://evil.example:80//%73core/?a=1",
]


@pytest.mark.parametrize("target", SCORE_SPELLINGS)
def test_no_spelling_or_method_reaches_the_server_without_a_key(key_gate, target):
    gate, _ = key_gate
    for method in ("POST", "GET", "HEAD", "PUT", "DELETE", "PATCH", "OPTIONS", "FOO"):
        status, body = _raw(
            gate.port, f"{method} {target} HTTP/1.1", body=b'{"data": [[1]]}' if method == "POST" else b""
        )
        assert status == 401, (method, target, status, body)
    for bad in ("Bearer wrong", "Basic abc", "bearer"):
        assert _raw(gate.port, f"POST {target} HTTP/1.1", {"Authorization": bad})[0] == 401, (target, bad)
    assert _Upstream.seen == [], f"{target} reached the scoring server without a key"


@pytest.mark.parametrize("target", ["*", "score", "/a%00b", "/%2573core", "/%ff%fe", "/a\\..\\score"])
def test_malformed_targets_get_400_not_500(key_gate, target):
    gate, key = key_gate
    for headers in ({}, {"Authorization": f"Bearer {key}"}):
        status, body = _raw(gate.port, f"POST {target} HTTP/1.1", headers)
        assert status == 400, (target, status, body)
        assert json.loads(body)["message"]
    assert _Upstream.seen == []


def test_public_pairs_need_no_key_and_are_exact(key_gate):
    gate, _ = key_gate
    for line in (
        "GET / HTTP/1.1",
        "HEAD / HTTP/1.1",
        "GET /?probe=1 HTTP/1.1",
        "GET http://127.0.0.1/ HTTP/1.1",
        "GET //./ HTTP/1.1",
    ):
        assert _raw(gate.port, line)[0] == 200, line
    assert [s["path"] for s in _Upstream.seen] == ["/", "/", "/?probe=1", "/", "/"]
    for line in ("POST / HTTP/1.1", "DELETE / HTTP/1.1", "GET /score HTTP/1.1", "GET /anything HTTP/1.1"):
        assert _raw(gate.port, line)[0] == 401, line
    assert len(_Upstream.seen) == 5


def test_authenticated_request_is_forwarded_in_canonical_form(key_gate):
    gate, key = key_gate
    auth_header = {"Authorization": f"Bearer {key}"}
    for target in ("/%73core", "http://elsewhere.example/score/?a=1", "//score", "/x/../score"):
        status, body = _raw(gate.port, f"POST {target} HTTP/1.1", auth_header, b'{"x": 1}')
        assert status == 200, (target, body)
    assert [s["path"] for s in _Upstream.seen] == ["/score", "/score?a=1", "/score", "/score"]
    assert all(s["auth"] is None for s in _Upstream.seen)
    status, body = _raw(gate.port, "FOO /score HTTP/1.1", auth_header)
    assert status == 405 and "FOO" in json.loads(body)["message"]
    assert len(_Upstream.seen) == 4


def test_client_mistakes_in_the_request_line_get_4xx(key_gate):
    gate, _ = key_gate
    for line in ("GET / HTTP/2.0", "POST /score HTTP/9.9", "GET / HTTP/x", "NOTAREQUEST"):
        status = _raw(gate.port, line)[0]
        assert 400 <= status < 500, (line, status)
    assert _Upstream.seen == []
