"""Run one grading command with a time cap and a memory cap, and stop everything it started.

The memory cap is a memory cgroup where one can be made (``mlops_course.cgroups``): the
kernel's OOM killer stops the largest process over the cap. Elsewhere a watcher samples the
resident memory of the whole process tree every 0.1 s and does the same. The largest process
is the student's kernel in practice, so nbgrader reports the dead kernel and the rest of the
grading goes on. When the command ends (or its time is up), every process it started is
killed, whether it detached itself or not: the processes in its tree, and any process that
still carries this run's token in its environment.
"""
from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from mlops_course.cgroups import MemoryGroup, memory_group

TOKEN_ENV = "MLOPS_COURSE_GRADING_TOKEN"


@dataclass
class Outcome:
    returncode: int | None
    stdout: str
    stderr: str
    timed_out: bool = False
    over_memory: bool = False
    peak_mib: float = 0.0
    killed: list[str] = field(default_factory=list)


def _tree(root: psutil.Process) -> list[psutil.Process]:
    try:
        return [root, *root.children(recursive=True)]
    except psutil.Error:
        return []


def _marked(token: str) -> list[psutil.Process]:
    found = []
    for process in psutil.process_iter():
        try:
            if process.environ().get(TOKEN_ENV) == token:
                found.append(process)
        except psutil.Error:
            continue
    return found


def _kill(processes: list[psutil.Process]) -> list[str]:
    killed = []
    for process in processes:
        try:
            name = " ".join(process.cmdline()[:3])[:80]
            process.kill()
            killed.append(name)
        except psutil.Error:
            continue
    return killed


class _Watch(threading.Thread):
    def __init__(self, process: subprocess.Popen[str], memory_mib: int) -> None:
        super().__init__(daemon=True)
        self.root = psutil.Process(process.pid)
        self.limit = memory_mib * 1024 * 1024
        self.over = False
        self.peak = 0
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.wait(0.1):
            sizes = []
            for process in _tree(self.root):
                try:
                    sizes.append((process.memory_info().rss, process))
                except psutil.Error:
                    continue
            total = sum(size for size, _ in sizes)
            self.peak = max(self.peak, total)
            if total > self.limit and sizes:
                self.over = True
                _kill([max(sizes, key=lambda pair: pair[0])[1]])


def run_guarded(command: Sequence[str], *, cwd: Path, env: dict[str, str], timeout: float,
                memory_mib: int) -> Outcome:
    """Run ``command`` to the end (or until ``timeout``), within ``memory_mib``; never raises
    for what the command does."""
    token = uuid.uuid4().hex
    group = memory_group("mlops-grade", limit_bytes=memory_mib * 2**20)
    try:
        process = subprocess.Popen(list(command), cwd=cwd, env={**env, TOKEN_ENV: token}, text=True,
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
                                   start_new_session=True, preexec_fn=group.join_preexec() if group else None)
        return _wait(process, group, token, timeout, memory_mib)
    finally:
        if group is not None:
            group.kill_all()
            group.remove()


def memory_cap_method() -> str:
    """How the memory cap is enforced here, for the instructor."""
    group = memory_group("mlops-grade-probe", limit_bytes=2**30)
    if group is None:
        return "memory cap: resident memory of each submission's processes, sampled every 0.1 s (no cgroups here)"
    with group:
        return f"memory cap: a {group.method} memory group per submission"


def _wait(process: subprocess.Popen[str], group: MemoryGroup | None, token: str, timeout: float,
          memory_mib: int) -> Outcome:
    watch = _Watch(process, memory_mib if group is None else 10**9)
    watch.start()
    timed_out = False
    try:
        stdout, stderr = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        timed_out = True
        _kill(_tree(psutil.Process(process.pid)) if process.poll() is None else [])
        stdout, stderr = process.communicate()
    finally:
        watch.done.set()
        watch.join()
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    time.sleep(0.05)
    killed = _kill(_marked(token))
    over = watch.over or (group is not None and group.oom_kills() > 0)
    peak = group.peak_bytes() if group is not None else watch.peak
    return Outcome(process.returncode, stdout, stderr, timed_out, over, peak / 2**20, killed)
