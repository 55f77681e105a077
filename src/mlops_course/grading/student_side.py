"""What runs in the student's kernel when a test asks for something.

The grader sends a request (pickled: it only travels into the student's process) and gets back
JSON text that says what happened: the plain-data result, the exception the student's code
raised, a name that is missing, or a result that is not plain data.
"""
from __future__ import annotations

import base64
import builtins
import json
import pickle
import traceback
from typing import Any

from mlops_course.grading.plain import NotPlain, to_plain


def encode_request(request: dict[str, Any]) -> str:
    return base64.b64encode(pickle.dumps(request)).decode("ascii")


def _namespace(student: dict[str, Any], inputs: dict[str, Any]) -> dict[str, Any]:
    """The student's names, then the test's inputs, with the real builtins."""
    names = dict(student)
    names.update(inputs)
    names["__builtins__"] = builtins
    return names


def _where(error: BaseException) -> str:
    frames = traceback.extract_tb(error.__traceback__)
    own = [f for f in frames if "mlops_course/grading" not in f.filename.replace("\\", "/")]
    if not own:
        return ""
    last = own[-1]
    return f"line {last.lineno}: {last.line}" if last.line else f"line {last.lineno}"


def _perform(request: dict[str, Any], student: dict[str, Any]) -> Any:
    op = request["op"]
    if op == "call":
        name = request["name"]
        if name not in student:
            raise LookupError(name)
        return student[name](*request["args"], **request["kwargs"])
    names = _namespace(student, request.get("inputs", {}))
    if op == "eval":
        return eval(request["expr"], names)  # noqa: S307 - the grader's own expression
    if op == "run":
        exec(request["code"], names)  # noqa: S102 - the grader's own statements
        return names.get(request["result"]) if request["result"] else None
    if op == "has":
        return request["name"] in student
    raise ValueError(f"unknown request {op!r}")


def answer(payload: str, student: dict[str, Any]) -> str:
    """Perform one request in the student's namespace; base64 of a JSON reply."""
    request = pickle.loads(base64.b64decode(payload))
    try:
        value = _perform(request, student)
    except LookupError as missing:
        if request["op"] == "call" and missing.args == (request["name"],) and request["name"] not in student:
            reply: dict[str, Any] = {"missing": request["name"]}
        else:
            reply = _raised(missing)
    except KeyboardInterrupt:  # a time limit: let the cell (or the grader) report it as such
        raise
    except BaseException as error:  # the student's code raised: report it, as data
        reply = _raised(error)
    else:
        try:
            reply = {"ok": to_plain(value)}
        except NotPlain as what:
            reply = {"not_plain": str(what)}
    text = json.dumps(reply, allow_nan=False)
    return base64.b64encode(text.encode()).decode("ascii")


def _raised(error: BaseException) -> dict[str, Any]:
    types = [klass.__name__ for klass in type(error).__mro__]
    try:
        message = str(error)
    except Exception:  # noqa: BLE001 - a broken __str__ is still an answer
        message = "(the exception's message could not be read)"
    return {"raised": {"types": types, "message": message[:2000], "where": _where(error)[:300]}}
