"""A worker process of a batch step: local equivalent of one process on a node of an Azure ML
``ParallelRunStep`` (SDK v1), which loads the entry script, runs ``init()`` once and ``run(mini_batch)``
per mini-batch."""

from __future__ import annotations

import importlib.util
import os
import time
import traceback
from pathlib import Path
from typing import Any

import pandas as pd

_WORKER: dict[str, Any] = {}


def init_worker(script: str, env: dict[str, str], inits: Any = None) -> None:
    """Load the entry script and run its ``init()`` (once per worker process); count it in ``inits``
    (a shared ``multiprocessing.Value``) when given."""
    if inits is not None:
        with inits.get_lock():
            inits.value += 1
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


def _failed(names: list[str], count: int, exc: Exception) -> dict[str, Any]:
    return {
        "names": names,
        "count": count,
        "ok": False,
        "error": f"{type(exc).__name__}: {exc}",
        "trace": traceback.format_exc(limit=3),
    }


def score_mini_batch(label: str, mini_batch: list[str] | pd.DataFrame) -> dict[str, Any]:
    """Score one mini-batch (file paths or a DataFrame); per-item outcomes let the parent count failures."""
    out = {"pid": os.getpid(), "init_s": _WORKER.get("init_s"), "outcomes": []}
    if "init_error" in _WORKER:
        out["init_error"] = _WORKER["init_error"]
        return out
    run = _WORKER["module"].run
    tabular = isinstance(mini_batch, pd.DataFrame)
    names = [label] if tabular else [Path(f).name for f in mini_batch]
    try:
        lines = _to_lines(run(mini_batch.copy() if tabular else list(mini_batch)))
        out["outcomes"].append({"names": names, "count": len(mini_batch), "ok": True, "lines": lines})
        return out
    except Exception as exc:
        if tabular or len(mini_batch) == 1:  # tabular: every record of the mini-batch failed
            out["outcomes"].append(_failed(names, len(mini_batch), exc))
            return out
    for f in mini_batch:  # a mini-batch of files failed: score its files one by one to find the bad one(s)
        try:
            out["outcomes"].append({"names": [Path(f).name], "count": 1, "ok": True, "lines": _to_lines(run([f]))})
        except Exception as exc:
            out["outcomes"].append(_failed([Path(f).name], 1, exc))
    return out
