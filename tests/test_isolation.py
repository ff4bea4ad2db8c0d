"""Isolation per submission: bubblewrap namespaces, a uid of its own, cgroup limits, IPC sockets.

Two grading runs, both with ``--jobs 2`` so that an attack always runs beside a classmate:

- the tiny assignment with a fork bomb, eight memory-hungry children, sixteen busy processes, a
  ``setsid()`` daemon, a network connection and a snoop through the disk, interleaved with honest
  classmates who must keep full marks and their normal speed;
- a two-notebook assignment whose first notebook plants symlinks (``.kernel.json -> /etc/passwd``
  and friends) for the second one, which must still grade while /etc and the grader's files stay
  untouched.

Plus the cause of the "DELIM not in msg_list" zero, reproduced under the old setup and shown gone.
These tests need root and bubblewrap; where CI=true they FAIL when those are missing.
"""

from __future__ import annotations

import asyncio
import csv
import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest
from conftest import ROOT, grade_command

from autograder import cgroup, sandbox
from autograder import synthetic as syn

A = syn.ASSIGNMENT
ENV = dict(os.environ, PYTHONPATH=str(ROOT), PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
pytestmark = pytest.mark.xdist_group("test_isolation")  # the attacked class graded once below: one worker builds it


def grading_run(test):
    """A test that runs the grader or reads the class it graded (root, bubblewrap, cgroups)."""
    return pytest.mark.slow(pytest.mark.grading(pytest.mark.root(test)))


def need(*features: str) -> sandbox.Capabilities:
    """The machine's capabilities; fail in CI (skip elsewhere) when one of ``features`` is missing."""
    caps = sandbox.probe()
    have = {
        "root": caps.root,
        "bwrap": caps.bwrap is not None,
        "cgroups": caps.cgroups is not None,
        "setuid": caps.setuid,
    }
    missing = [f for f in features if not have[f]]
    if missing:
        message = f"isolation test needs {', '.join(missing)} ({'; '.join(caps.notes)})"
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(message)
        pytest.skip(message)
    return caps


def grade(
    course: Path, subs: Path, out: Path, assignment: str, *extra: str, env: dict | None = None
) -> subprocess.CompletedProcess:
    return subprocess.run(
        grade_command(subs, assignment, out, *extra),
        cwd=course,
        env={**ENV, **(env or {})},
        capture_output=True,
        text=True,
        timeout=600,
    )


def run_cgroups() -> set[str]:
    """Names of the autograder run folders in the machine's cgroup hierarchies."""
    return (
        {p.name for p in Path("/sys/fs/cgroup").glob("**/autograder-*") if p.is_dir()}
        if os.path.isdir("/sys/fs/cgroup")
        else set()
    )


def rows(out: Path) -> dict[str, dict]:
    with open(out / "grades.csv", newline="") as fh:
        return {r["student_id"]: r for r in csv.DictReader(fh)}


def feedback_text(out: Path, student: str, assignment: str = A, nb: str | None = None) -> str:
    page = out / "feedback" / student / assignment / f"{nb or assignment}.html"
    return re.sub(r"<[^>]+>", "", page.read_text()).replace("&#39;", "'").replace("&quot;", '"')


# -- what each attacker hands in (code in a cell at the top of an otherwise full notebook) ------
WORK = (
    "import time\n_t = time.perf_counter()\n_s = sum(i * i for i in range(3_000_000))\n"
    "print('WORK', round(time.perf_counter() - _t, 3))"
)

FORK_BOMB = """
import os, time
children = []
try:
    while True:
        pid = os.fork()
        if pid == 0:
            time.sleep(60)              # hold the slot: the cap, not recycling, must stop the loop
            os._exit(0)
        children.append(pid)
except OSError as exc:
    print("FORK STOPPED AT", len(children), type(exc).__name__)
"""

MEMORY = """
import multiprocessing as mp, os, time
def hog(mb, flags, i):
    try:
        block = bytearray(mb << 20)     # touches every page
    except MemoryError:
        os._exit(3)
    flags[i] = 1
    deadline = time.time() + 60         # hold it until all eight have allocated or died (a lock-free
    while not flags[8] and time.time() < deadline:   # flag: a hog killed holding a lock would hang the rest)
        time.sleep(0.02)
    os._exit(0)
ctx = mp.get_context("fork")
for mb in (4096, 400):
    flags = ctx.Array("b", 9, lock=False)   # 0-7: hog i holds its memory; 8: let go
    procs = [ctx.Process(target=hog, args=(mb, flags, i)) for i in range(8)]
    for p in procs:
        p.start()
    deadline = time.time() + 60         # however slow the machine: all eight hold their memory at once
    while time.time() < deadline and not all(flags[i] or p.exitcode is not None for i, p in enumerate(procs)):
        time.sleep(0.02)
    flags[8] = 1
    for p in procs:
        p.join()
    print("HOG", mb, sorted(p.exitcode for p in procs))
"""

BUSY = """
import multiprocessing as mp, threading, time
def spin(seconds):
    end = time.time() + seconds
    while time.time() < end:
        pass
def busy_threads():
    threads = [threading.Thread(target=spin, args=(4,)) for _ in range(16)]
    [t.start() for t in threads]; [t.join() for t in threads]
procs = [mp.get_context("fork").Process(target=spin, args=(4,)) for _ in range(16)]
[p.start() for p in procs]
busy_threads()
[p.join() for p in procs]
print("BUSY DONE")
"""

DAEMON = """
import os, time, ctypes, signal
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        signal.signal(signal.SIGHUP, signal.SIG_IGN)
        ctypes.CDLL(None).prctl(15, b"{token}", 0, 0, 0)   # PR_SET_NAME: findable by the test
        while True:
            time.sleep(0.2)
    os._exit(0)
time.sleep(0.5)
print("DAEMON STARTED")
"""

NETWORK = """
import socket
for host in ("127.0.0.1", "localhost"):
    try:
        socket.create_connection((host, {port}), timeout=3).close()
        print("NET CONNECTED", host)
    except OSError as exc:
        print("NET REFUSED", host, type(exc).__name__)
"""

SNOOP = """
import glob, os
targets = [{course!r} + "/source", {subs!r}, {out!r}, {root!r} + "/source", {root!r} + "/.git",
           {root!r} + "/autograder/samples", {root!r} + "/gradebook.db"]
seen = [t for t in targets if os.path.exists(t) and (os.listdir(t) if os.path.isdir(t) else True)]
seen += [p for p in glob.glob("/tmp/autograder-*/boxes/*/*") if not p.startswith(os.getcwd())]
seen += glob.glob("/tmp/autograder-*/private/*")
seen += [p for p in glob.glob("/tmp/autograder-*/kernels/*") if not os.access(p, os.W_OK)]
found = []
for top in ("/", ):
    for dirpath, dirnames, filenames in os.walk(top):
        dirnames[:] = [d for d in dirnames if d not in (".venv", "versions")
                       and (dirpath != "/" or d not in ("proc", "sys", "usr", "dev"))]
        for name in filenames:
            try:
                with open(os.path.join(dirpath, name), "rb") as fh:
                    if "{secret_reversed}"[::-1].encode() in fh.read(2_000_000):
                        found.append(os.path.join(dirpath, name))
            except OSError:
                pass
try:
    open("/etc/autograder-was-here", "w")
    seen.append("/etc writable")
except OSError:
    pass
print("SNOOP", seen[:5], found[:5], "UID", os.getuid(), "PID", os.getpid())
"""

CLASSMATES = ["02_classmate", "04_classmate", "06_classmate", "08_classmate"]


@pytest.fixture(scope="module")
def attacked_class():
    need("root", "bwrap", "cgroups", "setuid")
    base = Path(tempfile.mkdtemp(prefix="ag-iso-", dir="/tmp"))
    os.chmod(base, 0o755)
    secret = "SECRET_" + secrets.token_hex(8)
    token = "dmn" + secrets.token_hex(5)
    course, subs, out = base / "course", base / "submissions", base / "out"
    syn.build_course(course, secret=secret)
    for dirpath, _dirnames, filenames in os.walk(base):  # readable by anyone without isolation
        os.chmod(dirpath, 0o755)
        for f in filenames:
            os.chmod(os.path.join(dirpath, f), 0o644)
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    listener.settimeout(0.2)
    accepted, stop = [], threading.Event()

    def accept():
        while not stop.is_set():
            try:
                accepted.append(listener.accept()[0])
            except OSError:
                pass

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    full = syn.student_notebook("full")
    attacks = {
        "01_forkbomb": FORK_BOMB,
        "03_memory": MEMORY,
        "05_busy": BUSY,
        "07_daemon": DAEMON.replace("{token}", token),
        "08_network": NETWORK.format(port=listener.getsockname()[1]),
        "09_snoop": SNOOP.format(
            course=str(course), subs=str(subs), out=str(out), root=str(ROOT), secret_reversed=secret[::-1]
        ),
    }
    for student, code in attacks.items():
        syn.write_submission(subs, student, syn.with_code(full, code, where="top"))
    for student in CLASSMATES:
        syn.write_submission(subs, student, syn.with_code(full, WORK, where="top"))
    t0 = time.perf_counter()
    _s = sum(i * i for i in range(3_000_000))
    baseline = time.perf_counter() - t0
    passwd = os.stat("/etc/passwd")
    proc = grade(course, subs, out, A, "--cell-timeout", "40", "--notebook-timeout", "90", "--memory", "1536")
    time.sleep(0.5)
    daemons = [p for p in Path("/proc").glob("[0-9]*") if _comm(p) == token]
    stop.set()
    thread.join()
    listener.close()
    print(proc.stderr[-3000:])
    yield {
        "proc": proc,
        "out": out,
        "baseline": baseline,
        "accepted": accepted,
        "daemons": daemons,
        "secret": secret,
        "passwd": passwd,
        "rows": rows(out) if (out / "grades.csv").exists() else {},
    }
    if not os.environ.get("AUTOGRADER_KEEP_TEST_RUN"):
        shutil.rmtree(base, ignore_errors=True)


def _comm(proc_dir: Path) -> str:
    try:
        return (proc_dir / "comm").read_text().strip()
    except OSError:
        return ""


@grading_run
def test_class_run_reports_full_isolation(attacked_class):
    assert attacked_class["proc"].returncode == 0, attacked_class["proc"].stderr[-3000:]
    iso = json.loads((attacked_class["out"] / "grades.json").read_text())["isolation"]
    assert iso["missing"] == [] and iso["own_uid_per_submission"] and iso["bubblewrap"]
    assert iso["network"] == "none" and iso["cgroup"].startswith("cgroup v") and iso["kernel_transport"] == "ipc"


@grading_run
@pytest.mark.parametrize("student", CLASSMATES)
def test_classmate_keeps_full_marks_and_its_speed(attacked_class, student):
    row = attacked_class["rows"][student]
    assert (float(row["score"]), row["status"]) == (6.0, "graded"), row
    work = float(re.search(r"WORK ([\d.]+)", feedback_text(attacked_class["out"], student)).group(1))
    baseline = attacked_class["baseline"]
    # sixteen busy processes sharing its CPU without equal group weights would make it several times slower
    assert work < max(3 * baseline, baseline + 2.0), (work, baseline)


@grading_run
def test_fork_bomb_stops_at_the_process_cap(attacked_class):
    text = feedback_text(attacked_class["out"], "01_forkbomb")
    count = int(re.search(r"FORK STOPPED AT (\d+) (\w+)", text).group(1))
    assert 0 < count < sandbox.MAX_PIDS, text[:500]
    assert attacked_class["rows"]["01_forkbomb"]["status"] in ("graded", "timeout", "kernel_died")


@grading_run
def test_memory_is_capped_for_the_whole_submission(attacked_class):
    text = feedback_text(attacked_class["out"], "03_memory")
    huge = re.search(r"HOG 4096 \[([-\d, ]+)\]", text).group(1)
    assert huge == ", ".join(["3"] * 8), text[:800]  # each 4 GB child: MemoryError
    several = [int(x) for x in re.search(r"HOG 400 \[([-\d, ]+)\]", text).group(1).split(",")]
    assert -9 in several, several  # 8 x 400 MB > --memory 1536: the group's OOM killer stepped in


@grading_run
def test_busy_processes_finish_inside_their_share(attacked_class):
    assert re.search(r"BUSY DONE(?!\")", feedback_text(attacked_class["out"], "05_busy"))
    assert attacked_class["rows"]["05_busy"]["status"] == "graded"


@grading_run
def test_setsid_daemon_is_killed_when_the_submission_ends(attacked_class):
    assert re.search(r"DAEMON STARTED(?!\")", feedback_text(attacked_class["out"], "07_daemon"))
    assert attacked_class["daemons"] == []


@grading_run
def test_no_network(attacked_class):
    text = feedback_text(attacked_class["out"], "08_network")
    assert not re.search(r"NET CONNECTED (127|localhost)", text), text[:800]
    assert len(re.findall(r"NET REFUSED (127.0.0.1|localhost) \w+", text)) == 2, text[:800]
    assert attacked_class["accepted"] == []


@grading_run
def test_snoop_finds_nothing_and_cannot_write_the_system(attacked_class):
    text = feedback_text(attacked_class["out"], "09_snoop")
    seen = re.search(r"SNOOP (\[.*?\]) (\[.*?\]) UID (\d+) PID (\d+)", text)
    assert seen, text[:800]
    assert seen.group(1) == "[]" and seen.group(2) == "[]", seen.group(0)
    assert int(seen.group(3)) not in (0, os.getuid())
    assert int(seen.group(4)) < 10  # its own PID namespace
    assert not Path("/etc/autograder-was-here").exists()
    now, before = os.stat("/etc/passwd"), attacked_class["passwd"]
    assert (now.st_uid, now.st_mode) == (before.st_uid, before.st_mode)
    assert Path("/etc/passwd").read_text().startswith("root:")


# -- two notebooks: the first plants symlinks for the second ------------------------------------
PLANT = """
import os
planted = []
for name, target in [(".kernel.json", "/etc/passwd"), ("tmp", "/etc"), (".ipython", "/etc"),
                     (".mpl", "/etc"), ("kernel.json", "/etc/shadow"), (".runtime", "/etc"),
                     ("part2.ipynb", "/etc/passwd")]:
    try:
        if os.path.isdir(name) and not os.path.islink(name):
            os.rename(name, name + ".old")
        os.symlink(target, name)
        planted.append(name)
    except OSError as exc:
        planted.append(f"{name}:{type(exc).__name__}")
runtime = os.environ["JUPYTER_RUNTIME_DIR"]     # this kernel's socket folder: locked once it started
try:
    os.rename(runtime + "/kernel-1", runtime + "/moved")
    planted.append("socket moved")
except OSError as exc:
    planted.append(f"socket:{type(exc).__name__}")
os.makedirs(".local/lib/python3.11/site-packages", exist_ok=True)   # user site: ignored by the next kernel
with open(".local/lib/python3.11/site-packages/usercustomize.py", "w") as fh:
    fh.write("import sys; sys.modules['math'] = None")
print("PLANTED", planted)
"""

LOOK = "import os\nprint('PART2 SEES', sorted(os.listdir('.')), os.getuid())"


@grading_run
def test_two_notebooks_first_plants_symlinks_second_still_grades(tmp_path):
    need("root", "setuid")
    course, subs, out = tmp_path / "course", tmp_path / "subs", tmp_path / "out"
    syn.build_pair_course(course)
    for student, code in (("planter", PLANT), ("honest", "")):
        syn.write_submission(subs, student, syn.pair_student_notebook("part1", code=code), syn.PAIR, "part1.ipynb")
        syn.write_submission(subs, student, syn.pair_student_notebook("part2", code=LOOK), syn.PAIR, "part2.ipynb")
    watched = [Path("/etc/passwd"), Path("/etc/shadow"), Path("/etc/group")]
    # (other tests on this machine may add users meanwhile: judge what the old bug did to them, a
    # truncation to the kernel's connection JSON and a chown to the student, not every byte)
    before = {p: (os.stat(p).st_uid, os.stat(p).st_gid, os.stat(p).st_mode) for p in watched}
    # everything the grader makes outside --out goes to a TMPDIR and runtime dir of this test's own
    # (short: Unix socket paths hold 107 bytes; a long TMPDIR makes the grader use /tmp/agk-*)
    scratch, runtime = Path(tempfile.mkdtemp(prefix="agt-", dir="/tmp")), tmp_path / "runtime"
    runtime.mkdir()
    groups_before = run_cgroups()
    proc = grade(
        course,
        subs,
        out,
        syn.PAIR,
        "--cell-timeout",
        "30",
        "--memory",
        "1536",
        env={"TMPDIR": str(scratch), "JUPYTER_RUNTIME_DIR": str(runtime)},
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    left = list(scratch.iterdir())
    scratch.rmdir() if not left else None
    assert left == [] and list(runtime.iterdir()) == []  # nothing left behind
    ours = {name for name in run_cgroups() - groups_before if not Path("/tmp", name).exists()}
    assert ours == set()  # control groups removed too
    result = rows(out)
    assert (float(result["planter"]["score"]), result["planter"]["status"]) == (12.0, "graded"), result["planter"][
        "detail"
    ]
    assert (float(result["honest"]["score"]), result["honest"]["status"]) == (12.0, "graded"), result["honest"]
    planted = re.search(r"PLANTED (\[.*?\])", feedback_text(out, "planter", syn.PAIR, "part1")).group(1)
    assert ".kernel.json" in planted and "tmp" in planted and "socket:PermissionError" in planted, planted
    assert re.search(r"PART2 SEES \[.*'.kernel.json'", feedback_text(out, "planter", syn.PAIR, "part2"))
    after = {p: (os.stat(p).st_uid, os.stat(p).st_gid, os.stat(p).st_mode) for p in watched}
    assert after == before
    for p in watched:
        text = p.read_text()
        assert text.startswith("root:") and '"key"' not in text and "shell_port" not in text, p
    assert not (course / "gradebook.db").exists() or os.stat(course / "gradebook.db").st_uid == 0


@pytest.mark.root
def test_hand_over_never_follows_a_link(tmp_path):
    """The grader gives a kernel its folder by file descriptor: a link planted there is not followed."""
    need("root")
    caps = sandbox.Capabilities(True, True, None, None, 4242)
    folder = tmp_path / "k"
    folder.mkdir()
    victim = tmp_path / "victim"
    victim.write_text("root's")
    (folder / "kernel.json").write_text("{}")
    (folder / "evil").symlink_to(victim)
    box = sandbox.Box(tmp_path, 4242, 4242, tmp_path / "log")
    with pytest.raises(OSError):  # ELOOP: refuses rather than chown the victim
        sandbox.hand_over_kernel_dir(folder, box, caps)
    assert os.stat(victim).st_uid == 0
    (folder / "evil").unlink()
    sandbox.hand_over_kernel_dir(folder, box, caps)
    assert os.stat(folder).st_uid == os.stat(folder / "kernel.json").st_uid == 4242


# -- cgroups --------------------------------------------------------------------------------------
@pytest.mark.root
def test_cgroup_limits_and_removal():
    need("root", "cgroups")
    hierarchy, why = cgroup.detect()
    assert hierarchy is not None, why
    hierarchy.start_run("ag-test-" + secrets.token_hex(4))
    try:
        group = hierarchy.create("box", 256 << 20, 64)
        sleeper = subprocess.Popen(["sleep", "30"])
        for procs in group.procs_files():
            Path(procs).write_text(str(sleeper.pid))
        assert group.pids() == {sleeper.pid}
        files = {p.name: p for path in group.paths for p in path.iterdir()}
        if hierarchy.version == 1:
            assert int(files["memory.limit_in_bytes"].read_text()) == 256 << 20
            assert files["pids.max"].read_text().strip() == "64"
            assert files["cpu.shares"].read_text().strip() == str(cgroup.CPU_SHARES)
            assert files["cpu.cfs_quota_us"].read_text().strip() == "-1"  # a weight, no throttling
        group.remove()
        assert sleeper.wait(timeout=5) == -9
        assert not any(p.exists() for p in group.paths)
    finally:
        hierarchy.remove_run()
    assert not any(p.exists() for p in hierarchy.bases.values() for p in p.glob("ag-test-*"))


# -- determinism: the kernel's own messaging errors never reach a cell --------------------------
async def _cell_with_intruder(km) -> tuple[list[dict], str]:
    """Run a 1.5 s cell while something that is not a Jupyter client sends a bare frame to the
    kernel's control socket (what a heartbeat 'ping' does when two kernels got the same port)."""
    import zmq
    import zmq.asyncio

    # ipykernel stops capturing fd 2 into cells under pytest: start it as a grader would
    await km.start_kernel(env={k: v for k, v in os.environ.items() if k != "PYTEST_CURRENT_TEST"})
    kc = km.client()
    kc.start_channels()
    ctx = zmq.asyncio.Context()
    outputs = []
    try:
        await kc.wait_for_ready(timeout=60)

        async def intruder():
            await asyncio.sleep(0.5)  # the cell below is running by then
            sock = ctx.socket(zmq.DEALER)
            address = (
                f"ipc://{km.ip}-{km.control_port}" if km.transport == "ipc" else f"tcp://{km.ip}:{km.control_port}"
            )
            sock.connect(address)
            await sock.send(b"ping")
            await asyncio.sleep(0.5)
            sock.close(0)

        task = asyncio.ensure_future(intruder())
        await kc.execute_interactive(
            "import logging, time\nlogging.basicConfig()\ntime.sleep(1.5)", timeout=60, output_hook=outputs.append
        )
        await task
    finally:
        kc.stop_channels()
        await km.shutdown_kernel(now=True)
        ctx.term()
    return [m["content"] for m in outputs if m["msg_type"] == "stream"], km.connection_file


@pytest.mark.slow  # starts a kernel
def test_old_setup_puts_a_messaging_error_into_the_running_cell(tmp_path):
    """The cause of the correct nb05 answer scored 0: ipykernel logs a bad frame on a kernel socket
    through a handler on fd 2, which it captures into the running cell's stderr."""
    from jupyter_client.manager import AsyncKernelManager

    km = AsyncKernelManager(kernel_name="python3", connection_file=str(tmp_path / "kernel.json"))
    streams, _ = asyncio.run(_cell_with_intruder(km))
    stderr = "".join(s["text"] for s in streams if s["name"] == "stderr")
    assert "ERROR:tornado.general" in stderr and "DELIM not in msg_list" in stderr, streams


@pytest.mark.slow  # starts a kernel
@pytest.mark.root
def test_sandboxed_kernel_keeps_machinery_errors_out_of_cells(tmp_path):
    """The fix: IPC sockets in a folder of the kernel's own (no port to collide), and the kernel's
    loggers writing to its log file through kernel_boot.py, never into the cell."""
    from autograder import execution

    caps = sandbox.probe()
    dirs = sandbox.RunDirs(caps=caps)
    try:
        box = sandbox.make_box(dirs, caps, 1, None)
        km = execution.SandboxKernelManager(kernel_name="python3")
        sandbox.configure_kernel(
            km,
            dirs,
            box,
            caps,
            2048,
            1,
            [Path(sys.base_prefix).resolve(), Path(sys.prefix).resolve(), ROOT / "dp100"],
            None,
        )
        streams, connection_file = asyncio.run(_cell_with_intruder(km))
        assert km.transport == "ipc" and connection_file.startswith(str(dirs.kernels))
        assert [s for s in streams if s["name"] == "stderr"] == []
        assert "DELIM not in msg_list" in box.log.read_text()  # logged where it belongs
        sandbox.remove_box(box, caps)
        assert not box.path.exists() and not any(dirs.kernels.iterdir())
    finally:
        dirs.cleanup()
    assert not dirs.base.exists()
