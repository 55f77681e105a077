"""``mlops-course grade``: batch-grade a class's submissions with nbgrader autograde.

Each submission is graded in a sandbox of its own (``grading/sandbox.py``): a throwaway copy of
the nbgrader course made from one pristine copy per batch, so no submission reaches another's
files or gradebook; a memory cap and a time cap (``grading/guard.py``); and every process it
started stopped afterwards. The test cells run apart from the student's code
(``grading/executor.py``). A submission that raises, loops forever, floods memory, kills its
kernel, edits or deletes test cells, or is not valid notebook JSON still gets a row in
``grades.csv`` with a score and the reason, and never stops the batch. ``--workers`` grades
several submissions at once; ``--shard`` and ``--merge`` split a class across machines.
"""
from __future__ import annotations

import csv
import json
import os
import shutil
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
from nbgrader.api import Gradebook, MissingEntry

from mlops_course.check import GRADING_ENV, first_error
from mlops_course.grading.executor import KERNEL_DIED, STUDENT_CWD_ENV, STUDENT_RUNTIME_ENV, is_test_cell
from mlops_course.grading.guard import Outcome, memory_cap_method, run_guarded
from mlops_course.grading.sandbox import SubmissionFolders, inner_prefix, isolation, outer_prefix
from mlops_course.grading.view import SANDBOX_ENV
from mlops_course.nbgrader_course import Course, clone_course, generate_assignment, make_course


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
    """Why test cells failed, and where the student's kernel died or timed out, from the
    autograded notebook's error outputs."""
    if not autograded.exists():
        return []
    nb = nbformat.read(autograded, as_version=4)
    notes = []
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        meta = cell.metadata.get("nbgrader", {})
        if not is_test_cell(cell):
            for output in cell.get("outputs", []):
                if output.get("output_type") == "error" and output.get("ename") == KERNEL_DIED \
                        and not str(output.get("evalue", "")).startswith("not run"):
                    notes.append(str(output.get("evalue")))
                elif output.get("output_type") == "error" and output.get("ename") == "CellTimeoutError":
                    notes.append(f"cell {meta.get('grade_id', '?')} ran longer than the cell time limit and was stopped")
            continue
        message = first_error(cell, stderr_fails=True)
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
    database = course.root / "gradebook.db"
    if not database.exists():
        return None
    with Gradebook(f"sqlite:///{database}") as gradebook:
        try:
            submission = gradebook.find_submission(course.assignment, student)
        except MissingEntry:
            return None
        tests = {g.name: float(g.score) for nb in submission.notebooks for g in nb.grades}
        return float(submission.score), tests


@dataclass
class Batch:
    """What every submission of one grading run shares: the pristine course and the limits."""

    lab: str
    pristine: Course
    release: nbformat.NotebookNode
    max_score: float
    scratch: Path
    out: Path
    repo: Path
    hide: list[Path]
    cell_timeout: int = 60
    student_timeout: int = 600
    memory_mib: int = 2048
    feedback: bool = True


def _read_submission(sub: Submission, batch: Batch, row: GradeRow) -> nbformat.NotebookNode | None:
    try:
        submitted = nbformat.read(sub.notebook, as_version=4)
        nbformat.validate(submitted)
    except FileNotFoundError:
        row.notes.append(f"no notebook found (expected {batch.lab}.ipynb)")
        return None
    except Exception as error:  # broken JSON, wrong schema: the file cannot be graded
        row.notes.append(f"not a valid notebook ({error.__class__.__name__}); score 0, ask for a resubmission")
        return None
    return submitted


def _place(sub: Submission, submitted: nbformat.NotebookNode, course: Course, folders: SubmissionFolders) -> None:
    """The submission into the course copy, and the student's extra files beside their kernel."""
    target = course.root / "submitted" / sub.student / course.assignment
    shutil.copytree(course.release_folder, target)
    shutil.copytree(course.release_folder, folders.notebook, dirs_exist_ok=True)
    if sub.folder is not None:
        for extra in sub.folder.iterdir():
            if extra.is_file() and extra.suffix != ".ipynb" and not extra.is_symlink():
                shutil.copy2(extra, target / extra.name)
                shutil.copy2(extra, folders.notebook / extra.name)
    nbformat.write(submitted, target / f"{course.assignment}.ipynb")
    (folders.notebook / f"{course.assignment}.ipynb").unlink(missing_ok=True)


def _environment(folders: SubmissionFolders, batch: Batch) -> dict[str, str]:
    env = {**GRADING_ENV,
           "MLOPS_COURSE_WORKSPACE": str(folders.workspace),
           "MLOPS_COURSE_GRADER_DIR": str(folders.grader),
           "MLOPS_COURSE_ROOT": str(batch.repo),
           SANDBOX_ENV: json.dumps(inner_prefix(folders, batch.repo, batch.hide)),
           STUDENT_CWD_ENV: str(folders.notebook),
           STUDENT_RUNTIME_ENV: str(folders.student_runtime),
           "JUPYTER_RUNTIME_DIR": str(folders.runtime),
           "HOME": str(folders.home),
           "TMPDIR": "/tmp"}
    return env


