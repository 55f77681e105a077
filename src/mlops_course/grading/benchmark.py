"""``mlops-course bench-grading``: serial against parallel grading of one lab's batch.

It grades the same class (copies of the reference solution) once with 1 worker and once with
``workers``, reports both wall times and the speed-up, and writes the table into README.md
between ``<!-- grading-bench -->`` markers when asked.
"""
from __future__ import annotations

import os
import re
import shutil
import tempfile
import time
from pathlib import Path

import nbformat

from mlops_course.grade import grade


def _batch(root: Path, lab: str, students: int, folder: Path) -> None:
    source = nbformat.read(root / "solutions" / lab / f"{lab}.ipynb", as_version=4)
    for number in range(students):
        target = folder / f"student{number:02d}" / f"{lab}.ipynb"
        target.parent.mkdir(parents=True)
        nbformat.write(source, target)


def _timed(root: Path, lab: str, submissions: Path, out: Path, workers: int) -> tuple[float, int]:
    start = time.perf_counter()
    rows = grade(lab, submissions, out, root, workers=workers, progress=lambda _: None)
    full = sum(row.score == row.max_score for row in rows)
    return time.perf_counter() - start, full


def bench_grading(root: Path, lab: str, students: int, workers: int, readme: bool) -> int:
    """Print (and optionally store) the serial and parallel times; 0 when the speed-up is ≥ 1.7×."""
    with tempfile.TemporaryDirectory(prefix="mlops-bench-grading-") as scratch:
        submissions = Path(scratch) / "submissions"
        _batch(root, lab, students, submissions)
        serial, full_serial = _timed(root, lab, submissions, Path(scratch) / "serial", 1)
        parallel, full_parallel = _timed(root, lab, submissions, Path(scratch) / "parallel", workers)
        shutil.rmtree(submissions)
    speedup = serial / parallel
    table = "\n".join([
        "| lab | submissions | workers | wall time (s) | full marks |",
        "|---|---:|---:|---:|---:|",
        f"| `{lab}` | {students} | 1 | {serial:.1f} | {full_serial}/{students} |",
        f"| `{lab}` | {students} | {workers} | {parallel:.1f} | {full_parallel}/{students} |",
        f"\nSpeed-up with {workers} workers: **{speedup:.2f}×** on {os.cpu_count()} cores.",
    ])
    print(table)
    if readme:
        path = root / "README.md"
        text = path.read_text()
        block = f"<!-- grading-bench -->\n{table}\n<!-- /grading-bench -->"
        if "<!-- grading-bench -->" in text:
            text = re.sub(r"<!-- grading-bench -->.*?<!-- /grading-bench -->", lambda _: block, text, flags=re.S)
            path.write_text(text)
        else:
            print("README.md has no <!-- grading-bench --> markers: the table was not written.")
    return 0 if speedup >= 1.7 and full_serial == full_parallel == students else 1
