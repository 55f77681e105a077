"""The notebook metadata JupyterLab writes for the course's kernel, stored in every notebook.

JupyterLab fills in ``language_info`` from the kernel when a notebook opens; a notebook that
stores less (nbgrader's ``{"name": "python"}``) is marked modified at once and asks "Save
changes?" on close. Lessons get it by being executed; ``build-labs`` writes it into the labs.
"""
from __future__ import annotations

from typing import Any

# The Python the course pins (Makefile: python3.11; the lessons are stored from 3.11.7).
PYTHON_VERSION = "3.11.7"

KERNELSPEC: dict[str, str] = {"display_name": "Python 3", "language": "python", "name": "python3"}

LANGUAGE_INFO: dict[str, Any] = {
    "codemirror_mode": {"name": "ipython", "version": 3},
    "file_extension": ".py",
    "mimetype": "text/x-python",
    "name": "python",
    "nbconvert_exporter": "python",
    "pygments_lexer": "ipython3",
    "version": PYTHON_VERSION,
}


def stamp(metadata: dict[str, Any]) -> None:
    """Give a notebook's metadata the course kernel's kernelspec and full language_info."""
    metadata["kernelspec"] = dict(KERNELSPEC)
    metadata["language_info"] = {**LANGUAGE_INFO, "codemirror_mode": dict(LANGUAGE_INFO["codemirror_mode"])}
