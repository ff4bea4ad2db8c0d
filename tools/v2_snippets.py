"""Run every SDK v2 snippet of the course's notebooks, offline, against the real `azure-ai-ml`.

Each notebook shows Azure's current code in markdown, as a ```python block right after a line

    **Azure today (SDK v2):**          (text may follow, e.g. "**Azure today (SDK v2 + MLflow):** ...")

This script extracts those snippets and runs a notebook's snippets in order, in one fresh namespace,
in a temporary folder:

* code that builds entities (`command`, `sweep`, `Environment`, `AmlCompute`, `Data`, endpoints,
  deployments, `@dsl.pipeline`, `automl.classification`, `Model`...) runs for real, and every entity
  a snippet leaves in its namespace or passes to `ml_client` is dumped to the YAML the CLI would send
  (`entity.dump`; a builder node such as `command(...)` as the job it submits) and that YAML is
  loaded back with the CLI's own schema (`load_job`, `load_compute`...): an invalid entity fails;
* every public method of every `*Operations` class (`ml_client.jobs`, `.compute`...) and of
  `MLClient` is replaced, for the duration, by a checker that binds the call's arguments to the REAL
  method's signature (a keyword the method does not declare fails, even where `**kwargs` would
  swallow it), records the call, and returns a plausible object: the entity passed in, a poller whose
  `.result()` returns it, or a stub that only has the attributes of the method's declared return type;
* sockets to anything but loopback raise: nothing reaches Azure.

The prelude (names and files every snippet may use without defining them) is PRELUDE_NAMES and
PLACEHOLDER_FILES below; docs/authoring.md lists it for authors.

    python tools/v2_snippets.py                         # all notebooks of source/
    python tools/v2_snippets.py source/01-workspace/01-workspace.ipynb -v   # one, with calls and YAML
"""
from __future__ import annotations

import argparse
import contextlib
import functools
import inspect
import io
import json
import os
import re
import socket
import sys
import tempfile
import traceback
import typing
import warnings
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

MARKER = re.compile(r"^\*\*Azure today \(SDK v2[^)]*\):\*\*")
FENCE_OPEN = re.compile(r"^\s*```python\s*$")
FENCE_CLOSE = re.compile(r"^\s*```\s*$")
# A ```python block that is not marked but looks like SDK v2 code: reported, never silently skipped.
LOOKS_V2 = re.compile(r"\bml_client\b|\bazure\.ai\.ml\b|\bMLClient\b")

SUBSCRIPTION = "00000000-0000-0000-0000-000000000000"
PRELUDE_NAMES = {  # name -> what it is (documented in docs/authoring.md)
    "subscription_id": "a placeholder subscription id (a GUID string)",
    "resource_group": '"dp100-rg"',
    "workspace_name": '"dp100-ws"',
    "ml_client": "MLClient(DefaultAzureCredential(), subscription_id, resource_group, workspace_name)",
}
PLACEHOLDER_FILES = {  # relative path -> content, created in the temporary working folder
    "config.json": json.dumps({"subscription_id": SUBSCRIPTION, "resource_group": "dp100-rg",
                               "workspace_name": "dp100-ws"}),
    "conda.yml": "name: sklearn-env\ndependencies:\n  - python=3.11\n  - pip:\n    - scikit-learn\n",
    "src/train.py": "# placeholder training script\n",
    "src/score.py": "def init():\n    pass\n\ndef run(raw_data):\n    return []\n",
    "batch/batch_score.py": "def init():\n    pass\n\ndef run(mini_batch):\n    return mini_batch\n",
    "model/model.pkl": "placeholder model file\n",
    "data/hour.csv": "instant,cnt\n1,16\n",
}


class SnippetError(Exception):
    """A snippet failed: the message names notebook, cell and line."""


@dataclass
class Snippet:
    notebook: str  # path relative to the repository
    cell: int      # index of the markdown cell (0-based, as nbformat and JupyterLab's cell order)
    line: int      # 1-based line of the cell's source where the code starts
    code: str
    heading: str = ""  # the cell's first line, to find it in JupyterLab

    @property
    def where(self) -> str:
        return f"{self.notebook} cell {self.cell} [{self.heading}]"


@dataclass
class Report:
    notebook: str
    snippets: list[Snippet] = field(default_factory=list)
    calls: list[str] = field(default_factory=list)        # intercepted ml_client calls
    entities: list[tuple[str, str]] = field(default_factory=list)  # (label, YAML)
    failures: list[str] = field(default_factory=list)
    output: io.StringIO = field(default_factory=io.StringIO)  # what the snippets printed

    @property
    def ok(self) -> bool:
        return not self.failures


