"""Probes for the tests of lab02_testing_ci (no hidden test inputs or expected values here).

- Task 1 (mutation testing): ``run_suites`` runs the real pytest on a learner's test file
  against several implementations of ``add_tenure_band``, each in a process of its own (forked
  from one runner that imported pandas and pytest once), started where the learner's code runs
  (``student().command``). Only plain data comes back: per implementation, the exit code and
  which test ids passed and failed. ``killed`` says whether a buggy version was caught by a test
  that passes against every correct implementation (a test that fails on correct code catches
  nothing).
- Task 2: ``delivered`` is a batch the way it arrives (written to CSV and read back).
- Task 3: ``schema_check`` validates workflow text with check-jsonschema; ``load_workflow`` and
  the small readers below look into the parsed YAML.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
import textwrap
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

# ---- Task 1 ------------------------------------------------------------------------------

TENURE_BAND_SOURCE = '''
import numpy as np
import pandas as pd


def add_tenure_band(frame: pd.DataFrame) -> pd.DataFrame:
    tenure = frame["tenure_months"]
    if tenure.isna().any() or (tenure < 1).any():
        raise ValueError("tenure_months must be 1 or more, with no missing values")
    out = frame.copy()
    out["tenure_band"] = np.select([tenure <= 6, tenure <= 24], ["new", "established"],
                                   default="loyal")
    return out
'''


@dataclass
class Suite:
    """pytest's verdict on one implementation."""

    exit: int | None
    passed: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    output: str = ""
    problem: str = ""

    @property
    def green(self) -> bool:
        """Every test passed, and there was at least one."""
        return self.exit == 0 and bool(self.passed) and not self.failed

    def summary(self, lines: int = 15) -> str:
        if self.problem:
            return self.problem
        tail = "\n".join(self.output.strip().splitlines()[-lines:])
        return f"pytest exit code {self.exit}, {len(self.passed)} passed, {len(self.failed)} failed:\n{tail}"


_CACHE: dict[tuple[str, str], Suite] = {}


