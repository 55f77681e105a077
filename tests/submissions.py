"""Build lab submissions for the grading tests from the released lab and a fixture file.

A fixture is ``tests/fixtures/<lab>/<name>.json``::

    {"description": "what the learner got wrong (or did differently)",
     "expected_score": 7,
     "answers": {"<grade_id of a solution cell>": "<the code the learner wrote>", ...}}

``wrong_*.json`` are plausible mistakes and must score below full marks;
``alt_*.json`` are correct answers written differently from the reference and must score full marks.
Solution cells not named in ``answers`` keep the released stub (``raise NotImplementedError()``).
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures"


@dataclass
class Fixture:
    lab: str
    name: str
    description: str
    expected_score: float
    answers: dict[str, str]


def labs() -> list[str]:
    return sorted(p.name for p in (ROOT / "solutions").glob("lab*") if (p / f"{p.name}.ipynb").exists())


def fixtures(lab: str) -> list[Fixture]:
    found = []
    for path in sorted((FIXTURES / lab).glob("*.json")):
        data = json.loads(path.read_text())
        found.append(Fixture(lab, path.stem, data["description"], float(data["expected_score"]),
                             data["answers"]))
    return found


def released(lab: str) -> nbformat.NotebookNode:
    return nbformat.read(ROOT / "labs" / lab / f"{lab}.ipynb", as_version=4)


def solution(lab: str) -> nbformat.NotebookNode:
    return nbformat.read(ROOT / "solutions" / lab / f"{lab}.ipynb", as_version=4)


def solution_cell_ids(nb: nbformat.NotebookNode) -> list[str]:
    return [c.metadata["nbgrader"]["grade_id"] for c in nb.cells
            if c.metadata.get("nbgrader", {}).get("solution")]


def reference_answers(lab: str) -> dict[str, str]:
    """The reference solution's answer cells, with the nbgrader markers removed."""
    answers = {}
    for cell in solution(lab).cells:
        if cell.metadata.get("nbgrader", {}).get("solution"):
            lines = [l for l in cell.source.splitlines() if "### BEGIN SOLUTION" not in l and "### END SOLUTION" not in l]
            answers[cell.metadata["nbgrader"]["grade_id"]] = "\n".join(lines)
    return answers


def with_answers(lab: str, answers: dict[str, str]) -> nbformat.NotebookNode:
    """The released lab with the given solution cells filled in."""
    nb = released(lab)
    unknown = set(answers) - set(solution_cell_ids(nb))
    if unknown:
        raise KeyError(f"{lab}: no solution cells called {sorted(unknown)}")
    for cell in nb.cells:
        cell_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if cell_id in answers:
            cell.source = answers[cell_id]
    return nb


def max_score(lab: str) -> float:
    return sum(float(c.metadata["nbgrader"].get("points", 0)) for c in solution(lab).cells
               if c.metadata.get("nbgrader", {}).get("grade"))


def write_submission(folder: Path, student: str, lab: str, nb: nbformat.NotebookNode) -> Path:
    target = folder / student / f"{lab}.ipynb"
    target.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, target)
    return target
