"""Every lab, graded for real by nbgrader autograde through ``mlops-course grade``:
the solution scores full marks, the released lab scores 0, and each fixture loses exactly the
points of the tests its ``fails`` names (``tests/submissions.py`` has the format).

One test per lab grades that lab's whole batch, so xdist spreads the labs over its workers."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from mlops_course.grade import grade
from mlops_course.needs_engines import LAB_ENGINES, missing, skip_reason
from submissions import (FIXTURES, fixtures, labs, max_score, pack, released, solution, points_by_test,
                         with_answers, write_submission)

ROOT = Path(__file__).resolve().parents[1]
LABS = labs()
KINDS = {"alt_": 3, "wrong_": 8, "game_": 2}  # COURSE_GUIDE: at least 3 correct, 8 wrong, 2 gaming


@pytest.mark.parametrize("lab", LABS)
def test_lab_has_the_required_fixtures_and_clause_map(lab: str) -> None:
    found = fixtures(lab)
    names = [f.name for f in found]
    for prefix, least in KINDS.items():
        have = sum(n.startswith(prefix) for n in names)
        assert have >= least, f"{lab}: {have} {prefix}*.json fixtures, COURSE_GUIDE asks for {least}"
    points = points_by_test(lab)
    clauses = FIXTURES / lab / "CLAUSES.md"
    assert clauses.is_file(), f"{lab}: no CLAUSES.md (the map from each statement clause to its test)"
    text = clauses.read_text()
    for fixture in found:
        assert set(fixture.fails) <= set(points), f"{fixture.name}: fails names unknown tests {fixture.fails}"
        if fixture.name.startswith("alt_"):
            assert not fixture.fails, f"{fixture.name}: a correct answer fails nothing"
        else:
            assert fixture.fails, f"{fixture.name}: a wrong or gaming answer must fail a test"
            assert fixture.name in text, f"{lab}: CLAUSES.md does not name the mutant {fixture.name}"
    for test_id in points:
        assert re.search(rf"\b{re.escape(test_id)}\b", text), f"{lab}: CLAUSES.md does not map any clause to {test_id}"


@pytest.mark.parametrize("lab", LABS)
def test_lab_grades_as_expected(lab: str, tmp_path: Path) -> None:
    lacking = missing(LAB_ENGINES.get(lab, ()))
    if lacking:
        pytest.skip(skip_reason(f"grading {lab}", lacking))
    folder = tmp_path / "submissions"
    write_submission(folder, "reference_solution", lab, solution(lab))
    write_submission(folder, "released_unchanged", lab, released(lab))
    groups = {}
    for number, group in enumerate(pack(fixtures(lab))):
        name = group[0].name if len(group) == 1 else f"packed{number:02d}"
        groups[name] = group
        answers = {cell: code for member in group for cell, code in member.answers.items()}
        write_submission(folder, name, lab, with_answers(lab, answers, group[0].stubs))
    # Feedback is checked once, in test_cli; here only the scores matter.
    # One submission at a time per pytest worker (xdist already runs one lab per core), and room
    # for a slow shared machine: the cell limit here catches loops, not slowness.
    rows = {row.student: row for row in grade(lab, folder, tmp_path / "grades", ROOT, cell_timeout=120,
                                              progress=lambda _: None, feedback=False, workers=1)}
    full = max_score(lab)
    assert full >= 10, f"{lab}: a lab is worth at least 10 points"
    assert len(points_by_test(lab)) >= 4, f"{lab}: a lab has at least 4 graded tests"

    problems = []
    if rows["reference_solution"].score != full:
        problems.append(f"solution scored {rows['reference_solution'].score}/{full}: {rows['reference_solution'].notes}")
    if rows["released_unchanged"].score != 0:
        problems.append(f"released lab scored {rows['released_unchanged'].score}, not 0: {rows['released_unchanged'].notes}")
    points = points_by_test(lab)
    for name, group in groups.items():
        row = rows[name]
        fails = sorted({test for member in group for test in member.fails})
        zeroed = sorted(tid for tid in points if row.tests.get(tid, 0) == 0)
        if zeroed != fails or row.score != sum(p for tid, p in points.items() if tid not in fails):
            members = ", ".join(f"{m.name} (fails {m.fails})" for m in group)
            problems.append(f"{name} = {members}: failed {zeroed}, expected {fails} (score {row.score}): {row.notes}"
                            + (" -- if these mutants interact, mark one \"alone\": true" if len(group) > 1 else ""))
    assert not problems, f"{lab}:\n" + "\n".join(problems)