def run_suites(test_source: str, implementations: dict[str, str], folder: Path,
               command: Callable[[list[str]], list[str]] = lambda argv: argv,
               timeout_each: float = 30.0) -> dict[str, Suite]:
    """Run pytest on ``test_source`` against each implementation (name -> source of
    tenure_band.py). ``command`` wraps the runner's argv (``student().command``)."""
    todo = {name: source for name, source in implementations.items() if (test_source, source) not in _CACHE}
    if todo:
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "pytest.ini").write_text("[pytest]\n")
        plan = {}
        for name, source in todo.items():
            where = folder / uuid.uuid4().hex[:12]  # no name that tells a buggy version apart
            where.mkdir()
            (where / "tenure_band.py").write_text(source)
            (where / "test_tenure_band.py").write_text(textwrap.dedent(test_source))
            plan[name] = str(where)
        env = {**os.environ, "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1", "PYTHONDONTWRITEBYTECODE": "1",
               "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}
        argv = command([sys.executable, "-I", "-m", "mlops_course.grading.probes_lab02_testing_ci",
                        str(folder / "pytest.ini"), str(timeout_each), *plan.values()])
        try:
            done = subprocess.run(argv, cwd=folder, env=env, capture_output=True, text=True,
                                  timeout=timeout_each * len(plan) + 30, check=False)
            lines = done.stdout.strip().splitlines()
            found = json.loads(lines[-1]) if lines else {}
        except (subprocess.TimeoutExpired, ValueError):
            found = {}
        for name, where in plan.items():
            got = found.get(where)
            if not isinstance(got, dict):
                suite = Suite(None, problem="pytest could not run your tests (the run crashed or exited early)")
            else:
                suite = Suite(got.get("exit"), [str(t) for t in got.get("passed", [])],
                              [str(t) for t in got.get("failed", [])], str(got.get("output", "")),
                              str(got.get("problem", "")))
            _CACHE[(test_source, todo[name])] = suite
    return {name: _CACHE[(test_source, source)] for name, source in implementations.items()}


def valid_tests(results: dict[str, Suite], correct: list[str]) -> set[str]:
    """The test ids that pass against every correct implementation."""
    sets = [set(results[name].passed) - set(results[name].failed) for name in correct]
    return set.intersection(*sets) if sets else set()


def killed(results: dict[str, Suite], correct: list[str], bug: str) -> bool:
    """Whether a test that passes against every correct implementation fails against ``bug``."""
    return bool(valid_tests(results, correct) & set(results[bug].failed))


def mutate(source: str, old: str, new: str) -> str:
    """``source`` with ``old`` replaced by ``new`` (which must be there: a guard for authors)."""
    if old not in source:
        raise ValueError(f"mutation target not found: {old!r}")
    return source.replace(old, new)


# pytest's cache is not wanted, and its unraisable-exception plugin runs gc.collect() several
# times per session, which costs seconds with pandas loaded.
_QUIET_PLUGINS = ["-p", "no:cacheprovider", "-p", "no:unraisableexception"]


# The runner: ``python -I -m mlops_course.grading.probes_lab02_testing_ci INI TIMEOUT FOLDER...``
def _run_one(ini: str, folder: str) -> dict[str, Any]:
    import contextlib
    import io

    import pytest

    passed: list[str] = []
    failed: list[str] = []

    class Recorder:
        def pytest_runtest_logreport(self, report: Any) -> None:
            if report.failed:
                failed.append(report.nodeid)
            elif report.when == "call" and report.passed:
                passed.append(report.nodeid)

        def pytest_collectreport(self, report: Any) -> None:
            if report.failed:
                failed.append(report.nodeid or "<collection>")

    sys.path.insert(0, folder)
    output = io.StringIO()
    with contextlib.redirect_stdout(output), contextlib.redirect_stderr(output):
        code = pytest.main(["-q", "--no-header", *_QUIET_PLUGINS, "-c", ini, "--rootdir", folder,
                            "-W", "ignore::pytest.PytestAssertRewriteWarning",
                            os.path.join(folder, "test_tenure_band.py")], plugins=[Recorder()])
    return {"exit": int(code), "passed": sorted(set(passed) - set(failed)), "failed": sorted(set(failed)),
            "output": output.getvalue()[-4000:]}


def _child(ini: str, folder: str, write: int) -> None:
    os.setpgid(0, 0)
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):  # the learner's tests never hold the runner's stdout
        os.dup2(null, fd)
    try:
        result = _run_one(ini, folder)
    except BaseException as error:  # noqa: BLE001 - a crash is a result too
        result = {"exit": None, "passed": [], "failed": [], "output": "",
                  "problem": f"pytest could not run your tests: {type(error).__name__}: {error}"}
    data = json.dumps(result).encode()
    view = memoryview(data)
    while view:
        view = view[os.write(write, view):]
    os._exit(0)


def _warm_up(ini: str) -> None:
    """One pytest run on a test of our own, so every child starts with pytest's plugins loaded."""
    import contextlib
    import io

    import pytest

    with tempfile.TemporaryDirectory(prefix="warm-") as folder:
        Path(folder, "test_warm.py").write_text("def test_warm():\n    assert True\n")
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            pytest.main(["-q", *_QUIET_PLUGINS, "-c", ini, "--rootdir", folder, folder])


