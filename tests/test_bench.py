"""``mlops-course bench`` measures for real: a tiny notebook is executed in a fresh kernel."""
from __future__ import annotations

from pathlib import Path

import nbformat

from mlops_course.bench import MEMORY_MIB, measure, table


def _notebook(path: Path, source: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(source)]), path)
    return path


def test_a_busy_notebook_is_timed_and_its_cpu_counted(tmp_path: Path) -> None:
    busy = _notebook(tmp_path / "notebooks" / "busy.ipynb",
                     "import time\nend = time.process_time() + 1.5\n"
                     "while time.process_time() < end:\n    pass")
    result = measure(busy, "lesson", tmp_path)
    assert result.ok, result.error
    assert result.notebook == "notebooks/busy.ipynb"
    assert result.cpu_seconds >= 1.5, "the kernel's CPU time was not counted"
    assert result.seconds >= 1.5
    assert 0 < result.peak_mib < MEMORY_MIB
    assert result.within_budget
    rendered = table([result])
    assert "| `notebooks/busy.ipynb` | lesson |" in rendered and "load average" in rendered


def test_a_failing_notebook_is_reported_with_its_error(tmp_path: Path) -> None:
    broken = _notebook(tmp_path / "solutions" / "lab99" / "lab99.ipynb",
                       "raise RuntimeError('the model file is missing')")
    result = measure(broken, "solution", tmp_path)
    assert not result.ok and not result.within_budget
    assert "the model file is missing" in result.error or "RuntimeError" in result.error, result.error
    assert "FAILED" in table([result])
