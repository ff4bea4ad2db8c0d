"""Batch inference with the ParallelRunStep contract (the pipelines that run it: :mod:`dp100.pipeline`).

LOCAL TEACHING EQUIVALENT OF AZURE ML ``ParallelRunStep`` (SDK v1), ``parallel_run_function`` and
batch endpoints (SDK v2), NOT AZURE. What Azure does on a compute cluster, this module does with
worker processes on your machine, keeping the contract of the entry script:

- ``init()`` runs ONCE PER WORKER PROCESS (load the model there, not per mini-batch);
- ``run(mini_batch)`` runs once per mini-batch. What a mini-batch is depends on the input, as in
  Azure (two contracts):

  ==========================================  =====================================================
  input                                       ``run(mini_batch)`` gets / ``mini_batch_size`` is
  ==========================================  =====================================================
  **Tabular** dataset                         a pandas DataFrame of rows / a DATA SIZE of the
  (``Dataset.Tabular.from_delimited_files``)  delimited text: ``"1MB"``, ``"64KB"``, ``1024`` (bytes;
                                              default ``"1MB"``); failed items are RECORDS
  **File** dataset (``Dataset.File.           a list of file paths / a NUMBER OF FILES (default
  from_files``), a folder, a list of files    10); failed items are FILES
  ==========================================  =====================================================

  ``run`` returns a pandas DataFrame or a list; with ``output_action="append_row"`` every returned
  row is appended to ONE output file (``parallel_run_step.txt``, space-separated, no header, as in
  Azure); with ``"summary_only"`` the script writes its own outputs and only the count is kept;
- ``process_count_per_node * node_count`` workers run mini-batches at the same time;
- a mini-batch whose ``run`` raises fails: all its records (tabular) count as failed; for files,
  the files of the mini-batch are scored one by one so that only the bad file(s) count (a local
  convenience: Azure counts the whole mini-batch). Once more failed items than ``error_threshold``
  (``-1``: never) the run stops with a :class:`BatchRunError` naming them; rows already appended
  stay in the output file.

This module is the batch runner: :class:`ParallelRunStep`, :func:`run_parallel` and the course's
reference entry script; :class:`ParallelRunConfig` is in :mod:`dp100.batch_config`, the two input
contracts in :mod:`dp100.batch_inputs`, a worker process in :mod:`dp100.batch_worker` (all
importable from here). Pipelines live in
:mod:`dp100.pipeline`: ``dp100.pipeline.Pipeline(ws, steps=[parallel_run_step])`` takes a
``ParallelRunStep`` beside script steps (its input may be a
``dp100.pipeline.PipelineParameter``, the dataset as a runtime parameter), runs it as a child run
of the pipeline run and streams its log in ``wait_for_completion(show_output=True)``;
``Pipeline.publish``, ``PublishedPipeline`` and ``PipelineEndpoint`` (versions and a default) are
there too.
"""

from __future__ import annotations

import concurrent.futures
import datetime as _dt
import multiprocessing
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from dp100.batch_config import BatchConfigError, ParallelRunConfig
from dp100.batch_inputs import TabularInput, step_input
from dp100.batch_worker import init_worker, score_mini_batch
from dp100.pipeline_data import PipelineData, PipelineParameter

__all__ = [
    "REFERENCE_BATCH_SCRIPT",
    "BatchConfigError",
    "BatchResult",
    "BatchRunError",
    "ParallelRunConfig",
    "ParallelRunStep",
    "TabularInput",
    "run_parallel",
    "step_input",
    "write_reference_batch_script",
]


class BatchRunError(RuntimeError):
    """A batch run failed (error threshold exceeded, or init() failed). ``result`` keeps what was done."""

    def __init__(self, message: str, result: BatchResult):
        super().__init__(message)
        self.result = result