# --------------------------------------------------------------------------------- extraction

def extract(nb_path: Path) -> tuple[list[Snippet], list[Snippet]]:
    """(marked v2 snippets, unmarked python blocks that look like v2) of one notebook, in order."""
    rel = _rel(nb_path)
    nb = json.loads(nb_path.read_text(encoding="utf-8"))
    marked, unmarked = [], []
    for index, cell in enumerate(nb["cells"]):
        if cell["cell_type"] != "markdown":
            continue
        source = cell["source"] if isinstance(cell["source"], str) else "".join(cell["source"])
        lines = source.split("\n")
        heading = lines[0].strip()[:40]
        pending_marker = False
        i = 0
        while i < len(lines):
            if MARKER.match(lines[i].strip()):
                pending_marker = True
            elif FENCE_OPEN.match(lines[i]):
                end = next((j for j in range(i + 1, len(lines)) if FENCE_CLOSE.match(lines[j])),
                           len(lines))
                snippet = Snippet(rel, index, i + 2, "\n".join(lines[i + 1:end]), heading)
                if pending_marker:
                    marked.append(snippet)
                elif LOOKS_V2.search(snippet.code):
                    unmarked.append(snippet)
                pending_marker = False
                i = end
            elif lines[i].lstrip().startswith("```"):
                pending_marker = False  # another language's block ends the marker's reach
            i += 1
    return marked, unmarked


def _rel(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(ROOT))
    except ValueError:
        return str(path)


# ------------------------------------------------------------------- stubs for Azure's answers

def _return_types(real) -> tuple[str, list[type] | None]:
    """(shape, classes) of a real method's declared return: shape is poller, list, none or value."""
    try:
        hint = typing.get_type_hints(real).get("return", inspect.Signature.empty)
    except Exception:  # names imported only under TYPE_CHECKING: no checkable type
        hint = inspect.Signature.empty
    if hint is inspect.Signature.empty:
        return "value", None
    return _shape(hint)


def _shape(hint) -> tuple[str, list[type] | None]:
    if hint is None or hint is type(None):
        return "none", []
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    name = getattr(origin, "__name__", "") or ""
    if origin is typing.Union:
        classes: list[type] = []
        shape = "value"
        for arg in args:
            if arg is type(None):
                continue
            sub_shape, sub = _shape(arg)
            shape = sub_shape if sub_shape != "none" else shape
            if sub is None:
                return shape, None
            classes += sub
        return shape, classes
    if "Poller" in name:
        return "poller", _shape(args[0])[1] if args else None
    if name in {"Iterable", "ItemPaged", "list", "List", "Iterator", "Sequence"}:
        return "list", _shape(args[0])[1] if args else None
    if isinstance(hint, type):
        return "value", [hint]
    return "value", None


@functools.lru_cache(maxsize=None)
def _attributes(cls: type) -> frozenset[str]:
    """Attributes an instance of cls has: class attributes, __init__ parameters, `self.x =`."""
    names = set(dir(cls))
    for klass in cls.__mro__:
        init = klass.__dict__.get("__init__")
        if init is not None:
            with contextlib.suppress(TypeError, ValueError):
                names.update(inspect.signature(init).parameters)
        with contextlib.suppress(OSError, TypeError):
            names.update(re.findall(r"self\.(\w+)\s*(?::[^=\n]+)?=", inspect.getsource(klass)))
    return frozenset(names)


class Stub:
    """What an intercepted `ml_client` call returns when no entity was passed in: it has exactly the
    attributes of the real method's declared return type (any attribute when the type is unknown)."""

    def __init__(self, call: str, classes: list[type] | None, values: dict):
        self._call, self._classes, self._values = call, classes, values

    def __getattr__(self, attr: str):
        if attr.startswith("__"):
            raise AttributeError(attr)
        if self._classes is not None and not any(attr in _attributes(c) for c in self._classes):
            kinds = " or ".join(c.__name__ for c in self._classes) or "None"
            raise AttributeError(f"{self._call} returns {kinds}, which has no attribute {attr!r}")
        if attr in self._values:
            return self._values[attr]
        return f"<{attr} of {self._call}>"

    def __repr__(self):
        return f"<stub result of {self._call}>"


