"""Inside a submitted script: local equivalent of Azure ML's ``Run.get_context()`` (SDK v1).

The script runner starts a script with environment variables naming its run (:func:`script_environment`);
``Run.get_context()`` in the script reads them. What the script logs is appended to files next to
the run (this module writes and reads them), and the runner records them in MLflow when the script
ends, so a script never imports MLflow.
"""

from __future__ import annotations

import functools
import json
import os
import uuid
from pathlib import Path
from typing import Any

from dp100.datasets import TabularDataset, dataset_from_spec
from dp100.run_logging import RunLogging, write_file
from dp100.tracking import RunConfigError, artifact_folder, now_ms
from dp100.workspace import Workspace

#: The environment variables that tell a script which run it belongs to.
RUN_ENV = {
    "run": "DP100_RUN_ID",
    "dir": "DP100_RUN_DIR",
    "ws": "DP100_WORKSPACE",
    "exp": "DP100_EXPERIMENT",
    "inputs": "DP100_INPUTS",
    "parent": "DP100_PARENT_RUN_ID",
}
#: What the script logged, in the run's control folder.
METRICS_FILE = "metrics.jsonl"
TAGS_FILE = "tags.jsonl"
UPLOADS_FOLDER = "uploads"


def script_environment(
    run_id: str,
    control: Path,
    workspace_root: Path,
    experiment_name: str,
    inputs: dict[str, Any],
    parent_id: str | None,
) -> dict[str, str]:
    """The variables a script's process gets so that ``Run.get_context()`` finds its run."""
    return {
        RUN_ENV["run"]: run_id,
        RUN_ENV["dir"]: str(control),
        RUN_ENV["ws"]: str(workspace_root),
        RUN_ENV["exp"]: experiment_name,
        RUN_ENV["inputs"]: json.dumps(inputs),
        RUN_ENV["parent"]: parent_id or "",
        "AZUREML_RUN_ID": run_id,
    }


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """The records of a JSON-lines file (none if it does not exist; a line cut short is skipped)."""
    if not path.is_file():
        return []
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError:
            continue  # a line cut short when the script was killed
    return out


def logged_files(control: Path) -> list[tuple[Path, str | None]]:
    """The files the script saved with ``upload_file``: (file, folder inside the run or None)."""
    uploads = control / UPLOADS_FOLDER
    if not uploads.is_dir():
        return []
    return [(f, artifact_folder(f, uploads)) for f in sorted(p for p in uploads.rglob("*") if p.is_file())]


def current_run(allow_offline: bool = True) -> ScriptRunContext | OfflineRun:
    """``Run.get_context()``: inside a submitted script, its run; else an offline run that prints
    what it logs (Azure's ``_OfflineRun``), or an error if ``allow_offline`` is False."""
    if os.environ.get(RUN_ENV["run"]):
        return ScriptRunContext.current()
    if not allow_offline:
        raise RunConfigError("Run.get_context(allow_offline=False): this code is not running inside a submitted run")
    return OfflineRun()


class ContextExperiment:
    """``run.experiment`` inside a script: its name and workspace (no tracking store needed)."""

    def __init__(self, name: str, workspace_root: str):
        self.name = name
        self.workspace_root = workspace_root

    @functools.cached_property
    def workspace(self) -> Workspace:
        return Workspace.from_config(self.workspace_root)

    def __repr__(self) -> str:
        return f"Experiment(Name: {self.name})"


class ScriptRunContext(RunLogging):
    """``Run.get_context()`` inside a submitted script. What it logs is written next to the run
    and recorded in MLflow when the script ends (so the script does not import mlflow)."""

    _instance: ScriptRunContext | None = None

    def __init__(self) -> None:
        super().__init__()
        self.id = os.environ[RUN_ENV["run"]]
        self._dir = Path(os.environ[RUN_ENV["dir"]])
        self.experiment = ContextExperiment(os.environ[RUN_ENV["exp"]], os.environ[RUN_ENV["ws"]])
        self._parent_id = os.environ.get(RUN_ENV["parent"]) or None
        self._inputs = json.loads(os.environ.get(RUN_ENV["inputs"]) or "{}")
        self._completed = False

    @classmethod
    def current(cls) -> ScriptRunContext:
        """The run of this process (one object, so metric steps continue across calls)."""
        if cls._instance is None or cls._instance.id != os.environ.get(RUN_ENV["run"]):
            cls._instance = cls()
        return cls._instance

    @property
    def input_datasets(self) -> dict[str, TabularDataset]:
        """The datasets given to this run with ``as_named_input(dataset, name)``, by name."""
        return {
            name: dataset_from_spec(spec, str(self.experiment.workspace.root)) for name, spec in self._inputs.items()
        }

    @property
    def parent(self) -> Any:
        return None if self._parent_id is None else type("ParentRun", (), {"id": self._parent_id})()

    def _append(self, file: str, records: list[dict[str, Any]]) -> None:
        with open(self._dir / file, "a", encoding="utf-8") as f:
            f.write("".join(json.dumps(r) + "\n" for r in records))

    def _record_metrics(self, name: str, values: list[float], first_step: int) -> None:
        ts = now_ms()
        self._append(
            METRICS_FILE,
            [{"key": name, "value": v, "step": first_step + i, "timestamp": ts} for i, v in enumerate(values)],
        )

    def _record_tags(self, tags: dict[str, str]) -> None:
        self._append(TAGS_FILE, [{"key": k, "value": v} for k, v in tags.items()])

    def _record_file(self, name: str, source: Path | bytes) -> None:
        write_file(source, self._dir / UPLOADS_FOLDER / name)

    def complete(self) -> None:
        """Optional in a script: the run completes when the script exits with code 0."""
        self._completed = True

    def get_status(self) -> str:
        return "Running"

    def __repr__(self) -> str:
        return f"Run(Experiment: {self.experiment.name}, Id: {self.id}, Status: Running)"


class OfflineRun(RunLogging):
    """``Run.get_context()`` outside a submitted run: logs are printed and kept in memory."""

    def __init__(self) -> None:
        super().__init__()
        self.id = f"OfflineRun_{uuid.uuid4()}"
        self.input_datasets: dict[str, TabularDataset] = {}
        self.parent = None
        self._metrics: dict[str, list[float]] = {}

    @property
    def experiment(self) -> Any:
        raise RunConfigError(
            "this is an offline run (the code is not running inside a submitted run): "
            "it has no experiment; open the workspace with Workspace.from_config()"
        )

    def _record_metrics(self, name: str, values: list[float], first_step: int) -> None:
        self._metrics.setdefault(name, []).extend(values)
        for v in values:
            print(f"Attempted to log scalar metric {name}:\n{v}")

    def _record_tags(self, tags: dict[str, str]) -> None:
        pass  # an offline run keeps no tags

    def _record_file(self, name: str, source: Path | bytes) -> None:
        pass  # nor files

    def get_metrics(self) -> dict[str, Any]:
        return {k: v[0] if len(v) == 1 else list(v) for k, v in self._metrics.items()}

    def complete(self) -> None:
        pass

    def get_status(self) -> str:
        return "Running"
