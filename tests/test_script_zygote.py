"""A script forked by the zygote (dp100/script_zygote.py) sees what `python -u script.py ARGS` would."""

from __future__ import annotations

import os
import sys

from dp100 import script_zygote

SCRIPT = """\
import atexit, os, sys, threading, time
print("argv", sys.argv, "name", __name__, flush=True)
print("path0", sys.path[0] == os.path.dirname(os.path.abspath(__file__)), "cwd", os.getcwd())
print("env", os.environ.get("ZYGOTE_TEST"), "session leader", os.getsid(0) == os.getpid())
print("to stderr", file=sys.stderr)
atexit.register(lambda: print("atexit ran", flush=True))
threading.Thread(target=lambda: (time.sleep(0.2), print("thread joined", flush=True))).start()
if sys.argv[1] == "fail":
    def inner():
        raise ValueError("from the script")
    inner()
sys.exit(int(sys.argv[1]))
"""


def run(tmp_path, *args: str) -> tuple[int, str]:
    (tmp_path / "job.py").write_text(SCRIPT)
    proc = script_zygote.spawn(["job.py", *args], str(tmp_path), dict(os.environ, ZYGOTE_TEST="yes"))
    out = proc.stdout.read()
    return proc.wait(30), out


def test_a_forked_script_runs_as_its_own_program(tmp_path):
    code, out = run(tmp_path, "3")
    assert code == 3, out
    assert "argv ['job.py', '3'] name __main__" in out
    assert f"path0 True cwd {tmp_path}" in out
    assert "env yes session leader True" in out and "to stderr" in out
    assert out.index("thread joined") < out.index("atexit ran"), out
    assert "dp100" not in sys.modules["__main__"].__dict__.get("__file__", "")  # the test process is untouched


def test_a_failing_script_shows_its_own_traceback(tmp_path):
    code, out = run(tmp_path, "fail")
    assert code == 1
    assert f'Traceback (most recent call last):\n  File "{tmp_path / "job.py"}", line 11, in <module>' in out, out
    assert "runpy" not in out and "script_zygote" not in out, out
    assert "ValueError: from the script\nthread joined\natexit ran" in out, out  # as python does it


def test_a_killed_zygote_ends_its_runs_and_the_next_run_gets_a_new_one(tmp_path):
    (tmp_path / "sleep.py").write_text("import time\ntime.sleep(30)\n")
    proc = script_zygote.spawn(["sleep.py"], str(tmp_path), dict(os.environ))
    old = script_zygote._ZYGOTE
    old.proc.kill()
    assert proc.wait(10) == -9
    os.killpg(proc.pid, 9)  # the orphan: the runner kills a run's process group when it stops it
    code, _ = run(tmp_path, "0")
    assert code == 0 and script_zygote._ZYGOTE is not old


def test_the_zygote_is_outside_its_callers_process_group_and_ends_with_it(tmp_path):
    """Outside the group: a kernel interrupt (ipykernel signals its whole process group) does not end
    it, and a kernel shutting down does not wait for it (ipykernel waits for every child of its
    group to be gone, seconds when the child is a zombie). It still ends when its caller does."""
    import subprocess
    import time

    import psutil

    (tmp_path / "job.py").write_text("print('ran')\n")
    caller = subprocess.run(
        [
            sys.executable,
            "-c",
            "import os\nfrom dp100 import script_zygote\n"
            f"p = script_zygote.spawn(['job.py'], {str(tmp_path)!r}, dict(os.environ))\n"
            "assert p.wait(30) == 0 and p.stdout.read() == 'ran\\n'\n"
            "z = script_zygote._ZYGOTE.proc.pid\n"
            "print(z, os.getpgid(z) != os.getpgrp(), os.getsid(z) == z)",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert caller.returncode == 0, caller.stderr
    pid, own_group, own_session = caller.stdout.split()
    assert (own_group, own_session) == ("True", "True"), caller.stdout
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            if psutil.Process(int(pid)).status() == psutil.STATUS_ZOMBIE:
                break
        except psutil.NoSuchProcess:
            break
        time.sleep(0.05)
    else:
        raise AssertionError(f"the zygote {pid} outlived the process that started it")
