"""Shared test setup: the repository root, and a workspace of its own for every test."""
from __future__ import annotations

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
