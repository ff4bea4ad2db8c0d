"""Bounded execution: nbgrader's own Execute preprocessor, with limits nbgrader does not have.

- per-cell timeout: nbgrader/nbclient's ``timeout`` (interrupt, record ``CellTimeoutError``);
- whole-notebook wall-clock cap: a watchdog kills the kernel's process group when it is reached;
- memory: the launcher caps each process's address space (``MemoryError`` in the cell) and the
  submission's memory group caps all its processes together (a dead kernel whose log shows an
  allocation failure or the group's OOM kill);
- a kernel that dies (``os._exit``, a segfault, the watchdog) stops execution; every cell that
  did not run gets an error output, so nbgrader scores it 0 (without it, an unexecuted test cell
  has no error and nbgrader would give it full marks);
- output is capped per notebook and per message (every message type, tracebacks included), so
  nothing a kernel prints can exhaust the grader's memory.
"""

from __future__ import annotations

import os
import signal
import threading
import time

import zmq
import zmq.asyncio
from jupyter_client.asynchronous import AsyncKernelClient
from jupyter_client.manager import AsyncKernelManager
from nbclient.exceptions import CellTimeoutError, DeadKernelError
from nbformat import NotebookNode
from nbgrader.preprocessors import Execute
from traitlets import Any, Dict, Integer, List, default

from . import course_files

MEMORY_SIGNS = (
    "MemoryError",
    "std::bad_alloc",
    "Cannot allocate memory",
    "out of memory",
    "Unable to allocate",
    "failed to allocate",
)


class SandboxKernelManager(AsyncKernelManager):
    """Start the kernel through the sandbox's command prefix, with a clean environment.

    :func:`autograder.sandbox.configure_kernel` fills these in: the transport is ``ipc`` (Unix
    sockets in a folder of the kernel's own, so two kernels started at once can never pick the same
    TCP port and receive each other's messages), the kernel command is ``kernel_boot.py`` (the
    kernel's own logs go to its log file, never into a cell), and ``on_connection_file`` hands the
    kernel's folder over to its uid once jupyter_client has written the connection file there.
    """

    launcher = List([]).tag(config=False)
    sandbox_env = Dict({}).tag(config=False)
    kernel_argv = List([]).tag(config=False)
    on_connection_file = Any(None).tag(config=False)
    on_ready = Any(None).tag(config=False)

    def format_kernel_cmd(self, extra_arguments=None):
        cmd = super().format_kernel_cmd(extra_arguments)
        if self.kernel_argv:
            cmd = [a.replace("{connection_file}", self.connection_file) for a in self.kernel_argv]
        return list(self.launcher) + cmd

    async def _async_pre_start_kernel(self, **kw):
        kw["env"] = dict(self.sandbox_env)
        result = await super()._async_pre_start_kernel(**kw)
        if self.on_connection_file is not None:
            self.on_connection_file()
        return result

    def kernel_pid(self) -> int | None:
        proc = getattr(self.provisioner, "process", None)
        return getattr(proc, "pid", None)


def error_output(ename: str, evalue: str) -> NotebookNode:
    return NotebookNode(output_type="error", ename=ename, evalue=evalue, traceback=[f"{ename}: {evalue}"])


