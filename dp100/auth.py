"""Key and token authentication in front of a scoring server: the endpoint's "front door".

LOCAL TEACHING EQUIVALENT OF AZURE ML ENDPOINT AUTHENTICATION, NOT AZURE. In Azure the router in
front of a web service (AKS/ACI in SDK v1, a managed online endpoint in SDK v2) checks the
``Authorization: Bearer ...`` header before a request ever reaches the container that runs
``score.py``. Microsoft's inference server (``azmlinfsrv``), which runs inside that container, has
no authentication of its own. This module is that front door, run locally:

- :class:`EndpointAuth` holds the policy and the secrets: no auth, key-based (two keys,
  ``get_keys``, ``regen_key`` of one while the other keeps working) or token-based (a time-limited
  JSON Web Token from ``get_token``, refused once expired). Key and token cannot both be enabled.
- :class:`AciWebservice`, :class:`AksWebservice` and :class:`LocalWebservice` give the SDK v1
  ``deploy_configuration(...)`` with Azure's defaults: ACI auth disabled, AKS key-based, local none.
- :class:`AuthProxy` is a small HTTP reverse proxy (a thread of the calling process) that denies by
  default: only the health probe and swagger go without a credential; any other request with a
  missing, wrong or expired credential gets 401, whatever the spelling of its path (percent-encoded,
  absolute-form, ``//score``, ``/score/``...: the gate judges and forwards the canonical path).

The gate sits in front of the server, not in the entry script, for the same reason as in Azure:
``score.py`` stays the learner's code and never sees a key. ``dp100.serving.deploy`` wires the
three together. Tokens are real HS256 JWTs (PyJWT), signed with a secret held by this process.
"""

from __future__ import annotations

import datetime as _dt
import http.client
import http.server
import json
import posixpath
import re
import secrets
import threading
import time
import urllib.parse
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

import jwt

NONE, KEY, TOKEN = "none", "key", "token"
_AUDIENCE = "dp100-local-endpoint"


class AuthConfigError(ValueError):
    """An impossible authentication setting (for example key and token both enabled)."""


class Unauthorized(Exception):
    """A request's credential was missing, wrong or expired; the message says which."""


# --------------------------------------------------------------------------------------------
# Deployment configurations (SDK v1 names and defaults)
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class DeploymentConfiguration:
    """What ``AciWebservice/AksWebservice/LocalWebservice.deploy_configuration`` return."""

    compute_type: str  # "ACI", "AKS" or "Local"
    auth_enabled: bool  # key-based authentication
    token_auth_enabled: bool  # token-based authentication (AKS only)
    token_lifetime_s: float = 3600.0
    port: int | None = None  # LocalWebservice only: the endpoint port
    autoscale_min_replicas: int = 1
    autoscale_max_replicas: int = 10
    autoscale_target_utilization: int = 70

    @property
    def auth_mode(self) -> str:
        return KEY if self.auth_enabled else TOKEN if self.token_auth_enabled else NONE


def _check_bool(name: str, value: object) -> None:
    if not isinstance(value, bool):
        raise AuthConfigError(f"{name} must be True or False, got {value!r}")


class AciWebservice:
    """Azure Container Instances: low-scale CPU testing. Authentication is DISABLED by default;
    only key-based authentication exists on ACI (no tokens)."""

    @staticmethod
    def deploy_configuration(
        cpu_cores: float = 0.1, memory_gb: float = 0.5, auth_enabled: bool = False, **_: object
    ) -> DeploymentConfiguration:
        if "token_auth_enabled" in _:
            raise AuthConfigError(
                "token_auth_enabled: token-based authentication is only available "
                "on AKS, not on ACI (use auth_enabled=True for keys)"
            )
        _check_bool("auth_enabled", auth_enabled)
        return DeploymentConfiguration("ACI", auth_enabled, False)