# --------------------------------------------------------------------------------------------
# The step and its result
# --------------------------------------------------------------------------------------------
@dataclass
class BatchResult:
    """What a batch run did: output file, rows appended, items (files or records) scored and failed, the log.

    ``input_kind`` is ``"file"`` (items are files: ``files_scored``, ``failed_files``) or ``"tabular"``
    (items are records: ``failed_files`` names the failed mini-batches, ``failed_items`` counts records).
    """

    output_dir: Path
    output_file: Path | None
    status: str = "NotStarted"
    input_kind: str = "file"
    rows: int = 0
    items_total: int = 0
    items_scored: int = 0
    failed_items: int = 0
    files_scored: list[str] = field(default_factory=list)
    failed_files: dict[str, str] = field(default_factory=dict)
    mini_batches: int = 0
    worker_pids: set[int] = field(default_factory=set)  # the workers that scored a mini-batch
    workers_initialised: int = 0  # every worker that ran init(), including one that then got no mini-batch
    log: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def files_total(self) -> int:
        return self.items_total if self.input_kind == "file" else 0

    @property
    def log_file(self) -> Path:
        return self.output_dir / "logs" / "parallel_run.log"

    @property
    def init_calls(self) -> int:
        """How many worker processes ran init() (one each)."""
        return self.workers_initialised

    def read_output(self, names: Sequence[str] | None = None, sep: str = " ") -> pd.DataFrame:
        """The append_row output file as a DataFrame (no header in the file: give ``names``)."""
        if self.output_file is None or not self.output_file.exists():
            raise FileNotFoundError(f"no append_row output in {self.output_dir}")
        if self.output_file.stat().st_size == 0:
            return pd.DataFrame(columns=list(names or []))
        return pd.read_csv(self.output_file, sep=sep, header=None, names=list(names) if names else None)


class ParallelRunStep:
    """``ParallelRunStep(name, parallel_run_config, inputs=[...], output=...)``: one batch step.

    In a pipeline (``dp100.pipeline.Pipeline(ws, steps=[step])``) the input may be a Tabular or File
    dataset, a folder, a list of files, a ``dp100.pipeline.PipelineParameter`` (set at submit time)
    or a ``PipelineData`` another step writes; ``output`` a folder name or a ``PipelineData`` later
    steps read. ``step.run()`` scores at once, outside any pipeline.
    """

    def __init__(
        self,
        name: str,
        parallel_run_config: ParallelRunConfig,
        inputs: list[Any],
        output: Any = "batch-output",
        allow_reuse: bool = False,
        **_: Any,
    ):
        if not isinstance(name, str) or not name.strip():
            raise BatchConfigError(f"step name {name!r}: give the step a name")
        if not isinstance(parallel_run_config, ParallelRunConfig):
            raise BatchConfigError("parallel_run_config must be a ParallelRunConfig")
        if not isinstance(inputs, list) or len(inputs) != 1:
            raise BatchConfigError("inputs must be a list with one input (a dataset, a folder or a PipelineParameter)")
        self.name = name
        self.parallel_run_config = parallel_run_config
        self.inputs = inputs
        self.output = output if isinstance(output, PipelineData) else Path(output)
        self.allow_reuse = allow_reuse

    @property
    def outputs(self) -> list[Any]:
        """The PipelineData this step writes (for the pipeline's wiring): its output, if one."""
        return [self.output] if isinstance(self.output, PipelineData) else []

    def run(
        self, inputs: Any = None, output_dir: str | os.PathLike | None = None, show_progress: bool = True, log=None
    ) -> BatchResult:
        """Score the input now; return the :class:`BatchResult` (raise BatchRunError on failure)."""
        source = inputs if inputs is not None else self.inputs[0]
        if isinstance(source, PipelineParameter):  # set at submit time; run alone: its default
            source = source.default_value
        if output_dir is None and not isinstance(self.output, Path):
            raise BatchConfigError(f"step {self.name!r}: its output is a PipelineData; give output_dir to run it alone")
        return run_parallel(
            self.parallel_run_config,
            step_input(source),
            output_dir or self.output,
            show_progress=show_progress,
            log=log,
            desc=self.name,
        )

    def __repr__(self) -> str:
        return f"ParallelRunStep(name={self.name!r}, entry_script={self.parallel_run_config.entry_script!r})"


