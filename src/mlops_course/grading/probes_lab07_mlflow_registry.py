"""The grader's side of lab 07 (MLflow registry), for its test cells.

- ``store()``: the lab's sqlite store, reached with a client of the grader's own;
- ``register_versions(...)``: models the grader fitted itself, registered as versions of a
  fresh registered model, so a test knows what each version predicts without loading anything
  the student wrote;
- ``mlflow_run(...)``: ``mlflow run`` of the student's project, started from the student's own
  process (``student().run``), and the runs it left in the store.

Nothing here holds a test's inputs or expected values: the test cells choose them.
"""
from __future__ import annotations

import contextlib
import io
import logging
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from mlops_course.data import CATEGORICAL_FEATURES, FEATURES, NUMERIC_FEATURES, TARGET
from mlops_course.workspace import workspace_path

LAB = "lab07_mlflow_registry"


def silence_mlflow() -> None:
    """MLflow (and the alembic migrations under its sqlite store) log to stderr, which costs a
    test cell its points: keep them to errors, at the source."""
    os.environ["MLFLOW_LOGGING_LEVEL"] = "WARNING"  # read when mlflow is first imported
    os.environ["MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"] = "false"
    for name in ("mlflow", "alembic", "alembic.runtime.migration"):
        logging.getLogger(name).setLevel(logging.ERROR)


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """MLflow prints some lines ("Created version '2' of model ...") to stderr with ``print``:
    catch them while the grader (or, in a self-check, the student's code) talks to the store."""
    silence_mlflow()
    with contextlib.redirect_stderr(io.StringIO()):
        yield


def store() -> tuple[Path, str, Any]:
    """``(workspace, tracking_uri, client)`` for the lab's store ``<workspace>/mlflow.db``."""
    silence_mlflow()
    from mlflow import MlflowClient

    ws = workspace_path(LAB)
    if not (ws / "mlflow.db").is_file():
        raise AssertionError("there is no MLflow store in the lab's workspace (mlflow.db): run the setup cell first")
    uri = f"sqlite:///{ws / 'mlflow.db'}"
    return ws, uri, MlflowClient(tracking_uri=uri, registry_uri=uri)


def model_input(frame: Any) -> Any:
    """The seven feature columns as the lab's models expect them (as the setup cell's ``model_input``)."""
    types = {**{c: "float64" for c in NUMERIC_FEATURES}, **{c: "str" for c in CATEGORICAL_FEATURES}}
    return frame[FEATURES].astype(types)


def fit(classifier: Any, frame: Any) -> Any:
    """The course pipeline with ``classifier``, fitted on ``model_input(frame)``."""
    from mlops_course.artifacts import build_pipeline

    return build_pipeline(classifier).fit(model_input(frame), frame[TARGET])


def register_versions(client: Any, name: str, models: list[Any], example: Any) -> list[str]:
    """Register each of ``models`` as a version of ``name`` (deleted and created afresh), saved
    under ``<workspace>/grader_inputs/<name>/``; returns their version numbers as strings."""
    import sklearn

    with quiet():
        import mlflow.sklearn
        from mlflow.models import infer_signature

        forget(client, name)
        folder = workspace_path(LAB) / "grader_inputs" / name
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        client.create_registered_model(name)
        versions = []
        for number, model in enumerate(models, start=1):
            path = folder / f"model_{number}"
            mlflow.sklearn.save_model(model, str(path), signature=infer_signature(example, model.predict_proba(example)),
                                      pip_requirements=[f"scikit-learn=={sklearn.__version__}"])
            versions.append(str(client.create_model_version(name, source=str(path)).version))
    return versions


def set_aliases(client: Any, name: str, **aliases: str) -> None:
    """Point each alias at a version: ``set_aliases(client, name, champion="1", challenger="2")``."""
    with quiet():
        for alias, version in aliases.items():
            client.set_registered_model_alias(name, alias, version)


def alias_version(client: Any, name: str, alias: str) -> str | None:
    """The version an alias points at, as a string, or None when it points nowhere."""
    from mlflow.exceptions import MlflowException

    try:
        with quiet():
            return str(client.get_model_version_by_alias(name, alias).version)
    except MlflowException:
        return None