class Poller:
    """An LROPoller stand-in: .result() gives what Azure would have created."""

    def __init__(self, result):
        self._result = result

    def result(self, timeout=None):
        return self._result

    def wait(self, timeout=None):
        return None

    def done(self) -> bool:
        return True

    def status(self) -> str:
        return "Succeeded"


# ------------------------------------------------------------------------- entity validation

def _entity_classes():
    from azure.ai.ml.entities import Resource
    from azure.ai.ml.entities._builders import BaseNode
    return Resource, BaseNode


def _loader_for(entity):
    import azure.ai.ml as aml
    from azure.ai.ml import entities as E
    # azure-ai-ml 1.35.2 dumps a ModelBatchDeployment built as Microsoft documents it
    # (settings=ModelBatchDeploymentSettings(instance_count=...)) with instance_count twice, and its
    # own loader rejects that YAML: such deployments are dumped and checked by _validate only.
    if isinstance(entity, (E.ModelBatchDeployment, E.PipelineComponentBatchDeployment)):
        return None
    table = [(E.Job, aml.load_job), (E.Component, aml.load_component), (E.Compute, aml.load_compute),
             (E.Data, aml.load_data), (E.Datastore, aml.load_datastore),
             (E.Environment, aml.load_environment), (E.Model, aml.load_model),
             (E.OnlineEndpoint, aml.load_online_endpoint),
             (E.OnlineDeployment, aml.load_online_deployment),
             (E.BatchEndpoint, aml.load_batch_endpoint),
             (E.BatchDeployment, aml.load_batch_deployment), (E.Workspace, aml.load_workspace)]
    return next((load for cls, load in table if isinstance(entity, cls)), None)


def validate_entity(entity, submitted: bool = True) -> str:
    """The YAML the CLI would send for entity, after the CLI's schema has loaded it back.

    A builder node (`command(...)`, `.sweep(...)`) is validated as the job it submits when it is
    submitted; left in a namespace it may be a pipeline step (no compute yet): it is only dumped."""
    import yaml
    from azure.ai.ml.entities._builders import BaseNode
    if isinstance(entity, BaseNode):
        if not submitted:
            return yaml.safe_dump(json.loads(json.dumps(entity._to_dict(), default=str)),
                                  sort_keys=True)
        entity = entity._to_job()
    if hasattr(entity, "_validate"):  # the SDK's own client-side check before create_or_update
        result = entity._validate()
        if result is not None and not result.passed:
            raise ValueError(f"{type(entity).__name__} is invalid: {result.error_messages}")
    stream = io.StringIO()
    returned = entity.dump(stream)  # endpoints return a dict and ignore the stream
    if not stream.getvalue():
        as_dict = returned if isinstance(returned, dict) else entity._to_dict()
        yaml.safe_dump(json.loads(json.dumps(as_dict, default=str)), stream, sort_keys=True)
    text = stream.getvalue()
    load = _loader_for(entity)
    if load is not None:
        load(io.StringIO(text))
    return text


# -------------------------------------------------------------- intercepting ml_client calls

def _operation_classes() -> list[type]:
    """MLClient and every *Operations class of azure.ai.ml (the objects behind ml_client.<x>)."""
    import azure.ai.ml.operations  # noqa: F401  (imports the operations modules)
    from azure.ai.ml import MLClient
    classes = {MLClient}
    for name, module in list(sys.modules.items()):
        if not name.startswith("azure.ai.ml.operations") or module is None:
            continue
        for value in vars(module).values():
            if isinstance(value, type) and value.__name__.endswith("Operations") \
                    and value.__module__.startswith("azure.ai.ml"):
                classes.add(value)
    return sorted(classes, key=lambda c: c.__name__)


NOT_INTERCEPTED = {"MLClient": {"from_config"}}  # runs for real: reads config.json, offline
_INHERITED = object()  # marks a method the class did not define itself (restored by deleting it)