class BoundedExecute(Execute):
    """nbgrader's Execute plus a notebook cap, kernel-death handling and an output cap."""

    notebook_timeout = Integer(600).tag(config=True)
    max_output_bytes = Integer(2_000_000).tag(config=True)

    def preprocess(self, nb, resources=None, km=None):
        self.abort_reason: str | None = None  # "timeout" | "kernel_died"
        self.abort_cell: int | None = None
        self.killed_by_watchdog = False
        self._output_bytes = 0
        self._output_count = 0
        self._cell_used: dict[int, list[int]] = {}  # cell index -> [chars, outputs]
        self._output_capped = False
        if km is not None:
            km.client_factory = BoundedKernelClient  # bounded message size
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
            self._release_kernel()
        self.elapsed = time.monotonic() - self._started
        return nb, resources

    # -- the watchdog ---------------------------------------------------------------------------
    def _watchdog(self) -> None:
        self.killed_by_watchdog = True
        self._kill_kernel()

    def start_new_kernel_client(self):  # what nbconvert's (synchronous) preprocess calls
        kc = super().start_new_kernel_client()
        on_ready = getattr(self._km, "on_ready", None)
        if on_ready is not None:  # the kernel has bound its sockets: lock their folder
            on_ready()
        return kc

    def _release_kernel(self) -> None:
        """nbclient leaves a kernel manager it was given (``km=``) as it is: close the client's
        sockets, reap the process and remove the connection and socket files here, or every
        notebook would leave them behind (stock jupyter_client writes them to /tmp)."""
        kc, km = getattr(self, "kc", None), self._km
        if kc is not None:
            try:
                kc.stop_channels()
            except Exception:
                pass
            self.kc = None
        proc = getattr(getattr(km, "provisioner", None), "process", None)
        if proc is not None:
            try:
                proc.wait(timeout=5)
            except Exception:
                pass
        if km is not None:
            km.cleanup_connection_file()
            km.cleanup_ipc_files()

    def _kill_kernel(self) -> None:
        km = self._km
        pid = km.kernel_pid() if km is not None and hasattr(km, "kernel_pid") else None
        if pid:
            for kill in (lambda: os.killpg(os.getpgid(pid), signal.SIGKILL), lambda: os.kill(pid, signal.SIGKILL)):
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
                cell.outputs.append(
                    error_output(
                        "CellTimeoutError",
                        f"this cell ran longer than {self.timeout} s and did not stop when interrupted",
                    )
                )
            else:
                cell.outputs.append(
                    error_output(
                        "NotebookTimeoutError" if self.killed_by_watchdog else "DeadKernelError",
                        f"the whole notebook exceeded its {self.notebook_timeout} s limit"
                        if self.killed_by_watchdog
                        else "the kernel died while running this cell",
                    )
                )
            return cell, resources

    def _abort(self, reason: str, index: int | None) -> None:
        if self.abort_reason is None:
            self.abort_reason = "timeout" if self.killed_by_watchdog else reason
            self.abort_cell = index

    def _not_run(self, cell) -> None:
        why = "the notebook was stopped at its time limit" if self.abort_reason == "timeout" else "the kernel had died"
        cell.outputs = [error_output("NotExecuted", f"this cell did not run: {why}")]

    def _mark_rest(self, nb, start: int) -> None:
        for i, cell in enumerate(nb.cells[start:], start):
            if cell.cell_type == "code" and i not in self._done:
                self._not_run(cell)

    # -- output cap -----------------------------------------------------------------------------
    # Every message a kernel sends ends up in the grader's memory (and in the feedback page), so
    # each kind is bounded: ZeroMQ refuses any single message above BoundedKernelClient's limit
    # before it is decoded; each cell keeps its first cell_reserve_* of output, beyond which rich and
    # stream output stops at max_output_bytes or max_outputs per notebook (one notice says so);
    # error messages are always kept (a failing cell must score 0)
    # but their text is cut to max_error_chars; clear_output and comm (widget) floods are dropped
    # past the same caps.
    max_outputs = Integer(2_000).tag(config=True)
    cell_reserve_bytes = Integer(4_000).tag(config=True)
    cell_reserve_outputs = Integer(10).tag(config=True)
    max_error_chars = Integer(20_000).tag(config=True)

    def process_message(self, msg, cell, cell_index):
        kind = msg.get("msg_type")
        content = msg.get("content") or {}
        if kind == "error":
            _truncate_error(content, self.max_error_chars)
            self._output_bytes += _message_size(content)
            self._output_count += 1
        elif kind in (
            "stream",
            "display_data",
            "execute_result",
            "update_display_data",
            "clear_output",
        ) or kind.startswith("comm"):
            size = _message_size(content)
            used = self._cell_used.setdefault(cell_index, [0, 0])
            used[0] += size
            used[1] += 1
            if used[0] <= self.cell_reserve_bytes and used[1] <= self.cell_reserve_outputs:
                # every cell keeps its first few outputs, so one noisy cell cannot silence the
                # cells after it (a test's message, a decoy's expected output)
                return super().process_message(msg, cell, cell_index)
            self._output_bytes += size
            self._output_count += 1
            if self._output_bytes > self.max_output_bytes or self._output_count > self.max_outputs:
                if not self._output_capped:
                    self._output_capped = True
                    cell.setdefault("outputs", []).append(
                        NotebookNode(
                            output_type="stream",
                            name="stdout",
                            text=f"\n[autograder: output beyond {self.max_output_bytes} bytes or "
                            f"{self.max_outputs} outputs dropped]\n",
                        )
                    )
                outputs = cell.setdefault("outputs", [])
                if (
                    kind == "stream"
                    and content.get("name") == "stderr"
                    and not any(o.get("name") == "stderr" for o in outputs if o.get("output_type") == "stream")
                ):
                    # keep nbgrader's rule (a test cell writing to stderr scores 0) past the cap
                    outputs.append(
                        NotebookNode(
                            output_type="stream",
                            name="stderr",
                            text="[autograder: stderr output beyond the cap dropped]\n",
                        )
                    )
                return None
        return super().process_message(msg, cell, cell_index)


