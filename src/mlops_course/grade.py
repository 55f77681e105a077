"""``mlops-course grade``: batch-grade a class's submissions with nbgrader autograde.

Each submission is graded on its own, in its own workspace, with the hidden tests restored
from ``solutions/``. A submission that raises, loops forever, edited or deleted test cells,
or is not valid notebook JSON still gets a row in ``grades.csv`` with a score and a reason,
and never stops the batch.
"""
from __future__ import annotations

import csv
import json
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
from nbgrader.api import Gradebook, MissingEntry

from mlops_course.check import GRADING_ENV, first_error
from mlops_course.nbgrader_course import Course, generate_assignment, make_course


@dataclass
class Submission:
    student: str
    notebook: Path
    folder: Path | None


@dataclass
class GradeRow:
    """One student's result: score, maximum, per-test points and the reasons behind them."""

    student: str
    score: float
    max_score: float
    tests: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def csv_row(self, test_ids: list[str]) -> dict[str, object]:
        row: dict[str, object] = {"student": self.student, "score": f"{self.score:g}",
                                  "max_score": f"{self.max_score:g}"}
        row.update({tid: f"{self.tests.get(tid, 0):g}" for tid in test_ids})
        row["notes"] = "; ".join(self.notes)
        return row


def find_submissions(folder: Path, lab: str) -> list[Submission]:
    """``<folder>/<student>/<lab>.ipynb`` (or the one notebook there), or ``<folder>/<student>.ipynb``."""
    found = []
    for entry in sorted(folder.iterdir()):
        if entry.name.startswith("."):
            continue
        if entry.is_dir():
            named = entry / f"{lab}.ipynb"
            notebooks = [named] if named.exists() else sorted(entry.glob("*.ipynb"))
            notebook = notebooks[0] if len(notebooks) == 1 else named
            found.append(Submission(entry.name, notebook, entry))
        elif entry.suffix == ".ipynb":
            found.append(Submission(entry.stem, entry, None))
    return found


def _grade_cells(nb: nbformat.NotebookNode) -> dict[str, nbformat.NotebookNode]:
    return {c.metadata["nbgrader"]["grade_id"]: c for c in nb.cells
            if c.metadata.get("nbgrader", {}).get("grade_id")}


def repair(submitted: nbformat.NotebookNode, release: nbformat.NotebookNode) -> list[str]:
    """Put back locked cells (tests, setup) the student deleted, so their code is still graded.
    Returns notes on what was restored or edited. nbgrader itself restores edited test cells."""
    notes = []
    have = _grade_cells(submitted)
    for cell_id, cell in _grade_cells(release).items():
        meta = cell.metadata["nbgrader"]
        if cell_id in have and meta.get("grade") and have[cell_id].source != cell.source:
            notes.append(f"test cell {cell_id} was edited: graded with the original")
    anchor = 0
    for cell in release.cells:
        meta = cell.metadata.get("nbgrader", {})
        cell_id = meta.get("grade_id")
        if not cell_id:
            continue
        if cell_id in have:
            anchor = submitted.cells.index(have[cell_id]) + 1
        elif meta.get("locked"):
            submitted.cells.insert(anchor, nbformat.from_dict(json.loads(json.dumps(cell))))
            have[cell_id] = submitted.cells[anchor]
            anchor += 1
            if meta.get("grade"):
                notes.append(f"test cell {cell_id} was deleted: restored and graded")
    return notes


def _failures(autograded: Path) -> list[str]:
    """Why test cells failed, from the autograded notebook's error outputs."""
    if not autograded.exists():
        return []
    nb = nbformat.read(autograded, as_version=4)
    notes = []
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        message = first_error(cell, stderr_fails=True) if cell.cell_type == "code" else None
        if message and meta.get("grade"):
            notes.append(f"{meta.get('grade_id')} failed: {message.splitlines()[0][:160]}")
    return notes


def hide_hidden_tests(autograded: Path) -> None:
    """Before feedback: drop hidden tests from the test cells' source, and cut every error's
    traceback (which quotes the lines around a failing assert) down to its message."""
    if not autograded.exists():
        return
    nb = nbformat.read(autograded, as_version=4)
    for cell in nb.cells:
        if cell.cell_type != "code" or not cell.metadata.get("nbgrader", {}).get("grade"):
            continue
        kept, hiding = [], False
        for line in cell.source.splitlines():
            if "### BEGIN HIDDEN TESTS" in line:
                hiding = True
                kept.append("# (hidden tests run here)")
            elif "### END HIDDEN TESTS" in line:
                hiding = False
            elif not hiding:
                kept.append(line)
        cell.source = "\n".join(kept)
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error":
                output["traceback"] = [f"{output.get('ename')}: {output.get('evalue')}"]
    nbformat.write(nb, autograded)


def _scores(course: Course, student: str) -> tuple[float, dict[str, float]] | None:
    with Gradebook(f"sqlite:///{course.root / 'gradebook.db'}") as gradebook:
        try:
            submission = gradebook.find_submission(course.assignment, student)
        except MissingEntry:
            return None
        tests = {g.name: float(g.score) for nb in submission.notebooks for g in nb.grades}
        return float(submission.score), tests