class Interceptor:
    """Replaces the public methods of the operations classes while active; records each call."""

    def __init__(self, report: Report, values: dict):
        self.report, self.values = report, values
        self._saved: list[tuple[type, str, object]] = []
        self.checked: list = []  # entities validated when passed to a call

    def __enter__(self):
        for cls in _operation_classes():
            seen = set()
            for klass in cls.__mro__[:-1]:  # inherited public methods too (object's excepted)
                for name, member in list(vars(klass).items()):
                    if name.startswith("_") or name in seen \
                            or name in NOT_INTERCEPTED.get(cls.__name__, ()):
                        continue
                    seen.add(name)
                    if not inspect.isfunction(member):
                        continue  # properties and constants stay as they are
                    self._saved.append((cls, name, vars(cls).get(name, _INHERITED)))
                    setattr(cls, name, self._checker(cls, name, member))
        return self

    def __exit__(self, *exc):
        for cls, name, member in reversed(self._saved):
            if member is _INHERITED:
                delattr(cls, name)
            else:
                setattr(cls, name, member)
        self._saved.clear()

    def _checker(self, cls: type, name: str, real):
        signature = inspect.signature(real)
        varkw = next((p.name for p in signature.parameters.values() if p.kind == p.VAR_KEYWORD), None)
        shape, classes = _return_types(real)
        label = f"{cls.__name__}.{name}{_readable(signature)}"
        interceptor = self

        def check(self_, *args, **kwargs):
            where = f"{'ml_client' if cls.__name__ == 'MLClient' else 'ml_client.' + _attr_of(cls)}.{name}"
            try:
                bound = signature.bind(self_, *args, **kwargs)
            except TypeError as exc:
                raise TypeError(f"{where}(...) does not match the real {label}: {exc}") from None
            swallowed = sorted(bound.arguments.get(varkw, {})) if varkw else []
            if swallowed:
                raise TypeError(f"{where}(...) passes {', '.join(swallowed)}: not a parameter of the "
                                f"real {label} (Azure's **{varkw} would swallow or reject it)")
            entity = next((v for v in list(args) + list(kwargs.values())
                           if isinstance(v, _entity_classes())), None)
            if entity is not None:
                yaml = validate_entity(entity)
                interceptor.checked.append(entity)
                interceptor.report.entities.append((f"{where} <- {type(entity).__name__}", yaml))
            shown = ", ".join([repr(a) if not isinstance(a, _entity_classes()) else type(a).__name__
                               for a in args] + [f"{k}={v!r}" if not isinstance(v, _entity_classes())
                                                 else f"{k}={type(v).__name__}"
                                                 for k, v in kwargs.items()])
            interceptor.report.calls.append(f"{where}({shown})")
            return interceptor._answer(where, shape, classes, entity, bound.arguments)

        check.__wrapped_real__ = real
        return check

    def _answer(self, where, shape, classes, entity, arguments):
        if shape == "none":
            return None
        if entity is not None and getattr(entity, "name", "x") is None:
            with contextlib.suppress(Exception):
                entity.name = "stub-job-0001"  # Azure names a job when it is created
        values = dict(self.values)
        values["name"] = str(arguments.get("name") or arguments.get("endpoint_name") or "stub-name")
        values["version"] = str(arguments.get("version") or "1")
        result = entity if entity is not None else Stub(where, classes, values)
        if shape == "poller":
            return Poller(result)
        if shape == "list":
            return [result]
        return result


def _readable(signature: inspect.Signature) -> str:
    """The signature with bare class names (EndpointAuthKeys, not azure.ai.ml.entities._x.EndpointAuthKeys)."""
    return re.sub(r"\b(?:[A-Za-z_]\w*\.)+([A-Z]\w*)", r"\1", str(signature))


def _attr_of(cls: type) -> str:
    """The ml_client attribute that holds an instance of cls (jobs, compute...)."""
    from azure.ai.ml import MLClient
    for name, value in vars(MLClient).items():
        if isinstance(value, property):
            hint = typing.get_type_hints(value.fget).get("return") if value.fget else None
            if hint is cls:
                return name
    return cls.__name__


# ------------------------------------------------------------ builders that swallow keywords

# These builders take **kwargs and pass them on; a misspelt or SDK-v1 keyword (`compute_target=`)
# would vanish silently. While a snippet runs, a keyword that reaches their **kwargs must name an
# attribute of what they build (e.g. `compute=` of an automl job), or the call fails.
STRICT_BUILDERS = {"azure.ai.ml": ["command", "spark"], "azure.ai.ml.parallel": ["parallel_run_function"],
                   "azure.ai.ml.automl": ["classification", "regression", "forecasting",
                                          "image_classification", "image_classification_multilabel",
                                          "image_object_detection", "image_instance_segmentation",
                                          "text_classification", "text_classification_multilabel",
                                          "text_ner"]}


