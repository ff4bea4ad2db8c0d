"""Batch inference with the ParallelRunStep contract, and published pipeline endpoints with versions.

LOCAL TEACHING EQUIVALENT OF AZURE ML ``ParallelRunStep`` (SDK v1), ``parallel_run_function`` and
batch endpoints (SDK v2), NOT AZURE. What Azure does on a compute cluster, this module does with
worker processes on your machine, keeping the contract of the entry script:

- ``init()`` runs ONCE PER WORKER PROCESS (load the model there, not per file);
- ``run(mini_batch)`` runs once per mini-batch: a list of ``mini_batch_size`` file paths; it returns
  a pandas DataFrame or a list, and with ``output_action="append_row"`` every returned row is
  appended to ONE output file (``parallel_run_step.txt``, space-separated, no header, as in Azure);
  with ``"summary_only"`` the script writes its own outputs and only the count is kept;
- ``process_count_per_node * node_count`` workers run mini-batches at the same time;
- a file whose ``run`` raises is a failed item: it is named in the log, the other files of its
  mini-batch are scored one by one, and once more than ``error_threshold`` files failed
  (``-1``: never) the run stops with a :class:`BatchRunError` naming them; rows already appended
  stay in the output file.

Pipelines: :class:`Pipeline` holds one :class:`ParallelRunStep` whose input may be a
:class:`PipelineParameter` (the dataset as a runtime parameter). ``submit`` returns a
:class:`PipelineRun` (``wait_for_completion(show_output=True)`` streams the log,
``get_status()`` only returns the status). ``publish`` gives a :class:`PublishedPipeline`;
a :class:`PipelineEndpoint` holds several published pipelines as versions "1", "2", ... with a
default version, and ``submit(..., pipeline_version=...)`` calls a given one.
"""
from __future__ import annotations

import ast
import concurrent.futures
import datetime as _dt
import importlib.util
import json
import multiprocessing
import os
import threading
import time
import traceback
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Sequence

import pandas as pd

OUTPUT_ACTIONS = ("append_row", "summary_only")
DEFAULT_OUTPUT_FILE = "parallel_run_step.txt"


class BatchConfigError(ValueError):
    """A ParallelRunConfig / step / pipeline setting is wrong; the message names it."""


class BatchRunError(RuntimeError):
    """A batch run failed (error threshold exceeded, or init() failed). ``result`` keeps what was done."""

    def __init__(self, message: str, result: "BatchResult"):
        super().__init__(message)
        self.result = result


# --------------------------------------------------------------------------------------------
# Configuration
# --------------------------------------------------------------------------------------------
def _entry_functions(path: Path) -> set[str]:
    try:
        tree = ast.parse(path.read_text(), filename=str(path))
    except SyntaxError as exc:
        raise BatchConfigError(f"entry script {path.name} has a syntax error: line {exc.lineno}: {exc.msg}") from None
    return {n.name for n in tree.body if isinstance(n, ast.FunctionDef)}


