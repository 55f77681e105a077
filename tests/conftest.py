"""Shared test setup: the repository root, and a workspace of its own for every test."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def root() -> Path:
    return ROOT


@pytest.fixture(autouse=True)
def own_workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Tests never touch the learner's workspace/ (or each other's): each gets its own."""
    folder = tmp_path / "workspace"
    monkeypatch.setenv("MLOPS_COURSE_WORKSPACE", str(folder))
    monkeypatch.setenv("MLOPS_COURSE_ROOT", str(ROOT))
    return folder


def _grading_cost(lab: str) -> float:
    """Seconds of notebook execution a lab's fixture grading needs: graded notebooks x the
    solution's benched time (30 s where the bench has not measured it yet)."""
    from submissions import fixtures, pack  # tests/ is on sys.path when pytest collects

    bench = ROOT / "bench" / "bench.json"
    seconds = {row["notebook"]: row["seconds"] for row in json.loads(bench.read_text())} if bench.exists() else {}
    return (len(pack(fixtures(lab))) + 2) * seconds.get(f"solutions/{lab}/{lab}.ipynb", 30.0)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The labs' fixture grading (minutes each) first, costliest first, so that under xdist the
    two workers share the long tests and the quick ones fill in at the end, instead of one worker
    starting the last long grading while the other sits idle."""
    costs = {}
    for item in items:
        if item.originalname == "test_lab_grades_as_expected":
            costs[item.nodeid] = _grading_cost(item.callspec.params["lab"])
    items.sort(key=lambda item: -costs.get(item.nodeid, 0.0))