def _strict(module_name: str, real):
    signature = inspect.signature(real)
    declared = {p.name for p in signature.parameters.values() if p.kind != p.VAR_KEYWORD}

    @functools.wraps(real)
    def builder(*args, **kwargs):
        built = real(*args, **kwargs)
        known = set(_attributes(type(built)))
        if getattr(built, "component", None) is not None and not isinstance(built.component, str):
            known |= _attributes(type(built.component))
        unknown = sorted(k for k in kwargs if k not in declared and k not in known)
        if unknown:
            raise TypeError(f"{module_name}.{real.__name__}(...) got {', '.join(unknown)}: not a "
                            f"parameter of {real.__name__}{_readable(signature)} nor an attribute "
                            f"of the {type(built).__name__} it builds (the SDK would drop it silently)")
        return built

    return builder


@contextlib.contextmanager
def strict_builders():
    import importlib
    saved = []
    for module_name, names in STRICT_BUILDERS.items():
        module = importlib.import_module(module_name)
        for name in names:
            real = getattr(module, name, None)
            if real is not None:
                saved.append((module, name, real))
                setattr(module, name, _strict(module_name, real))
    try:
        yield
    finally:
        for module, name, real in saved:
            setattr(module, name, real)


# ------------------------------------------------------------------------------ no network

LOOPBACK = {"127.0.0.1", "::1", "localhost"}


@contextlib.contextmanager
def loopback_only():
    """Name look-ups and connections to anything but loopback raise: the harness never reaches Azure."""
    real_connect, real_getaddrinfo = socket.socket.connect, socket.getaddrinfo

    def blocked(host):
        return ConnectionRefusedError(f"v2 snippet harness: network access to {host} is blocked")

    def connect(sock, address):
        host = address[0] if isinstance(address, tuple) else address
        if sock.family != socket.AF_UNIX and isinstance(host, str) and host not in LOOPBACK:
            raise blocked(host)
        return real_connect(sock, address)

    def getaddrinfo(host, *args, **kwargs):
        if host is not None and str(host) not in LOOPBACK:
            raise blocked(host)
        return real_getaddrinfo(host, *args, **kwargs)

    socket.socket.connect, socket.getaddrinfo = connect, getaddrinfo
    try:
        yield
    finally:
        socket.socket.connect, socket.getaddrinfo = real_connect, real_getaddrinfo


# --------------------------------------------------------------------------------- running

def _prelude(workdir: Path) -> dict:
    from azure.ai.ml import MLClient
    from azure.identity import DefaultAzureCredential
    for rel, text in PLACEHOLDER_FILES.items():
        (workdir / rel).parent.mkdir(parents=True, exist_ok=True)
        (workdir / rel).write_text(text, encoding="utf-8")
    namespace = {"__name__": "__v2_snippet__", "subscription_id": SUBSCRIPTION,
                 "resource_group": "dp100-rg", "workspace_name": "dp100-ws"}
    namespace["ml_client"] = MLClient(DefaultAzureCredential(), SUBSCRIPTION, "dp100-rg", "dp100-ws")
    return namespace


def _failure(snippet: Snippet, exc: BaseException) -> str:
    """'<notebook> cell N line L: <error>', L being the line of the cell's markdown source."""
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename == snippet.where]
    line = f" line {frames[-1].lineno}" if frames else ""
    code = f"\n    {frames[-1].line}" if frames and frames[-1].line else ""
    short = _short(exc)
    return f"{snippet.where}{line}: {type(exc).__name__}: {short}{code}"


def _short(exc: BaseException) -> str:
    """The error's message without blank lines and the SDK's advertising links."""
    lines = [l.rstrip() for l in str(exc).splitlines()
             if l.strip() and "https://" not in l and "IntelliSense" not in l]
    if isinstance(exc, TypeError) and "object.__init__() takes exactly one argument" in str(exc):
        lines.append("(an entity's constructor got a keyword it does not take: check each keyword "
                     "against the SDK v2 reference, e.g. AmlCompute takes size/max_instances, not "
                     "vm_size/max_nodes)")
    return "\n      ".join(lines[:20])


def _assigned_line(snippet: Snippet, name: str) -> str:
    """' line L' of the last assignment to name in the snippet ('' if not found)."""
    import ast
    try:
        tree = ast.parse("\n" * (snippet.line - 1) + snippet.code)
    except SyntaxError:
        return ""
    lines = [node.lineno for node in ast.walk(tree) if isinstance(node, ast.Name)
             and node.id == name and isinstance(node.ctx, ast.Store)]
    return f" line {max(lines)}" if lines else ""