def run_parallel(
    config: ParallelRunConfig,
    inputs: Any,
    output_dir: str | os.PathLike,
    show_progress: bool = True,
    log=None,
    desc: str = "batch",
) -> BatchResult:
    """Run ``config.entry_script`` over ``inputs`` in mini-batches on ``config.workers`` processes.

    ``inputs``: a Tabular dataset or :class:`TabularInput` (DataFrame mini-batches sized in bytes),
    or a File dataset, a folder or a list of files (lists of paths, ``mini_batch_size`` files each).
    """
    from tqdm.auto import tqdm

    if isinstance(inputs, (list, tuple)) and not inputs:
        raise BatchConfigError("no input files to score")
    source = step_input(inputs)
    tabular = isinstance(source, TabularInput)
    if tabular:
        size = config.bytes_per_batch()
        batches = source.mini_batches(size)
        unit, what = "record", f"{sum(len(b) for _, b in batches)} records of {len(source.files)} file(s)"
        how = f"of up to {size:,} bytes"
    else:
        files = [str(f) for f in source]
        size = config.files_per_batch()
        batches = [
            (f"files {i}-{min(i + size, len(files)) - 1}", files[i : i + size]) for i in range(0, len(files), size)
        ]
        unit, what, how = "file", f"{len(files)} files", f"of up to {size}"
    out_dir = Path(output_dir)
    (out_dir / "logs").mkdir(parents=True, exist_ok=True)
    output_file = out_dir / config.append_row_file_name if config.output_action == "append_row" else None
    result = BatchResult(
        out_dir,
        output_file,
        status="Running",
        input_kind="tabular" if tabular else "file",
        items_total=sum(len(b) for _, b in batches),
        mini_batches=len(batches),
    )
    log_handle = open(result.log_file, "w")

    def say(line: str) -> None:
        stamped = f"{_dt.datetime.now():%H:%M:%S} {line}"
        result.log.append(stamped)
        log_handle.write(stamped + "\n")
        log_handle.flush()
        if log is not None:
            log(stamped)

    say(
        f"{desc}: {what} in {len(batches)} mini-batches {how}, "
        f"{config.workers} worker process(es), error_threshold={config.error_threshold} ({unit}s), "
        f"output_action={config.output_action}"
    )
    if output_file is not None:
        output_file.write_text("")
    start = time.perf_counter()
    env = {k: str(v) for k, v in config.environment_variables.items()}
    context = multiprocessing.get_context("fork")
    # counted by the workers themselves: the pool may start a worker (which runs init()) that then
    # finds the queue empty, so the pids that return results undercount the init() calls
    inits = context.Value("i", 0)
    pool = concurrent.futures.ProcessPoolExecutor(
        max_workers=min(config.workers, len(batches)),
        mp_context=context,
        initializer=init_worker,
        initargs=(str(config.script_path), env, inits),
    )
    bar = tqdm(total=result.items_total, unit=unit, desc=desc, disable=not show_progress, leave=False)
    failure: str | None = None
    seen_pids: set[int] = set()
    try:
        futures = {pool.submit(score_mini_batch, label, b): label for label, b in batches}
        for future in concurrent.futures.as_completed(futures):
            try:
                answer = future.result()
            except Exception as exc:  # a worker died (killed, out of memory, ...)
                failure = f"a worker process died while scoring {futures[future]}: {exc}"
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
                names = ", ".join(outcome["names"])
                if outcome["ok"]:
                    lines = outcome["lines"]
                    if output_file is not None and lines:
                        with open(output_file, "a") as fh:  # append as each mini-batch completes
                            fh.write("\n".join(lines) + "\n")
                    result.rows += len(lines)
                    result.items_scored += outcome["count"]
                    if not tabular:
                        result.files_scored += outcome["names"]
                    say(f"worker {pid}: scored {names}: {len(lines)} row(s)")
                else:
                    for name in outcome["names"]:
                        result.failed_files[name] = outcome["error"]
                    result.failed_items += outcome["count"]
                    say(f"worker {pid}: FAILED {names}: {outcome['error']}")
                bar.update(outcome["count"])
            if config.error_threshold != -1 and result.failed_items > config.error_threshold:
                bad = "; ".join(f"{k}: {v}" for k, v in result.failed_files.items())
                failure = (
                    f"error_threshold={config.error_threshold} exceeded: {result.failed_items} {unit}(s) failed ({bad})"
                )
                break
    finally:
        bar.close()
        pool.shutdown(wait=True, cancel_futures=True)
    result.workers_initialised = inits.value
    result.seconds = time.perf_counter() - start
    kept = f"{result.rows} row(s) from {result.items_scored} of {result.items_total} {unit}(s)"
    if output_file is not None:
        kept += f" are in {output_file}"
    if failure:
        result.status = "Failed"
        say(f"{desc}: FAILED after {result.seconds:.1f} s: {failure}. {kept}.")
        log_handle.close()
        raise BatchRunError(f"batch run {desc!r} failed: {failure}. Kept: {kept}.", result)
    result.status = "Finished"
    skipped = f", {result.failed_items} failed {unit}(s) ignored" if result.failed_items else ""
    say(f"{desc}: finished in {result.seconds:.1f} s: {kept}{skipped}")
    log_handle.close()
    return result


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
