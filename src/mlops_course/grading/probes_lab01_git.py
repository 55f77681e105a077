"""Git for lab01's test cells, on the grader's side. No test inputs or expected values here.

``Repo(path, wrap=student().command)`` reads a student's repository with the ``git`` command-line
tool, the way the lab's tests need it:

- every command runs with ``--no-replace-objects`` and without the user's or the system's git
  config, so ``git replace`` or a global alias cannot change what the grader sees;
- ``parents(rev)`` reads the raw commit object (``git cat-file``), so a grafts file cannot
  either;
- output is captured (nothing reaches the test cell's stderr).

``Repo.create(path)`` makes a fresh repository for the grader's own inputs, and ``commit`` and
``tag`` write into it with a fixed identity and date, so the same steps give the same ids.
"""
from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable, Iterable
from pathlib import Path

IDENTITY = {"GIT_AUTHOR_NAME": "Lab Student", "GIT_AUTHOR_EMAIL": "student@example.com",
            "GIT_COMMITTER_NAME": "Lab Student", "GIT_COMMITTER_EMAIL": "student@example.com"}
_DROPPED = ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_OBJECT_DIRECTORY", "GIT_NAMESPACE",
            "GIT_ALTERNATE_OBJECT_DIRECTORIES", "GIT_CEILING_DIRECTORIES", "GIT_CONFIG", "GIT_CONFIG_PARAMETERS",
            "GIT_CONFIG_COUNT", "GIT_EXEC_PATH", "GIT_TRACE", "GIT_REPLACE_REF_BASE")


def git_env(date: str | None = None) -> dict[str, str]:
    """The environment for the grader's git: no global or system config, a fixed identity."""
    env = {k: v for k, v in os.environ.items() if k not in _DROPPED and not k.startswith("GIT_CONFIG_KEY_")
           and not k.startswith("GIT_CONFIG_VALUE_")}
    env.update(IDENTITY)
    env.update({"GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": os.devnull, "GIT_NO_REPLACE_OBJECTS": "1",
                "GIT_TERMINAL_PROMPT": "0", "GIT_OPTIONAL_LOCKS": "0", "LC_ALL": "C", "GIT_EDITOR": "true"})
    if date:
        env["GIT_AUTHOR_DATE"] = env["GIT_COMMITTER_DATE"] = date
    return env


class Repo:
    """A git repository at ``path``; ``wrap`` (``student().command``) runs git where student code runs."""

    def __init__(self, path: str | os.PathLike[str], wrap: Callable[[list[str]], list[str]] | None = None) -> None:
        self.path = Path(path)
        self.wrap = wrap or (lambda argv: argv)

    def run(self, *args: str, date: str | None = None) -> subprocess.CompletedProcess[str]:
        argv = ["git", "-C", str(self.path), "--no-replace-objects", "-c", "core.fsmonitor=false",
                "-c", "core.quotePath=false", *args]
        return subprocess.run(self.wrap(argv), cwd=self.path, env=git_env(date), capture_output=True, text=True,
                              timeout=60, stdin=subprocess.DEVNULL)

    def ok(self, *args: str) -> bool:
        """Whether ``git <args>`` succeeds."""
        return self.path.is_dir() and self.run(*args).returncode == 0

    def out(self, *args: str, date: str | None = None) -> str:
        """The output of ``git <args>``; raises ``RuntimeError`` with git's message if it fails."""
        done = self.run(*args, date=date)
        if done.returncode != 0:
            raise RuntimeError(f"`git {' '.join(args)}` failed: {(done.stderr or done.stdout).strip()[:300]}")
        return done.stdout.strip()

    def commit_id(self, rev: str) -> str | None:
        """The commit id ``rev`` names, or None."""
        done = self.run("rev-parse", "-q", "--verify", f"{rev}^{{commit}}")
        return done.stdout.strip() if done.returncode == 0 else None

    def parents(self, rev: str) -> list[str]:
        """The parents written in the commit object itself (grafts and replacements do not count)."""
        commit = self.commit_id(rev)
        if commit is None:
            return []
        header = self.out("cat-file", "commit", commit).split("\n\n", 1)[0]
        return [line.split()[1] for line in header.splitlines() if line.startswith("parent ")]

    def show(self, rev: str, path: str) -> str | None:
        """The text of ``path`` in commit ``rev``, or None if it has no such file."""
        done = self.run("show", f"{rev}:{path}")
        return done.stdout if done.returncode == 0 else None

    def files(self, rev: str) -> list[str]:
        """Every file path in commit ``rev``."""
        return sorted(p for p in self.out("ls-tree", "-r", "-z", "--name-only", rev).split("\0") if p)

    # --- building the grader's own repositories -------------------------------------------
    @classmethod
    def create(cls, path: str | os.PathLike[str]) -> Repo:
        """An empty repository at ``path`` (emptied first) on branch ``main``."""
        folder = Path(path)
        if folder.exists():
            shutil.rmtree(folder)
        folder.mkdir(parents=True)
        repo = cls(folder)
        repo.out("-c", "init.defaultBranch=main", "init", "--quiet")
        return repo

    def write(self, files: dict[str, str]) -> None:
        for name, text in files.items():
            target = self.path / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text)

    def commit(self, files: dict[str, str], message: str, date: str) -> str:
        """Write ``files`` ({path: text}), commit them at ``date``; return the commit id."""
        self.write(files)
        self.out("add", "--", *files)
        self.out("commit", "--quiet", "-m", message, date=date)
        return self.out("rev-parse", "HEAD")

    def tag(self, name: str, date: str, annotated: bool = True) -> None:
        args = ["tag", "-a", name, "-m", f"release {name}"] if annotated else ["tag", name]
        self.out(*args, date=date)

    def ignored(self, paths: Iterable[str]) -> set[str]:
        """Which of ``paths`` the repository's ignore rules match (``git check-ignore --no-index``)."""
        paths = list(paths)
        done = self.run("check-ignore", "--no-index", "--", *paths)
        if done.returncode not in (0, 1):
            raise RuntimeError(f"git check-ignore failed: {done.stderr.strip()[:300]}")
        return {line for line in done.stdout.splitlines() if line}
