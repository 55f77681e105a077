"""What the course's own tests cannot check without an engine a registry ships (the Prometheus stack).

CI and Binder always have these engines (`.ci/run` and `binder/apt.txt` install them). On a learner's
machine without them, `make test` skips exactly the checks that need them and says why, instead of
failing on outputs it could never reproduce. Loaded as a pytest plugin by the Makefile
(`-p mlops_course.needs_engines`).
"""
from __future__ import annotations

from pathlib import Path

import pytest

from mlops_course.engines import prometheus_binary

INSTALL_HINT = ("install the Prometheus stack (Debian/Ubuntu: apt install prometheus prometheus-alertmanager "
                "prometheus-pushgateway; macOS: see README, Quick start)")

# Lesson notebooks: the engines each needs, and which of its cells (ids) need them; None means every
# cell (the lesson runs the engines throughout, so no cell's stored output can be reproduced without).
LESSON_CELLS: dict[str, tuple[tuple[str, ...], frozenset[str] | None]] = {
    "10_monitoring.ipynb": (("prometheus", "promtool", "alertmanager", "pushgateway"), None),
    "11_drift.ipynb": (("promtool",), frozenset({"909bf056"})),
}

# Labs whose grading runs the engines (tests/test_labs_grading.py).
LAB_ENGINES: dict[str, tuple[str, ...]] = {
    "lab10_monitoring": ("prometheus", "promtool", "pushgateway"),
}


def missing(components: tuple[str, ...]) -> list[str]:
    """The components of the Prometheus stack this machine lacks."""
    return [component for component in components if prometheus_binary(component) is None]


def skip_reason(what: str, lacking: list[str]) -> str:
    return f"{what} not checked: this machine lacks {', '.join(lacking)}; {INSTALL_HINT}"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    lacking_by_lesson: dict[str, list[str]] = {}
    for item in items:
        lesson = Path(str(item.fspath)).name
        if lesson not in LESSON_CELLS or not hasattr(item, "cell"):
            continue
        components, cell_ids = LESSON_CELLS[lesson]
        if lesson not in lacking_by_lesson:
            lacking_by_lesson[lesson] = missing(components)
        lacking = lacking_by_lesson[lesson]
        if lacking and (cell_ids is None or item.cell.get("id") in cell_ids):
            what = f"notebooks/{lesson}" + ("" if cell_ids is None else f" cell {item.cell.get('id')}")
            item.add_marker(pytest.mark.skip(reason=skip_reason(what, lacking)))
