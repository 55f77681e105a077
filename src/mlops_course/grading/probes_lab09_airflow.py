"""Lab 09 (Airflow): how the tests load a learner's DAG files and run them.

A DAG file is Python, so loading it runs the learner's code. The tests therefore never import
it themselves: they start one **Airflow runner** process through ``student().command`` (the
learner's sandbox when grading), which imports Airflow once, migrates its own sqlite metadata
database, and then answers requests on a pipe:

- ``load``: parse the DAG folder with Airflow's ``DagBag`` and describe each DAG as plain data
  (ids, schedule, catchup, default args, tasks, their retries, owners and dependencies);
- ``test``: run one DAG with ``dag.test(run_conf=...)`` and return the run's id;
- ``integrity``: run the learner's pytest file once per DAG folder, with a ``dagbag`` fixture.

Task states and XComs are **not** taken from the runner's word: the test cell reads them from the
metadata database that Airflow itself wrote (``run_states``, ``run_xcoms``, with ``sqlite3``).
Importing Airflow costs seconds, so one runner serves every test cell of a notebook, and files are
copied into the runner's own folder before each request. Nothing here holds a hidden input or an
expected value: those stay in the test cells.
"""
from __future__ import annotations

import atexit
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any, Callable

__all__ = ["airflow_env", "Runner", "runner", "dag_summary", "run_dag", "run_states", "run_xcoms",
           "run_integrity", "good_dag", "GOOD_DAG"]

Wrap = Callable[[list[str]], list[str]]


def airflow_env(home: str | os.PathLike[str], dags: str | os.PathLike[str]) -> dict[str, str]:
    """The environment the lab runs Airflow in: everything local, quiet, and offline."""
    home = Path(home)
    return {
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(dags),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGBAG_IMPORT_TIMEOUT": "20",
        "AIRFLOW__LOGGING__LOGGING_LEVEL": "ERROR",
        "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(home / "logs"),
        "AIRFLOW__CORE__ALLOWED_DESERIALIZATION_CLASSES": "airflow.*",
        "SCARF_ANALYTICS": "false",
        "DO_NOT_TRACK": "1",
    }


# ----------------------------------------------------------------------------------------------
# The runner: this module run as a program, in the learner's sandbox
# ----------------------------------------------------------------------------------------------

def _plain(value: Any) -> Any:
    """A JSON-safe version of an attribute (timedeltas as seconds, anything else as its repr)."""
    import datetime as dt

    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [_plain(v) for v in value]
    return repr(value)


def _describe(dag: Any) -> dict[str, Any]:
    timetable = dag.timetable
    tasks = {}
    for task in dag.tasks:
        tasks[task.task_id] = {
            "operator": type(task).__name__,
            "retries": _plain(task.retries),
            "retry_delay": _plain(task.retry_delay),
            "owner": _plain(task.owner),
            "trigger_rule": str(getattr(task.trigger_rule, "value", task.trigger_rule)),
            "upstream": sorted(task.upstream_task_ids),
            "downstream": sorted(task.downstream_task_ids),
        }
    return {
        "dag_id": dag.dag_id,
        "file": Path(dag.fileloc).name,
        "schedule": _plain(dag.schedule if isinstance(dag.schedule, (str, type(None))) else repr(dag.schedule)),
        "timetable": type(timetable).__name__,
        "cron": getattr(timetable, "expression", None),
        "timezone": str(getattr(timetable, "timezone", "") or "") or None,
        "catchup": _plain(dag.catchup),
        "start_date": _plain(dag.start_date),
        "default_args": _plain(dict(dag.default_args or {})),
        "params": _plain({k: dag.params.get(k) for k in dag.params}),
        "tasks": tasks,
    }


