"""The nbgrader preprocessor that runs a submission in two kernels.

``TwoKernelExecute`` replaces nbgrader's ``Execute`` in ``Autograde.autograde_preprocessors``.
Test cells (``grade: true``, not ``solution``) run in the grading kernel, as nbgrader's would;
every other code cell (the setup and the student's answers) runs in a second kernel, the
student's, started in the sandbox when one is configured. The grading kernel reaches the
student's kernel only through ``mlops_course.grading.student()`` (its connection file is
passed in ``MLOPS_COURSE_STUDENT_KERNEL``), so nothing a student cell does can change the code
that decides the score.
"""
from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from jupyter_client.manager import AsyncKernelManager
from jupyter_core.utils import run_sync
from nbclient import NotebookClient
from nbclient.exceptions import DeadKernelError
from nbformat import NotebookNode
from nbgrader.preprocessors import Execute

from mlops_course.grading.view import CONNECTION_ENV, SANDBOX_ENV

KERNEL_DIED = "KernelDied"
STUDENT_CWD_ENV = "MLOPS_COURSE_STUDENT_CWD"
STUDENT_RUNTIME_ENV = "MLOPS_COURSE_STUDENT_RUNTIME"


def is_test_cell(cell: NotebookNode) -> bool:
    meta = cell.metadata.get("nbgrader", {})
    return cell.cell_type == "code" and bool(meta.get("grade")) and not meta.get("solution")


class SandboxedKernelManager(AsyncKernelManager):
    """A kernel manager whose kernel command starts inside the sandbox's command prefix."""

    def format_kernel_cmd(self, extra_arguments: list[str] | None = None) -> list[str]:
        prefix = json.loads(os.environ.get(SANDBOX_ENV, "[]"))
        return [*prefix, *super().format_kernel_cmd(extra_arguments)]


class StudentKernel:
    """The student's kernel: runs the non-test cells in order and records what went wrong."""

    def __init__(self, nb: NotebookNode, cwd: str, timeout: int | None, runtime_dir: Path) -> None:
        self.connection_file = str(runtime_dir / "student-kernel.json")
        manager = SandboxedKernelManager(kernel_name="python3", connection_file=self.connection_file)
        # Interrupt by message: a signal would reach the sandbox's launcher, not the kernel.
        manager.kernel_spec.interrupt_mode = "message"
        self.manager = manager
        self.client = NotebookClient(
            nb, km=manager, timeout=timeout, interrupt_on_timeout=True, allow_errors=True,
            kernel_name="python3", resources={"metadata": {"path": cwd}},
            extra_arguments=["--IPKernelApp.log_level=ERROR", "--HistoryManager.hist_file=:memory:"],
            error_on_timeout={"ename": "CellTimeoutError",
                              "evalue": f"this cell ran longer than {timeout} s and was stopped",
                              "traceback": []},
        )
        self.died_in: str | None = None

    def start(self) -> None:
        env = {k: v for k, v in os.environ.items() if k not in (CONNECTION_ENV, "MLOPS_COURSE_GRADER_DIR")}
        self.client.km = self.manager
        self.client.start_new_kernel(env=env, cwd=self.client.resources["metadata"]["path"])
        self.client.start_new_kernel_client()

    def run(self, cell: NotebookNode, index: int) -> None:
        name = cell.metadata.get("nbgrader", {}).get("grade_id") or f"number {index + 1}"
        if self.died_in is not None:
            cell.outputs = [_error(KERNEL_DIED, f"not run: the kernel died earlier, in cell {self.died_in}")]
            return
        try:
            self.client.execute_cell(cell, index, store_history=True)
        except DeadKernelError:
            self.died_in = name
            cell.outputs.append(_error(KERNEL_DIED, f"the kernel died while running cell {name} "
                                                    "(the process exited or was killed)"))

    def stop(self) -> None:
        try:
            if self.client.kc is not None:
                self.client.kc.stop_channels()
            if self.manager.has_kernel:
                run_sync(self.manager.shutdown_kernel)(now=True)
        except Exception:  # noqa: BLE001 - the sandbox stops whatever is left
            pass


def _error(name: str, value: str) -> NotebookNode:
    return NotebookNode(output_type="error", ename=name, evalue=value, traceback=[f"{name}: {value}"])


class TwoKernelExecute(Execute):
    """nbgrader's ``Execute``, with the student's cells sent to the student's own kernel."""

    def preprocess(self, nb: NotebookNode, resources: Any = None, km: Any = None) -> Any:
        # Under `mlops-course grade` the sandbox gives the student's kernel its own folders;
        # elsewhere (nbgrader run by hand) it starts beside the notebook.
        cwd = (os.environ.get(STUDENT_CWD_ENV) or (resources or {}).get("metadata", {}).get("path")
               or os.getcwd())
        with tempfile.TemporaryDirectory(prefix="mlops-kernels-", dir=os.environ.get(STUDENT_RUNTIME_ENV)) as runtime:
            self._student = StudentKernel(nb, cwd, self.timeout, Path(runtime))
            self._student.start()
            os.environ[CONNECTION_ENV] = self._student.connection_file
            try:
                return super().preprocess(nb, resources, km)
            finally:
                os.environ.pop(CONNECTION_ENV, None)
                self._student.stop()

    def preprocess_cell(self, cell: NotebookNode, resources: Any, index: int) -> Any:
        if cell.cell_type == "code" and not is_test_cell(cell):
            self._student.run(cell, index)
            return cell, self.resources
        return super().preprocess_cell(cell, resources, index)
