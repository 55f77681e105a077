"""Validate, as JupyterLab's button calls it, through a real Jupyter server configured by ``make setup``.

A lesson has no graded tests: Validate must say so and name the lab, not re-run the lesson and
report success. A lab (here a one-test nbgrader notebook) still goes to nbgrader's validator.
"""
from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import nbformat
import pytest

from mlops_course.jupyter_validate import has_graded_cells, nothing_to_validate
from mlops_course.services import free_port

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def _lab_notebook() -> nbformat.NotebookNode:
    test = nbformat.v4.new_code_cell("assert 1 + 1 == 3, 'arithmetic is broken'")
    test.metadata["nbgrader"] = {"schema_version": 3, "grade": True, "solution": False,
                                 "locked": True, "grade_id": "test_sum", "points": 1, "task": False}
    return nbformat.v4.new_notebook(cells=[test])


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, str, Path]]:
    root = tmp_path / "course"
    (root / "notebooks").mkdir(parents=True)
    (root / "labs" / "lab00_lifecycle").mkdir(parents=True)
    nbformat.write(nbformat.read(ROOT / "notebooks" / "00_lifecycle.ipynb", as_version=4),
                   root / "notebooks" / "00_lifecycle.ipynb")
    nbformat.write(_lab_notebook(), root / "labs" / "lab00_lifecycle" / "lab00_lifecycle.ipynb")
    port, token = free_port(), secrets.token_hex(16)
    home = tmp_path / "home"
    env = {**os.environ, "HOME": str(home), "JUPYTER_CONFIG_DIR": str(home / ".jupyter"),
           "JUPYTER_DATA_DIR": str(home / ".local" / "share" / "jupyter"),
           "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime"), "IPYTHONDIR": str(home / ".ipython"),
           "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    log = (tmp_path / "server.log").open("w")
    process = subprocess.Popen(
        [str(BIN / "jupyter"), "server", "--no-browser", "--allow-root", "--ServerApp.ip=127.0.0.1",
         f"--ServerApp.port={port}", "--ServerApp.port_retries=0", f"--IdentityProvider.token={token}",
         f"--ServerApp.root_dir={root}"],
        cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, (tmp_path / "server.log").read_text()[-3000:]
            try:
                if httpx.get(f"{url}/api/status", params={"token": token}, timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, (tmp_path / "server.log").read_text()[-3000:]
            time.sleep(0.25)
        yield url, token, root
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        log.close()


def _validate(url: str, token: str, path: str) -> dict:
    response = httpx.post(f"{url}/assignments/validate", params={"path": path},
                          headers={"Authorization": f"token {token}"}, timeout=180)
    assert response.status_code == 200, response.text
    return json.loads(response.text)


def test_validate_on_a_lesson_says_there_is_nothing_to_validate(server: tuple[str, str, Path]) -> None:
    url, token, root = server
    started = time.monotonic()
    result = _validate(url, token, "notebooks/00_lifecycle.ipynb")
    assert result == {"success": False,
                      "value": nothing_to_validate(root / "notebooks" / "00_lifecycle.ipynb")}
    assert "labs/lab00_lifecycle/lab00_lifecycle.ipynb" in result["value"]
    assert time.monotonic() - started < 10, "the lesson was executed"


def test_validate_on_a_lab_still_runs_its_tests(server: tuple[str, str, Path]) -> None:
    url, token, _ = server
    result = _validate(url, token, "labs/lab00_lifecycle/lab00_lifecycle.ipynb")
    assert result["success"] is True, result
    value = result["value"] if isinstance(result["value"], dict) else json.loads(result["value"])
    assert "arithmetic is broken" in value["failed"][0]["raw_error"], value


@pytest.mark.parametrize(("path", "graded"), [
    ("notebooks/00_lifecycle.ipynb", False),
    ("labs/lab00_lifecycle/lab00_lifecycle.ipynb", True),
    ("solutions/lab00_lifecycle/lab00_lifecycle.ipynb", True),
])
def test_lessons_and_labs_are_told_apart(path: str, graded: bool) -> None:
    assert has_graded_cells(ROOT / path) is graded
