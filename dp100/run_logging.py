"""What a run logs: local equivalent of Azure ML's ``Run.log``, ``log_list``, ``tag``, ``upload_file`` (SDK v1).

Every kind of run here (a run in the tracking store, the run a submitted script sees, an offline
run) logs through :class:`RunLogging`: the checks and the step numbering are written once, and
each kind says where a metric, a tag or a file goes in its three ``_record_*`` methods.
"""

from __future__ import annotations

import numbers
import os
import re
import shutil
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from dp100.tracking import RunConfigError

_METRIC_NAME = re.compile(r"^[\w\-. /]{1,250}$")


def check_metric(name: Any, value: Any) -> float:
    """``value`` as a float, or ``RunConfigError`` naming what is wrong with the name or value."""
    if not isinstance(name, str) or not _METRIC_NAME.match(name):
        raise RunConfigError(f"metric name {name!r}: 1-250 letters, digits, spaces or _ - . /")
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise RunConfigError(
            f"run.log({name!r}, {value!r}): the value must be a number, got "
            f"{type(value).__name__}; use run.tag(name, text) for text"
        )
    return float(value)


def artifact_name(name: Any) -> str:
    """A file name inside a run (``outputs/model.pkl``), or ``RunConfigError``."""
    if not isinstance(name, str) or not name or name.startswith("/") or ".." in Path(name).parts:
        raise RunConfigError(f"file name {name!r}: a relative path such as 'outputs/model.pkl'")
    return name.replace("\\", "/")


def write_file(source: Path | bytes, target: Path) -> None:
    """Write ``source`` (a file's path, or its bytes) to ``target``, making its folder."""
    target.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(source, Path):
        shutil.copyfile(source, target)
    else:
        target.write_bytes(source)


class RunLogging:
    """``run.log``, ``log_list``, ``tag``, ``set_tags``, ``upload_file``: checked here; where they go
    is up to the subclass (``_record_metrics``, ``_record_tags``, ``_record_file``)."""

    def __init__(self) -> None:
        self._steps: dict[str, int] = {}  # the next step of each metric name

    # -- where the values go (one per kind of run) ----------------------------------------------
    def _record_metrics(self, name: str, values: list[float], first_step: int) -> None:
        raise NotImplementedError

    def _record_tags(self, tags: dict[str, str]) -> None:
        raise NotImplementedError

    def _record_file(self, name: str, source: Path | bytes) -> None:
        raise NotImplementedError

    def _first_step(self, name: str) -> int:
        """The step of the first value of ``name`` logged here (a run reopened may have some)."""
        return 0

    # -- what a script or notebook calls --------------------------------------------------------
    def log(self, name: str, value: Any, description: str = "", step: int | None = None) -> None:
        """Log a number. Logging the same name again adds the next step (a curve)."""
        self._log_values(name, [check_metric(name, value)], step)

    def log_list(self, name: str, value: Iterable[Any], description: str = "") -> None:
        """Log a list of numbers as the next steps (0, 1, 2, ... on a new name) of one metric."""
        self._log_values(name, [check_metric(name, v) for v in value], None)

    def _log_values(self, name: str, values: list[float], step: int | None) -> None:
        if step is None:
            step = self._steps[name] if name in self._steps else self._first_step(name)
        self._steps[name] = int(step) + len(values)
        self._record_metrics(name, values, int(step))

    def tag(self, key: str, value: Any = "") -> None:
        self._record_tags({str(key): str(value)})

    def set_tags(self, tags: dict[str, Any]) -> None:
        self._record_tags({str(k): str(v) for k, v in tags.items()})

    def upload_file(self, name: str, path_or_stream: Any) -> None:
        """Save a file with the run under ``name`` (e.g. ``outputs/model.pkl``): a path, or an open file."""
        name = artifact_name(name)
        if isinstance(path_or_stream, (str, os.PathLike)):
            source: Path | bytes = Path(path_or_stream)
            if not source.is_file():
                raise RunConfigError(f"upload_file({name!r}): no file {str(source)!r}")
        else:
            data = path_or_stream.read()
            source = data.encode() if isinstance(data, str) else data
        self._record_file(name, source)
