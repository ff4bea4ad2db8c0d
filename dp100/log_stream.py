"""Following a job while it runs: local equivalent of ``wait_for_completion(show_output=True)``'s log stream (SDK v1).

A job (a script process, or a batch step of a pipeline) appends its log lines here as they come; a
caller waiting for it prints them as they arrive, until the job is done or the caller's deadline
passes (the job goes on: only the waiting stops).
"""

from __future__ import annotations

import threading
import time
from typing import Any

from dp100.tracking import STD_LOG


def log_banner(name: str = STD_LOG) -> str:
    """What Azure prints before streaming a log file."""
    return f"Streaming {name}\n{'=' * (10 + len(name))}"


def check_deadline(deadline: float | None, run_id: str) -> None:
    """Raise ``TimeoutError`` once ``time.monotonic()`` passed ``deadline`` (None: no deadline)."""
    if deadline is not None and time.monotonic() > deadline:
        raise TimeoutError(
            f"run {run_id} still running when wait_for_completion's timeout ran out "
            "(the run goes on; wait again or cancel it)"
        )


class LoggedJob:
    """A job whose log lines a waiting caller streams. Subclasses append to ``lines`` (under
    ``lines_lock``), set ``reason`` when the job fails, and set ``done`` when it has ended."""

    def __init__(self, run_id: str = "") -> None:
        self.run_id = run_id
        self.lines: list[str] = []
        self.lines_lock = threading.Lock()
        self.done = threading.Event()
        self.reason: str | None = None

    def say(self, line: str) -> None:
        """Add one line to the log."""
        with self.lines_lock:
            self.lines.append(line if line.endswith("\n") else line + "\n")

    def log_tail(self, lines: int = 30, chars: int = 4000) -> str:
        """The end of the log, as a failed run records it."""
        with self.lines_lock:
            return "".join(self.lines[-lines:])[-chars:]

    @property
    def state(self) -> str:
        """Completed, Failed or Canceled, once done."""
        return "Completed" if self.reason is None else "Canceled" if self.reason == "canceled" else "Failed"

    def join(self, timeout: float | None = None) -> bool:
        return self.done.wait(timeout)

    def cancel(self) -> None:
        """Stop the job (a job that cannot be stopped finishes on its own)."""

    def stream(self, out: Any, deadline: float | None, waited_run_id: str | None = None) -> None:
        """Write the log to ``out`` (None: write nothing) as it grows, until the job is done.
        ``waited_run_id``: the run the caller waits for (a pipeline run waits for its steps)."""
        shown = 0
        while True:
            finished = self.done.wait(0.05)
            if out is not None:
                with self.lines_lock:
                    new = self.lines[shown:]
                shown += len(new)
                if new:
                    out.write("".join(new))
                    out.flush()
            if finished:
                return
            check_deadline(deadline, waited_run_id or self.run_id)