class AksWebservice:
    """Azure Kubernetes Service (inference cluster): real-time production. Key-based
    authentication is ENABLED by default; token-based authentication can replace it."""

    @staticmethod
    def deploy_configuration(
        auth_enabled: bool | None = None,
        token_auth_enabled: bool = False,
        autoscale_enabled: bool = True,
        autoscale_min_replicas: int = 1,
        autoscale_max_replicas: int = 10,
        autoscale_target_utilization: int = 70,
        token_lifetime_s: float = 3600.0,
        **_: object,
    ) -> DeploymentConfiguration:
        _check_bool("token_auth_enabled", token_auth_enabled)
        if auth_enabled is None:  # AKS default: keys, unless tokens were asked for
            auth_enabled = not token_auth_enabled
        _check_bool("auth_enabled", auth_enabled)
        if auth_enabled and token_auth_enabled:
            raise AuthConfigError(
                "key-based (auth_enabled) and token-based (token_auth_enabled) "
                "authentication cannot both be enabled on one web service"
            )
        if not (
            isinstance(autoscale_min_replicas, int)
            and isinstance(autoscale_max_replicas, int)
            and 1 <= autoscale_min_replicas <= autoscale_max_replicas
        ):
            raise AuthConfigError(
                "need 1 <= autoscale_min_replicas <= autoscale_max_replicas, got "
                f"{autoscale_min_replicas!r} and {autoscale_max_replicas!r}"
            )
        if not (isinstance(token_lifetime_s, (int, float)) and token_lifetime_s > 0):
            raise AuthConfigError(f"token_lifetime_s must be a positive number, got {token_lifetime_s!r}")
        return DeploymentConfiguration(
            "AKS",
            auth_enabled,
            token_auth_enabled,
            float(token_lifetime_s),
            autoscale_min_replicas=autoscale_min_replicas,
            autoscale_max_replicas=autoscale_max_replicas,
            autoscale_target_utilization=autoscale_target_utilization,
        )


class LocalWebservice:
    """Local web service (testing and debugging; in Azure it needs Docker on your machine and the
    port the endpoint listens on). No authentication."""

    @staticmethod
    def deploy_configuration(port: int | None = None) -> DeploymentConfiguration:
        if port is not None and not (isinstance(port, int) and 0 < port < 65536):
            raise AuthConfigError(f"port must be a whole number between 1 and 65535, got {port!r}")
        return DeploymentConfiguration("Local", False, False, port=port)


# --------------------------------------------------------------------------------------------
# The policy and its secrets
# --------------------------------------------------------------------------------------------
class EndpointAuth:
    """The credentials of one endpoint and the check of a request's ``Authorization`` header.

    ``clock`` (seconds since the epoch) is injectable so tests can expire a token without waiting.
    """

    def __init__(self, mode: str = KEY, token_lifetime_s: float = 3600.0, clock: Callable[[], float] = time.time):
        if mode not in (NONE, KEY, TOKEN):
            raise AuthConfigError(f"auth mode {mode!r}: use 'none', 'key' or 'token'")
        if not (isinstance(token_lifetime_s, (int, float)) and token_lifetime_s > 0):
            raise AuthConfigError(f"token_lifetime_s must be a positive number, got {token_lifetime_s!r}")
        self.mode = mode
        self.token_lifetime_s = float(token_lifetime_s)
        self._clock = clock
        self._lock = threading.Lock()
        self._keys = {"Primary": secrets.token_urlsafe(32), "Secondary": secrets.token_urlsafe(32)}
        self._signing_secret = secrets.token_bytes(32)

    @classmethod
    def from_config(cls, config: DeploymentConfiguration, clock: Callable[[], float] = time.time) -> EndpointAuth:
        return cls(config.auth_mode, config.token_lifetime_s, clock)

    # -- keys ---------------------------------------------------------------------------------
    def get_keys(self) -> tuple[str, str]:
        """``(primary_key, secondary_key)``, as ``Webservice.get_keys()`` returns them."""
        if self.mode != KEY:
            raise AuthConfigError(f"get_keys: this endpoint uses {self.mode!r} authentication, not keys")
        with self._lock:
            return self._keys["Primary"], self._keys["Secondary"]

    def regen_key(self, key: str) -> str:
        """Replace the ``"Primary"`` or ``"Secondary"`` key; the other one keeps working."""
        if self.mode != KEY:
            raise AuthConfigError(f"regen_key: this endpoint uses {self.mode!r} authentication, not keys")
        if key not in self._keys:
            raise AuthConfigError(f"regen_key({key!r}): key must be 'Primary' or 'Secondary'")
        with self._lock:
            self._keys[key] = secrets.token_urlsafe(32)
            return self._keys[key]

    # -- tokens -------------------------------------------------------------------------------
    def get_token(self) -> tuple[str, _dt.datetime]:
        """``(token, refresh_after)``: a signed JWT valid for ``token_lifetime_s`` seconds, and the
        time (UTC) after which a client should ask for a new one (half-way through its life)."""
        if self.mode != TOKEN:
            raise AuthConfigError(f"get_token: this endpoint uses {self.mode!r} authentication, not tokens")
        now = self._clock()
        claims = {"aud": _AUDIENCE, "iat": now, "exp": now + self.token_lifetime_s, "jti": uuid.uuid4().hex}
        token = jwt.encode(claims, self._signing_secret, algorithm="HS256")
        refresh_after = _dt.datetime.fromtimestamp(now + self.token_lifetime_s / 2, tz=_dt.UTC)
        return token, refresh_after

    # -- the check ----------------------------------------------------------------------------
    def check(self, authorization: str | None) -> None:
        """Return if the ``Authorization`` header value is accepted, else raise :class:`Unauthorized`."""
        if self.mode == NONE:
            return
        if not authorization:
            raise Unauthorized("missing Authorization header: send 'Authorization: Bearer <key or token>'")
        scheme, _, credential = authorization.strip().partition(" ")
        if scheme.lower() != "bearer" or not credential.strip():
            raise Unauthorized("Authorization header must be 'Bearer <key or token>'")
        credential = credential.strip()
        if self.mode == KEY:
            with self._lock:
                keys = list(self._keys.values())
            if not any(secrets.compare_digest(credential.encode(), k.encode()) for k in keys):
                raise Unauthorized("invalid key (was it regenerated? get_keys() returns the current pair)")
            return
        try:
            claims = jwt.decode(
                credential,
                self._signing_secret,
                algorithms=["HS256"],
                audience=_AUDIENCE,
                options={"verify_exp": False, "verify_iat": False},
            )
        except jwt.InvalidTokenError as exc:
            raise Unauthorized(f"invalid token ({exc})") from None
        if self._clock() >= float(claims["exp"]):
            expired = _dt.datetime.fromtimestamp(float(claims["exp"]), tz=_dt.UTC)
            raise Unauthorized(f"token expired at {expired:%H:%M:%S} UTC: call get_token() for a new one")


