"""Memory caps with Linux cgroups, as Binder enforces them (a pod limit of 1 GiB).

A small API for ``mlops-course bench`` and the grading sandbox::

    if (group := memory_group("bench-03_serving", limit_bytes=2**30)) is not None:
        with group:                      # removes the group on exit (its processes killed first)
            process = subprocess.Popen(cmd, preexec_fn=group.join_preexec())
            ...                          # or group.add(pid) for a process already running
            group.peak_bytes(), group.oom_kills()

``memory_group()`` returns ``None`` where cgroups cannot be used (no cgroup file system, not
writable, not Linux); callers then fall back to something else and say so. Supported:

- cgroup v2 (``/sys/fs/cgroup/cgroup.controllers`` exists): the child group goes under this
  process's own cgroup, from ``/proc/self/cgroup``'s ``0::`` line, which needs the ``memory``
  controller in that group's ``cgroup.subtree_control`` (it is enabled if it can be). Peak is
  ``memory.peak`` (Linux 5.19+), else the highest ``memory.current`` seen by ``sample()``.
- cgroup v1 (a ``memory`` hierarchy at ``/sys/fs/cgroup/memory``): the child goes under this
  process's memory cgroup. Peak is ``memory.max_usage_in_bytes``.

Processes started by a member join the group too, so the cap and the peak cover a whole tree.
The kernel counts page cache the group's processes bring in; under the cap it is reclaimed first.
"""
from __future__ import annotations

import errno
import os
import signal
import time
import uuid
from collections.abc import Callable
from pathlib import Path

CGROUP_ROOT = Path("/sys/fs/cgroup")


class CgroupError(RuntimeError):
    """A cgroup operation failed (the message says which file)."""


def _own_path(controller: str | None) -> str | None:
    """This process's cgroup path in the v1 hierarchy of ``controller``, or the v2 path (None)."""
    try:
        lines = Path("/proc/self/cgroup").read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        number, controllers, path = line.split(":", 2)
        if controller is None and number == "0" and controllers == "":
            return path
        if controller is not None and controller in controllers.split(","):
            return path
    return None


def _writable_dir(path: Path) -> bool:
    return path.is_dir() and os.access(path, os.W_OK | os.X_OK)


def _parent(root: Path = CGROUP_ROOT) -> tuple[int, Path] | None:
    """The cgroup version and the folder a child group can be created in, or None."""
    if (root / "cgroup.controllers").is_file():  # the unified (v2) hierarchy
        own = _own_path(None)
        if own is None:
            return None
        parent = root / own.lstrip("/")
        controllers = (parent / "cgroup.controllers").read_text().split() if parent.is_dir() else []
        if "memory" not in controllers or not _writable_dir(parent):
            return None
        subtree = parent / "cgroup.subtree_control"
        if "memory" not in subtree.read_text().split():
            try:
                subtree.write_text("+memory")
            except OSError:  # the parent has processes of its own ("no internal processes" rule)
                return None
        return 2, parent
    memory_root = root / "memory"
    if (memory_root / "memory.limit_in_bytes").is_file():
        own = _own_path("memory")
        if own is None:
            return None
        parent = memory_root / own.lstrip("/")
        return (1, parent) if _writable_dir(parent) else None
    return None


def cgroup_version(root: Path = CGROUP_ROOT) -> int | None:
    """1 or 2 if this process can create memory-capped child groups, else None."""
    found = _parent(root)
    return found[0] if found else None