def _serve() -> None:  # pragma: no cover - runs in the runner process
    reply = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)  # whatever the learner's code prints goes to the log, not into the replies
    sys.stdout = sys.stderr
    import logging

    logging.disable(logging.WARNING)
    from airflow.utils import db

    db.upgradedb()
    from airflow.dag_processing.dagbag import DagBag

    def load(request: dict[str, Any]) -> dict[str, Any]:
        bag = DagBag(dag_folder=request["folder"])
        return {"dags": {i: _describe(d) for i, d in bag.dags.items()},
                "import_errors": {Path(k).name: str(v)[-1500:] for k, v in bag.import_errors.items()}}

    def test(request: dict[str, Any]) -> dict[str, Any]:
        bag = DagBag(dag_folder=request["folder"])
        dag = bag.dags.get(request["dag_id"])
        if dag is None:
            return {"error": f"no DAG {request['dag_id']!r}",
                    "import_errors": {Path(k).name: str(v)[-1500:] for k, v in bag.import_errors.items()}}
        run = dag.test(run_conf=request.get("conf") or None)
        return {"run_id": run.run_id, "state": str(run.state)}

    def integrity(request: dict[str, Any]) -> dict[str, Any]:
        import pytest

        folders = list(request["folders"])

        class Cases:
            def pytest_generate_tests(self, metafunc: Any) -> None:
                if "dagbag" in metafunc.fixturenames:
                    metafunc.parametrize("dagbag", folders, ids=[f"case{i}" for i in range(len(folders))],
                                         indirect=True)

            @pytest.fixture
            def dagbag(self, request: Any) -> Any:
                return DagBag(dag_folder=request.param)

        class Outcomes:
            def __init__(self) -> None:
                self.seen: dict[str, dict[str, int]] = {}

            @pytest.hookimpl(hookwrapper=True)
            def pytest_runtest_makereport(self, item: Any, call: Any) -> Any:
                outcome = yield
                report = outcome.get_result()
                if report.when == "call" or report.outcome != "passed":
                    params = getattr(getattr(item, "callspec", None), "params", {}) or {}
                    folder = params.get("dagbag")
                    case = f"case{folders.index(folder)}" if folder in folders else "none"
                    counts = self.seen.setdefault(case, {"passed": 0, "failed": 0})
                    counts["passed" if report.outcome == "passed" else "failed"] += 1

        outcomes = Outcomes()
        code = pytest.main(["-q", "-p", "no:cacheprovider", "--import-mode=importlib", "--rootdir",
                            str(Path(request["test_file"]).parent), request["test_file"]],
                           plugins=[Cases(), outcomes])
        return {"exit": int(code), "cases": outcomes.seen}

    handlers = {"load": load, "test": test, "integrity": integrity}
    reply.write(json.dumps({"ready": True}) + "\n")
    for line in sys.stdin:
        request = json.loads(line)
        try:
            answer = {"ok": handlers[request["op"]](request)}
        except BaseException as error:  # noqa: BLE001 - any failure is an answer for the test
            answer = {"error": f"{type(error).__name__}: {error}"[:1500]}
        reply.write(json.dumps(answer, default=repr) + "\n")


# ----------------------------------------------------------------------------------------------
# The test cells' side
# ----------------------------------------------------------------------------------------------

class RunnerError(AssertionError):
    """The runner could not answer; the message says why."""