@dataclass
class ParallelRunConfig:
    """``ParallelRunConfig(...)`` of SDK v1: the entry script and how to parallelise it."""

    entry_script: str
    mini_batch_size: int | str = 1
    error_threshold: int = 0
    output_action: str = "append_row"
    process_count_per_node: int = 1
    node_count: int = 1
    source_directory: str | None = None
    append_row_file_name: str = DEFAULT_OUTPUT_FILE
    environment: Any = None
    compute_target: Any = None
    environment_variables: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        try:
            size = int(self.mini_batch_size)
        except (TypeError, ValueError):
            raise BatchConfigError(f"mini_batch_size must be a whole number of files, got {self.mini_batch_size!r}") from None
        if size < 1 or (isinstance(self.mini_batch_size, float) and not self.mini_batch_size.is_integer()):
            raise BatchConfigError(f"mini_batch_size must be >= 1, got {self.mini_batch_size!r}")
        self.mini_batch_size = size
        if isinstance(self.error_threshold, bool) or not isinstance(self.error_threshold, int) or self.error_threshold < -1:
            raise BatchConfigError(f"error_threshold must be a whole number >= -1 (-1: ignore all failures), "
                                   f"got {self.error_threshold!r}")
        if self.output_action not in OUTPUT_ACTIONS:
            raise BatchConfigError(f"output_action must be one of {OUTPUT_ACTIONS}, got {self.output_action!r}")
        for name in ("process_count_per_node", "node_count"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise BatchConfigError(f"{name} must be a whole number >= 1, got {value!r}")
        if not self.append_row_file_name or "/" in self.append_row_file_name:
            raise BatchConfigError(f"append_row_file_name must be a plain file name, got {self.append_row_file_name!r}")
        path = self.script_path
        if not path.is_file():
            raise BatchConfigError(f"entry script not found: {path}")
        missing = {"init", "run"} - _entry_functions(path)
        if missing:
            raise BatchConfigError(f"entry script {path.name} must define init() and run(mini_batch); "
                                   f"missing: {', '.join(sorted(missing))}")

    @property
    def script_path(self) -> Path:
        base = Path(self.source_directory) if self.source_directory else Path.cwd()
        return (base / self.entry_script).resolve()

    @property
    def workers(self) -> int:
        return self.process_count_per_node * self.node_count

    def to_dict(self) -> dict[str, Any]:
        return {"entry_script": str(self.script_path), "mini_batch_size": self.mini_batch_size,
                "error_threshold": self.error_threshold, "output_action": self.output_action,
                "process_count_per_node": self.process_count_per_node, "node_count": self.node_count,
                "append_row_file_name": self.append_row_file_name,
                "environment_variables": dict(self.environment_variables)}


# --------------------------------------------------------------------------------------------
# Worker side (runs in the worker processes)
# --------------------------------------------------------------------------------------------
_WORKER: dict[str, Any] = {}


def _worker_init(script: str, env: dict[str, str]) -> None:
    _WORKER.clear()
    os.environ.update(env)
    try:
        from threadpoolctl import threadpool_limits
        threadpool_limits(1)  # several worker processes share the cores: one thread each
    except Exception:
        pass
    start = time.perf_counter()
    try:
        spec = importlib.util.spec_from_file_location(f"dp100_batch_entry_{os.getpid()}", script)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        module.init()
        _WORKER["module"] = module
        _WORKER["init_s"] = time.perf_counter() - start
    except BaseException as exc:  # reported by the first mini-batch of this worker
        _WORKER["init_error"] = f"{type(exc).__name__}: {exc}"


def _to_lines(value: Any, separator: str = " ") -> list[str]:
    if value is None:
        return []
    if isinstance(value, pd.DataFrame):
        return value.to_csv(sep=separator, header=False, index=False, lineterminator="\n").splitlines()
    if isinstance(value, pd.Series):
        value = value.tolist()
    if isinstance(value, (list, tuple)):
        return [str(v) for v in value]
    raise TypeError(f"run() must return a pandas DataFrame or a list, got {type(value).__name__}")


def _worker_run(files: list[str]) -> dict[str, Any]:
    """Score one mini-batch. Returns per-file outcomes so the parent can count failures."""
    out = {"pid": os.getpid(), "init_s": _WORKER.get("init_s"), "outcomes": []}
    if "init_error" in _WORKER:
        out["init_error"] = _WORKER["init_error"]
        return out
    run = _WORKER["module"].run
    try:
        lines = _to_lines(run(list(files)))
        out["outcomes"].append({"files": files, "ok": True, "lines": lines})
        return out
    except Exception as exc:
        if len(files) == 1:
            out["outcomes"].append({"files": files, "ok": False, "error": f"{type(exc).__name__}: {exc}",
                                    "trace": traceback.format_exc(limit=3)})
            return out
    for f in files:  # the mini-batch failed: score its files one by one to find the bad one(s)
        try:
            out["outcomes"].append({"files": [f], "ok": True, "lines": _to_lines(run([f]))})
        except Exception as exc:
            out["outcomes"].append({"files": [f], "ok": False, "error": f"{type(exc).__name__}: {exc}",
                                    "trace": traceback.format_exc(limit=3)})
    return out


# --------------------------------------------------------------------------------------------
# The step and its result
# --------------------------------------------------------------------------------------------
@dataclass
class BatchResult:
    """What a batch run did: output file, rows appended, files scored and failed, the log."""

    output_dir: Path
    output_file: Path | None
    status: str = "NotStarted"
    rows: int = 0
    files_total: int = 0
    files_scored: list[str] = field(default_factory=list)
    failed_files: dict[str, str] = field(default_factory=dict)
    worker_pids: set[int] = field(default_factory=set)
    log: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def log_file(self) -> Path:
        return self.output_dir / "logs" / "parallel_run.log"

    @property
    def init_calls(self) -> int:
        """How many worker processes ran init() (one each)."""
        return len(self.worker_pids)

    def read_output(self, names: Sequence[str] | None = None, sep: str = " ") -> pd.DataFrame:
        """The append_row output file as a DataFrame (no header in the file: give ``names``)."""
        if self.output_file is None or not self.output_file.exists():
            raise FileNotFoundError(f"no append_row output in {self.output_dir}")
        if self.output_file.stat().st_size == 0:
            return pd.DataFrame(columns=list(names or []))
        return pd.read_csv(self.output_file, sep=sep, header=None, names=list(names) if names else None)


def _input_files(inputs: Any) -> list[Path]:
    """Files of a step input: a folder, a file, a list of files, or a workspace dataset."""
    from dp100 import workspace as _ws

    if isinstance(inputs, _ws.TabularDataset):
        ws = _ws.Workspace.from_config(inputs.workspace_root)
        files = [_ws.Datastore.get(ws, store).resolve(rel) for store, rel in inputs.paths]
    elif isinstance(inputs, (str, os.PathLike)):
        p = Path(inputs)
        files = sorted(x for x in p.iterdir() if x.is_file()) if p.is_dir() else [p]
    elif isinstance(inputs, Iterable):
        files = [Path(x) for x in inputs]
    else:
        raise BatchConfigError(f"step input must be a folder, files or a dataset, got {type(inputs).__name__}")
    if not files:
        raise BatchConfigError(f"step input {inputs!r} holds no files")
    missing = [str(f) for f in files if not f.is_file()]
    if missing:
        raise BatchConfigError(f"input file(s) not found: {', '.join(missing)}")
    return [f.resolve() for f in files]


class PipelineParameter:
    """``PipelineParameter(name, default_value)``: a value (here, the input data) set at submit time."""

    def __init__(self, name: str, default_value: Any):
        if not name or not str(name).replace("_", "").isalnum():
            raise BatchConfigError(f"pipeline parameter name {name!r}: use letters, digits and underscores")
        self.name = name
        self.default_value = default_value

    def __repr__(self) -> str:
        return f"PipelineParameter(name={self.name!r})"


class ParallelRunStep:
    """``ParallelRunStep(name, parallel_run_config, inputs=[...], output=...)``: one batch step."""

    def __init__(self, name: str, parallel_run_config: ParallelRunConfig, inputs: list[Any],
                 output: str | os.PathLike = "batch-output", allow_reuse: bool = False):
        if not isinstance(parallel_run_config, ParallelRunConfig):
            raise BatchConfigError("parallel_run_config must be a ParallelRunConfig")
        if not isinstance(inputs, list) or len(inputs) != 1:
            raise BatchConfigError("inputs must be a list with one input (a dataset, a folder or a PipelineParameter)")
        self.name = name
        self.parallel_run_config = parallel_run_config
        self.inputs = inputs
        self.output = Path(output)
        self.allow_reuse = allow_reuse

    def run(self, inputs: Any = None, output_dir: str | os.PathLike | None = None, show_progress: bool = True,
            log=None) -> BatchResult:
        """Score every input file now; return the :class:`BatchResult` (raise BatchRunError on failure)."""
        source = inputs if inputs is not None else self.inputs[0]
        if isinstance(source, PipelineParameter):
            source = source.default_value
        return run_parallel(self.parallel_run_config, _input_files(source), output_dir or self.output,
                            show_progress=show_progress, log=log, desc=self.name)


def run_parallel(config: ParallelRunConfig, files: Sequence[str | os.PathLike], output_dir: str | os.PathLike,
                 show_progress: bool = True, log=None, desc: str = "batch") -> BatchResult:
    """Run ``config.entry_script`` over ``files`` in mini-batches on ``config.workers`` processes."""
    from tqdm.auto import tqdm

    files = [str(Path(f).resolve()) for f in files]
    if not files:
        raise BatchConfigError("no input files to score")
    out_dir = Path(output_dir)
    (out_dir / "logs").mkdir(parents=True, exist_ok=True)
    output_file = out_dir / config.append_row_file_name if config.output_action == "append_row" else None
    result = BatchResult(out_dir, output_file, status="Running", files_total=len(files))
    log_handle = open(result.log_file, "w")

    def say(line: str) -> None:
        stamped = f"{_dt.datetime.now():%H:%M:%S} {line}"
        result.log.append(stamped)
        log_handle.write(stamped + "\n")
        log_handle.flush()
        if log is not None:
            log(stamped)

    size = config.mini_batch_size
    batches = [files[i:i + size] for i in range(0, len(files), size)]
    say(f"{desc}: {len(files)} files in {len(batches)} mini-batches of up to {size}, "
        f"{config.workers} worker process(es), error_threshold={config.error_threshold}, "
        f"output_action={config.output_action}")
    if output_file is not None:
        output_file.write_text("")
    start = time.perf_counter()
    env = {k: str(v) for k, v in config.environment_variables.items()}
    pool = concurrent.futures.ProcessPoolExecutor(
        max_workers=min(config.workers, len(batches)), mp_context=multiprocessing.get_context("fork"),
        initializer=_worker_init, initargs=(str(config.script_path), env))
    bar = tqdm(total=len(files), unit="file", desc=desc, disable=not show_progress, leave=False)
    failure: str | None = None
    seen_pids: set[int] = set()
    try:
        futures = {pool.submit(_worker_run, b): b for b in batches}
        for future in concurrent.futures.as_completed(futures):
            try:
                answer = future.result()
            except Exception as exc:  # a worker died (killed, out of memory, ...)
                failure = f"a worker process died while scoring {len(futures[future])} file(s): {exc}"
                break
            pid = answer["pid"]
            if pid not in seen_pids:
                seen_pids.add(pid)
                if "init_error" not in answer:
                    say(f"worker {pid}: init() done in {answer['init_s']:.2f} s")
            if "init_error" in answer:
                failure = f"init() of {config.script_path.name} failed in worker {pid}: {answer['init_error']}"
                break
            result.worker_pids.add(pid)
            for outcome in answer["outcomes"]:
                names = ", ".join(Path(f).name for f in outcome["files"])
                if outcome["ok"]:
                    lines = outcome["lines"]
                    if output_file is not None and lines:
                        with open(output_file, "a") as fh:  # append as each mini-batch completes
                            fh.write("\n".join(lines) + "\n")
                    result.rows += len(lines)
                    result.files_scored += [Path(f).name for f in outcome["files"]]
                    say(f"worker {pid}: scored {names}: {len(lines)} row(s)")
                else:
                    for f in outcome["files"]:
                        result.failed_files[Path(f).name] = outcome["error"]
                    say(f"worker {pid}: FAILED {names}: {outcome['error']}")
                bar.update(len(outcome["files"]))
            if config.error_threshold != -1 and len(result.failed_files) > config.error_threshold:
                bad = "; ".join(f"{k}: {v}" for k, v in result.failed_files.items())
                failure = (f"error_threshold={config.error_threshold} exceeded: {len(result.failed_files)} "
                           f"file(s) failed ({bad})")
                break
    finally:
        bar.close()
        pool.shutdown(wait=True, cancel_futures=True)
    result.seconds = time.perf_counter() - start
    kept = f"{result.rows} row(s) from {len(result.files_scored)} of {len(files)} file(s)"
    if output_file is not None:
        kept += f" are in {output_file}"
    if failure:
        result.status = "Failed"
        say(f"{desc}: FAILED after {result.seconds:.1f} s: {failure}. {kept}.")
        log_handle.close()
        raise BatchRunError(f"batch run {desc!r} failed: {failure}. Kept: {kept}.", result)
    result.status = "Finished"
    skipped = f", {len(result.failed_files)} failed file(s) ignored" if result.failed_files else ""
    say(f"{desc}: finished in {result.seconds:.1f} s: {kept}{skipped}")
    log_handle.close()
    return result


# --------------------------------------------------------------------------------------------
# Pipelines, runs, published pipelines and pipeline endpoints
# --------------------------------------------------------------------------------------------
def _resolve_parameters(step: ParallelRunStep, pipeline_parameters: dict[str, Any] | None) -> Any:
    given = dict(pipeline_parameters or {})
    source = step.inputs[0]
    if isinstance(source, PipelineParameter):
        value = given.pop(source.name, source.default_value)
    else:
        value = source
    if given:
        known = [source.name] if isinstance(source, PipelineParameter) else []
        raise BatchConfigError(f"unknown pipeline parameter(s) {sorted(given)}; this pipeline has {known}")
    return value


class PipelineRun:
    """A submitted pipeline run. It runs in the background; ``wait_for_completion`` streams its log."""

    def __init__(self, pipeline: "Pipeline", experiment_name: str, pipeline_parameters: dict[str, Any] | None,
                 version: str | None = None):
        self.id = f"{experiment_name}_{uuid.uuid4().hex[:8]}"
        self.experiment_name = experiment_name
        self.pipeline = pipeline
        self.pipeline_version = version
        self.inputs = _input_files(_resolve_parameters(pipeline.step, pipeline_parameters))
        self.output_dir = pipeline.workspace.root / "pipeline-runs" / self.id
        self.result: BatchResult | None = None
        self.error: str | None = None
        self._lines: list[str] = []
        self._status = "Running"
        self._thread = threading.Thread(target=self._work, name=self.id, daemon=True)
        self._thread.start()

    def _work(self) -> None:
        try:
            self.result = run_parallel(self.pipeline.step.parallel_run_config, self.inputs, self.output_dir,
                                       show_progress=False, log=self._lines.append, desc=self.pipeline.step.name)
            self._status = "Finished"
        except BatchRunError as exc:
            self.result, self.error, self._status = exc.result, str(exc), "Failed"
        except Exception as exc:
            self.error, self._status = f"{type(exc).__name__}: {exc}", "Failed"
            self._lines.append(self.error)

    def get_status(self) -> str:
        """The status now ("Running", "Finished", "Failed"); prints nothing, waits for nothing."""
        return self._status

    def wait_for_completion(self, show_output: bool = True, raise_on_error: bool = True) -> str:
        """Block until the run ends, printing each log line as it is written (``show_output``)."""
        shown = 0
        while True:
            alive = self._thread.is_alive()
            while shown < len(self._lines):
                if show_output:
                    print(self._lines[shown], flush=True)
                shown += 1
            if not alive:
                break
            time.sleep(0.05)
        if self._status == "Failed" and raise_on_error:
            raise BatchRunError(f"pipeline run {self.id} failed: {self.error}", self.result)
        return self._status

    @property
    def output_file(self) -> Path | None:
        return self.result.output_file if self.result else None

    def __repr__(self) -> str:
        version = f", pipeline_version={self.pipeline_version!r}" if self.pipeline_version else ""
        return f"PipelineRun(id={self.id!r}, status={self._status!r}{version})"


class Pipeline:
    """``Pipeline(workspace, steps=[parallel_run_step])`` (one batch step)."""

    def __init__(self, workspace: Any, steps: list[ParallelRunStep]):
        if not isinstance(steps, list) or len(steps) != 1 or not isinstance(steps[0], ParallelRunStep):
            raise BatchConfigError("steps must be a list with one ParallelRunStep")
        self.workspace = workspace
        self.step = steps[0]

    def submit(self, experiment_name: str, pipeline_parameters: dict[str, Any] | None = None) -> PipelineRun:
        return PipelineRun(self, experiment_name, pipeline_parameters)

    def publish(self, name: str, description: str = "", version: str = "1.0") -> "PublishedPipeline":
        return PublishedPipeline(self, name, description, version)


class PublishedPipeline:
    """A published pipeline: a frozen copy with an id that can be called (``submit``) again and again."""

    def __init__(self, pipeline: Pipeline, name: str, description: str, version: str):
        if not name:
            raise BatchConfigError("a published pipeline needs a name")
        self.pipeline = pipeline
        self.name = name
        self.description = description
        self.version = version
        self.id = uuid.uuid4().hex

    def submit(self, experiment_name: str, pipeline_parameters: dict[str, Any] | None = None) -> PipelineRun:
        return self.pipeline.submit(experiment_name, pipeline_parameters)

    def __repr__(self) -> str:
        return f"PublishedPipeline(name={self.name!r}, version={self.version!r}, id={self.id[:8]}...)"


class PipelineEndpoint:
    """One endpoint, several published pipelines as versions "1", "2", ...; callers pick a version
    or get the default. ``PipelineEndpoint.publish(ws, name, pipeline, description)`` creates it."""

    _REGISTRY: dict[tuple[str, str], "PipelineEndpoint"] = {}

    def __init__(self, workspace: Any, name: str, description: str = ""):
        self.workspace = workspace
        self.name = name
        self.description = description
        self.id = uuid.uuid4().hex
        self._versions: dict[str, PublishedPipeline] = {}
        self.default_version: str | None = None

    @property
    def endpoint(self) -> str:
        """The REST address Azure would give (shown for reference; locally, call ``submit``)."""
        return (f"https://<region>.api.azureml.ms/pipelines/v1.0/subscriptions/{self.workspace.subscription_id}"
                f"/resourceGroups/{self.workspace.resource_group}/providers/Microsoft.MachineLearningServices"
                f"/workspaces/{self.workspace.name}/PipelineRuns/PipelineEndpointSubmit/Id/{self.id}")

    @classmethod
    def publish(cls, workspace: Any, name: str, pipeline: PublishedPipeline, description: str = "") -> "PipelineEndpoint":
        key = (str(workspace.root), name)
        registry_file = Path(workspace.root) / "pipeline_endpoints.json"
        published = json.loads(registry_file.read_text()) if registry_file.exists() else {}
        if key in cls._REGISTRY and name not in published:
            del cls._REGISTRY[key]   # the workspace folder was recreated: forget the old endpoint
        if key in cls._REGISTRY:
            raise BatchConfigError(f"pipeline endpoint {name!r} already exists: use "
                                   "PipelineEndpoint.get(ws, name).add_default(pipeline) to add a version")
        ep = cls(workspace, name, description)
        ep.add_default(pipeline)
        cls._REGISTRY[key] = ep
        ep._save()
        return ep

    @classmethod
    def get(cls, workspace: Any, name: str) -> "PipelineEndpoint":
        key = (str(workspace.root), name)
        if key not in cls._REGISTRY:
            known = sorted(n for root, n in cls._REGISTRY if root == str(workspace.root))
            raise BatchConfigError(f"no pipeline endpoint {name!r} in workspace {workspace.name!r}; known: {known}")
        return cls._REGISTRY[key]

    def add(self, pipeline: PublishedPipeline) -> str:
        """Add ``pipeline`` as the next version (the default does not change); return the version."""
        if not isinstance(pipeline, PublishedPipeline):
            raise BatchConfigError("add: give a PublishedPipeline (pipeline.publish(...) returns one)")
        version = str(len(self._versions) + 1)
        self._versions[version] = pipeline
        self._save()
        return version

    def add_default(self, pipeline: PublishedPipeline) -> str:
        """Add ``pipeline`` as the next version and make it the default."""
        version = self.add(pipeline)
        self.default_version = version
        self._save()
        return version

    def set_default_version(self, version: str | int) -> None:
        self.default_version = self._check_version(version)
        self._save()

    def list_versions(self) -> list[str]:
        return list(self._versions)

    def _check_version(self, version: str | int | None) -> str:
        version = self.default_version if version is None else str(version)
        if version not in self._versions:
            raise BatchConfigError(f"pipeline endpoint {self.name!r} has no version {version!r}; "
                                   f"versions: {self.list_versions()}, default {self.default_version!r}")
        return version

    def get_pipeline(self, version: str | int | None = None) -> PublishedPipeline:
        return self._versions[self._check_version(version)]

    def submit(self, experiment_name: str, pipeline_parameters: dict[str, Any] | None = None,
               pipeline_version: str | int | None = None) -> PipelineRun:
        """Run the default version, or ``pipeline_version``, with optional runtime parameters."""
        version = self._check_version(pipeline_version)
        published = self._versions[version]
        return PipelineRun(published.pipeline, experiment_name, pipeline_parameters, version=version)

    def _save(self) -> None:
        folder = Path(self.workspace.root)
        registry_file = folder / "pipeline_endpoints.json"
        registry = json.loads(registry_file.read_text()) if registry_file.exists() else {}
        registry[self.name] = {
            "id": self.id, "description": self.description, "default_version": self.default_version,
            "versions": {v: {"name": p.name, "version": p.version, "published_pipeline_id": p.id,
                             "step": p.pipeline.step.name,
                             "parallel_run_config": p.pipeline.step.parallel_run_config.to_dict()}
                         for v, p in self._versions.items()}}
        registry_file.write_text(json.dumps(registry, indent=2, sort_keys=True) + "\n")

    def __repr__(self) -> str:
        return (f"PipelineEndpoint(name={self.name!r}, versions={self.list_versions()}, "
                f"default_version={self.default_version!r})")


# --------------------------------------------------------------------------------------------
# The course's reference batch entry script (teaching cells after the exercise, tests)
# --------------------------------------------------------------------------------------------
REFERENCE_BATCH_SCRIPT = '''\
"""Reference batch entry script: score month files of bike rentals with model.pkl."""
import os

import joblib
import pandas as pd

model = None


def init():
    global model
    model = joblib.load(os.path.join(os.environ["AZUREML_MODEL_DIR"], "model.pkl"))


def run(mini_batch):
    frames = []
    for path in mini_batch:
        data = pd.read_csv(path)
        columns = list(model.feature_names_in_)
        missing = [c for c in columns if c not in data.columns]
        if missing:
            raise ValueError(f"{os.path.basename(path)}: missing columns {missing}")
        predictions = model.predict(data[columns])
        frames.append(pd.DataFrame({"file": os.path.basename(path), "instant": data["instant"],
                                    "predicted_cnt": ROUND(predictions)}))
    return pd.concat(frames, ignore_index=True)
'''


def write_reference_batch_script(path: str | os.PathLike, round_to_whole_bikes: bool = False) -> Path:
    """Write the reference batch entry script. ``round_to_whole_bikes``: predictions rounded and
    clipped at 0 (the "changed" pipeline published as a new version)."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    rounding = "(lambda p: p.clip(min=0).round().astype(int))" if round_to_whole_bikes else "(lambda p: p)"
    target.write_text(REFERENCE_BATCH_SCRIPT.replace("ROUND(", f"{rounding}("))
    return target
