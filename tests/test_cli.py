"""The mlops-course command end to end: check, grade (six kinds of submission), build-labs."""
from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from submissions import reference_answers, released, solution, with_answers, write_submission

ROOT = Path(__file__).resolve().parents[1]
LAB = "lab00_lifecycle"
CLI = [sys.executable, "-m", "mlops_course.cli"]
WRONG_SPLIT = "def time_split(frame, valid_month, test_month):\n    return frame, frame, frame"


def run(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], cwd=cwd, capture_output=True, text=True, timeout=900)


def test_check_passes_the_solution() -> None:
    done = run("check", f"solutions/{LAB}/{LAB}.ipynb")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "All visible tests pass." in done.stdout and "FAIL" not in done.stdout


def test_check_fails_the_released_lab_with_a_hint() -> None:
    done = run("check", f"labs/{LAB}/{LAB}.ipynb")
    assert done.returncode == 1
    assert "FAIL  test_task1_time_split" in done.stdout
    assert "replace `raise NotImplementedError()` with your code" in done.stdout
    assert "Visible tests: 0 of" in done.stdout


def test_check_stops_an_infinite_loop(tmp_path: Path) -> None:
    nb = with_answers(LAB, {"task1_time_split": "def time_split(frame, valid_month, test_month):\n    while True:\n        pass"})
    path = tmp_path / f"{LAB}.ipynb"
    nbformat.write(nb, path)
    done = run("check", str(path), "--cell-timeout", "20")
    assert done.returncode == 1
    assert "FAIL  test_task1_time_split" in done.stdout
    assert "CellTimeoutError: stopped at the time limit: look for an infinite loop" in done.stdout


def test_check_explains_a_missing_file() -> None:
    done = run("check", "labs/nope.ipynb")
    assert done.returncode == 2 and "No notebook at" in done.stdout


def test_grade_a_mixed_batch(tmp_path: Path) -> None:
    """Correct, wrong, empty, infinite loop, edited tests and broken JSON: six rows, no crash."""
    subs = tmp_path / "submissions"
    write_submission(subs, "correct", LAB, solution(LAB))
    wrong = with_answers(LAB, {**reference_answers(LAB), "task1_time_split": WRONG_SPLIT})
    write_submission(subs, "wrong", LAB, wrong)
    write_submission(subs, "empty", LAB, released(LAB))
    loop = solution(LAB)
    for cell in loop.cells:
        if cell.metadata.get("nbgrader", {}).get("grade_id") == "task3_metric":
            cell.source = "def recall_at_capacity(y_true, scores, capacity=0.2):\n    while True:\n        pass"
    write_submission(subs, "infinite_loop", LAB, loop)
    edited = with_answers(LAB, {**reference_answers(LAB), "task1_time_split": WRONG_SPLIT})
    for cell in edited.cells:
        if cell.metadata.get("nbgrader", {}).get("grade"):
            cell.source = "pass  # tests removed by the student"
    # ... and one test cell deleted outright, in a submission that is otherwise correct
    deleted = solution(LAB)
    deleted.cells = [c for c in deleted.cells if c.metadata.get("nbgrader", {}).get("grade_id") != "test_task5_load"]
    write_submission(subs, "edited_tests", LAB, edited)
    write_submission(subs, "deleted_test", LAB, deleted)
    (subs / "broken_json").mkdir()
    (subs / "broken_json" / f"{LAB}.ipynb").write_text('{"cells": [ {"cell_type": "code", ')

    out = tmp_path / "out"
    done = run("grade", LAB, str(subs), "--out", str(out), "--cell-timeout", "45")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "[7/7]" in done.stdout, "grading shows progress"
    rows = {r["student"]: r for r in csv.DictReader(open(out / "grades.csv"))}
    assert set(rows) == {"correct", "wrong", "empty", "infinite_loop", "edited_tests", "deleted_test", "broken_json"}
    score = {name: float(row["score"]) for name, row in rows.items()}
    assert score["correct"] == 13, rows["correct"]["notes"]
    assert score["wrong"] == 11 and "test_task1_time_split failed" in rows["wrong"]["notes"]
    assert score["empty"] == 0
    # The test's call into the looping function is stopped after 30 s, and only task 3 loses.
    assert score["infinite_loop"] == 10, rows["infinite_loop"]["notes"]
    assert "test_task3_metric failed" in rows["infinite_loop"]["notes"]
    assert "ran longer than 30 s and was stopped (an infinite loop" in rows["infinite_loop"]["notes"]
    assert score["edited_tests"] == 11 and "was edited" in rows["edited_tests"]["notes"]
    assert score["deleted_test"] == 13 and "was deleted: restored" in rows["deleted_test"]["notes"]
    assert score["broken_json"] == 0 and "not a valid notebook" in rows["broken_json"]["notes"]
    for student in ("correct", "wrong", "infinite_loop"):
        html = (out / "feedback" / student / f"{LAB}.html").read_text()
        assert "test_task1_time_split" in html or "time_split" in html
        assert "BEGIN HIDDEN TESTS" not in html, "feedback must not reveal the hidden tests"


def test_grade_rejects_an_unknown_lab(tmp_path: Path) -> None:
    done = run("grade", "lab99_nothing", str(tmp_path), "--out", str(tmp_path / "o"))
    assert done.returncode == 2 and "No lab called 'lab99_nothing'" in done.stderr


def test_build_labs_into_a_folder_matches_labs(tmp_path: Path) -> None:
    # One lab: tests/test_labs_in_sync.py builds every lab already (the build is the slow part).
    done = run("build-labs", "--into", str(tmp_path), "--only", LAB)
    assert done.returncode == 0, done.stderr
    assert [p.name for p in tmp_path.iterdir()] == [LAB], "--only builds that lab alone"
    assert (tmp_path / LAB / f"{LAB}.ipynb").read_text() == (ROOT / "labs" / LAB / f"{LAB}.ipynb").read_text()
