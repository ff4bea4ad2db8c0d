"""An offline ``ml_client``: azure-ai-ml's own classes, with nothing sent to Azure (used by tools/v2_snippets.py).

* every public method of every ``*Operations`` class (``ml_client.jobs``, ``.compute``...) and of
  ``MLClient`` is replaced, while an :class:`Interceptor` is active, by a checker that binds the call's
  arguments to the REAL method's signature (a keyword the method does not declare fails, even where
  ``**kwargs`` would swallow it), records the call, validates any entity passed in, and returns a
  plausible object: the entity, a :class:`Poller` whose ``.result()`` returns it, or a :class:`Stub`
  that only has the attributes of the method's declared return type;
* :func:`validate_entity` dumps an entity to the YAML the CLI would send and loads it back with the
  CLI's own schema (``load_job``, ``load_compute``...);
* :func:`strict_builders` makes builders that take ``**kwargs`` (``command``, ``automl.classification``...)
  refuse a keyword that is neither a parameter nor an attribute of what they build;
* :func:`loopback_only` makes name look-ups and connections to anything but loopback raise.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import io
import json
import re
import socket
import sys
import typing

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


@functools.cache
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


def entity_classes():
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
    kinds = "job component compute data datastore environment model online_endpoint online_deployment"
    kinds += " batch_endpoint batch_deployment workspace"
    # each entity class (E.OnlineEndpoint) has its loader (aml.load_online_endpoint)
    table = [(getattr(E, k.title().replace("_", "")), getattr(aml, f"load_{k}")) for k in kinds.split()]
    return next((load for cls, load in table if isinstance(entity, cls)), None)


def validate_entity(entity, submitted: bool = True) -> str:
    """The YAML the CLI would send for entity, after the CLI's schema has loaded it back.

    A builder node (`command(...)`, `.sweep(...)`) is validated as the job it submits when it is
    submitted; left in a namespace it may be a pipeline step (no compute yet): it is only dumped."""
    import yaml
    from azure.ai.ml.entities._builders import BaseNode

    if isinstance(entity, BaseNode):
        if not submitted:
            return yaml.safe_dump(json.loads(json.dumps(entity._to_dict(), default=str)), sort_keys=True)
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


def operation_classes() -> list[type]:
    """MLClient and every *Operations class of azure.ai.ml (the objects behind ml_client.<x>)."""
    import azure.ai.ml.operations  # noqa: F401  (imports the operations modules)
    from azure.ai.ml import MLClient

    classes = {MLClient}
    for name, module in list(sys.modules.items()):
        if not name.startswith("azure.ai.ml.operations") or module is None:
            continue
        for value in vars(module).values():
            if (
                isinstance(value, type)
                and value.__name__.endswith("Operations")
                and value.__module__.startswith("azure.ai.ml")
            ):
                classes.add(value)
    return sorted(classes, key=lambda c: c.__name__)


NOT_INTERCEPTED = {"MLClient": {"from_config"}}  # runs for real: reads config.json, offline
_INHERITED = object()  # marks a method the class did not define itself (restored by deleting it)


class Interceptor:
    """Replaces the public methods of the operations classes while active; records each call."""

    def __init__(self, report, values: dict):  # report: records .calls and .entities (v2_snippets.Report)
        self.report, self.values = report, values
        self._saved: list[tuple[type, str, object]] = []
        self.checked: list = []  # entities validated when passed to a call

    def __enter__(self):
        for cls in operation_classes():
            seen = set()
            for klass in cls.__mro__[:-1]:  # inherited public methods too (object's excepted)
                for name, member in list(vars(klass).items()):
                    if name.startswith("_") or name in seen or name in NOT_INTERCEPTED.get(cls.__name__, ()):
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
                raise TypeError(
                    f"{where}(...) passes {', '.join(swallowed)}: not a parameter of the "
                    f"real {label} (Azure's **{varkw} would swallow or reject it)"
                )
            entity = next((v for v in list(args) + list(kwargs.values()) if isinstance(v, entity_classes())), None)
            if entity is not None:
                yaml = validate_entity(entity)
                interceptor.checked.append(entity)
                interceptor.report.entities.append((f"{where} <- {type(entity).__name__}", yaml))
            shown = ", ".join(
                [repr(a) if not isinstance(a, entity_classes()) else type(a).__name__ for a in args]
                + [
                    f"{k}={v!r}" if not isinstance(v, entity_classes()) else f"{k}={type(v).__name__}"
                    for k, v in kwargs.items()
                ]
            )
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
STRICT_BUILDERS = {
    "azure.ai.ml": ["command", "spark"],
    "azure.ai.ml.parallel": ["parallel_run_function"],
    "azure.ai.ml.automl": [
        "classification",
        "regression",
        "forecasting",
        "image_classification",
        "image_classification_multilabel",
        "image_object_detection",
        "image_instance_segmentation",
        "text_classification",
        "text_classification_multilabel",
        "text_ner",
    ],
}


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
            raise TypeError(
                f"{module_name}.{real.__name__}(...) got {', '.join(unknown)}: not a "
                f"parameter of {real.__name__}{_readable(signature)} nor an attribute "
                f"of the {type(built).__name__} it builds (the SDK would drop it silently)"
            )
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
