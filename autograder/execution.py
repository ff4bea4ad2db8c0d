"""Bounded execution: nbgrader's own Execute preprocessor, with limits nbgrader does not have.

- per-cell timeout: nbgrader/nbclient's ``timeout`` (interrupt, record ``CellTimeoutError``);
- whole-notebook wall-clock cap: a watchdog kills the kernel's process group when it is reached;
- memory: the launcher caps the kernel's address space (``MemoryError`` in the cell, or a dead
  kernel whose log shows an allocation failure);
- a kernel that dies (``os._exit``, a segfault, the watchdog) stops execution; every cell that
  did not run gets an error output, so nbgrader scores it 0 (without it, an unexecuted test cell
  has no error and nbgrader would give it full marks);
- output is capped per notebook so a cell printing in a loop cannot exhaust the grader's memory.
"""
from __future__ import annotations

import os
import signal
import threading
import time

from jupyter_client.manager import AsyncKernelManager
from nbclient.exceptions import CellTimeoutError, DeadKernelError
from nbformat import NotebookNode
from nbgrader.preprocessors import Execute
from traitlets import Dict, Integer, List

MEMORY_SIGNS = ("MemoryError", "std::bad_alloc", "Cannot allocate memory", "out of memory",
                "Unable to allocate", "failed to allocate")


class SandboxKernelManager(AsyncKernelManager):
    """Start the kernel through :mod:`autograder.launcher`, with a clean environment."""

    launcher = List([]).tag(config=False)
    sandbox_env = Dict({}).tag(config=False)

    def format_kernel_cmd(self, extra_arguments=None):
        return list(self.launcher) + super().format_kernel_cmd(extra_arguments)

    async def _async_pre_start_kernel(self, **kw):
        kw["env"] = dict(self.sandbox_env)
        return await super()._async_pre_start_kernel(**kw)

    def kernel_pid(self) -> int | None:
        proc = getattr(self.provisioner, "process", None)
        return getattr(proc, "pid", None)


def error_output(ename: str, evalue: str) -> NotebookNode:
    return NotebookNode(output_type="error", ename=ename, evalue=evalue,
                        traceback=[f"{ename}: {evalue}"])


