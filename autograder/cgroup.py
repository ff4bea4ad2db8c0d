"""Per-submission resource limits through Linux control groups (v2 when it has the controllers, else v1).

One group per submission holds every process of that submission's kernels (the launcher joins it
before exec'ing the sandbox, children inherit it), so the limits are totals for the submission:

- ``memory``: all processes together (eight 4 GB children cannot escape it); the kernel's OOM
  killer picks a process inside the group, never a classmate's;
- ``pids``: a fork bomb stops at the cap;
- ``cpu``: the same weight for every submission, so under contention each gets an equal share of
  the CPUs however many threads or processes it runs (sixteen busy threads cannot starve a
  classmate). A weight, not a hard quota: a CFS quota of cores / jobs throttled the short
  multi-threaded bursts of honest kernels and halved the speed of a class (measured: 1.46x over
  stock nbgrader with it, 2.15x without, tools/bench_autograder.py, 20 submissions, --jobs 2).

Groups are created under the grader's own group (v1) or under the hierarchy root (v2, where the
"no internal processes" rule forbids the grader's own group), inside one folder per run that
:func:`Hierarchy.remove_run` deletes at the end, killing whatever is left, even after a crash.
"""

from __future__ import annotations

import os
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path

CONTROLLERS = ("memory", "pids", "cpu")
MOUNT = Path("/sys/fs/cgroup")
#: cgroup v1 cpu.shares / v2 cpu.weight of every submission (their defaults, written explicitly).
CPU_SHARES, CPU_WEIGHT = 1024, 100


def _own_paths() -> dict[str, str]:
    """{controller (v1) or "" (v2): path of this process's group}, from /proc/self/cgroup."""
    own = {}
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        _, names, path = line.split(":", 2)
        for name in names.split(",") if names else [""]:
            own[name] = path
    return own


@dataclass
class Hierarchy:
    """Where this machine lets root create groups with the controllers we need."""

    version: int
    bases: dict[str, Path]  # controller -> folder new groups go under ("" for v2)
    controllers: list[str]
    run_dirs: list[Path] = field(default_factory=list)

    def describe(self) -> str:
        return f"cgroup v{self.version} ({', '.join(self.controllers)})"

    def start_run(self, name: str, jobs: int = 1) -> None:
        """Create this run's folder under every base (v2: also enable the controllers below it).

        The folder weighs as much as ``jobs`` ordinary processes: the kernels graded at once
        together get the CPU share they would have as separate processes, not one process's.
        """
        for base in dict.fromkeys(self.bases.values()):
            run = base / name
            run.mkdir(mode=0o755)
            self.run_dirs.append(run)
            if self.version == 2:
                (run / "cgroup.subtree_control").write_text(" ".join(f"+{c}" for c in self.controllers))
                (run / "cpu.weight").write_text(str(min(10_000, CPU_WEIGHT * max(1, jobs))))
            elif (run / "cpu.shares").exists():
                (run / "cpu.shares").write_text(str(CPU_SHARES * max(1, jobs)))

    def create(self, name: str, memory_bytes: int, pids: int) -> Group:
        if not self.run_dirs:
            raise RuntimeError("cgroup: start_run() first")
        paths = [run / name for run in self.run_dirs]
        group = Group(self.version, paths)
        try:
            for p in paths:
                p.mkdir(mode=0o755)
            group.set_limits(memory_bytes, pids)
        except BaseException:
            group.remove()
            raise
        return group

    def remove_run(self) -> None:
        """Kill what is left in this run's groups and remove them (deepest first)."""
        for run in self.run_dirs:
            if not run.is_dir():
                continue
            for child in sorted((p for p in run.rglob("*") if p.is_dir()), key=lambda p: -len(p.parts)):
                Group(self.version, [child]).remove()
            Group(self.version, [run]).remove()
        self.run_dirs = []


