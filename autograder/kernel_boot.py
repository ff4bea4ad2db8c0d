"""Start an IPython kernel whose own machinery never writes into a cell's output.

    python kernel_boot.py -f CONNECTION_FILE

ipykernel captures everything written to file descriptors 1 and 2 into the running cell's
output (``capture_fd_output``), and its own loggers (tornado's, the kernel app's) write there.
So a messaging error, e.g. ``ERROR:tornado.general ... DELIM not in msg_list`` when something
that is not a Jupyter client sends a frame to one of the kernel's sockets, lands in whatever test
cell is running, and nbgrader scores a cell with stderr output 0. Here the kernel's loggers are
given a handler on a copy of the original stderr taken *before* ipykernel captures it (the
launcher points that at the kernel log), and stop propagating to the root logger (which student
or library code may have configured with ``logging.basicConfig()`` while a cell ran).
"""

import logging
import os
import sys

if sys.path and sys.path[0] == os.path.dirname(os.path.abspath(__file__)):
    sys.path.pop(0)  # the grader's package is not the student's to import

#: Loggers of the kernel's messaging machinery; the kernel app's own is added after start-up.
MACHINERY = ("tornado", "asyncio", "zmq", "jupyter_client", "ipykernel", "traitlets", "IPKernelApp")


def route_to(stream) -> None:
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter(logging.BASIC_FORMAT))
    handler.setLevel(logging.WARNING)  # the kernel app logs every message at DEBUG
    for name in MACHINERY:
        logger = logging.getLogger(name)
        for old in list(logger.handlers):
            logger.removeHandler(old)
        logger.addHandler(handler)
        logger.propagate = False


def main() -> None:
    log = open(os.dup(2), "w", buffering=1, encoding="utf-8", errors="replace")
    if os.getppid() == 1:
        # In bubblewrap's PID namespace the parent is its init (pid 1), which ipykernel's parent
        # poller takes for "the grader has gone" and exits. bwrap's --die-with-parent does that job.
        os.environ.pop("JPY_PARENT_PID", None)
    from ipykernel import kernelapp

    kernelapp.IPKernelApp.configure_tornado_logger = lambda self: route_to(log)
    app = kernelapp.IPKernelApp.instance()
    app.initialize()
    route_to(log)  # again: initialize() gave the kernel app's logger a handler on fd 2
    app.start()


if __name__ == "__main__":
    main()