class BoundedExecute(Execute):
    """nbgrader's Execute plus a notebook cap, kernel-death handling and an output cap."""

    notebook_timeout = Integer(600).tag(config=True)
    max_output_bytes = Integer(2_000_000).tag(config=True)

    def preprocess(self, nb, resources=None, km=None):
        self.abort_reason: str | None = None      # "timeout" | "kernel_died"
        self.abort_cell: int | None = None
        self.killed_by_watchdog = False
        self._output_bytes = 0
        self._output_capped = False
        self._km = km
        self._done: set[int] = set()
        self.cell_stuck = False
        self._started = time.monotonic()
        timer = threading.Timer(self.notebook_timeout, self._watchdog)
        timer.daemon = True
        timer.start()
        try:
            super().preprocess(nb, resources, km=km)
        except DeadKernelError:
            # The kernel died outside a cell (during start-up, or between cells).
            self._abort("kernel_died", None)
            self._mark_rest(nb, 0)
        except Exception as exc:  # kernel could not start, or nbclient gave up
            if self.abort_reason is None:
                self.abort_reason = "timeout" if self.killed_by_watchdog else "kernel_died"
                self.start_error = f"{type(exc).__name__}: {str(exc)[:300]}"
            self._mark_rest(nb, 0)
        finally:
            timer.cancel()
            self._kill_kernel()
        self.elapsed = time.monotonic() - self._started
        return nb, resources

    # -- the watchdog ---------------------------------------------------------------------------
    def _watchdog(self) -> None:
        self.killed_by_watchdog = True
        self._kill_kernel()

    def _kill_kernel(self) -> None:
        km = self._km
        pid = km.kernel_pid() if km is not None and hasattr(km, "kernel_pid") else None
        if pid:
            for kill in (lambda: os.killpg(os.getpgid(pid), signal.SIGKILL),
                         lambda: os.kill(pid, signal.SIGKILL)):
                try:
                    kill()
                except (ProcessLookupError, PermissionError, OSError):
                    pass

    # -- per cell -------------------------------------------------------------------------------
    def preprocess_cell(self, cell, resources, index):
        if self.abort_reason is not None:
            if cell.cell_type == "code":
                self._not_run(cell)
            return cell, resources
        try:
            result = super().preprocess_cell(cell, resources, index)
            self._done.add(index)
            return result
        except Exception as exc:  # DeadKernelError, or nbclient failing on a dead/killed kernel
            stuck = isinstance(exc, CellTimeoutError)  # timed out and ignored the interrupt
            reason = "timeout" if self.killed_by_watchdog or stuck else "kernel_died"
            if stuck and self.abort_reason is None:
                self.cell_stuck = True
            self._abort(reason, index)
            if not isinstance(exc, (DeadKernelError, CellTimeoutError)) and not self.killed_by_watchdog:
                self.start_error = f"{type(exc).__name__}: {str(exc)[:300]}"
            self._done.add(index)
            cell.outputs = list(cell.get("outputs", []))
            if stuck and not self.killed_by_watchdog:
                cell.outputs.append(error_output(
                    "CellTimeoutError", f"this cell ran longer than {self.timeout} s and did not stop when interrupted"))
            else:
                cell.outputs.append(error_output(
                    "NotebookTimeoutError" if self.killed_by_watchdog else "DeadKernelError",
                    f"the whole notebook exceeded its {self.notebook_timeout} s limit" if self.killed_by_watchdog
                    else "the kernel died while running this cell"))
            return cell, resources

    def _abort(self, reason: str, index: int | None) -> None:
        if self.abort_reason is None:
            self.abort_reason = "timeout" if self.killed_by_watchdog else reason
            self.abort_cell = index

    def _not_run(self, cell) -> None:
        why = ("the notebook was stopped at its time limit" if self.abort_reason == "timeout"
               else "the kernel had died")
        cell.outputs = [error_output("NotExecuted", f"this cell did not run: {why}")]

    def _mark_rest(self, nb, start: int) -> None:
        for i, cell in enumerate(nb.cells[start:], start):
            if cell.cell_type == "code" and i not in self._done:
                self._not_run(cell)

    # -- output cap -----------------------------------------------------------------------------
    def output(self, outs, msg, display_id, cell_index):
        content = msg.get("content", {})
        size = len(str(content.get("text", ""))) + sum(len(str(v)) for v in content.get("data", {}).values())
        self._output_bytes += size
        if self._output_bytes > self.max_output_bytes and msg.get("msg_type") in (
                "stream", "display_data", "execute_result", "update_display_data"):
            if not self._output_capped:
                self._output_capped = True
                return NotebookNode(output_type="stream", name="stdout",
                                    text=f"\n[autograder: output beyond {self.max_output_bytes} bytes dropped]\n")
            return None
        return super().output(outs, msg, display_id, cell_index)


def classify(nb, executor: BoundedExecute, kernel_log: str) -> tuple[str, str]:
    """(status, detail) of an executed notebook, from the abort reason and the cells' errors."""
    def cell_label(i):
        cell = nb.cells[i]
        gid = cell.metadata.get("nbgrader", {}).get("grade_id")
        return f"cell {i + 1}" + (f" ({gid})" if gid else "")

    if executor.abort_reason == "timeout" and executor.cell_stuck and not executor.killed_by_watchdog:
        return "timeout", (f"{cell_label(executor.abort_cell)} exceeded the per-cell timeout of {executor.timeout} s "
                           "and ignored the interrupt: the notebook was stopped there")
    if executor.abort_reason == "timeout":
        where = f" at {cell_label(executor.abort_cell)}" if executor.abort_cell is not None else ""
        return "timeout", f"stopped{where}: the whole notebook exceeded {executor.notebook_timeout} s"
    if executor.abort_reason == "kernel_died":
        where = f" while running {cell_label(executor.abort_cell)}" if executor.abort_cell is not None else " before any cell ran"
        tail = kernel_log.strip().splitlines()[-3:] if kernel_log.strip() else []
        if any(sign in kernel_log for sign in MEMORY_SIGNS):
            return "memory", f"the kernel ran out of memory{where} (memory cap)"
        extra = getattr(executor, "start_error", "")
        hint = f": {extra}" if extra else (f": {' | '.join(t.strip() for t in tail)[:300]}" if tail else "")
        return "kernel_died", f"the kernel died{where}{hint}"
    for i, cell in enumerate(nb.cells):
        for out in cell.get("outputs", []):
            if out.get("output_type") != "error":
                continue
            if out.get("ename") == "CellTimeoutError":
                return "timeout", f"{cell_label(i)} exceeded the per-cell timeout of {executor.timeout} s"
            if out.get("ename") == "MemoryError":
                return "memory", f"{cell_label(i)} hit the memory cap (MemoryError)"
    return "graded", ""