# --------------------------------------------------------------------------------------------
# The gate: a small reverse proxy in front of the scoring server
# --------------------------------------------------------------------------------------------
#: What an anonymous client may ask for (Azure answers these without a credential too): the
#: health probe and the API description. Everything else needs a credential: deny by default.
PUBLIC = {("GET", "/"), ("HEAD", "/"), ("GET", "/swagger.json"), ("HEAD", "/swagger.json")}
#: Methods the gate forwards (to an authenticated client); any other one is answered 405.
FORWARDED_METHODS = ("GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH")
MAX_BODY_BYTES = 64 * 1024 * 1024
_FORBIDDEN_IN_PATH = re.compile(r"[\x00-\x1f\x7f\\]")


class BadTarget(ValueError):
    """A request target the gate cannot read as one path (answered 400)."""


def canonical_target(target: str) -> tuple[str, str]:
    """``(path, query)`` of a request line's target, read the way a web server would.

    Accepts origin-form (``/score?x``) and absolute-form (``http://host/score``); the path is
    percent-decoded, repeated slashes are merged, ``.`` and ``..`` segments resolved and a trailing
    slash dropped, so ``/%73core``, ``//score``, ``/./score``, ``/x/../score/`` and
    ``http://h/score`` all become ``/score``. The gate decides on this path and forwards this path,
    so the server behind it never sees a spelling the gate did not judge. Raises :class:`BadTarget`.
    """
    if target.lower().startswith(("http://", "https://")):
        parts = urllib.parse.urlsplit(target)
        raw_path, query = parts.path or "/", parts.query
    elif target.startswith("/"):
        raw_path, _, query = target.partition("?")
        raw_path = raw_path.split("#", 1)[0]
    else:
        raise BadTarget(f"request target {target[:80]!r} is neither a path (/score) nor an http:// URL")
    try:
        path = urllib.parse.unquote(raw_path, errors="strict")
    except UnicodeDecodeError:
        raise BadTarget("the path's percent-encoding is not UTF-8") from None
    if "%" in path and re.search(r"%[0-9A-Fa-f]{2}", path):
        raise BadTarget("the path is percent-encoded twice")
    if _FORBIDDEN_IN_PATH.search(path):
        raise BadTarget("the path holds control characters or a backslash")
    path = posixpath.normpath("/" + path.lstrip("/"))
    return ("/" + path.lstrip("/")), query