def detect() -> tuple[Hierarchy | None, str]:
    """(hierarchy, "") when root can make groups with memory, pids and cpu; else (None, why not)."""
    if os.geteuid() != 0:
        return None, "not root"
    v2_root = MOUNT if (MOUNT / "cgroup.controllers").exists() else MOUNT / "unified"
    if (v2_root / "cgroup.controllers").exists():
        have = (v2_root / "cgroup.controllers").read_text().split()
        if all(c in have for c in CONTROLLERS):
            try:
                enabled = (v2_root / "cgroup.subtree_control").read_text().split()
                missing = [c for c in CONTROLLERS if c not in enabled]
                if missing:
                    (v2_root / "cgroup.subtree_control").write_text(" ".join(f"+{c}" for c in missing))
                return Hierarchy(2, {"": v2_root}, list(CONTROLLERS)), ""
            except OSError as exc:
                v2_note = f"cgroup v2 at {v2_root} cannot enable controllers ({exc.strerror})"
        else:
            v2_note = f"cgroup v2 at {v2_root} has controllers [{' '.join(have)}]"
    else:
        v2_note = "no cgroup v2"
    own = _own_paths()
    bases, missing = {}, []
    for c in CONTROLLERS:
        mount = MOUNT / c
        if c in own and (mount / "cgroup.procs").exists() and os.access(mount, os.W_OK):
            bases[c] = mount / own[c].lstrip("/")
        else:
            missing.append(c)
    if missing:
        return None, f"{v2_note}; cgroup v1 controller(s) {', '.join(missing)} not mounted or not writable"
    return Hierarchy(1, bases, list(CONTROLLERS)), ""


@dataclass
class Group:
    """One submission's group: one folder per v1 controller, or one v2 folder."""

    version: int
    paths: list[Path]

    def set_limits(self, memory_bytes: int, pids: int) -> None:
        for p in self.paths:
            if self.version == 2:
                (p / "memory.max").write_text(str(memory_bytes))
                if (p / "memory.swap.max").exists():
                    (p / "memory.swap.max").write_text("0")
                (p / "pids.max").write_text(str(pids))
                (p / "cpu.weight").write_text(str(CPU_WEIGHT))
                continue
            if (p / "memory.limit_in_bytes").exists():
                (p / "memory.limit_in_bytes").write_text(str(memory_bytes))
                if (p / "memory.memsw.limit_in_bytes").exists():  # no escape into swap
                    (p / "memory.memsw.limit_in_bytes").write_text(str(memory_bytes))
            if (p / "pids.max").exists():
                (p / "pids.max").write_text(str(pids))
            if (p / "cpu.shares").exists():
                (p / "cpu.shares").write_text(str(CPU_SHARES))

    def procs_files(self) -> list[str]:
        """What the launcher writes its pid into (one file per v1 controller)."""
        return [str(p / "cgroup.procs") for p in self.paths]

    def pids(self) -> set[int]:
        found = set()
        for p in self.paths:
            try:
                found |= {int(x) for x in (p / "cgroup.procs").read_text().split()}
            except OSError:
                pass
        return found

    def oom_kills(self) -> int:
        """How many processes the kernel's OOM killer killed in this group."""
        for p in self.paths:
            for name in ("memory.events", "memory.oom_control"):
                try:
                    for line in (p / name).read_text().splitlines():
                        key, _, value = line.partition(" ")
                        if key == "oom_kill":
                            return int(value)
                except OSError:
                    continue
        return 0

    def kill(self, timeout: float = 5.0) -> int:
        """SIGKILL every process in the group, by pid, until it is empty; return how many."""
        killed: set[int] = set()
        deadline = time.monotonic() + timeout
        while True:
            left = self.pids()
            if not left or time.monotonic() > deadline:
                return len(killed)
            for pid in left:
                try:
                    os.kill(pid, signal.SIGKILL)
                    killed.add(pid)
                except ProcessLookupError:
                    pass
            time.sleep(0.02)

    def remove(self) -> None:
        self.kill()
        for p in self.paths:
            for _ in range(50):  # a killed process leaves the group a moment after it died
                try:
                    p.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    time.sleep(0.02)
