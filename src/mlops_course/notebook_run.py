"""Execute a notebook in a fresh kernel, the way the check, bench and execute commands need."""
from __future__ import annotations

import os
from pathlib import Path

import nbformat
from nbclient import NotebookClient


def execute(
    path: str | os.PathLike[str],
    *,
    cell_timeout: int = 120,
    allow_errors: bool = False,
    env: dict[str, str] | None = None,
) -> nbformat.NotebookNode:
    """Run every cell of ``path`` in a new ``python3`` kernel started in the notebook's folder.

    A cell that runs longer than ``cell_timeout`` seconds is interrupted and counts as an error.
    """
    notebook_path = Path(path).resolve()
    nb = nbformat.read(notebook_path, as_version=4)
    client = NotebookClient(
        nb,
        timeout=cell_timeout,
        interrupt_on_timeout=True,
        allow_errors=allow_errors,
        error_on_timeout={
            "ename": "CellTimeoutError",
            "evalue": f"this cell ran longer than {cell_timeout} s and was stopped. "
            "Look for an infinite loop or a step that waits forever.",
            "traceback": [],
        },
        kernel_name="python3",
        extra_arguments=["--IPKernelApp.log_level=ERROR"],  # no start-up chatter from the kernel
        resources={"metadata": {"path": str(notebook_path.parent)}},
    )
    with _environment(env or {}):
        client.execute()
    return nb


class _environment:
    """Temporarily set environment variables (the kernel inherits them when it starts)."""

    def __init__(self, values: dict[str, str]) -> None:
        self.values = values
        self.saved: dict[str, str | None] = {}

    def __enter__(self) -> None:
        for key, value in self.values.items():
            self.saved[key] = os.environ.get(key)
            os.environ[key] = value

    def __exit__(self, *exc_info: object) -> None:
        for key, value in self.saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def execute_in_place(path: str | os.PathLike[str], cell_timeout: int = 120) -> None:
    """Execute a lesson and store its outputs (what nbval will compare against)."""
    nb = execute(path, cell_timeout=cell_timeout)
    nbformat.write(nb, path)