_RUN = """
import contextlib as _contextlib
import io as _io
import os as _os

import mlflow as _mlflow
import mlflow.projects as _projects

_saved = _os.dup(1), _os.dup(2)
with open(log, "w") as _log, _contextlib.redirect_stdout(_io.StringIO()), _contextlib.redirect_stderr(_io.StringIO()):
    _os.dup2(_log.fileno(), 1)
    _os.dup2(_log.fileno(), 2)
    try:
        _mlflow.set_tracking_uri(uri)
        _projects.run(project, entry_point="main", parameters=parameters, env_manager="local",
                      experiment_name=experiment)
        outcome = None
    except BaseException as _error:
        outcome = f"{type(_error).__name__}: {_error}"
    finally:
        _os.dup2(_saved[0], 1)
        _os.dup2(_saved[1], 2)
        _os.close(_saved[0])
        _os.close(_saved[1])
"""


def mlflow_run(student: Any, parameters: dict[str, Any], experiment: str,
               timeout: float = 170) -> tuple[str | None, str, list[Any]]:
    """``mlflow run <workspace>/churn_project -P ... --env-manager local --experiment-name
    <experiment>``, through ``mlflow.projects.run`` (the function behind that command), started
    from the student's own process (``student.run``: their ``train.py`` runs where their code
    runs, and MLflow is imported there already). Its output goes to a log file in the workspace.
    Returns ``(None, or why it failed; the end of its output; the runs of that experiment in the
    store, read with the grader's client)``."""
    ws, uri, client = store()
    log = ws / f"{experiment}.log"
    with quiet():
        outcome = student.run(_RUN, result="outcome", timeout=timeout, log=str(log), uri=uri, experiment=experiment,
                              project=str(ws / "churn_project"),
                              parameters={key: str(value) for key, value in parameters.items()})
    output = log.read_text(errors="replace")[-1500:] if log.is_file() else ""
    with quiet():
        found = client.get_experiment_by_name(experiment)
        runs = client.search_runs([found.experiment_id]) if found is not None else []
    return outcome, output, runs


def logged_model(client: Any, name: str, version: Any) -> dict[str, Any]:
    """What a registered version's files say, read as text (the model itself is never loaded):
    ``flavors``, ``inputs`` (the signature's input names, or None), ``example_columns`` (the
    input example's columns, or None), ``run_id`` and ``folder`` (the model's local folder)."""
    import json
    from urllib.parse import unquote, urlparse

    import yaml

    with quiet():
        location = client.get_model_version_download_uri(name, str(version))
        if location.startswith("file:"):
            folder = Path(unquote(urlparse(location).path))
        elif "://" not in location and ":" not in location.split("/")[0]:
            folder = Path(location)
        else:
            from mlflow.artifacts import download_artifacts

            folder = Path(download_artifacts(artifact_uri=location))
    spec = yaml.safe_load((folder / "MLmodel").read_text()) or {}
    signature = spec.get("signature") or {}
    inputs = json.loads(signature["inputs"]) if signature.get("inputs") else None
    example_info = spec.get("saved_input_example_info") or {}
    example_columns = None
    if example_info.get("artifact_path") and (folder / example_info["artifact_path"]).is_file():
        example = json.loads((folder / example_info["artifact_path"]).read_text())
        if isinstance(example, dict):
            example_columns = example.get("columns")
            if example_columns is None and isinstance(example.get("dataframe_split"), dict):
                example_columns = example["dataframe_split"].get("columns")
        elif isinstance(example, list) and example and isinstance(example[0], dict):
            example_columns = list(example[0])
    return {"flavors": sorted(spec.get("flavors") or {}),
            "inputs": [field.get("name") for field in inputs] if inputs else None,
            "example": bool(example_info), "example_columns": example_columns,
            "run_id": spec.get("run_id"), "folder": str(folder)}


def forget(client: Any, name: str) -> None:
    """Delete the registered model ``name`` (and its versions) if it exists."""
    from mlflow.exceptions import MlflowException

    with quiet():
        try:
            client.delete_registered_model(name)
        except MlflowException:
            pass