class Runner:
    """One Airflow runner process, with its own folder, metadata database and DAG folder."""

    def __init__(self, base: Path, wrap: Wrap | None = None, timeout: float = 60.0) -> None:
        self.folder = base / f"runner-{uuid.uuid4().hex[:8]}"
        self.home = self.folder / "airflow"
        self.dags = self.folder / "dags"
        for path in (self.home, self.dags):
            path.mkdir(parents=True)
        self.log_path = self.folder / "runner.log"
        env = {**os.environ, **airflow_env(self.home, self.dags), "PYTHONWARNINGS": "ignore",
               "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1", "PYTHONDONTWRITEBYTECODE": "1"}
        argv = (wrap or (lambda a: a))([sys.executable, "-m", "mlops_course.grading.probes_lab09_airflow", "serve"])
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(argv, cwd=self.folder, env=env, stdin=subprocess.PIPE,
                                            stdout=subprocess.PIPE, stderr=log, text=True, start_new_session=True)
        atexit.register(self.stop)
        self.timeout = timeout
        first = self._read()
        if not first.get("ready"):
            raise RunnerError(f"Airflow did not start: {self._log_tail()}")

    def _log_tail(self) -> str:
        try:
            lines = [l for l in self.log_path.read_text(errors="replace").splitlines() if l.strip()]
        except OSError:
            lines = []
        return " | ".join(lines[-5:])[-800:] or "no log"

    def _read(self) -> dict[str, Any]:
        import selectors

        with selectors.DefaultSelector() as sel:
            sel.register(self.process.stdout, selectors.EVENT_READ)
            if not sel.select(self.timeout):
                self.stop()
                raise RunnerError(f"Airflow did not answer within {self.timeout:.0f} s (a task that never ends?)")
        line = self.process.stdout.readline()
        if not line:
            raise RunnerError(f"the Airflow runner stopped: {self._log_tail()}")
        return json.loads(line)

    def ask(self, request: dict[str, Any]) -> dict[str, Any]:
        if self.process.poll() is not None:
            raise RunnerError(f"the Airflow runner stopped: {self._log_tail()}")
        self.process.stdin.write(json.dumps(request) + "\n")
        self.process.stdin.flush()
        answer = self._read()
        if "error" in answer:
            raise RunnerError(answer["error"])
        return answer["ok"]

    def stop(self) -> None:
        if self.process.poll() is None:
            try:
                os.killpg(self.process.pid, signal.SIGKILL)
            except OSError:
                pass
            self.process.wait(timeout=10)

    def put(self, files: dict[str, str | os.PathLike[str]]) -> Path:
        """Copy DAG files (name -> source path) into the runner's DAG folder, and only them."""
        for old in self.dags.iterdir():
            if old.is_dir():
                shutil.rmtree(old)
            else:
                old.unlink()
        for name, source in files.items():
            if Path(source).is_file():
                shutil.copyfile(source, self.dags / name)
        return self.dags


_RUNNERS: dict[str, Runner] = {}


def runner(base: str | os.PathLike[str], wrap: Wrap | None = None) -> Runner:
    """The runner for this workspace, started once (Airflow's import is slow)."""
    key = str(Path(base).resolve())
    found = _RUNNERS.get(key)
    if found is None or found.process.poll() is not None:
        Path(key).mkdir(parents=True, exist_ok=True)
        found = _RUNNERS[key] = Runner(Path(key), wrap)
    return found


def _need(path: Path, what: str) -> None:
    if not path.is_file():
        raise AssertionError(f"There is no {path.name} in workspace/lab09_airflow/{path.parent.name}/: run your answer "
                             f"cell that writes it (the DAG {what}).")


def dag_summary(run: Runner, dag_file: str | os.PathLike[str], dag_id: str) -> dict[str, Any]:
    """Load ``dag_file`` alone with Airflow's DagBag and describe the DAG ``dag_id`` as plain data."""
    dag_file = Path(dag_file)
    _need(dag_file, dag_id)
    folder = run.put({dag_file.name: dag_file})
    found = run.ask({"op": "load", "folder": str(folder)})
    errors = found["import_errors"]
    assert not errors, (f"Airflow's DagBag cannot import {dag_file.name}: "
                        + " | ".join(str(v).strip().splitlines()[-1] for v in errors.values()))
    assert dag_id in found["dags"], (f"{dag_file.name} imports, but defines the DAGs {sorted(found['dags'])}, "
                                     f"not {dag_id!r}: check the dag_id.")
    return found["dags"][dag_id]


