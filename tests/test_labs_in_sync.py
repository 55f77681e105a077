"""labs/ is generated from solutions/ and never edited by hand; it holds no answers."""
from __future__ import annotations

from pathlib import Path

import pytest

from mlops_course.labs import differences, generate_lab, solution_folders

ROOT = Path(__file__).resolve().parents[1]
FOLDERS = solution_folders(ROOT)


@pytest.mark.parametrize("folder", FOLDERS, ids=[f.name for f in FOLDERS])
def test_lab_matches_a_fresh_build(folder: Path, tmp_path: Path) -> None:
    built = generate_lab(folder, tmp_path)
    assert (ROOT / "labs" / folder.name).is_dir(), f"labs/{folder.name} is missing: run mlops-course build-labs"
    diff = differences(built, ROOT / "labs" / folder.name)
    assert not diff, f"labs/{folder.name} is out of date ({diff}): run mlops-course build-labs"


def test_every_lab_has_a_solution() -> None:
    labs = sorted(p.name for p in (ROOT / "labs").glob("lab*"))
    assert labs == [f.name for f in FOLDERS]


@pytest.mark.parametrize("path", sorted((ROOT / "labs").rglob("*.ipynb")), ids=lambda p: p.parent.name)
def test_student_version_has_no_answers(path: Path) -> None:
    text = path.read_text()
    for marker in ("BEGIN SOLUTION", "END SOLUTION", "BEGIN HIDDEN TESTS", "END HIDDEN TESTS"):
        assert marker not in text, f"{path.name} leaks '{marker}'"