def _outcome_notes(outcome: Outcome, batch: Batch) -> list[str]:
    notes = []
    if outcome.over_memory:
        notes.append(f"over the memory cap ({batch.memory_mib} MiB): its largest process (the kernel) was stopped")
    if outcome.timed_out:
        notes.append(f"grading took longer than {batch.student_timeout} s and was stopped; score 0")
    if "Timeout waiting for execute reply" in outcome.stdout + outcome.stderr:
        notes.append(f"a cell ran longer than {batch.cell_timeout} s and was stopped (infinite loop?)")
    return notes


def _nbgrader_error(outcome: Outcome) -> str:
    """The most telling line of a failed nbgrader run."""
    lines = (outcome.stdout + outcome.stderr).strip().splitlines()
    errors = [line.strip() for line in lines if "Error" in line and "AutogradeApp" not in line]
    return (errors[-1] if errors else " | ".join(lines[-2:]) or f"exit code {outcome.returncode}")[:240]


def grade_one(sub: Submission, batch: Batch) -> GradeRow:
    """Autograde one submission in its own sandbox; every failure becomes a note, never an exception."""
    row = GradeRow(sub.student, 0.0, batch.max_score)
    submitted = _read_submission(sub, batch, row)
    if submitted is None:
        return row
    row.notes += repair(submitted, batch.release)
    folders = SubmissionFolders(batch.scratch / "students" / sub.student)
    if folders.root.exists():
        shutil.rmtree(folders.root)
    course = clone_course(batch.pristine, folders.course, batch.cell_timeout)
    folders.make()
    _place(sub, submitted, course, folders)

    prefix = outer_prefix(folders, batch.repo, batch.hide)
    env = course.environment(_environment(folders, batch))
    outcome = run_guarded([*prefix, *course.command("autograde", course.assignment, "--student", sub.student,
                                                     "--force", f"--Execute.timeout={batch.cell_timeout}")],
                          cwd=course.root, env=env, timeout=batch.student_timeout, memory_mib=batch.memory_mib)
    row.notes += _outcome_notes(outcome, batch)
    autograded = course.root / "autograded" / sub.student / course.assignment / f"{course.assignment}.ipynb"
    scores = _scores(course, sub.student) if autograded.exists() and not outcome.timed_out else None
    if scores is None:
        if not outcome.timed_out:
            row.notes.append("nbgrader could not grade it: " + _nbgrader_error(outcome))
        return row
    row.score, row.tests = scores
    row.notes += _failures(autograded)
    hide_hidden_tests(autograded)
    if batch.feedback:
        problem = _feedback(course, sub.student, batch.out, [*prefix], env)
        if problem is not None:
            row.notes.append(problem)
    return row


def _feedback(course: Course, student: str, out: Path, prefix: list[str], env: dict[str, str]) -> str | None:
    """Write the student's HTML feedback to ``out``; a note when it could not be generated."""
    done = run_guarded([*prefix, *course.command("generate_feedback", course.assignment, "--student", student,
                                                 "--force")], cwd=course.root, env=env, timeout=120, memory_mib=2048)
    html = course.root / "feedback" / student / course.assignment / f"{course.assignment}.html"
    if done.returncode != 0 or not html.exists():
        last = (done.stdout + done.stderr).strip().splitlines()[-1:] or [f"exit code {done.returncode}"]
        return f"feedback could not be generated (nbgrader generate_feedback: {last[0][:160]})"
    target = out / "feedback" / student / f"{course.assignment}.html"
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(html, target)
    return None


def select_shard(students: list[Submission], shard: tuple[int, int] | None) -> list[Submission]:
    """The ``i``-th of ``n`` slices (1-based) of the class, by position in name order."""
    if shard is None:
        return students
    index, count = shard
    return [sub for position, sub in enumerate(students) if position % count == index - 1]


def write_csv(rows: list[GradeRow], test_ids: list[str], path: Path) -> None:
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, ["student", "score", "max_score", *test_ids, "notes"])
        writer.writeheader()
        writer.writerows(row.csv_row(test_ids) for row in sorted(rows, key=lambda r: r.student))