def run_snippets(snippets: list[Snippet], notebook: str = "") -> Report:
    """Run snippets in order in one namespace, in a temporary folder; collect failures."""
    report = Report(notebook or (snippets[0].notebook if snippets else ""), list(snippets))
    old_cwd = os.getcwd()
    with tempfile.TemporaryDirectory(prefix="v2-snippets-") as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        workdir = Path(tmp)
        os.chdir(workdir)
        had_mlflow_uri = os.environ.get("MLFLOW_TRACKING_URI")
        tracking = f"sqlite:///{workdir / 'mlflow.db'}"
        os.environ["MLFLOW_TRACKING_URI"] = tracking
        try:
            namespace = _prelude(workdir)
            resource_cls = _entity_classes()
            values = {"mlflow_tracking_uri": tracking,
                      "scoring_uri": "https://stub-endpoint.eastus.inference.ml.azure.com/score",
                      "primary_key": "stub-primary-key", "secondary_key": "stub-secondary-key",
                      "access_token": "stub-token", "location": "eastus"}
            with loopback_only(), strict_builders(), Interceptor(report, values) as interceptor:
                for snippet in snippets:
                    seen = {id(v) for v in namespace.values()}
                    # pad so that line numbers in tracebacks are lines of the markdown cell
                    code = "\n" * (snippet.line - 1) + snippet.code
                    try:
                        with contextlib.redirect_stdout(report.output):
                            exec(compile(code, snippet.where, "exec"), namespace)
                    except Exception as exc:  # noqa: BLE001 - every failure is reported
                        report.failures.append(_failure(snippet, exc))
                        continue
                    checked = {id(e) for e in interceptor.checked}
                    for name, value in list(namespace.items()):
                        if isinstance(value, resource_cls) and id(value) not in seen | checked:
                            try:
                                report.entities.append((f"{snippet.where}: {name} = "
                                                        f"{type(value).__name__}",
                                                        validate_entity(value, submitted=False)))
                            except Exception as exc:  # noqa: BLE001
                                report.failures.append(
                                    f"{snippet.where}{_assigned_line(snippet, name)}: `{name}` "
                                    f"({type(value).__name__}) is not a valid entity: "
                                    f"{type(exc).__name__}: {_short(exc)}")
        finally:
            os.chdir(old_cwd)
            if had_mlflow_uri is None:
                os.environ.pop("MLFLOW_TRACKING_URI", None)
            else:
                os.environ["MLFLOW_TRACKING_URI"] = had_mlflow_uri
            if "mlflow" in sys.modules:  # leave no tracking URI pointing into the deleted folder
                mlflow = sys.modules["mlflow"]
                with contextlib.suppress(Exception):
                    while mlflow.active_run():
                        mlflow.end_run()
                    mlflow.set_tracking_uri(had_mlflow_uri)
    return report


def check_notebook(nb_path: Path) -> Report:
    marked, unmarked = extract(nb_path)
    report = run_snippets(marked, _rel(nb_path))
    for snippet in unmarked:
        report.failures.append(
            f"{snippet.where} line {snippet.line}: a ```python block that looks like SDK v2 code has "
            f"no marker line: put `**Azure today (SDK v2):**` on the line before it (it is then run)")
    if not marked and not unmarked:
        report.failures.append(f"{_rel(nb_path)}: no `**Azure today (SDK v2):**` snippet at all")
    return report


def notebooks() -> list[Path]:
    return sorted(ROOT.glob("source/*/*.ipynb"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("notebooks", nargs="*", type=Path, help="default: every source notebook")
    parser.add_argument("-v", "--verbose", action="store_true",
                        help="also print the intercepted calls and the YAML of every entity")
    args = parser.parse_args(argv)
    paths = args.notebooks or notebooks()
    failed = 0
    for path in paths:
        if not path.exists():
            print(f"{path}: no such notebook", file=sys.stderr)
            return 2
        report = check_notebook(path)
        status = "ok" if report.ok else f"{len(report.failures)} FAILURE(S)"
        print(f"{report.notebook}: {len(report.snippets)} snippets, {len(report.calls)} ml_client "
              f"calls checked, {len(report.entities)} entities validated: {status}")
        if args.verbose:
            if report.output.getvalue():
                print("    printed:\n" + "".join(f"        {l}\n" for l in report.output.getvalue().splitlines()))
            for call in report.calls:
                print(f"    call  {call}")
            for label, yaml in report.entities:
                print(f"    yaml  {label}\n" + "".join(f"        {l}\n" for l in yaml.splitlines()))
        for failure in report.failures:
            print(f"  FAIL {failure}")
        failed += not report.ok
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
