"""A throwaway nbgrader course directory, built from ``solutions/``, for build-labs and grade."""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

COURSE_ID = "hands-on-mlops"

_CONFIG = '''\
c = get_config()
c.CourseDirectory.course_id = "{course_id}"
c.CourseDirectory.root = r"{root}"
c.ClearSolutions.code_stub = {{"python": "# YOUR CODE HERE\\nraise NotImplementedError()"}}
c.ClearSolutions.text_stub = "YOUR ANSWER HERE"
c.Execute.timeout = {cell_timeout}
c.Execute.interrupt_on_timeout = True
c.Execute.kernel_name = "python3"
# Test cells run in a grading kernel of their own; every other cell runs in the student's kernel
# (mlops_course.grading.executor), so student code never shares a process with the tests.
c.Autograde.autograde_preprocessors = [
    "mlops_course.grading.executor.TwoKernelExecute",
    "nbgrader.preprocessors.IgnorePattern",
    "nbconvert.preprocessors.ClearMetadataPreprocessor",
    "nbgrader.preprocessors.LimitOutput",
    "nbgrader.preprocessors.SaveAutoGrades",
    "nbgrader.preprocessors.AssignLatePenalties",
    "nbgrader.preprocessors.CheckCellMetadata",
]
c.GenerateFeedback.preprocessors = [
    "nbgrader.preprocessors.GetGrades",
    "nbconvert.preprocessors.CSSHTMLHeaderPreprocessor",
    "nbgrader.preprocessors.ClearHiddenTests",
]
'''


class NbgraderError(RuntimeError):
    """An nbgrader command failed; the message ends with its output."""


@dataclass
class Course:
    """An nbgrader course folder with one assignment copied in from ``solutions/``."""

    root: Path
    assignment: str

    def command(self, *args: str) -> list[str]:
        """The ``nbgrader <args>`` command line."""
        return [str(Path(sys.executable).parent / "nbgrader"), *args, "--log-level=WARN"]

    def environment(self, env: dict[str, str] | None = None) -> dict[str, str]:
        """This process's environment plus ``env``, with the environment's bin/ first on PATH
        (nbgrader shells out to alembic)."""
        full_env = {**os.environ, **(env or {})}
        full_env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + full_env.get("PATH", "")
        return full_env

    def run(self, *args: str, env: dict[str, str] | None = None, timeout: float | None = None,
            check: bool = True) -> subprocess.CompletedProcess[str]:
        """Run ``nbgrader <args>`` in the course folder, with the environment's bin/ on PATH."""
        full_env = self.environment(env)
        process = subprocess.Popen(
            self.command(*args),
            cwd=self.root, env=full_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL, text=True, start_new_session=True,
        )
        try:
            stdout, stderr = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)  # nbgrader and the kernel it started
            process.communicate()
            raise
        done = subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)
        if check and done.returncode != 0:
            raise NbgraderError(f"nbgrader {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
        return done

    @property
    def release_folder(self) -> Path:
        return self.root / "release" / self.assignment


def _write_config(root: Path, cell_timeout: int) -> None:
    (root / "nbgrader_config.py").write_text(
        _CONFIG.format(course_id=COURSE_ID, root=root, cell_timeout=cell_timeout)
    )


def clone_course(course: Course, root: Path, cell_timeout: int = 60) -> Course:
    """A throwaway copy of a prepared course (gradebook included) at ``root``."""
    shutil.copytree(course.root, root)
    _write_config(root, cell_timeout)
    return Course(root=root, assignment=course.assignment)


def make_course(solution_folder: Path, root: Path, cell_timeout: int = 60) -> Course:
    """Copy ``solution_folder`` in as the assignment's source and write the course config."""
    assignment = solution_folder.name
    root.mkdir(parents=True, exist_ok=True)
    _write_config(root, cell_timeout)
    source = root / "source" / assignment
    if source.exists():
        shutil.rmtree(source)
    shutil.copytree(solution_folder, source, ignore=shutil.ignore_patterns(
        ".ipynb_checkpoints", "__pycache__"))
    return Course(root=root, assignment=assignment)


def generate_assignment(course: Course) -> Path:
    """``nbgrader generate_assignment``: the student version, and the gradebook's copy of every
    test cell (autograde restores them from it, so a student cannot edit or delete tests)."""
    course.run("generate_assignment", course.assignment, "--force")
    return course.release_folder
