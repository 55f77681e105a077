"""``student()``: what a test cell uses to reach the student's code.

In JupyterLab and in ``mlops-course check`` it is a view on the kernel's own names, so the
visible tests work as a self-check. Under ``mlops-course grade`` the test cells run in a
grading kernel where no student code has run, and ``student()`` is a client of the student's
own kernel: every call goes there and only plain data comes back (``plain.py``).
"""
from __future__ import annotations

import ast
import base64
import contextlib
import io
import json
import os
import time
from pathlib import Path
from typing import Any

from mlops_course.grading import student_side
from mlops_course.grading.plain import loads

CONNECTION_ENV = "MLOPS_COURSE_STUDENT_KERNEL"
SANDBOX_ENV = "MLOPS_COURSE_STUDENT_SANDBOX"
DEFAULT_TIMEOUT = 30.0


class StudentError(AssertionError):
    """The student's code could not give the test an answer; the message says why."""


class StudentRaised(StudentError):
    """The student's code raised. ``types`` lists the exception's class and its bases."""

    def __init__(self, what: str, types: list[str], message: str, where: str = "") -> None:
        self.types, self.message, self.where = types, message, where
        at = f" (at {where})" if where else ""
        if types[0] == "NotImplementedError" and not message:
            super().__init__(f"{what} is still the stub: replace `raise NotImplementedError()` with your code")
        else:
            super().__init__(f"{what} raised {types[0]}: {message}{at}")

    def is_a(self, name: str) -> bool:
        """Whether the exception is a ``name`` (or a subclass of it)."""
        return name in self.types


def _describe(request: dict[str, Any]) -> str:
    if request["op"] == "call":
        return f"your {request['name']}(...)"
    if request["op"] == "eval":
        return f"`{request['expr'][:80]}`"
    return "your code"


class Student:
    """The same API in both modes: ``call``, ``eval``, ``run``, ``has`` and ``command``."""

    def call(self, name: str, *args: Any, timeout: float = DEFAULT_TIMEOUT, **kwargs: Any) -> Any:
        """Call the student's function ``name``; the result comes back as plain data."""
        return self._ask({"op": "call", "name": name, "args": args, "kwargs": kwargs}, timeout)

    def eval(self, expr: str, timeout: float = DEFAULT_TIMEOUT, **inputs: Any) -> Any:
        """Evaluate ``expr`` among the student's names, with ``inputs`` bound as names."""
        return self._ask({"op": "eval", "expr": expr, "inputs": inputs}, timeout)

    def run(self, code: str, result: str | None = None, timeout: float = DEFAULT_TIMEOUT, **inputs: Any) -> Any:
        """Execute statements among (a copy of) the student's names; return the name ``result``."""
        return self._ask({"op": "run", "code": code, "result": result, "inputs": inputs}, timeout)

    def has(self, name: str) -> bool:
        """Whether the student's notebook defines ``name``."""
        return bool(self._ask({"op": "has", "name": name}, DEFAULT_TIMEOUT))

    def command(self, argv: list[str]) -> list[str]:
        """``argv`` wrapped so that it runs where the student's code runs (the sandbox, when
        grading). Use it for every process that runs the student's files: a server, a script,
        pytest on their tests, git or dvc in their repository."""
        prefix = json.loads(os.environ.get(SANDBOX_ENV, "[]"))
        return [*prefix, *argv]

    def _reply(self, request: dict[str, Any], timeout: float) -> dict[str, Any]:
        raise NotImplementedError

    def _ask(self, request: dict[str, Any], timeout: float) -> Any:
        reply = self._reply(request, timeout)
        what = _describe(request)
        if "ok" in reply:
            return loads(json.dumps(reply["ok"]))
        if "missing" in reply:
            raise StudentError(f"There is no `{reply['missing']}` in your notebook: define it in its task cell "
                               "and run that cell.")
        if "not_plain" in reply:
            raise StudentError(f"{what} returned {reply['not_plain']}, where the task asks for plain data "
                               "(numbers, strings, lists, dicts or a pandas DataFrame/Series).")
        if "raised" in reply:
            raised = reply["raised"]
            raise StudentRaised(what, list(raised["types"]), str(raised["message"]), str(raised.get("where", "")))
        raise StudentError(f"{what} gave an answer the grader cannot read")


