"""Every lab, graded for real by nbgrader autograde through ``mlops-course grade``:
the solution scores full marks, the released lab scores 0, each wrong fixture loses
points (exactly its expected score) and each alternative correct answer scores full marks.

One test per lab grades that lab's whole batch, so xdist spreads the labs over its workers."""
from __future__ import annotations

from pathlib import Path

import pytest

from mlops_course.grade import grade
from submissions import fixtures, labs, max_score, released, solution, write_submission, with_answers

ROOT = Path(__file__).resolve().parents[1]
LABS = labs()


def test_every_lab_has_the_required_fixtures() -> None:
    assert LABS, "no labs found in solutions/"
    for lab in LABS:
        names = [f.name for f in fixtures(lab)]
        assert sum(n.startswith("wrong_") for n in names) >= 2, f"{lab}: needs 2+ wrong_*.json fixtures"
        assert any(n.startswith("alt_") for n in names), f"{lab}: needs an alt_*.json fixture"
        for fixture in fixtures(lab):
            if fixture.name.startswith("wrong_"):
                assert fixture.expected_score < max_score(lab), f"{fixture.name}: a wrong answer must lose points"
            if fixture.name.startswith("alt_"):
                assert fixture.expected_score == max_score(lab), f"{fixture.name}: an alternative answer gets full marks"


@pytest.mark.parametrize("lab", LABS)
def test_lab_grades_as_expected(lab: str, tmp_path: Path) -> None:
    folder = tmp_path / "submissions"
    write_submission(folder, "reference_solution", lab, solution(lab))
    write_submission(folder, "released_unchanged", lab, released(lab))
    for fixture in fixtures(lab):
        write_submission(folder, fixture.name, lab, with_answers(lab, fixture.answers))
    rows = {row.student: row for row in grade(lab, folder, tmp_path / "grades", ROOT, cell_timeout=60,
                                              progress=lambda _: None)}
    full = max_score(lab)
    assert full >= 10, f"{lab}: a lab is worth at least 10 points"
    assert len(rows["reference_solution"].tests) >= 4, f"{lab}: a lab has at least 4 graded tests"

    problems = []
    if rows["reference_solution"].score != full:
        problems.append(f"solution scored {rows['reference_solution'].score}/{full}: {rows['reference_solution'].notes}")
    if rows["released_unchanged"].score != 0:
        problems.append(f"released lab scored {rows['released_unchanged'].score}, not 0: {rows['released_unchanged'].notes}")
    for fixture in fixtures(lab):
        row = rows[fixture.name]
        if row.score != fixture.expected_score:
            problems.append(f"{fixture.name} ({fixture.description}) scored {row.score}, "
                            f"expected {fixture.expected_score}: {row.notes}")
    assert not problems, f"{lab}:\n" + "\n".join(problems)