def run_dag(run: Runner, dag_file: str | os.PathLike[str], dag_id: str, conf: dict[str, Any] | None = None) -> str:
    """Run the DAG ``dag_id`` of ``dag_file`` once with ``dag.test(run_conf=conf)``; its run id."""
    dag_file = Path(dag_file)
    _need(dag_file, dag_id)
    folder = run.put({dag_file.name: dag_file})
    try:
        done = run.ask({"op": "test", "folder": str(folder), "dag_id": dag_id, "conf": conf or {}})
    except RunnerError as error:
        raise AssertionError(f"dag.test() on {dag_id} failed: {error}") from None
    if "error" in done:
        raise AssertionError(f"{dag_file.name}: {done['error']}; import errors: {done.get('import_errors')}")
    return done["run_id"]


def _db(run: Runner) -> sqlite3.Connection:
    return sqlite3.connect(f"file:{run.home / 'airflow.db'}?mode=ro", uri=True)


def run_states(run: Runner, dag_id: str, run_id: str) -> dict[str, str]:
    """Each task's final state in a run, as Airflow's metadata database records it."""
    with _db(run) as db:
        rows = db.execute("SELECT task_id, state FROM task_instance WHERE dag_id = ? AND run_id = ?",
                          (dag_id, run_id)).fetchall()
    return {task: state or "none" for task, state in rows}


def run_xcoms(run: Runner, dag_id: str, run_id: str) -> dict[tuple[str, str], Any]:
    """Every XCom a run pushed, ``(task_id, key) -> value``, from the metadata database."""
    with _db(run) as db:
        rows = db.execute("SELECT task_id, key, value FROM xcom WHERE dag_id = ? AND run_id = ?",
                          (dag_id, run_id)).fetchall()
    found = {}
    for task, key, value in rows:
        try:
            found[(task, key)] = json.loads(value) if isinstance(value, (str, bytes)) else value
        except ValueError:
            found[(task, key)] = value
    return found


def run_integrity(run: Runner, test_file: str | os.PathLike[str], cases: list[dict[str, str]]) -> list[dict[str, int]]:
    """Run the learner's integrity test file once per DAG folder in ``cases`` (file name -> text); for each
    folder, how many of its tests passed and failed (a folder name that gives the case away is never used)."""
    test_file = Path(test_file)
    if not test_file.is_file():
        raise AssertionError(f"There is no {test_file.name}: run the cell that writes your integrity test.")
    where = run.folder / f"integrity-{uuid.uuid4().hex[:8]}"
    (where / "tests").mkdir(parents=True)
    copy = where / "tests" / f"test_dag_integrity_{uuid.uuid4().hex[:8]}.py"  # a new module name each run
    shutil.copyfile(test_file, copy)
    folders = []
    for files in cases:
        folder = where / uuid.uuid4().hex[:10]
        folder.mkdir()
        for name, text in files.items():
            (folder / name).write_text(text)
        folders.append(str(folder))
    found = run.ask({"op": "integrity", "test_file": str(copy),
                     "folders": folders})
    seen = found["cases"]
    return [seen.get(f"case{i}", {"passed": 0, "failed": 0}) for i in range(len(cases))]


# A DAG file that follows the house rules of task 4; the test cells derive their folders from it.
GOOD_DAG = """\
import pendulum
from airflow.sdk import DAG
from airflow.providers.standard.operators.empty import EmptyOperator

with DAG("{dag_id}", schedule="@daily", start_date=pendulum.datetime(2024, 1, 1, tz="UTC"),
         catchup=False, default_args={{"owner": "{owner}", "retries": {retries}}}, tags=["lab09"]) as dag:
    first = EmptyOperator(task_id="first")
    second = EmptyOperator(task_id="second"{extra})
    first >> second
"""


def good_dag(dag_id: str = "good", owner: str = "mlops", retries: int = 2, extra: str = "") -> str:
    """The text of a correct DAG file; ``extra`` adds arguments to its second task."""
    return GOOD_DAG.format(dag_id=dag_id, owner=owner, retries=retries, extra=extra)


if __name__ == "__main__":  # pragma: no cover
    if sys.argv[1:] == ["serve"]:
        _serve()
