"""Lab 03's probes: run a learner's ``app.py`` and ``schemas.py`` as their own processes.

- ``running_app(folder)`` starts ``uvicorn app:app`` in ``folder`` on a free loopback port,
  waits until the server answers HTTP at all (any status code: readiness depends on no route of
  the app, not ``/health`` and not FastAPI's ``/openapi.json``, which an app may switch off),
  yields an ``httpx.Client`` and always stops the server and its children.
- ``start_app(folder)`` and ``came_up(service)`` start an app without waiting and later say
  whether it came up at all (for "must refuse to start"), so it can start beside another.
- ``validate_records(schemas_py, records)`` imports ``schemas.py`` in a fresh interpreter and
  reports, as plain data, what ``Customer`` does with each record.

Test cells pass ``wrap=student().command`` so that, when grading, the processes run where the
student's code runs. This module holds no test inputs and no expected values.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from mlops_course.grading.app_process import AppDidNotStart, no_wrap, reason_from_log
from mlops_course.services import Service, die_with_parent, free_port
from mlops_course.workspace import show_path

Wrap = Callable[[list[str]], list[str]]
_MARKER = "@@lab03-probe@@"


_LAUNCH = ("import os, sys; os.chdir(sys.argv[1]); sys.argv = ['uvicorn', *sys.argv[2:]]; "
           "from uvicorn.main import main; main()")


def _start(folder: Path, wrap: Wrap, log_name: str) -> Service:
    port = free_port()
    # The launcher changes into ``folder`` itself: the sandbox's prefix sets its own working folder.
    argv = [sys.executable, "-c", _LAUNCH, str(folder), "app:app", "--app-dir", str(folder),
            "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"]
    log_path = folder / "logs" / log_name
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "wb") as log:
        process = subprocess.Popen(wrap(argv), cwd=folder, stdin=subprocess.DEVNULL, stdout=log,
                                   stderr=subprocess.STDOUT, start_new_session=True,
                                   preexec_fn=die_with_parent)
    return Service(name="lab03-app", port=port, process=process, log_path=log_path)


def _wait(service: Service, timeout: float) -> str | None:
    """None once the server answers any HTTP request; else why it did not."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if service.process.poll() is not None:
            return f"it exited with code {service.process.returncode}"
        try:
            httpx.get(service.url + "/__grader_ready__", timeout=2.0)
            return None
        except httpx.HTTPError:
            time.sleep(0.2)
    return f"it did not answer HTTP within {timeout:.0f} s"


@contextmanager
def running_app(folder: str | os.PathLike[str] = ".", *, wrap: Wrap | None = None,
                timeout: float = 40.0) -> Iterator[httpx.Client]:
    """Start ``uvicorn app:app`` in ``folder``, yield a client on its URL, always stop it."""
    where = Path(folder).resolve()
    if not (where / "app.py").is_file():
        raise AppDidNotStart(f"There is no app.py in {show_path(where)}: run the cell that writes it "
                             "(%%writefile app.py).")
    service = _start(where, wrap or no_wrap, "uvicorn.log")
    try:
        problem = _wait(service, timeout)
        if problem is not None:
            raise AppDidNotStart(f"Your app.py did not start with `uvicorn app:app` ({problem}): "
                                 f"{reason_from_log(service.log_path, 'the log is empty')}. "
                                 f"The whole log is in {show_path(service.log_path)}.")
        with httpx.Client(base_url=service.url, timeout=15.0) as client:
            yield client
    finally:
        service.stop()


def start_app(folder: str | os.PathLike[str], *, wrap: Wrap | None = None) -> Service:
    """Start ``uvicorn app:app`` in ``folder`` without waiting (``came_up`` waits). Stop the
    returned service yourself, in a ``finally``."""
    return _start(Path(folder).resolve(), wrap or no_wrap, "uvicorn-start.log")


def came_up(service: Service, timeout: float = 40.0) -> bool:
    """Whether a service from ``start_app`` answers HTTP (False if it exited first)."""
    return _wait(service, timeout) is None


_VALIDATE = r'''
import importlib.util, json, sys
import pydantic
records = json.loads(sys.stdin.read())
spec = importlib.util.spec_from_file_location("schemas", sys.argv[1])
module = importlib.util.module_from_spec(spec)
sys.modules["schemas"] = module
try:
    spec.loader.exec_module(module)
except BaseException as error:
    out = {"import_error": (f"{type(error).__name__}: {error}" if str(error) else
                            f"{type(error).__name__} (is the cell that writes it still the stub?)")[:500]}
else:
    Customer = getattr(module, "Customer", None)
    if not hasattr(module, "Customer"):
        out = {"missing": True}
    elif not (isinstance(Customer, type) and issubclass(Customer, pydantic.BaseModel)):
        out = {"not_a_model": repr(Customer)[:200]}
    else:
        adapter = pydantic.TypeAdapter(Customer)
        results = []
        for record in records:
            try:
                parsed = adapter.validate_python(record)
            except pydantic.ValidationError as error:
                results.append({"accepted": False, "locs": [[str(p) for p in e["loc"]] for e in error.errors()],
                                "error": str(error)[:400]})
            except Exception as error:
                results.append({"accepted": False, "raised": f"{type(error).__name__}: {error}"[:400]})
            else:
                try:
                    values = json.loads(json.dumps(adapter.dump_python(parsed, mode="json"), default=str))
                except Exception as error:
                    values = {"__dump_error__": f"{type(error).__name__}: {error}"[:200]}
                results.append({"accepted": True, "values": values})
        out = {"fields": [str(name) for name in Customer.model_fields], "results": results}
sys.stdout.write("\n" + MARKER + json.dumps(out, default=str) + "\n")
sys.stdout.flush()
'''.replace("MARKER", repr(_MARKER))


def validate_records(schemas_py: str | os.PathLike[str], records: Sequence[dict[str, Any]], *,
                     wrap: Wrap | None = None, timeout: float = 60.0) -> dict[str, Any]:
    """Import ``schemas_py`` in a fresh, isolated interpreter and validate each record with its
    ``Customer``. Returns ``{"fields": [...], "results": [{"accepted": bool, "values" | "locs" ...}]}``,
    or ``{"import_error": ...}``, ``{"missing": True}``, ``{"not_a_model": ...}``."""
    path = Path(schemas_py).resolve()
    argv = (wrap or no_wrap)([sys.executable, "-I", "-c", _VALIDATE, str(path)])
    try:
        done = subprocess.run(argv, input=json.dumps(list(records)), capture_output=True, text=True,
                              timeout=timeout, cwd=path.parent, start_new_session=True)
    except subprocess.TimeoutExpired:
        return {"import_error": f"importing schemas.py and validating took longer than {timeout:.0f} s"}
    for line in reversed(done.stdout.splitlines()):
        if line.startswith(_MARKER):
            return json.loads(line[len(_MARKER):])
    tail = (done.stderr.strip().splitlines() or ["(no output)"])[-1]
    return {"import_error": f"the check of schemas.py stopped early (exit code {done.returncode}): {tail[:300]}"}
