"""Pipeline steps and their order: local equivalent of Azure ML's ``PythonScriptStep`` (SDK v1).

A ``PythonScriptStep`` is a script run (:mod:`dp100.run_config`) with the data it reads and writes;
a ``ParallelRunStep`` (:mod:`dp100.batch`) is the other kind of step. :func:`order_steps` puts a
pipeline's steps in the order their data needs, and refuses wiring that cannot run.
"""

from __future__ import annotations

from typing import Any

from dp100.batch import ParallelRunStep
from dp100.datasets import DatasetConsumptionConfig
from dp100.pipeline_data import PipelineData, PipelineError
from dp100.run_config import DEFAULT_MAX_RUN_SECONDS, RunConfiguration, ScriptRunConfig


class PythonScriptStep:
    """``PythonScriptStep(script_name, name, source_directory, arguments, inputs, outputs, runconfig)``."""

    def __init__(
        self,
        script_name: str,
        name: str | None = None,
        arguments: Any = None,
        compute_target: Any = None,
        runconfig: RunConfiguration | None = None,
        inputs: Any = None,
        outputs: Any = None,
        source_directory: Any = ".",
        allow_reuse: bool = True,
        max_run_duration_seconds: float = DEFAULT_MAX_RUN_SECONDS,
        **_: Any,
    ):
        self.name = name or script_name
        if not isinstance(self.name, str) or not self.name.strip():
            raise PipelineError(f"step name {self.name!r}: give the step a name")
        where = f"PythonScriptStep {self.name!r}"
        self.inputs = self._list(inputs, "inputs", (PipelineData, DatasetConsumptionConfig))
        self.outputs = self._list(outputs, "outputs", (PipelineData,))
        runconfig = runconfig or RunConfiguration()
        if not isinstance(runconfig, RunConfiguration):
            raise PipelineError(f"{where}: runconfig must be a RunConfiguration, got {type(runconfig).__name__}")
        self.config = ScriptRunConfig(
            source_directory,
            script_name,
            arguments,
            run_config=runconfig,
            compute_target=compute_target,
            max_run_duration_seconds=max_run_duration_seconds,
        )
        self.script_name = script_name
        self.source_directory = self.config.source_directory
        self.arguments = self.config.arguments
        self.runconfig = self.config.run_config
        self.allow_reuse = allow_reuse
        for a in self.arguments:
            if isinstance(a, PipelineData) and not any(a is d for d in self.inputs + self.outputs):
                raise PipelineError(
                    f"{where}: PipelineData {a.name!r} is in arguments but in neither "
                    "inputs nor outputs; add it to the one it is"
                )

    def _list(self, value: Any, what: str, kinds: tuple[type, ...]) -> list[Any]:
        items = [] if value is None else list(value) if isinstance(value, (list, tuple)) else None
        if items is None:
            raise PipelineError(f"PythonScriptStep {self.name!r}: {what} must be a list")
        for i, item in enumerate(items):
            if not isinstance(item, kinds):
                raise PipelineError(
                    f"PythonScriptStep {self.name!r}: {what}[{i}] is a {type(item).__name__}; "
                    f"expected {' or '.join(k.__name__ for k in kinds)}"
                )
        return items

    def __repr__(self) -> str:
        return f"PythonScriptStep(name={self.name!r}, script_name={self.script_name!r})"


Step = PythonScriptStep | ParallelRunStep


def order_steps(steps: list[Step]) -> list[Step]:
    """The steps in the order their data needs (the list order otherwise); ``PipelineError`` if the
    data has no producer, two producers, or forms a cycle."""
    producer: dict[str, Step] = {}
    for s in steps:
        for d in s.outputs:
            if d.name in producer:
                raise PipelineError(
                    f"PipelineData {d.name!r} is an output of both {producer[d.name].name!r} "
                    f"and {s.name!r}; each must have one producing step"
                )
            producer[d.name] = s
    needs: dict[str, set[str]] = {}
    for s in steps:
        needs[s.name] = set()
        for d in s.inputs:
            if isinstance(d, PipelineData):
                if d.name not in producer:
                    raise PipelineError(
                        f"step {s.name!r} reads PipelineData {d.name!r}, but no step has it in its outputs"
                    )
                if producer[d.name] is s:
                    raise PipelineError(f"step {s.name!r} has PipelineData {d.name!r} as input and output")
                needs[s.name].add(producer[d.name].name)
    ordered: list[Step] = []
    remaining = list(steps)
    while remaining:  # data dependencies first; the list order otherwise
        ready = [s for s in remaining if needs[s.name] <= {o.name for o in ordered}]
        if not ready:
            raise PipelineError("the steps' data form a cycle: " + ", ".join(s.name for s in remaining))
        ordered.append(ready[0])
        remaining.remove(ready[0])
    return ordered