class _GateHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive for clients (requests.Session)
    disable_nagle_algorithm = True  # headers and body leave at once (no 40 ms delayed-ACK stall)
    server_version = "dp100-gate"
    sys_version = ""

    def log_message(self, fmt: str, *args: object) -> None:  # to the gate's log, not stderr
        self.server.gate._log(f"{self.address_string()} {fmt % args}")

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        # http.server answers an HTTP/2 request line with 505: a client mistake, so 400 here; and it
        # answers an unreadable request line HTTP/0.9-style (no status line): give it one
        if code == 505:
            code, message = 400, "send HTTP/1.0 or HTTP/1.1"
        if getattr(self, "request_version", "HTTP/0.9") in ("HTTP/0.9", ""):
            self.request_version = "HTTP/1.0"
        self.close_connection = True
        super().send_error(code, message, explain)

    def __getattr__(self, name: str):
        # Every method reaches _handle, which refuses what it does not forward (405, not http.server's 501).
        if name.startswith("do_"):
            return self._handle
        raise AttributeError(name)

    def _reply(
        self, status: int, body: bytes, content_type: str = "application/json", extra: dict[str, str] | None = None
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _error(self, status: int, message: str, extra: dict[str, str] | None = None) -> None:
        self._reply(status, json.dumps({"message": message}).encode(), extra=extra)

    def _handle(self) -> None:
        gate: AuthProxy = self.server.gate
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            self.close_connection = True
            return self._error(411, "send the body with a Content-Length header (chunked bodies are not accepted)")
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            self.close_connection = True
            return self._error(400, "Content-Length header is not a number")
        if length < 0 or length > MAX_BODY_BYTES:
            self.close_connection = True
            return self._error(413 if length > 0 else 400, f"Content-Length must be 0 to {MAX_BODY_BYTES} bytes")
        body = self.rfile.read(length) if length > 0 else b""
        try:
            path, query = canonical_target(self.path)
        except BadTarget as exc:
            self.close_connection = True
            return self._error(400, str(exc))
        method = self.command.upper()
        if (method, path) not in PUBLIC:  # deny by default: only the public pair goes without a credential
            try:
                gate.auth.check(self.headers.get("Authorization"))
            except Unauthorized as exc:
                gate.rejected += 1
                return self._error(401, str(exc), {"WWW-Authenticate": 'Bearer realm="dp100-local-endpoint"'})
        if method not in FORWARDED_METHODS:
            return self._error(
                405, f"method {self.command[:20]!r} is not served here", {"Allow": ", ".join(FORWARDED_METHODS)}
            )
        target = urllib.parse.quote(path, safe="/") + (f"?{query}" if query else "")
        headers = {
            k: v
            for k, v in self.headers.items()
            if k.lower()
            not in ("authorization", "host", "connection", "keep-alive", "content-length", "transfer-encoding")
        }
        try:
            conn = http.client.HTTPConnection("127.0.0.1", gate.upstream_port, timeout=gate.timeout_s)
            conn.request(method, target, body=body if method in ("POST", "PUT", "PATCH") else None, headers=headers)
            resp = conn.getresponse()
            payload = resp.read()
            passthrough = {
                k: v
                for k, v in resp.getheaders()
                if k.lower()
                not in ("content-length", "content-type", "connection", "server", "date", "transfer-encoding")
            }
            conn.close()
        except (OSError, http.client.HTTPException) as exc:
            return self._error(502, f"scoring server not reachable on port {gate.upstream_port}: {exc}")
        self._reply(resp.status, payload, resp.getheader("Content-Type", "application/json"), passthrough)


class _GateServer(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def handle_error(self, request, client_address) -> None:
        """A client that hung up mid-request: note it in the gate's log, never on stderr (a notebook
        cell that writes to stderr scores 0 in nbgrader)."""
        import sys

        exc = sys.exc_info()[1]
        self.gate._log(f"{client_address[0]} connection error: {type(exc).__name__}: {exc}")


class AuthProxy:
    """Serve ``http://127.0.0.1:<port>/...`` and forward to the scoring server on ``upstream_port``.

    Deny by default: every request except those in :data:`PUBLIC` (health probe, swagger) must
    carry a credential ``auth`` accepts, else 401 with a message; the target is read and forwarded
    in its canonical form (:func:`canonical_target`); a malformed one gets 400, a method the gate
    does not forward 405.

    Runs in a daemon thread of this process; :meth:`stop` (or leaving the ``with`` block) closes it.
    """

    def __init__(self, auth: EndpointAuth, upstream_port: int, port: int = 0, timeout_s: float = 60.0):
        self.auth = auth
        self.upstream_port = int(upstream_port)
        self.timeout_s = timeout_s
        self.rejected = 0
        self._lines: deque[str] = deque(maxlen=2000)
        self._server = _GateServer(("127.0.0.1", port), _GateHandler)
        self._server.gate = self
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.1},
            name=f"dp100-gate-{self.port}",
            daemon=True,
        )
        self._running = False

    def _log(self, line: str) -> None:
        self._lines.append(f"{time.strftime('%Y-%m-%d %H:%M:%S')} gate {line}")

    @property
    def log_lines(self) -> list[str]:
        return list(self._lines)

    def start(self) -> AuthProxy:
        if not self._running:
            self._thread.start()
            self._running = True
        return self

    def stop(self) -> None:
        if self._running:
            self._server.shutdown()
            self._running = False
        self._server.server_close()

    def __enter__(self) -> AuthProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