def _message_size(content: dict) -> int:
    """Characters of output a message carries (text, every mime type, error fields, comm data)."""
    size = len(str(content.get("text", "")))
    data = content.get("data")
    if isinstance(data, dict):
        size += sum(len(str(v)) for v in data.values())
    size += len(str(content.get("evalue", ""))) + sum(len(str(t)) for t in content.get("traceback") or [])
    return size


def _truncate_error(content: dict, limit: int) -> None:
    """Cut an error message's evalue and traceback to about ``limit`` characters, in place."""
    note = "... [autograder: cut]"
    content["ename"] = str(content.get("ename", "Error"))[:200]
    evalue = str(content.get("evalue", ""))
    if len(evalue) > limit:
        content["evalue"] = evalue[:limit] + note
    lines, budget = [], limit
    for line in list(content.get("traceback") or [])[:200]:
        line = str(line)
        if budget <= 0:
            lines.append(note)
            break
        lines.append(line[:budget] + (note if len(line) > budget else ""))
        budget -= len(line)
    content["traceback"] = lines


class BoundedKernelClient(AsyncKernelClient):
    """A kernel client whose ZeroMQ sockets refuse any message larger than ``max_message_bytes``
    (``ZMQ_MAXMSGSIZE``: the connection is reset, the message never reaches Python), so a kernel
    printing a gigabyte in one message cannot make the grader hold it. A refused execute reply
    leaves the cell waiting until its timeout, which then stops it."""

    max_message_bytes = 32 * 1024 * 1024

    @default("context")
    def _context_default(self):
        self._created_context = True
        context = zmq.asyncio.Context()
        context.setsockopt(zmq.MAXMSGSIZE, self.max_message_bytes)
        return context


def read_tail(path, limit: int = 4000) -> str:
    """The last ``limit`` bytes of a (kernel) log, read by seeking: never the whole file."""
    try:
        with open(path, "rb") as fh:
            fh.seek(0, os.SEEK_END)
            fh.seek(max(0, fh.tell() - limit))
            return fh.read(limit).decode("utf-8", errors="replace")
    except OSError:
        return ""


def classify(nb, executor: BoundedExecute, kernel_log: str) -> tuple[str, str]:
    """(status, detail) of an executed notebook, from the abort reason and the cells' errors."""

    def cell_label(i):
        cell = nb.cells[i]
        gid = course_files.grade_id(cell)
        return f"cell {i + 1}" + (f" ({gid})" if gid else "")

    if executor.abort_reason == "timeout" and executor.cell_stuck and not executor.killed_by_watchdog:
        return "timeout", (
            f"{cell_label(executor.abort_cell)} exceeded the per-cell timeout of {executor.timeout} s "
            "and ignored the interrupt: the notebook was stopped there"
        )
    if executor.abort_reason == "timeout":
        where = f" at {cell_label(executor.abort_cell)}" if executor.abort_cell is not None else ""
        return "timeout", f"stopped{where}: the whole notebook exceeded {executor.notebook_timeout} s"
    if executor.abort_reason == "kernel_died":
        where = (
            f" while running {cell_label(executor.abort_cell)}"
            if executor.abort_cell is not None
            else " before any cell ran"
        )
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
