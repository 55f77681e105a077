"""Small helpers for writing lesson and lab notebooks with nbformat (for course authors).

    from mlops_course.authoring import md, code, solution, tests, write_notebook
    write_notebook("solutions/lab00_lifecycle/lab00_lifecycle.ipynb", [md("# Lab"), ...])
"""
from __future__ import annotations

import os
from pathlib import Path

import nbformat

from mlops_course.notebook_metadata import stamp

_NBGRADER_SCHEMA = 3


def md(text: str, tags: list[str] | None = None) -> nbformat.NotebookNode:
    """A markdown cell."""
    return nbformat.v4.new_markdown_cell(text.strip("\n"), metadata={"tags": tags} if tags else {})


def code(source: str, tags: list[str] | None = None) -> nbformat.NotebookNode:
    """A code cell."""
    return nbformat.v4.new_code_cell(source.strip("\n"), metadata={"tags": tags} if tags else {})


def _nbgrader(cell: nbformat.NotebookNode, **flags: object) -> nbformat.NotebookNode:
    cell.metadata["nbgrader"] = {"schema_version": _NBGRADER_SCHEMA, **flags}
    return cell


def solution(grade_id: str, source: str) -> nbformat.NotebookNode:
    """An answer cell: the solution sits between ``### BEGIN SOLUTION`` and ``### END SOLUTION``."""
    return _nbgrader(code(source), grade=False, solution=True, locked=False, grade_id=grade_id)


def tests(grade_id: str, points: int, source: str) -> nbformat.NotebookNode:
    """A locked, autograded test cell; hidden tests go between ``### BEGIN/END HIDDEN TESTS``."""
    return _nbgrader(
        code(source), grade=True, solution=False, locked=True, grade_id=grade_id, points=points
    )


def readonly(grade_id: str, source: str, markdown: bool = False) -> nbformat.NotebookNode:
    """A locked cell the student cannot change (setup code or a task statement)."""
    cell = md(source) if markdown else code(source)
    return _nbgrader(cell, grade=False, solution=False, locked=True, grade_id=grade_id)


def write_notebook(path: str | os.PathLike[str], cells: list[nbformat.NotebookNode]) -> Path:
    """Write cells as a notebook with the course kernel's metadata (it opens unmodified)."""
    nb = nbformat.v4.new_notebook(cells=cells)
    stamp(nb.metadata)
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    nbformat.validate(nb)
    nbformat.write(nb, target)
    return target
