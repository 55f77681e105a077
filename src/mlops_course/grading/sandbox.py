"""The sandbox one submission is graded in (``mlops-course grade``).

Two layers, both built with bubblewrap (``bwrap``, Debian package ``bubblewrap``) where it runs:

- **outer**: nbgrader, the grading kernel and everything below them. The filesystem is
  read-only except this submission's own folder, the network is a private loopback, and
  processes live in their own PID namespace, so all of them die when grading ends.
- **inner**: the student's kernel and every process it starts (and every command a test wraps
  with ``student().command``). On top of the outer layer, it cannot see the nbgrader course
  (gradebook, autograded notebook, the grader's private files), the instructor's
  ``solutions/`` and ``tests/``, the submissions folder or the grades folder: only its
  workspace, its notebook folder and a private ``/tmp`` are there, and writable.

Without bubblewrap (macOS, or a host that forbids user namespaces) both prefixes are empty:
grading still works, every process is still stopped afterwards, but the filesystem and network
are not isolated, and ``isolation()`` says so.
"""
from __future__ import annotations

import functools
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path


@functools.lru_cache(maxsize=1)
def bwrap() -> str | None:
    """The path of a working ``bwrap``, or None when it is missing or cannot create namespaces."""
    path = shutil.which("bwrap")
    if path is None:
        return None
    try:
        done = subprocess.run([path, "--ro-bind", "/", "/", "--unshare-net", "--unshare-pid", "--dev", "/dev",
                               "--proc", "/proc", "true"], capture_output=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return path if done.returncode == 0 else None


def isolation() -> str:
    """One sentence for the instructor: which isolation is in force."""
    if bwrap():
        return ("isolation: bubblewrap (each submission sees a read-only filesystem, its own folder only, "
                "a private network with loopback only, and its own processes)")
    return ("WARNING: bubblewrap (bwrap) is not installed or cannot run here, so submissions are graded WITHOUT "
            "filesystem or network isolation: a hostile notebook could read or change your files. "
            "Install it (Debian/Ubuntu: sudo apt install bubblewrap) and grade again.")


@dataclass
class SubmissionFolders:
    """Where one submission's grading lives, all under ``root``."""

    root: Path

    @property
    def course(self) -> Path:
        return self.root / "course"

    @property
    def workspace(self) -> Path:
        return self.root / "workspace"

    @property
    def notebook(self) -> Path:
        return self.root / "notebook"

    @property
    def grader(self) -> Path:
        return self.root / "grader"

    @property
    def home(self) -> Path:
        return self.root / "home"

    @property
    def runtime(self) -> Path:
        return self.root / "runtime"

    @property
    def student_runtime(self) -> Path:
        return self.root / "student-runtime"

    def make(self) -> None:
        for folder in (self.workspace, self.notebook, self.grader, self.home, self.runtime, self.student_runtime):
            folder.mkdir(parents=True, exist_ok=True)


def _hidden(paths: list[Path]) -> list[str]:
    args: list[str] = []
    for path in paths:
        if path.is_dir():
            args += ["--tmpfs", str(path)]
    return args


def _private_tmp_and_home(repo: Path) -> list[str]:
    """A private ``/tmp`` and a hidden instructor's home, but the course and the Python it runs
    from stay visible (read-only) wherever they live, even under ``/tmp`` or the home."""
    home = Path(os.path.expanduser("~")).resolve()
    args = ["--tmpfs", "/tmp"]
    hidden = [Path("/tmp")]
    if home != Path("/") and home.is_dir() and home != Path("/tmp"):
        args += ["--tmpfs", str(home)]
        hidden.append(home)
    keep = {Path(sys.base_prefix).resolve(), Path(sys.prefix).resolve(), repo.resolve()}
    for path in sorted(keep):
        if any(path == place or path.is_relative_to(place) for place in hidden):
            args += ["--ro-bind", str(path), str(path)]
    return args


def outer_prefix(folders: SubmissionFolders, repo: Path, hide: list[Path]) -> list[str]:
    """The command prefix for nbgrader and the grading kernel."""
    tool = bwrap()
    if tool is None:
        return []
    return [tool, "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc",
            *_private_tmp_and_home(repo), *_hidden(hide),
            "--bind", str(folders.root), str(folders.root),
            "--unshare-net", "--unshare-pid", "--unshare-ipc", "--die-with-parent", "--new-session",
            "--chdir", str(folders.course)]


def inner_prefix(folders: SubmissionFolders, repo: Path, hide: list[Path]) -> list[str]:
    """The command prefix for the student's kernel and the commands tests run on student code."""
    tool = bwrap()
    if tool is None:
        return []
    writable = [folders.workspace, folders.notebook, folders.student_runtime]
    binds: list[str] = []
    for folder in writable:
        binds += ["--bind", str(folder), str(folder)]
    instructor = [repo / "solutions", repo / "tests", repo / ".git", *hide, folders.root]
    return [tool, "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc",
            *_private_tmp_and_home(repo), *_hidden(instructor), *binds,
            "--setenv", "HOME", str(folders.workspace),
            # ipykernel exits when its parent's pid changes; in a new PID namespace it always does.
            "--unsetenv", "JPY_PARENT_PID",
            # No --chdir: bwrap keeps the caller's folder (a test's cwd=, or the kernel's notebook
            # folder), which exists at the same path inside.
            "--unshare-pid", "--unshare-ipc", "--die-with-parent", "--new-session"]
