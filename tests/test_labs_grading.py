"""Every lab, graded for real by nbgrader autograde through ``mlops-course grade``:
the solution scores full marks, the released lab scores 0, each wrong fixture loses
points (exactly its expected score) and each alternative correct answer scores full marks."""
from __future__ import annotations

import csv
from pathlib import Path

import pytest

from mlops_course.grade import grade
from submissions import fixtures, labs, max_score, released, solution, write_submission, with_answers

LABS = labs()


@pytest.fixture(scope="module", params=LABS)
def graded(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> tuple[str, dict]:
    """Grade one lab's whole batch (solution, released lab and every fixture) once per module."""
    lab = request.param
    folder = tmp_path_factory.mktemp(f"{lab}-submissions")
    write_submission(folder, "reference_solution", lab, solution(lab))
    write_submission(folder, "released_unchanged", lab, released(lab))
    for fixture in fixtures(lab):
        write_submission(folder, fixture.name, lab, with_answers(lab, fixture.answers))
    out = tmp_path_factory.mktemp(f"{lab}-grades")
    rows = grade(lab, folder, out, Path(__file__).resolve().parents[1], cell_timeout=60,
                 progress=lambda _: None)
    return lab, {row.student: row for row in rows}


def test_every_lab_has_the_required_fixtures() -> None:
    assert LABS, "no labs found in solutions/"
    for lab in LABS:
        names = [f.name for f in fixtures(lab)]
        assert sum(n.startswith("wrong_") for n in names) >= 2, f"{lab}: needs 2+ wrong_*.json fixtures"
        assert any(n.startswith("alt_") for n in names), f"{lab}: needs an alt_*.json fixture"


def test_lab_size(graded: tuple[str, dict]) -> None:
    lab, rows = graded
    assert max_score(lab) >= 10, f"{lab}: a lab is worth at least 10 points"
    assert len(rows["reference_solution"].tests) >= 4, f"{lab}: a lab has at least 4 graded tests"


def test_solution_scores_full_marks(graded: tuple[str, dict]) -> None:
    lab, rows = graded
    row = rows["reference_solution"]
    assert row.score == max_score(lab), f"{lab} solution: {row.score}/{row.max_score}: {row.notes}"


def test_released_lab_scores_zero(graded: tuple[str, dict]) -> None:
    lab, rows = graded
    row = rows["released_unchanged"]
    assert row.score == 0, f"{lab} released lab should score 0, got {row.score}: {row.notes}"


def test_fixtures_score_as_expected(graded: tuple[str, dict]) -> None:
    lab, rows = graded
    full = max_score(lab)
    for fixture in fixtures(lab):
        row = rows[fixture.name]
        if fixture.name.startswith("wrong_"):
            assert fixture.expected_score < full, f"{fixture.name}: a wrong answer must lose points"
        if fixture.name.startswith("alt_"):
            assert fixture.expected_score == full, f"{fixture.name}: an alternative answer gets full marks"
        assert row.score == fixture.expected_score, (
            f"{lab}/{fixture.name} ({fixture.description}): scored {row.score}, "
            f"expected {fixture.expected_score}. Notes: {row.notes}"
        )
