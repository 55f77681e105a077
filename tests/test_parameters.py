"""Lessons follow papermill's `parameters` convention (issue 15): papermill runs lesson 00 with an
injected capacity, and the lesson's key output moves the way it should."""
from __future__ import annotations

import ast
from pathlib import Path

import nbformat
import papermill
import pytest

ROOT = Path(__file__).resolve().parents[1]
LESSON = ROOT / "notebooks" / "00_lifecycle.ipynb"
TEST_METRICS_CELL = "1ed850f8"  # the test month's metrics, computed once, at the end of section 5


def _test_metrics(nb: nbformat.NotebookNode) -> dict[str, float]:
    cell = next(c for c in nb.cells if c.get("id") == TEST_METRICS_CELL)
    result = next(o for o in cell.outputs if o.output_type == "execute_result")
    return ast.literal_eval(result.data["text/plain"])


def test_lesson_00_has_one_parameters_cell_before_its_first_use() -> None:
    nb = nbformat.read(LESSON, as_version=4)
    tagged = [i for i, c in enumerate(nb.cells) if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1, "lesson 00 has exactly one cell tagged `parameters`"
    assert nb.cells[tagged[0]].source.startswith("CAPACITY = 0.2")
    first_use = next(i for i, c in enumerate(nb.cells) if c.cell_type == "code" and "capacity=CAPACITY" in c.source)
    assert tagged[0] < first_use


def test_papermill_runs_lesson_00_with_another_capacity(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLOPS_COURSE_WORKSPACE", str(tmp_path / "workspace"))
    out = tmp_path / "00_lifecycle_capacity_0.1.ipynb"
    papermill.execute_notebook(str(LESSON), str(out), parameters={"CAPACITY": 0.1}, kernel_name="python3",
                               cwd=str(LESSON.parent), execution_timeout=120, progress_bar=False)
    ran = nbformat.read(out, as_version=4)
    injected = [c for c in ran.cells if "injected-parameters" in c.metadata.get("tags", [])]
    assert len(injected) == 1 and "CAPACITY = 0.1" in injected[0].source, "papermill injects the value after the parameters cell"
    stored, now = _test_metrics(nbformat.read(LESSON, as_version=4)), _test_metrics(ran)
    assert now["roc_auc"] == stored["roc_auc"], "ROC AUC ranks every customer: the capacity cannot change it"
    assert now["recall_at_capacity"] < stored["recall_at_capacity"], (
        f"calling half as many customers must find fewer churners: {now} at 10% vs {stored} at 20%")


# Where issue 15 says a lesson has a natural parameter, the lesson keeps it in one cell tagged
# `parameters`, before any other cell uses it.
PARAMETERS: dict[str, tuple[str, ...]] = {
    "00_lifecycle": ("CAPACITY",),
    "10_monitoring": ("ERROR_RATIO_THRESHOLD", "LOAD_REQUESTS"),
    "11_drift": ("MONTH", "PSI_THRESHOLD"),
}


def _assigned(source: str) -> set[str]:
    return {target.id for node in ast.parse(source).body if isinstance(node, ast.Assign)
            for target in node.targets if isinstance(target, ast.Name)}


@pytest.mark.parametrize("lesson", sorted(PARAMETERS))
def test_lesson_keeps_its_parameters_in_one_tagged_cell(lesson: str) -> None:
    path = ROOT / "notebooks" / f"{lesson}.ipynb"
    if not path.exists():
        pytest.fail(f"{path.name} is missing")
    nb = nbformat.read(path, as_version=4)
    tagged = [i for i, c in enumerate(nb.cells) if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1, f"{lesson} has exactly one cell tagged `parameters` (papermill injects after it)"
    names = _assigned(nb.cells[tagged[0]].source)
    assert set(PARAMETERS[lesson]) <= names, f"the parameters cell of {lesson} defines {sorted(PARAMETERS[lesson])}"
    # Python the kernel runs: not the parameters cell itself, not a cell magic (%%writefile writes a file)
    kernel_cells = {i for i, c in enumerate(nb.cells) if c.cell_type == "code" and i != tagged[0]
                    and not c.source.lstrip().startswith(("%%", "!"))}
    for name in PARAMETERS[lesson]:
        uses = [i for i, c in enumerate(nb.cells) if i in kernel_cells
                and name in {n.id for n in ast.walk(ast.parse(c.source)) if isinstance(n, ast.Name)}]
        assert uses and min(uses) > tagged[0], f"{lesson}: {name} is used, and only after the parameters cell"
        assert not any(name in _assigned(nb.cells[i].source) for i in uses), \
            f"{lesson}: no later cell assigns {name} again (papermill's value would be overwritten)"