def _main(argv: list[str]) -> None:
    import select
    import signal
    import time

    import numpy  # noqa: F401 - imported once, before the fork, so each run starts fast
    import pandas  # noqa: F401
    import pytest  # noqa: F401

    ini, timeout, folders = argv[0], float(argv[1]), argv[2:]
    _warm_up(ini)
    import gc

    gc.freeze()  # what the runner loaded is never collected again, in it or in its forks
    results: dict[str, Any] = {}
    for folder in folders:
        read, write = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(read)
            _child(ini, folder, write)
        os.close(write)
        chunks, deadline, timed_out = [], time.monotonic() + timeout, False
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                timed_out = True
                break
            ready, _, _ = select.select([read], [], [], left)
            if ready:
                chunk = os.read(read, 65536)
                if not chunk:
                    break
                chunks.append(chunk)
        os.close(read)
        try:
            os.killpg(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        os.waitpid(pid, 0)
        if timed_out:
            results[folder] = {"exit": None, "passed": [], "failed": [], "output": "",
                               "problem": f"your tests ran longer than {timeout:g} s and were stopped"}
            continue
        try:
            results[folder] = json.loads(b"".join(chunks))
        except ValueError:
            results[folder] = {"exit": None, "passed": [], "failed": [], "output": "",
                               "problem": "pytest exited before reporting (does a test call sys.exit or os._exit?)"}
    sys.stdout.write("\n" + json.dumps(results) + "\n")
    sys.stdout.flush()


# ---- Task 2 ------------------------------------------------------------------------------

def delivered(frame: Any, name: str = "batch") -> Any:
    """A batch the way it arrives: written to CSV and read back (so columns have CSV dtypes)."""
    import pandas as pd

    with tempfile.TemporaryDirectory(prefix="batch-") as folder:
        path = Path(folder) / f"{name}.csv"
        frame.to_csv(path, index=False)
        return pd.read_csv(path)


# Run among the learner's names with ``student().run(VALIDATE_BATCHES, result="verdicts",
# batches={label: frame})``: for each batch, None when batch_schema accepts it, else the sorted
# "column | check | failure case" lines pandera reports (or a string when something else raised).
VALIDATE_BATCHES = """
import warnings as _warnings
import pandera.pandas as _pa
verdicts = {}
for _label, _batch in batches.items():
    try:
        with _warnings.catch_warnings():
            _warnings.simplefilter("ignore")
            batch_schema.validate(_batch, lazy=True)
        verdicts[_label] = None
    except (_pa.errors.SchemaErrors, _pa.errors.SchemaError) as _error:
        _cases = getattr(_error, "failure_cases", None)
        if hasattr(_cases, "itertuples") and {"column", "check", "failure_case"} <= set(_cases.columns):
            verdicts[_label] = sorted({f"{_c} | {_k} | {_v}" for _c, _k, _v
                                       in _cases[["column", "check", "failure_case"]].itertuples(index=False)})
        else:
            verdicts[_label] = [f"{type(_error).__name__}: {_error}"[:300]]
    except Exception as _error:
        verdicts[_label] = f"{type(_error).__name__}: {_error}"[:300]
"""


def august_batch() -> Any:
    """The visible good batch: August, with every 50th data_usage_gb missing (2%)."""
    from mlops_course.data import load_course_data

    august = load_course_data("2024-08")
    august.loc[august.index[::50], "data_usage_gb"] = None
    return delivered(august, "good_2024-08")


# ---- Task 3 ------------------------------------------------------------------------------

def schema_check(text: str, folder: Path) -> tuple[int, str]:
    """Validate workflow text with check-jsonschema and GitHub's schema: (exit code, output)."""
    path = folder / ".github" / "workflows" / "ci.yml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
    tool = Path(sys.executable).parent / "check-jsonschema"
    done = subprocess.run([str(tool) if tool.exists() else "check-jsonschema", "--builtin-schema",
                           "vendor.github-workflows", ".github/workflows/ci.yml"], cwd=folder,
                          capture_output=True, text=True, timeout=120, check=False)
    return done.returncode, (done.stdout + done.stderr).strip()


def load_workflow(text: Any) -> dict[str, Any]:
    """The workflow as a dict. YAML 1.1 reads the key ``on`` as True: it is put back."""
    import yaml

    if not isinstance(text, str):
        raise AssertionError(f"WORKFLOW must be a string holding the YAML of the workflow, not a {type(text).__name__}.")
    try:
        document = yaml.safe_load(textwrap.dedent(text))
    except yaml.YAMLError as error:
        raise AssertionError(f"WORKFLOW is not valid YAML: {error}") from None
    if not isinstance(document, dict):
        raise AssertionError("WORKFLOW is not a YAML mapping: start with `name:` and `on:`.")
    if True in document:
        document["on"] = document.pop(True)
    return document


def triggers(workflow: dict[str, Any]) -> dict[str, Any]:
    """``on:`` as a dict of event -> settings, whichever form it was written in."""
    on = workflow.get("on")
    if isinstance(on, str):
        return {on: None}
    if isinstance(on, list):
        return {str(event): None for event in on}
    return on if isinstance(on, dict) else {}


def as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [value]


def steps(job: dict[str, Any]) -> list[dict[str, Any]]:
    return [s for s in as_list(job.get("steps")) if isinstance(s, dict)]


def uses(job: dict[str, Any], action: str) -> list[dict[str, Any]]:
    """The steps of a job that use an action, such as 'actions/setup-python'."""
    return [s for s in steps(job) if str(s.get("uses", "")).split("@")[0].strip() == action]


def action_major(step: dict[str, Any]) -> int | None:
    """The major version of ``uses: owner/name@vN...``, or None when it is not a version tag."""
    ref = str(step.get("uses", "")).partition("@")[2].strip()
    found = re.fullmatch(r"v(\d+)(\.\d+)*", ref)
    return int(found.group(1)) if found else None


def run_lines(job: dict[str, Any]) -> list[str]:
    """Every line of every ``run:`` step of a job."""
    return [line.strip() for s in steps(job) for line in str(s.get("run", "") or "").splitlines()]


def make_targets(job: dict[str, Any]) -> set[str]:
    """The make targets a job's ``run`` steps call, e.g. {'lint', 'test'} for ``make lint test``."""
    targets: set[str] = set()
    for line in run_lines(job):
        for command in re.split(r"&&|\|\||;", line):
            words = command.split()
            if words[:1] == ["make"]:
                skip = False
                for word in words[1:]:
                    if skip:
                        skip = False
                    elif word in ("-C", "-f", "--directory", "--file", "-j"):
                        skip = True
                    elif "=" not in word and not word.startswith("-"):
                        targets.add(word)
    return targets


def matrix_values(job: dict[str, Any], key: str) -> list[str]:
    """The values a job's matrix gives ``key``, from the key itself and from ``include``."""
    strategy = job.get("strategy") if isinstance(job.get("strategy"), dict) else {}
    matrix = strategy.get("matrix") if isinstance(strategy.get("matrix"), dict) else {}
    values = [str(v) for v in as_list(matrix.get(key))]
    values += [str(entry[key]) for entry in as_list(matrix.get("include")) if isinstance(entry, dict) and key in entry]
    return values


def runner_labels(job: dict[str, Any]) -> list[str]:
    """The runner labels of ``runs-on`` (expressions such as ``${{ matrix.os }}`` resolved)."""
    labels = []
    for label in as_list(job.get("runs-on")):
        if isinstance(label, dict):
            labels += [str(v) for v in as_list(label.get("labels"))]
            continue
        found = re.fullmatch(r"\$\{\{\s*matrix\.([\w-]+)\s*\}\}", str(label).strip())
        labels += matrix_values(job, found.group(1)) if found else [str(label)]
    return labels


def upload_paths(step: dict[str, Any]) -> list[str]:
    """The paths an upload step names, each without a leading ``./`` or workspace prefix."""
    paths = []
    for line in str((step.get("with") or {}).get("path", "")).splitlines():
        line = line.strip()
        for prefix in ("${{ github.workspace }}/", "${{github.workspace}}/", "./"):
            if line.startswith(prefix):
                line = line[len(prefix):]
        if line:
            paths.append(line)
    return paths


if __name__ == "__main__":
    _main(sys.argv[1:])