def prepare(lab: str, submissions: Path, out: Path, root: Path, cell_timeout: int, student_timeout: int,
            memory_mib: int) -> Batch:
    """Check the arguments and build the pristine course once for the batch."""
    solution = root / "solutions" / lab
    if not (solution / f"{lab}.ipynb").is_file():
        known = ", ".join(p.name for p in sorted((root / "solutions").glob("lab*")))
        raise ValueError(f"No lab called {lab!r} in solutions/. Labs are: {known}.")
    if not submissions.is_dir():
        raise ValueError(f"{submissions} is not a folder of submissions (one folder or notebook per student).")
    out.mkdir(parents=True, exist_ok=True)
    scratch = out / "_nbgrader"
    if scratch.exists():
        shutil.rmtree(scratch)
    pristine = make_course(solution, scratch / "pristine", cell_timeout=cell_timeout)
    generate_assignment(pristine)
    release = nbformat.read(pristine.release_folder / f"{lab}.ipynb", as_version=4)
    graded = [c for c in _grade_cells(release).values() if c.metadata["nbgrader"].get("grade")]
    max_score = sum(float(c.metadata["nbgrader"].get("points", 0)) for c in graded)
    hide = [submissions.resolve(), out.resolve()]
    return Batch(lab, pristine, release, max_score, scratch, out, root.resolve(), hide,
                 cell_timeout, student_timeout, memory_mib)


def grade(lab: str, submissions: Path, out: Path, root: Path, cell_timeout: int = 60,
          student_timeout: int = 600, progress: Callable[[str], None] = print, workers: int | None = None,
          memory_mib: int = 2048, shard: tuple[int, int] | None = None,
          feedback: bool = True) -> list[GradeRow]:
    """Grade every submission in ``submissions`` (or one shard of them) and write ``grades.csv``
    and (unless ``feedback`` is False) each student's HTML feedback to ``out``."""
    students = select_shard(find_submissions(submissions, lab) if submissions.is_dir() else [], shard)
    progress(f"Preparing {lab} from solutions/ (hidden tests included) ...")
    batch = prepare(lab, submissions, out, root, cell_timeout, student_timeout, memory_mib)
    batch.feedback = feedback
    if not students:
        raise ValueError(f"No submissions in {submissions}"
                         + (f" for shard {shard[0]}/{shard[1]}" if shard else "")
                         + f": expected <student>/{lab}.ipynb or <student>.ipynb.")
    workers = max(1, workers or os.cpu_count() or 1)
    progress(isolation())
    progress(memory_cap_method())
    progress(f"Grading {len(students)} submission(s) with {workers} worker(s), "
             f"each within {memory_mib} MiB and {student_timeout} s ...")
    test_ids = [cid for cid, c in _grade_cells(batch.release).items() if c.metadata["nbgrader"].get("grade")]
    rows: list[GradeRow] = []
    lock = threading.Lock()

    def safely(sub: Submission) -> GradeRow:
        try:
            return grade_one(sub, batch)
        except Exception as error:  # a bug or a broken disk must not stop the batch
            return GradeRow(sub.student, 0.0, batch.max_score,
                            notes=[f"grading failed ({error.__class__.__name__}: {error}); grade it again"])

    with ThreadPoolExecutor(max_workers=workers) as pool:
        futures = [pool.submit(safely, sub) for sub in students]
        for future in as_completed(futures):
            row = future.result()
            with lock:
                rows.append(row)
                progress(f"[{len(rows)}/{len(students)}] {row.student}: {row.score:g}/{row.max_score:g}"
                         + (f"  ({'; '.join(row.notes)})" if row.notes else ""))
    write_csv(rows, test_ids, out / "grades.csv")
    progress(f"Wrote {out / 'grades.csv'} and feedback for {len(rows)} student(s) in {out / 'feedback'}.")
    return sorted(rows, key=lambda r: r.student)


def merge(shards: list[Path], out: Path, progress: Callable[[str], None] = print) -> Path:
    """Join the ``grades.csv`` and feedback of several shards' output folders into ``out``."""
    header: list[str] = []
    rows: dict[str, dict[str, str]] = {}
    for folder in shards:
        table = folder / "grades.csv"
        if not table.is_file():
            raise ValueError(f"{folder} has no grades.csv: is it the --out folder of a grading shard?")
        with open(table, newline="") as handle:
            reader = csv.DictReader(handle)
            if header and reader.fieldnames != header:
                raise ValueError(f"{table} grades another lab or version: its columns differ from the first shard's")
            header = list(reader.fieldnames or [])
            for record in reader:
                if record["student"] in rows:
                    raise ValueError(f"{record['student']} appears in two shards: grade each student once")
                rows[record["student"]] = record
        if (folder / "feedback").is_dir():
            shutil.copytree(folder / "feedback", out / "feedback", dirs_exist_ok=True)
    out.mkdir(parents=True, exist_ok=True)
    with open(out / "grades.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, header)
        writer.writeheader()
        writer.writerows(rows[name] for name in sorted(rows))
    progress(f"Merged {len(rows)} student(s) from {len(shards)} shard(s) into {out / 'grades.csv'}.")
    return out / "grades.csv"
