"""nbgrader's Validate button, told apart for lessons (a Jupyter server extension).

nbgrader 0.9's JupyterLab plugin puts Validate on every notebook's toolbar. On a lesson, which
has no graded tests, nbgrader would re-run the whole lesson and then report "Success! Your
notebook passes all the tests.": a claim about tests that do not exist. This extension answers
Validate for a notebook without graded cells with what is true and what to do instead, and
hands every lab to nbgrader unchanged.

It serves nbgrader's own route, so it must load before nbgrader's validate extension: Jupyter
loads server extensions in alphabetical order, and ``mlops_course`` sorts before ``nbgrader``
(``tests/test_jupyter_validate.py`` checks it through a real server).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import nbformat
from jupyter_server.utils import url_path_join
from nbgrader.server_extensions.validate_assignment.handlers import ValidateAssignmentHandler

from mlops_course.chapters import CHAPTERS

ROUTE = "/assignments/validate"


def has_graded_cells(path: Path) -> bool:
    """Whether a notebook has an nbgrader cell that is graded (a lab, or its source)."""
    notebook = nbformat.read(path, as_version=4)
    return any(cell.metadata.get("nbgrader", {}).get("grade") for cell in notebook.cells)


def nothing_to_validate(path: Path) -> str:
    """What Validate says about a notebook that has no graded tests."""
    lab = _lab_for(path)
    where = f"this chapter's lab is {lab}" if lab else "the labs are in labs/"
    return (f"Nothing to validate: {path.name} has no graded tests (lessons have none; labs do). "
            f"Validate checks a lab: {where}. To check this lesson, run all its cells "
            f"(Run > Run All Cells), or run `mlops-course check` on a lab from a terminal.")


def _lab_for(path: Path) -> str | None:
    """The lab of the lesson ``notebooks/NN_topic.ipynb``, as a path from the course root."""
    chapter = next((c for c in CHAPTERS if c.lesson == path.stem), None)
    if chapter is None or not (path.parent.parent / chapter.lab_path).is_file():
        return None
    return chapter.lab_path


class LessonAwareValidateHandler(ValidateAssignmentHandler):
    """nbgrader's handler, except for notebooks that have nothing to validate."""

    def validate_notebook(self, path: str) -> dict[str, Any]:
        target = (Path(self.root_dir) / path).resolve()
        if target.is_relative_to(Path(self.root_dir).resolve()) and target.is_file():
            try:
                graded = has_graded_cells(target)
            except Exception:  # not a readable notebook: nbgrader reports it in its own words
                graded = True
            if not graded:
                return {"success": False, "value": nothing_to_validate(target)}
        return super().validate_notebook(path)


def _jupyter_server_extension_points() -> list[dict[str, str]]:
    return [{"module": "mlops_course.jupyter_validate"}]


def _load_jupyter_server_extension(serverapp: Any) -> None:
    web_app = serverapp.web_app
    web_app.settings["root_dir"] = serverapp.root_dir
    route = url_path_join(web_app.settings["base_url"], ROUTE)
    web_app.add_handlers(".*$", [(route, LessonAwareValidateHandler)])
