"""The configuration of a batch step: local equivalent of Azure ML's ``ParallelRunConfig`` (SDK v1),
checked when it is made (mini-batch size, error threshold, output action, the entry script's
``init()`` and ``run(mini_batch)``)."""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

OUTPUT_ACTIONS = ("append_row", "summary_only")
DEFAULT_OUTPUT_FILE = "parallel_run_step.txt"
DEFAULT_FILES_PER_BATCH = 10  # Azure's default mini_batch_size for a File dataset
DEFAULT_BATCH_SIZE = "1MB"  # ... and for a Tabular dataset
_SIZE = re.compile(r"^\s*(\d+)\s*(KB|MB|GB)?\s*$", re.IGNORECASE)
_UNITS = {None: 1, "KB": 1024, "MB": 1024**2, "GB": 1024**3}


class BatchConfigError(ValueError):
    """A ParallelRunConfig / step / pipeline setting is wrong; the message names it."""


def _normalise_size(value: Any) -> int | str:
    """A mini_batch_size as Azure takes it: 6, "6" (-> 6) or "64KB" / "1mb" (-> "64KB" / "1MB")."""
    if isinstance(value, bool) or isinstance(value, float) and not value.is_integer():
        raise BatchConfigError(f"mini_batch_size must be a number of files or a data size like '1MB', got {value!r}")
    match = _SIZE.match(str(int(value)) if isinstance(value, float) else str(value))
    if not match or int(match.group(1)) < 1:
        raise BatchConfigError(
            f"mini_batch_size must be a number of files >= 1 (File input) or a data size "
            f"like '1MB', '64KB', 1024 (Tabular input), got {value!r}"
        )
    number, unit = match.groups()
    return f"{int(number)}{unit.upper()}" if unit else int(number)


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
    mini_batch_size: int | str | None = None  # files (File input) or a data size (Tabular input)
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
        if self.mini_batch_size is not None:
            self.mini_batch_size = _normalise_size(self.mini_batch_size)
        threshold = self.error_threshold
        if isinstance(threshold, bool) or not isinstance(threshold, int) or threshold < -1:
            raise BatchConfigError(
                f"error_threshold must be a whole number >= -1 (-1: ignore all failures), got {self.error_threshold!r}"
            )
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
            raise BatchConfigError(
                f"entry script {path.name} must define init() and run(mini_batch); "
                f"missing: {', '.join(sorted(missing))}"
            )

    @property
    def script_path(self) -> Path:
        base = Path(self.source_directory) if self.source_directory else Path.cwd()
        return (base / self.entry_script).resolve()

    @property
    def workers(self) -> int:
        return self.process_count_per_node * self.node_count

    def files_per_batch(self) -> int:
        """``mini_batch_size`` for a File input: a number of files."""
        size = self.mini_batch_size
        if size is None:
            return DEFAULT_FILES_PER_BATCH
        if isinstance(size, str):
            raise BatchConfigError(
                f"mini_batch_size={size!r} is a data size, which sizes a Tabular dataset's "
                "mini-batches; for a File input give a number of files (e.g. 6)"
            )
        return size

    def bytes_per_batch(self) -> int:
        """``mini_batch_size`` for a Tabular input: bytes of delimited text (a plain number is bytes)."""
        size = DEFAULT_BATCH_SIZE if self.mini_batch_size is None else self.mini_batch_size
        number, unit = _SIZE.match(str(size)).groups()
        return int(number) * _UNITS[unit.upper() if unit else None]

    def to_dict(self) -> dict[str, Any]:
        return {
            "entry_script": str(self.script_path),
            "mini_batch_size": self.mini_batch_size,
            "error_threshold": self.error_threshold,
            "output_action": self.output_action,
            "process_count_per_node": self.process_count_per_node,
            "node_count": self.node_count,
            "append_row_file_name": self.append_row_file_name,
            "environment_variables": dict(self.environment_variables),
        }
