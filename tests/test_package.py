"""Unit tests of the mlops_course package."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import joblib
import pytest

from mlops_course import data as course_data
from mlops_course.artifacts import (ModelMetadataError, data_hash, evaluate, load_model_bundle,
                                    save_model_bundle, train_reference_model)
from mlops_course.chapters import CHAPTERS, find_chapter
from mlops_course.engines import (
    has_alertmanager, has_docker, has_kubernetes, has_prometheus, has_promtool, has_pushgateway,
    prometheus_binary, skip_message)
from mlops_course.privacy import TELEMETRY_OFF
from mlops_course.quiz import Question, feedback, quiz
from mlops_course.services import ServiceError, free_port, start_service
from mlops_course.shell import CommandFailed, sh
from mlops_course.workspace import repo_root, show_path, workspace


# --- workspace ---------------------------------------------------------------------------

def test_workspace_is_emptied_and_sandboxed(own_workspace: Path) -> None:
    folder = workspace("99_test")
    (folder / "old.txt").write_text("left over")
    again = workspace("99_test")
    assert again == own_workspace / "99_test" and list(again.iterdir()) == []
    assert os.environ["HOME"].startswith(str(own_workspace))
    for key, value in TELEMETRY_OFF.items():
        assert os.environ[key] == value
    assert os.environ["PATH"].split(os.pathsep)[0] == str(Path(sys.executable).parent)


def test_workspace_cuts_off_the_outer_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {"CI": "true", "MAKELEVEL": "2", "FORCE_COLOR": "1", "COLUMNS": "300"}.items():
        monkeypatch.setenv(name, value)
    workspace("99_test")
    for name in ("CI", "MAKELEVEL", "FORCE_COLOR", "COLUMNS"):
        assert name not in os.environ, f"{name} would change what tools print"
    assert os.environ["NO_COLOR"] == "1"


def test_workspace_rejects_bad_names() -> None:
    for bad in ("../escape", "", "Has Space", "/abs"):
        with pytest.raises(ValueError, match="chapter's folder name"):
            workspace(bad)


def test_show_path_is_relative(own_workspace: Path) -> None:
    folder = workspace("99_test")
    assert show_path(folder / "a" / "b.txt") == "workspace/99_test/a/b.txt"
    assert show_path(repo_root() / "notebooks" / "x.ipynb") == "notebooks/x.ipynb"
    assert not show_path("/etc/hostname").startswith("/")


# --- the course dataset ----------------------------------------------------------------

def test_dataset_is_deterministic_and_documented() -> None:
    first, second = course_data.load_course_data(), course_data.load_course_data()
    assert first.equals(second) and first.shape == (12000, 10)
    assert data_hash(first) == data_hash(second)
    assert set(course_data.DATA_DICTIONARY) == set(first.columns)
    assert first[course_data.TIME_COLUMN].dt.strftime("%Y-%m").unique().tolist() == course_data.MONTHS
    first.iloc[0, 2] = -1  # callers get a copy; the cache stays intact
    assert course_data.load_course_data().iloc[0, 2] != -1


def test_dataset_drifts_by_the_documented_amounts() -> None:
    reference = course_data.load_course_data("reference")
    late = course_data.load_course_data(["2024-11", "2024-12"])
    charges_shift = late["monthly_charges"].mean() - reference["monthly_charges"].mean()
    assert 12 < charges_shift < 18, "price_rise: +15 euros"
    calls_ratio = late["support_calls"].mean() / reference["support_calls"].mean()
    assert 1.45 < calls_ratio < 1.75, "support_load: x1.6"
    assert late["churned"].mean() > reference["churned"].mean() + 0.1


def test_concept_drift_hurts_a_reference_model() -> None:
    reference = course_data.load_course_data("reference")
    model = train_reference_model(reference)
    before = evaluate(model, course_data.load_course_data("2024-06"))
    after = evaluate(model, course_data.load_course_data("2024-12"))
    assert after["roc_auc"] < before["roc_auc"] - 0.03


def test_unknown_month_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="2024-01 to 2024-12"):
        course_data.load_course_data("2025-01")


# --- artifacts ---------------------------------------------------------------------------

def test_model_bundle_round_trip_and_refusal(tmp_path: Path) -> None:
    frame = course_data.load_course_data("2024-01")
    model = train_reference_model(frame)
    path = save_model_bundle(model, tmp_path / "m.joblib", version="1.0.0",
                             metrics=evaluate(model, frame), training_data=frame)
    loaded, meta = load_model_bundle(path, course_data.FEATURES)
    assert meta["version"] == "1.0.0" and meta["data_hash"] == data_hash(frame)
    with pytest.raises(ModelMetadataError, match="expects"):
        load_model_bundle(path, course_data.FEATURES[:-1])
    joblib.dump({"model": model}, tmp_path / "bare.joblib")
    with pytest.raises(ModelMetadataError, match="not a model bundle"):
        load_model_bundle(tmp_path / "bare.joblib")


# --- services ----------------------------------------------------------------------------

def test_service_starts_answers_and_stops_with_its_children(tmp_path: Path) -> None:
    port = free_port()
    command = [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"]
    with start_service(command, name="http.server", port=port, log_path=tmp_path / "s.log",
                       health_path="/", cwd=tmp_path) as service:
        assert service.is_running() and service.url.endswith(str(port))
        pid = service.process.pid
    assert not service.is_running()
    with pytest.raises(ProcessLookupError):
        os.killpg(pid, 0)


def test_a_failing_service_reports_its_log(tmp_path: Path) -> None:
    command = [sys.executable, "-c", "import sys; print('cannot bind: boom'); sys.exit(3)"]
    with pytest.raises(ServiceError, match="(?s)exited with code 3.*cannot bind: boom"):
        start_service(command, name="broken", port=free_port(), log_path=tmp_path / "b.log", timeout=10)


def test_a_silent_service_times_out_clearly(tmp_path: Path) -> None:
    command = [sys.executable, "-c", "import time; print('still starting'); time.sleep(60)"]
    with pytest.raises(ServiceError, match="(?s)did not answer /health.*still starting"):
        start_service(command, name="slow", port=free_port(), log_path=tmp_path / "s.log", timeout=2)


def test_services_die_with_the_kernel_process(tmp_path: Path) -> None:
    """A service started by a process that is killed (a crashed kernel) does not live on."""
    port = free_port()
    script = (
        "import sys, time\n"
        "from mlops_course.services import start_service\n"
        f"s = start_service([sys.executable, '-m', 'http.server', '{port}', '--bind', '127.0.0.1'],"
        f" name='h', port={port}, log_path=r'{tmp_path / 'h.log'}', health_path='/', cwd=r'{tmp_path}')\n"
        "print(s.process.pid, flush=True)\n"
        "time.sleep(60)\n"
    )
    parent = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    child_pid = int(parent.stdout.readline())
    parent.kill()
    parent.wait()
    import psutil
    gone, alive = psutil.wait_procs([psutil.Process(child_pid)], timeout=10)
    assert not alive, "the service outlived the process that started it"


# --- engines, shell, quiz, chapters ------------------------------------------------------

def test_engines_answer_false_without_an_engine(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    assert (has_docker(), has_kubernetes(), has_prometheus()) == (False, False, False)
    assert (has_promtool(), has_alertmanager(), has_pushgateway()) == (False, False, False)
    message = skip_message("a Docker engine", "docker build")
    assert "Skipped: docker build" in message
    assert "where a Docker engine is available" in message, "say where the real output can be seen"


def test_prometheus_binaries_are_found_under_debian_or_homebrew_names(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("prometheus-alertmanager", "pushgateway", "broken-node-exporter"):
        script = tmp_path / name
        script.write_text("#!/bin/sh\nexit 0\n" if "broken" not in name else "#!/bin/sh\nexit 3\n")
        script.chmod(0o755)
    (tmp_path / "node_exporter").symlink_to(tmp_path / "broken-node-exporter")
    monkeypatch.setenv("PATH", str(tmp_path))
    assert prometheus_binary("alertmanager") == str(tmp_path / "prometheus-alertmanager")  # Debian
    assert prometheus_binary("pushgateway") == str(tmp_path / "pushgateway")  # Homebrew
    assert prometheus_binary("node_exporter") is None, "a binary that does not run is not an engine"
    assert has_alertmanager() and has_pushgateway() and not has_prometheus()


def test_sh_shows_the_command_and_fails_clearly(capsys: pytest.CaptureFixture[str]) -> None:
    assert sh("echo hello") == "hello"
    assert capsys.readouterr().out == "$ echo hello\nhello\n"
    with pytest.raises(CommandFailed, match="exited with code 1"):
        sh("false")


def test_quiz_has_feedback_and_a_text_form() -> None:
    question = Question("2 + 2?", ["3", "4"], 1, "Arithmetic. Really.", "Count on your fingers.")
    assert feedback(question, 1) == "Correct. Arithmetic. Really."
    assert feedback(question, 0) == "Not quite: try again. Hint: Count on your fingers."
    assert feedback(question, None) == "Pick an answer first."
    bundle = quiz("Check", [question])._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in bundle
    assert "1. 2 + 2?" in bundle["text/plain"] and "Arithmetic" not in bundle["text/plain"]
    with pytest.raises(ValueError):
        Question("bad", ["only one"], 0, "", "a hint")
    with pytest.raises(ValueError, match="hint"):
        Question("no hint", ["x", "y"], 0, "Because.", " ")


def test_chapter_map() -> None:
    # The fifteen chapters of the course, 00 lifecycle to 14 capstone, in order.
    assert [c.number for c in CHAPTERS] == [f"{n:02d}" for n in range(15)]
    assert [c.lesson for c in CHAPTERS][9:] == ["09_airflow", "10_monitoring", "11_drift", "12_retraining_deployment",
                                               "13_responsible_ml", "14_capstone"]
    assert find_chapter("lab05_dvc").lesson == "05_dvc"
    with pytest.raises(ValueError, match="Labs are"):
        find_chapter("lab99_nothing")


def test_check_counts_stderr_in_a_test_cell_as_nbgrader_does() -> None:
    import nbformat

    from mlops_course.check import results
    test = nbformat.v4.new_code_cell("x", metadata={"nbgrader": {"grade": True, "solution": False,
                                                                  "grade_id": "test_a", "points": 2}})
    test.outputs = [nbformat.v4.new_output("stream", name="stderr", text="UserWarning: careful\n")]
    other = nbformat.v4.new_code_cell("y")
    other.outputs = [nbformat.v4.new_output("stream", name="stderr", text="noise\n")]
    tasks, errors = results(nbformat.v4.new_notebook(cells=[other, test]))
    assert not tasks[0].passed and "wrote to stderr (UserWarning: careful)" in tasks[0].message
    assert errors == [], "stderr outside a test cell is not a failure"


def test_lessons_without_the_prometheus_stack_say_which_cells_were_not_checked(root: Path) -> None:
    """`make test` where the engines are missing skips the cells that need them, naming them and the
    fix, instead of failing on outputs it cannot reproduce (PATH without /usr/bin hides them)."""
    import json
    import subprocess
    import sys

    code_cells = [c["id"] for c in json.loads((root / "notebooks/11_drift.ipynb").read_text())["cells"]
                  if c["cell_type"] == "code"]
    rule_cell = code_cells.index("909bf056")
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-p", "mlops_course.needs_engines", "-rs", "-q",
         "--nbval", "--nbval-current-env", f"notebooks/11_drift.ipynb::Cell {rule_cell}",
         "notebooks/10_monitoring.ipynb::Cell 0"],
        cwd=root, capture_output=True, text=True, timeout=120,
        env={**os.environ, "PATH": str(Path(sys.executable).parent), "PYTEST_ADDOPTS": ""})
    assert "2 skipped" in done.stdout, done.stdout[-2000:]
    assert "notebooks/11_drift.ipynb cell 909bf056 not checked: this machine lacks promtool" in done.stdout
    assert "notebooks/10_monitoring.ipynb not checked: this machine lacks prometheus" in done.stdout
    assert "apt install prometheus" in done.stdout
