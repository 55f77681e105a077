"""The course map: one row per chapter, in teaching order. Navigation and the README use it."""
from __future__ import annotations

from dataclasses import dataclass

BINDER_REPO = "hands-on-mlops/hands-on-mlops"
BINDER_BRANCH = "main"


@dataclass(frozen=True)
class Chapter:
    number: str
    topic: str
    title: str

    @property
    def lesson(self) -> str:
        """The lesson's folder name and notebook stem, such as ``00_lifecycle``."""
        return f"{self.number}_{self.topic}"

    @property
    def lab(self) -> str:
        """The lab's folder name and notebook stem, such as ``lab00_lifecycle``."""
        return f"lab{self.number}_{self.topic}"

    @property
    def lesson_path(self) -> str:
        return f"notebooks/{self.lesson}.ipynb"

    @property
    def lab_path(self) -> str:
        return f"labs/{self.lab}/{self.lab}.ipynb"

    @property
    def solution_path(self) -> str:
        return f"solutions/{self.lab}/{self.lab}.ipynb"


CHAPTERS: list[Chapter] = [
    Chapter("00", "lifecycle", "The ML lifecycle"),
    Chapter("01", "git", "Git for ML projects"),
    Chapter("02", "testing_ci", "Testing and CI for ML"),
    Chapter("03", "serving", "Serving a model"),
    Chapter("04", "docker", "Docker"),
    Chapter("05", "dvc", "DVC: data and pipeline versioning"),
    Chapter("06", "mlflow_tracking", "MLflow tracking"),
    Chapter("07", "mlflow_registry", "MLflow registry and serving"),
    Chapter("08", "kubernetes", "Kubernetes"),
    Chapter("09", "airflow", "Airflow pipelines"),
    Chapter("10", "monitoring", "Monitoring with Prometheus"),
    Chapter("11", "drift", "Drift detection"),
    Chapter("12", "retraining_deployment", "Continuous retraining and deployment"),
    Chapter("13", "responsible_ml", "Responsible and secure ML"),
    Chapter("14", "capstone", "Capstone: an end-to-end pipeline"),
]


def binder_url(path: str) -> str:
    """A Binder link that opens ``path`` (relative to the repo) in JupyterLab."""
    return (
        f"https://mybinder.org/v2/gh/{BINDER_REPO}/{BINDER_BRANCH}"
        f"?urlpath=lab/tree/{path}"
    )


def find_chapter(name: str) -> Chapter:
    """The chapter whose lesson or lab name is ``name`` (``00_lifecycle`` or ``lab00_lifecycle``)."""
    for chapter in CHAPTERS:
        if name in (chapter.lesson, chapter.lab, chapter.number):
            return chapter
    known = ", ".join(c.lab for c in CHAPTERS)
    raise ValueError(f"No chapter called {name!r}. Labs are: {known}.")