def grade_one(course: Course, sub: Submission, release: nbformat.NotebookNode, max_score: float,
              workspaces: Path, cell_timeout: int, student_timeout: int) -> GradeRow:
    """Autograde one submission; every failure becomes a note, never an exception."""
    row = GradeRow(sub.student, 0.0, max_score)
    try:
        submitted = nbformat.read(sub.notebook, as_version=4)
        nbformat.validate(submitted)
    except FileNotFoundError:
        row.notes.append(f"no notebook found (expected {course.assignment}.ipynb)")
        return row
    except Exception as error:  # broken JSON, wrong schema: the file cannot be graded
        row.notes.append(f"not a valid notebook ({error.__class__.__name__}); score 0, ask for a resubmission")
        return row
    row.notes += repair(submitted, release)
    target = course.root / "submitted" / sub.student / course.assignment
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(course.release_folder, target)
    if sub.folder is not None:
        for extra in sub.folder.iterdir():
            if extra.is_file() and extra.suffix != ".ipynb":
                shutil.copy2(extra, target / extra.name)
    nbformat.write(submitted, target / f"{course.assignment}.ipynb")

    env = {**GRADING_ENV, "MLOPS_COURSE_WORKSPACE": str(workspaces / sub.student)}
    try:
        done = course.run("autograde", course.assignment, "--student", sub.student, "--force",
                          f"--Execute.timeout={cell_timeout}", env=env, timeout=student_timeout,
                          check=False)
    except subprocess.TimeoutExpired:
        row.notes.append(f"grading took longer than {student_timeout} s and was stopped; score 0")
        return row
    if "Timeout waiting for execute reply" in done.stdout + done.stderr:
        row.notes.append(f"a cell ran longer than {cell_timeout} s and was stopped (infinite loop?)")
    scores = _scores(course, sub.student)
    if scores is None:
        tail = (done.stdout + done.stderr).strip().splitlines()[-3:]
        row.notes.append("nbgrader could not grade it: " + " | ".join(tail))
        return row
    row.score, row.tests = scores
    autograded = course.root / "autograded" / sub.student / course.assignment / f"{course.assignment}.ipynb"
    row.notes += _failures(autograded)
    hide_hidden_tests(autograded)
    return row


def _feedback(course: Course, student: str, out: Path) -> Path | None:
    done = course.run("generate_feedback", course.assignment, "--student", student, "--force",
                      check=False, timeout=120)
    html = course.root / "feedback" / student / course.assignment / f"{course.assignment}.html"
    if done.returncode != 0 or not html.exists():
        return None
    target = out / "feedback" / student / f"{course.assignment}.html"
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(html, target)
    return target


def grade(lab: str, submissions: Path, out: Path, root: Path, cell_timeout: int = 60,
          student_timeout: int = 600, progress: Callable[[str], None] = print) -> list[GradeRow]:
    """Grade every submission in ``submissions`` and write ``grades.csv`` and feedback to ``out``."""
    solution = root / "solutions" / lab
    if not (solution / f"{lab}.ipynb").is_file():
        known = ", ".join(p.name for p in sorted((root / "solutions").glob("lab*")))
        raise ValueError(f"No lab called {lab!r} in solutions/. Labs are: {known}.")
    if not submissions.is_dir():
        raise ValueError(f"{submissions} is not a folder of submissions (one folder or notebook per student).")
    students = find_submissions(submissions, lab)
    if not students:
        raise ValueError(f"No submissions in {submissions}: expected <student>/{lab}.ipynb or <student>.ipynb.")
    out.mkdir(parents=True, exist_ok=True)
    scratch = out / "_nbgrader"
    if scratch.exists():
        shutil.rmtree(scratch)
    progress(f"Preparing {lab} from solutions/ (hidden tests included) ...")
    course = make_course(solution, scratch / "course", cell_timeout=cell_timeout)
    generate_assignment(course)
    release = nbformat.read(course.release_folder / f"{lab}.ipynb", as_version=4)
    test_ids = [cid for cid, c in _grade_cells(release).items() if c.metadata["nbgrader"].get("grade")]
    max_score = sum(float(c.metadata["nbgrader"].get("points", 0))
                    for c in _grade_cells(release).values() if c.metadata["nbgrader"].get("grade"))

    rows = []
    for number, sub in enumerate(students, start=1):
        progress(f"[{number}/{len(students)}] {sub.student}: grading ...")
        row = grade_one(course, sub, release, max_score, scratch / "workspaces", cell_timeout, student_timeout)
        if _scores(course, sub.student) is not None and _feedback(course, sub.student, out) is None:
            row.notes.append("feedback could not be generated")
        progress(f"[{number}/{len(students)}] {sub.student}: {row.score:g}/{row.max_score:g}"
                 + (f"  ({'; '.join(row.notes)})" if row.notes else ""))
        rows.append(row)

    with open(out / "grades.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, ["student", "score", "max_score", *test_ids, "notes"])
        writer.writeheader()
        writer.writerows(row.csv_row(test_ids) for row in rows)
    progress(f"Wrote {out / 'grades.csv'} and feedback for {len(rows)} student(s) in {out / 'feedback'}.")
    return rows
