"""Run a real command the way a learner would type it in a terminal, and show it.

    sh("dvc repro", cwd=project)

prints ``$ dvc repro`` followed by the command's output, exactly as a terminal would,
and raises ``CommandFailed`` (with the output) if it exits non-zero, unless ``check=False``.
"""
from __future__ import annotations

import os
import shlex
import subprocess
from pathlib import Path


class CommandFailed(RuntimeError):
    """A shell command exited non-zero; the message holds the command and its output."""


def sh(command: str, cwd: str | os.PathLike[str] | None = None, *, check: bool = True,
       env: dict[str, str] | None = None, timeout: float = 120.0, echo: bool = True) -> str:
    """Run ``command`` (a string, as typed in a terminal), print it and its output, return the output."""
    done = subprocess.run(
        shlex.split(command), cwd=Path(cwd) if cwd else None, env={**os.environ, **(env or {})},
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        timeout=timeout, check=False,
    )
    output = done.stdout.rstrip()
    if echo:
        print(f"$ {command}")
        if output:
            print(output)
    if check and done.returncode != 0:
        raise CommandFailed(f"`{command}` exited with code {done.returncode}:\n{output}")
    return output