class LocalStudent(Student):
    """The student's names in this very kernel (JupyterLab, ``mlops-course check``)."""

    def __init__(self, namespace: dict[str, Any]) -> None:
        self.namespace = namespace

    def _reply(self, request: dict[str, Any], timeout: float) -> dict[str, Any]:
        # What the student's code prints is theirs, not the test's: under grading it stays in
        # their kernel, and here it must not land on the test cell's stderr (which fails it).
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            text = student_side.answer(student_side.encode_request(request), self.namespace)
        return json.loads(base64.b64decode(text))


class RemoteStudent(Student):
    """The student's own kernel, reached through its connection file (grading)."""

    def __init__(self, connection_file: str) -> None:
        from jupyter_client import BlockingKernelClient

        self.client = BlockingKernelClient(connection_file=connection_file)
        self.client.load_connection_file()
        self.client.start_channels()

    def _reply(self, request: dict[str, Any], timeout: float) -> dict[str, Any]:
        # The request travels as a user expression: IPython evaluates those directly, so input
        # transformers a student cell installed never see or rewrite it.
        expression = ("__import__('mlops_course.grading.student_side', fromlist=['answer'])"
                      f".answer({student_side.encode_request(request)!r}, globals())")
        msg_id = self.client.execute("", silent=False, store_history=False,
                                     user_expressions={"reply": expression}, allow_stdin=False)
        deadline = time.monotonic() + timeout
        while True:
            if time.monotonic() > deadline:
                self._interrupt()
                raise StudentError(f"{_describe(request)} ran longer than {timeout:g} s and was stopped "
                                   "(an infinite loop, or waiting forever?)")
            try:
                message = self.client.get_shell_msg(timeout=0.5)
            except KeyboardInterrupt:  # the test cell hit its time limit: stop the student's code too
                self._interrupt()
                raise
            except Exception:  # queue.Empty: nothing yet
                if not self.client.is_alive():
                    raise StudentError("your notebook's kernel is not running any more (it died or exited in an "
                                       "earlier cell), so this test could not call your code") from None
                continue
            if message.get("parent_header", {}).get("msg_id") != msg_id:
                continue
            content = message["content"]
            if content.get("status") != "ok":
                raise StudentError(f"{_describe(request)} could not be run in your kernel: "
                                   f"{content.get('ename')}: {content.get('evalue')}")
            reply = content.get("user_expressions", {}).get("reply", {})
            if reply.get("status") == "error":  # the request itself failed (a KeyboardInterrupt ...)
                raise StudentError(f"{_describe(request)} could not be run in your kernel: "
                                   f"{reply.get('ename')}: {reply.get('evalue')}")
            data = reply.get("data", {})
            try:
                text = ast.literal_eval(data.get("text/plain", ""))
                return json.loads(base64.b64decode(text))
            except (ValueError, SyntaxError, TypeError):
                return {}

    def _interrupt(self) -> None:
        try:
            self.client.session.send(self.client.control_channel.socket, "interrupt_request", {})
        except Exception:  # noqa: BLE001 - best effort; the executor stops the kernel anyway
            pass


_REMOTE: dict[str, RemoteStudent] = {}


def student() -> Student:
    """The student's code: a client of their kernel when grading, else this kernel's names."""
    connection = os.environ.get(CONNECTION_ENV)
    if connection:
        if connection not in _REMOTE:
            _REMOTE[connection] = RemoteStudent(connection)
        return _REMOTE[connection]
    try:
        from IPython import get_ipython

        shell = get_ipython()
    except ImportError:
        shell = None
    if shell is not None:
        return LocalStudent(shell.user_ns)
    import __main__

    return LocalStudent(vars(__main__))


def private_dir() -> Path:
    """A folder for the grader's own files (reference models, expected outputs) that the
    student's code cannot see when grading."""
    from mlops_course.workspace import workspace_root

    folder = Path(os.environ.get("MLOPS_COURSE_GRADER_DIR") or workspace_root() / ".grader")
    folder.mkdir(parents=True, exist_ok=True)
    return folder
