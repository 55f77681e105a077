"""``mlops-course check``: the student's self-check of a lab notebook.

Runs the notebook from top to bottom in a fresh kernel (each cell has a time limit), then
reports every graded test cell: pass or fail, its points, and the failure message. Only
the visible tests run here; the instructor's grading adds hidden tests.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import nbformat

from mlops_course.notebook_run import execute

_STUB_HINT = "replace `raise NotImplementedError()` with your code"
_TIMEOUT_HINT = ("stopped at the time limit: look for an infinite loop or a step that waits forever")
# nbgrader gives 0 to a test cell that writes anything to stderr, so a library's warning could
# cost a correct answer its points. Grading and this check both run with warnings switched off.
GRADING_ENV = {"PYTHONWARNINGS": "ignore"}


@dataclass
class TaskResult:
    """One graded test cell after execution."""

    grade_id: str
    points: float
    passed: bool
    message: str


def first_error(cell: nbformat.NotebookNode, stderr_fails: bool = False) -> str | None:
    """``'Name: value'`` of the first error a cell raised, or None. With ``stderr_fails``,
    output on stderr counts too (as nbgrader counts it in a test cell)."""
    outputs = cell.get("outputs", [])
    for output in outputs:
        if output.get("output_type") == "error":
            name, value = output.get("ename"), str(output.get("evalue", "")).strip()
            if name in ("KeyboardInterrupt", "CellTimeoutError"):
                return f"CellTimeoutError: {_TIMEOUT_HINT}"  # the runner interrupted the cell
            if name == "NotImplementedError" and not value:
                value = _STUB_HINT
            return f"{name}: {value}" if value else str(name)
    for output in outputs:
        if stderr_fails and output.get("output_type") == "stream" and output.get("name") == "stderr":
            first = (str(output.get("text", "")).strip().splitlines() or [""])[0][:120]
            return f"wrote to stderr ({first}); the grader gives no points to a test cell that does"
    return None


def results(nb: nbformat.NotebookNode) -> tuple[list[TaskResult], list[str]]:
    """The test results and the errors raised outside test cells (cell number and message)."""
    tasks: list[TaskResult] = []
    other_errors: list[str] = []
    for number, cell in enumerate(nb.cells, start=1):
        if cell.cell_type != "code":
            continue
        meta = cell.metadata.get("nbgrader", {})
        is_test = bool(meta.get("grade") and not meta.get("solution"))
        error = first_error(cell, stderr_fails=is_test)
        if is_test:
            tasks.append(TaskResult(meta.get("grade_id", f"cell {number}"),
                                    float(meta.get("points", 0)), error is None, error or ""))
        elif error:
            other_errors.append(f"cell {number} ({meta.get('grade_id', 'code')}): {error}")
    return tasks, other_errors


def report(path: Path, tasks: list[TaskResult], other_errors: list[str]) -> str:
    """The plain-text report the command prints."""
    lines = [f"Checking {path} (visible tests only; your instructor's grading adds hidden tests)", ""]
    width = max((len(t.grade_id) for t in tasks), default=10)
    for task in tasks:
        got = task.points if task.passed else 0
        status = "PASS" if task.passed else "FAIL"
        line = f"  {status}  {task.grade_id:<{width}}  {got:g}/{task.points:g} points"
        lines.append(line + (f"   {task.message}" if task.message else ""))
    if other_errors:
        lines += ["", "Errors outside the test cells (fix these first; later cells depend on them):"]
        lines += [f"  - {message}" for message in other_errors]
    earned = sum(t.points for t in tasks if t.passed)
    total = sum(t.points for t in tasks)
    failing = sum(not t.passed for t in tasks)
    lines += ["", f"Visible tests: {earned:g} of {total:g} points."]
    lines.append("All visible tests pass." if failing == 0 else f"{failing} test cell(s) to fix.")
    return "\n".join(lines)


def check(path: Path, cell_timeout: int = 60) -> int:
    """Run the self-check, print the report, and return the exit code (0 only if all pass)."""
    if not path.is_file():
        print(f"No notebook at {path}. Give the path to your lab, such as labs/lab00_lifecycle/lab00_lifecycle.ipynb.")
        return 2
    try:
        nb = execute(path, cell_timeout=cell_timeout, allow_errors=True, env=GRADING_ENV)
    except (nbformat.reader.NotJSONError, nbformat.ValidationError) as error:
        print(f"{path} is not a valid notebook ({error.__class__.__name__}). Restore it from your last "
              "checkpoint (File > Revert) or copy the cells into a fresh copy of the lab.")
        return 2
    tasks, other_errors = results(nb)
    print(report(path, tasks, other_errors))
    if not tasks:
        print("This notebook has no graded test cells: is it a lab from labs/?")
        return 2
    return 0 if all(t.passed for t in tasks) else 1
