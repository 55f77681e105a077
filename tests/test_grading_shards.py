"""Grading beyond one machine: shards that cover a class exactly once, their merge, and the
Kubernetes Indexed Job that runs them (validated offline, as chapter 08 teaches)."""
from __future__ import annotations

import csv
import re
import subprocess
import sys
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

from mlops_course.grade import GradeRow, Submission, merge, select_shard, write_csv

ROOT = Path(__file__).resolve().parents[1]
JOB = ROOT / "deploy" / "grading" / "grade-job.yaml"


def _class(size: int) -> list[Submission]:
    return [Submission(f"student{n:02d}", Path(f"student{n:02d}.ipynb"), None) for n in range(size)]


@pytest.mark.parametrize("size, shards", [(10, 3), (2, 4), (7, 1)])
def test_shards_cover_the_class_exactly_once(size: int, shards: int) -> None:
    students = _class(size)
    picked = [sub.student for index in range(1, shards + 1) for sub in select_shard(students, (index, shards))]
    assert sorted(picked) == [sub.student for sub in students]


def test_merge_joins_shards_and_refuses_a_student_twice(tmp_path: Path) -> None:
    tests = ["test_a", "test_b"]
    for shard, names in enumerate((["bob", "alice"], ["carol"])):
        folder = tmp_path / f"shard-{shard}"
        folder.mkdir()
        write_csv([GradeRow(name, 3.0, 5.0, {"test_a": 3.0}, ["test_b failed: x"]) for name in names], tests,
                  folder / "grades.csv")
        (folder / "feedback" / names[0]).mkdir(parents=True)
        (folder / "feedback" / names[0] / "lab.html").write_text(names[0])
    merged = merge(sorted(tmp_path.glob("shard-*")), tmp_path / "all", progress=lambda _: None)
    rows = list(csv.DictReader(open(merged)))
    assert [row["student"] for row in rows] == ["alice", "bob", "carol"]
    assert rows[0]["notes"] == "test_b failed: x" and rows[0]["test_a"] == "3"
    assert (tmp_path / "all" / "feedback" / "carol" / "lab.html").read_text() == "carol"
    with pytest.raises(ValueError, match="appears in two shards"):
        merge([tmp_path / "shard-0", tmp_path / "shard-0"], tmp_path / "twice", progress=lambda _: None)


def test_cli_rejects_a_bad_shard() -> None:
    done = subprocess.run([sys.executable, "-m", "mlops_course.cli", "grade", "lab00_lifecycle", "x",
                           "--shard", "5/4"], capture_output=True, text=True)
    assert done.returncode == 2 and "I must be between 1 and N" in done.stderr


def test_indexed_job_is_valid_and_runs_every_shard() -> None:
    job = yaml.safe_load(JOB.read_text())
    kubernetes_validate.validate(job, "1.33", strict=True)
    spec = job["spec"]
    assert spec["completionMode"] == "Indexed"
    command = " ".join(spec["template"]["spec"]["containers"][0]["args"])
    count = int(re.search(r'--shard "\$\(\(JOB_COMPLETION_INDEX \+ 1\)\)/(\d+)"', command).group(1))
    assert count == spec["completions"], "--shard .../N must equal the Job's completions"
    assert "--out \"/grades/shard-${JOB_COMPLETION_INDEX}\"" in command


def test_grader_image_lints_clean() -> None:
    done = subprocess.run([str(Path(sys.executable).parent / "hadolint"), str(JOB.parent / "Dockerfile")],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
