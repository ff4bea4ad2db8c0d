"""`make bench` part: what one workshop student costs the machine, and how many fit.

For one student's JupyterLab server (started headless, idle) and, for each solution notebook, the
kernel that runs it top to bottom (with every process it starts), sample the proportional set size
(PSS: shared libraries counted once across processes) every 0.2 s and keep the peak; CPU seconds of
the kernel (and its children) come from the kernel's own accounting. Prints a capacity table:
students per machine for this 2-core/24 GiB box and common VM sizes, by memory and by CPU.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from autograder.course_files import assignments, notebook_path, read  # noqa: E402

ASSIGNMENTS = assignments(ROOT)
#: Machines a workshop is run on: (name, cores, GiB).
MACHINES = [
    ("this machine (2 cores, 24 GiB)", 2, 24),
    ("Azure D4s v5 / AWS m6i.xlarge (4, 16)", 4, 16),
    ("Azure D8s v5 / AWS m6i.2xlarge (8, 32)", 8, 32),
    ("Azure D16s v5 / AWS m6i.4xlarge (16, 64)", 16, 64),
    ("Azure E8s v5 / AWS r6i.2xlarge (8, 64)", 8, 64),
]
#: Planning assumptions, printed with the table: memory kept free for the OS and the hub, and how
#: often a student runs the heaviest notebook top to bottom during a hands-on block.
RESERVED_GIB = 2.0
RUN_EVERY_S = 600


def tree(pid: int) -> list[psutil.Process]:
    try:
        root = psutil.Process(pid)
        return [root] + root.children(recursive=True)
    except psutil.NoSuchProcess:
        return []


def pss(procs: list[psutil.Process]) -> int:
    total = 0
    for p in procs:
        try:
            total += p.memory_full_info().pss
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            pass
    return total


class PeakSampler(threading.Thread):
    def __init__(self, pid_getter):
        super().__init__(daemon=True)
        self.pid_getter, self.peak, self.stop = pid_getter, 0, threading.Event()

    def run(self):
        while not self.stop.is_set():
            pid = self.pid_getter()
            if pid:
                self.peak = max(self.peak, pss(tree(pid)))
            time.sleep(0.2)


def kernel_cost(assignment: str) -> dict:
    nb = read(notebook_path(ROOT, assignment))
    with tempfile.TemporaryDirectory(prefix="dp100-hubbench-") as tmp:
        client = NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": tmp}})
        holder = {}

        def pid():
            km = holder.get("km")
            proc = getattr(getattr(km, "provisioner", None), "process", None) if km else None
            return getattr(proc, "pid", None)

        sampler = PeakSampler(pid)
        sampler.start()
        start = time.perf_counter()
        cpu = 0.0
        with client.setup_kernel():
            holder["km"] = client.km
            kpid = pid()
            for index, cell in enumerate(client.nb.cells):
                client.execute_cell(cell, index)
            try:
                times = psutil.Process(kpid).cpu_times()
                cpu = times.user + times.system + times.children_user + times.children_system
                cpu += sum(sum(c.cpu_times()[:2]) for c in psutil.Process(kpid).children(recursive=True))
            except psutil.NoSuchProcess:
                pass
        sampler.stop.set()
        sampler.join()
        return {
            "assignment": assignment,
            "kernel_peak_pss_mib": sampler.peak / 2**20,
            "kernel_cpu_s": cpu,
            "wall_s": time.perf_counter() - start,
        }


def server_cost() -> float:
    """PSS of an idle JupyterLab server (what each signed-in student holds even before a kernel)."""
    with tempfile.TemporaryDirectory(prefix="dp100-hubbench-lab-") as tmp:
        port = 8890 + os.getpid() % 100
        env = {**os.environ, "JUPYTER_RUNTIME_DIR": tmp}
        proc = subprocess.Popen(
            [
                str(Path(sys.executable).parent / "jupyter"),
                "lab",
                "--no-browser",
                f"--port={port}",
                "--ip=127.0.0.1",
                f"--ServerApp.root_dir={tmp}",
                "--allow-root",
                "--IdentityProvider.token=",
                "--LabApp.news_url=None",
            ],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        try:
            time.sleep(15)
            return pss(tree(proc.pid)) / 2**20
        finally:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=30)


def main() -> int:
    server = server_cost()
    rows = [kernel_cost(a) for a in ASSIGNMENTS]
    worst_mem = max(r["kernel_peak_pss_mib"] for r in rows) + server
    worst_cpu = max(r["kernel_cpu_s"] for r in rows)
    print(f"\nOne student on the hub: idle JupyterLab server {server:.0f} MiB PSS")
    print(f"{'notebook':<20} {'kernel peak PSS':>16} {'server+kernel':>14} {'kernel CPU s':>13} {'wall s':>8}")
    for r in rows:
        print(
            f"{r['assignment']:<20} {r['kernel_peak_pss_mib']:>12.0f} MiB {r['kernel_peak_pss_mib'] + server:>10.0f} MiB "
            f"{r['kernel_cpu_s']:>13.1f} {r['wall_s']:>8.1f}"
        )
    print(
        f"\nCapacity (worst notebook: {worst_mem:.0f} MiB per student at peak, {worst_cpu:.0f} CPU s per run; "
        f"{RESERVED_GIB:g} GiB kept for the OS and hub; each student runs it top to bottom once every "
        f"{RUN_EVERY_S // 60} minutes):"
    )
    print(f"{'machine':<44} {'by memory':>10} {'by CPU':>8} {'students':>9}")
    table = []
    for name, cores, gib in MACHINES:
        by_mem = int((gib - RESERVED_GIB) * 1024 // worst_mem)
        by_cpu = int(cores * RUN_EVERY_S // worst_cpu)
        table.append({"machine": name, "by_memory": by_mem, "by_cpu": by_cpu, "students": min(by_mem, by_cpu)})
        print(f"{name:<44} {by_mem:>10} {by_cpu:>8} {min(by_mem, by_cpu):>9}")
    out = ROOT / ".bench"
    out.mkdir(exist_ok=True)
    (out / "hub.json").write_text(
        json.dumps({"server_pss_mib": server, "notebooks": rows, "capacity": table}, indent=1)
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
