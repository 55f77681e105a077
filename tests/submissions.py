"""Build lab submissions for the grading tests from the released lab and a fixture file.

A fixture is ``tests/fixtures/<lab>/<name>.json``::

    {"description": "what the learner got wrong (or did differently)",
     "fails": ["<grade_id of each test cell that must give 0 points>", ...],
     "answers": {"<grade_id of a solution cell>": "<the code the learner wrote>", ...}}

- ``alt_*.json``: correct answers built differently from the reference; ``fails`` is empty.
- ``wrong_*.json``: a plausible mistake (a mutant of the reference that breaks one clause of a
  task statement); ``fails`` names exactly the tests that must catch it.
- ``game_*.json``: an attempt to game the tests (a rebound helper, an always-equal object, a
  patched library); ``fails`` names the tests it targets, which must give it 0.
The grading test packs ``wrong_*`` fixtures that change different answer cells and fail different
tests into one notebook (``pack``), which then must fail exactly the union of their tests;
``"alone": true`` keeps a fixture in a notebook of its own (for a mistake that stops the kernel).
Solution cells not named in ``answers`` keep the reference answer (so a fixture changes only
what it is about), unless ``"stubs": true`` keeps the released stubs instead.
``CLAUSES.md`` beside the fixtures maps each clause of each task statement to its test and mutant.
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
    fails: list[str]
    answers: dict[str, str]
    stubs: bool = False
    alone: bool = False


def labs() -> list[str]:
    return sorted(p.name for p in (ROOT / "solutions").glob("lab*") if (p / f"{p.name}.ipynb").exists())


def fixtures(lab: str) -> list[Fixture]:
    found = []
    for path in sorted((FIXTURES / lab).glob("*.json")):
        data = json.loads(path.read_text())
        found.append(Fixture(lab, path.stem, data["description"], list(data["fails"]),
                             data["answers"], bool(data.get("stubs", False)),
                             bool(data.get("alone", False))))
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


def with_answers(lab: str, answers: dict[str, str], stubs: bool = False) -> nbformat.NotebookNode:
    """The released lab with the given solution cells filled in; the others keep the reference
    answer (or the released stub, with ``stubs``)."""
    nb = released(lab)
    unknown = set(answers) - set(solution_cell_ids(nb))
    if unknown:
        raise KeyError(f"{lab}: no solution cells called {sorted(unknown)}")
    filled = answers if stubs else {**reference_answers(lab), **answers}
    for cell in nb.cells:
        cell_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if cell_id in filled:
            cell.source = filled[cell_id]
    return nb


def points_by_test(lab: str) -> dict[str, float]:
    """Each test cell's grade_id and points."""
    return {c.metadata["nbgrader"]["grade_id"]: float(c.metadata["nbgrader"].get("points", 0))
            for c in solution(lab).cells if c.metadata.get("nbgrader", {}).get("grade")}


def expected_score(fixture: Fixture) -> float:
    points = points_by_test(fixture.lab)
    return sum(p for tid, p in points.items() if tid not in fixture.fails)


def max_score(lab: str) -> float:
    return sum(float(c.metadata["nbgrader"].get("points", 0)) for c in solution(lab).cells
               if c.metadata.get("nbgrader", {}).get("grade"))


def write_submission(folder: Path, student: str, lab: str, nb: nbformat.NotebookNode) -> Path:
    target = folder / student / f"{lab}.ipynb"
    target.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, target)
    return target


def pack(found: list[Fixture]) -> list[list[Fixture]]:
    """Groups of fixtures to grade as one notebook each: ``wrong_*`` mutants of different answer
    cells with different failing tests share a notebook (tasks are graded independently, so
    each still fails only its own tests); everything else is graded alone."""
    groups: list[list[Fixture]] = []
    for fixture in found:
        packable = fixture.name.startswith("wrong_") and not fixture.stubs and not fixture.alone
        home = None
        if packable:
            for group in groups:
                if all(m.name.startswith("wrong_") and not m.stubs and not m.alone for m in group) \
                        and not any(set(m.answers) & set(fixture.answers) or set(m.fails) & set(fixture.fails)
                                    for m in group):
                    home = group
                    break
        if home is None:
            groups.append([fixture])
        else:
            home.append(fixture)
    return groups