class MemoryGroup:
    """One child cgroup with a memory limit. Create it with :func:`memory_group`."""

    def __init__(self, version: int, path: Path, limit_bytes: int) -> None:
        self.version = version
        self.path = path
        self.limit_bytes = limit_bytes
        self._highest_current = 0

    def __repr__(self) -> str:
        return f"MemoryGroup(v{self.version}, {self.path}, limit={self.limit_bytes})"

    @property
    def method(self) -> str:
        """How the peak is measured, for reports: "cgroup v1" or "cgroup v2"."""
        return f"cgroup v{self.version}"

    def _read(self, name: str) -> str:
        try:
            return (self.path / name).read_text()
        except OSError as error:
            raise CgroupError(f"cannot read {self.path / name}: {error}") from error

    def _write(self, name: str, value: str) -> None:
        try:
            (self.path / name).write_text(value)
        except OSError as error:
            raise CgroupError(f"cannot write {value!r} to {self.path / name}: {error}") from error

    def add(self, pid: int) -> None:
        """Move a running process into the group (the processes it starts afterwards follow it)."""
        self._write("cgroup.procs", str(pid))

    def join_preexec(self) -> Callable[[], None]:
        """For ``subprocess.Popen(preexec_fn=...)``: the child joins the group before it execs,
        so everything it and its children allocate counts."""
        procs = str(self.path / "cgroup.procs")

        def join() -> None:
            with open(procs, "w") as handle:
                handle.write(str(os.getpid()))

        return join

    def pids(self) -> list[int]:
        """The processes in the group now."""
        return [int(pid) for pid in self._read("cgroup.procs").split()]

    def current_bytes(self) -> int:
        name = "memory.current" if self.version == 2 else "memory.usage_in_bytes"
        current = int(self._read(name))
        self._highest_current = max(self._highest_current, current)
        return current

    def sample(self) -> None:
        """Record the current usage (the peak's fallback on v2 kernels without memory.peak)."""
        try:
            self.current_bytes()
        except CgroupError:
            pass

    def peak_bytes(self) -> int:
        """The highest memory use of the group since it was created."""
        if self.version == 1:
            return int(self._read("memory.max_usage_in_bytes"))
        if (self.path / "memory.peak").exists():
            return int(self._read("memory.peak"))
        self.sample()
        return self._highest_current

    def oom_kills(self) -> int:
        """How many processes the kernel killed for going over the limit."""
        name = "memory.events" if self.version == 2 else "memory.oom_control"
        for line in self._read(name).splitlines():
            key, _, value = line.partition(" ")
            if key == "oom_kill":
                return int(value)
        return 0

    def kill_all(self, timeout: float = 5.0) -> None:
        """SIGKILL every process in the group and wait until it is empty."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                pids = self.pids()
            except CgroupError:
                return
            if not pids:
                return
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            if time.monotonic() > deadline:
                raise CgroupError(f"processes {pids} in {self.path} did not stop")
            time.sleep(0.05)

    def remove(self) -> None:
        """Kill what is left in the group and delete it (safe to call twice)."""
        if not self.path.exists():
            return
        self.kill_all()
        deadline = time.monotonic() + 5
        while True:
            try:
                self.path.rmdir()
                return
            except FileNotFoundError:
                return
            except OSError as error:  # EBUSY while the kernel finishes reaping the last process
                if error.errno != errno.EBUSY or time.monotonic() > deadline:
                    raise CgroupError(f"cannot remove {self.path}: {error}") from error
                time.sleep(0.05)

    def __enter__(self) -> MemoryGroup:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.remove()


def memory_group(name: str, limit_bytes: int, root: Path = CGROUP_ROOT) -> MemoryGroup | None:
    """Create a child cgroup capped at ``limit_bytes`` (swap included where the kernel counts it),
    or return None where cgroups are unavailable. ``name`` gets a unique suffix."""
    found = _parent(root)
    if found is None:
        return None
    version, parent = found
    safe = "".join(c if c.isalnum() or c in "-_." else "-" for c in name)[:60]
    path = parent / f"mlops-{safe}-{uuid.uuid4().hex[:8]}"
    try:
        path.mkdir()
    except OSError:
        return None
    group = MemoryGroup(version, path, limit_bytes)
    try:
        if version == 2:
            group._write("memory.max", str(limit_bytes))
            if (path / "memory.swap.max").exists():
                group._write("memory.swap.max", "0")
        else:
            group._write("memory.limit_in_bytes", str(limit_bytes))
            if (path / "memory.memsw.limit_in_bytes").exists():
                group._write("memory.memsw.limit_in_bytes", str(limit_bytes))
    except CgroupError:
        group.remove()
        raise
    return group
