"""Run after the whole test suite: the repo is unchanged and no process the tests started lives on.

``make test`` gives every process it starts the environment variable ``MLOPS_COURSE_TEST_RUN``;
any process still carrying that value now was started by the tests and leaked.
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]


def leaked_processes(token: str) -> list[str]:
    found = []
    me = psutil.Process()
    running_this_check = {me.pid, *(parent.pid for parent in me.parents())}  # make and its shells
    for process in psutil.process_iter(["pid", "cmdline"]):
        if process.pid in running_this_check:
            continue
        try:
            if process.environ().get("MLOPS_COURSE_TEST_RUN") == token:
                found.append(f"{process.pid}: {' '.join(process.info['cmdline'] or [])[:120]}")
        except psutil.Error:
            continue
    return found


def main() -> int:
    status = subprocess.run(["git", "status", "--porcelain"], cwd=ROOT, capture_output=True, text=True)
    problems = []
    if status.returncode == 0 and status.stdout.strip():
        problems.append("the tests changed the repository:\n" + status.stdout)
    token = os.environ.get("MLOPS_COURSE_TEST_RUN")
    if token:
        leaks = leaked_processes(token)
        if leaks:
            problems.append("processes started by the tests are still running:\n" + "\n".join(leaks))
    else:
        problems.append("MLOPS_COURSE_TEST_RUN is not set: run this through `make test`")
    if problems:
        print("\n".join(problems))
        return 1
    print("Clean: the repository is unchanged and no test process is still running.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
