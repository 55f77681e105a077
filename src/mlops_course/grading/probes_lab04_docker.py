"""Lab 04 (Docker): how the tests read a Dockerfile, a ``.dockerignore`` and a Compose file.

The lab's setup cell imports these helpers so a learner can see how their files are checked,
and the test cells import them from here (a test cell never uses the notebook's names). They
only parse and measure: the decisions (and the inputs of the hidden tests) stay in the test
cells. Nothing here runs a student's code: hadolint and check-jsonschema only read text.
"""
from __future__ import annotations

import json
import logging
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import urlsplit

import yaml
from docker.utils import parse_repository_tag
from docker.utils.build import exclude_paths
from dockerfile_parse import DockerfileParser

from mlops_course.workspace import show_path

# dockerfile-parse logs a file it cannot read to stderr before raising; the test's message says it instead.
logging.getLogger("dockerfile_parse").addHandler(logging.NullHandler())
logging.getLogger("dockerfile_parse").propagate = False

__all__ = [
    "APP_MAIN", "REQUIREMENTS", "write_project", "instructions", "base_images", "split_reference",
    "copy_sources", "covers", "exec_form", "start_command", "uvicorn_settings", "healthcheck_command",
    "urls", "hadolint_findings", "context_files", "load_compose", "published_ports", "environment",
    "names", "mounts", "check_compose_schema",
]

APP_MAIN = '''\
# The churn-prediction service (chapter 03), self-contained for a container image.
import os
from typing import Literal

import joblib
import pandas as pd
from fastapi import FastAPI, Request
from pydantic import BaseModel, ConfigDict, Field

MODEL_PATH = os.environ.get("MODEL_PATH", "model/model.joblib")
BUNDLE = joblib.load(MODEL_PATH)
MODEL, METADATA = BUNDLE["model"], BUNDLE["metadata"]
MODEL_VERSION = METADATA["version"]


class Customer(BaseModel):
    model_config = ConfigDict(extra="forbid")
    tenure_months: int = Field(ge=1, le=72)
    monthly_charges: float = Field(ge=0, le=200)
    support_calls: int = Field(ge=0, le=30)
    data_usage_gb: float = Field(ge=0, le=500)
    contract: Literal["month-to-month", "one-year", "two-year"]
    payment_method: Literal["card", "bank-transfer", "e-check"]
    region: Literal["north", "south", "east", "west"]


class Prediction(BaseModel):
    churn_probability: float = Field(ge=0, le=1)
    will_churn: bool
    model_version: str


app = FastAPI(title="Churn prediction service", version=MODEL_VERSION)


@app.middleware("http")
async def add_model_version(request: Request, call_next):
    response = await call_next(request)
    response.headers["X-Model-Version"] = MODEL_VERSION
    return response


def score(customers: list[Customer]) -> list[Prediction]:
    frame = pd.DataFrame([c.model_dump() for c in customers], columns=METADATA["features"])
    probabilities = MODEL.predict_proba(frame)[:, 1]
    return [Prediction(churn_probability=round(float(p), 4), will_churn=bool(p >= 0.5),
                       model_version=MODEL_VERSION) for p in probabilities]


@app.get("/health")
def health() -> dict[str, str]:
    return {"status": "ok", "model_version": MODEL_VERSION}


@app.post("/predict")
def predict(customer: Customer) -> Prediction:
    return score([customer])[0]


@app.post("/predict/batch")
def predict_batch(customers: list[Customer]) -> list[Prediction]:
    return score(customers)
'''

REQUIREMENTS = ("fastapi==0.136.3\nuvicorn==0.54.0\npydantic==2.14.3\nscikit-learn==1.9.1\n"
                "joblib==1.6.0\npandas==3.1.1\nnumpy==2.4.6\n")


def write_project(root: str | Path) -> Path:
    """The lab's project folder: the chapter-03 app, its requirements, a placeholder model file
    (nothing in the lab loads it) and the clutter a real project folder holds."""
    root = Path(root)
    files: dict[str, str | bytes] = {
        "app/__init__.py": "",
        "app/main.py": APP_MAIN,
        "requirements.txt": REQUIREMENTS,
        "model/model.joblib": b"placeholder for the chapter-00 model bundle",
        "data/training.csv": "customer_id,tenure_months,churned\nC00000,41,0\n",
        "notebooks/explore.ipynb": '{"cells": [], "nbformat": 4, "nbformat_minor": 5}',
        "mlruns/0/meta.yaml": "name: Default\n",
        "tests/test_api.py": "def test_placeholder():\n    assert True\n",
        "model/old/model-0.9.0.joblib": b"an old model",
        "app/__pycache__/main.cpython-311.pyc": b"bytecode",
        "server.log": "INFO: started\n",
        ".env": "MLFLOW_TRACKING_PASSWORD=not-a-real-secret\n",
    }
    for name, content in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)
    return root


# ---- the Dockerfile ----

def _exists(path: str | Path) -> Path:
    path = Path(path)
    if not path.is_file():
        raise AssertionError(f"{show_path(path)} does not exist: run your answer cell, which writes it.")
    return path


def instructions(path: str | Path) -> list[list[dict[str, Any]]]:
    """The Dockerfile's instructions (dicts with instruction, value, startline counted from 0),
    comments left out, split into stages (each starts with its FROM)."""
    stages: list[list[dict[str, Any]]] = []
    for item in DockerfileParser(str(_exists(path))).structure:
        if item["instruction"] == "FROM":
            stages.append([])
        if stages and item["instruction"] != "COMMENT":
            stages[-1].append(item)
    assert stages, "the Dockerfile has no FROM instruction: start it with FROM <base image>."
    return stages


def base_images(path: str | Path) -> list[dict[str, Any]]:
    """One dict per stage: ``image`` (the FROM reference, build arguments replaced by their
    defaults), ``alias`` (the AS name or None) and ``stage`` (True when it names an earlier stage)."""
    parser = DockerfileParser(str(_exists(path)))
    resolved = parser.parent_images
    froms = [item for item in parser.structure if item["instruction"] == "FROM"]
    stages, aliases = [], set()
    for position, item in enumerate(froms):
        words = [w for w in item["value"].split() if not w.startswith("--")]
        alias = words[2].lower() if len(words) >= 3 and words[1].lower() == "as" else None
        image = resolved[position] if position < len(resolved) else (words[0] if words else "")
        stages.append({"image": image, "alias": alias, "stage": image.lower() in aliases})
        if alias:
            aliases.add(alias)
    return stages


def split_reference(image: str) -> tuple[str, str | None, str | None]:
    """``(repository name without registry, tag, digest)`` of an image reference, by Docker's own
    parsing: ``docker.io/library/python:3.11.7-slim@sha256:...`` -> ``("python", "3.11.7-slim", "sha256:...")``."""
    name, _, digest = image.partition("@")
    repository, tag = parse_repository_tag(name)
    parts = repository.split("/")
    if len(parts) > 1 and ("." in parts[0] or ":" in parts[0] or parts[0] == "localhost"):
        parts = parts[1:]
    if parts[:1] == ["library"]:
        parts = parts[1:]
    return "/".join(parts), tag, digest or None


def exec_form(value: str) -> list[str] | None:
    """The argument list of an instruction in exec (JSON) form, or None for the shell form."""
    text = value.strip()
    if not text.startswith("["):
        return None
    try:
        parsed = json.loads(text)
    except json.JSONDecodeError:
        return None
    return parsed if isinstance(parsed, list) and all(isinstance(a, str) for a in parsed) else None


def copy_sources(item: dict[str, Any]) -> list[str] | None:
    """The build-context sources of a COPY or ADD (flags such as ``--chown`` left out, ``./`` and
    trailing ``/`` removed, ``.`` for the whole context), or None for ``COPY --from=...``."""
    value = item["value"].strip()
    flags = []
    while value.startswith("--"):
        flag, _, value = value.partition(" ")
        flags.append(flag)
        value = value.strip()
    if any(flag.startswith("--from") for flag in flags):
        return None
    parts = exec_form(value)
    if parts is None:
        parts = value.split()
    return [normalise(p) for p in parts[:-1]]


def normalise(source: str) -> str:
    """``./app/`` -> ``app``; ``./`` or ``.`` -> ``.``."""
    path = PurePosixPath(source.strip())
    text = path.as_posix().lstrip("/")
    return text if text not in ("", ".") else "."


def covers(source: str, file: str) -> bool:
    """Whether a COPY source (as ``copy_sources`` gives it) copies the context file ``file``."""
    source = normalise(source)
    return source == "." or file == source or file.startswith(source + "/")


def start_command(final_stage: list[dict[str, Any]]) -> tuple[list[str] | None, str]:
    """The command the final stage starts (its last ENTRYPOINT, in exec form, followed by its last
    CMD), or ``(None, why)`` when the CMD (or ENTRYPOINT) is missing or in shell form."""
    cmds = [item["value"] for item in final_stage if item["instruction"] == "CMD"]
    entries = [item["value"] for item in final_stage if item["instruction"] == "ENTRYPOINT"]
    if not cmds and not entries:
        return None, "the final stage has no CMD"
    entry = exec_form(entries[-1]) if entries else []
    if entry is None:
        return None, f"ENTRYPOINT {entries[-1]} is in shell form"
    cmd = exec_form(cmds[-1]) if cmds else []
    if cmd is None:
        return None, f"CMD {cmds[-1]} is in shell form"
    return [*entry, *cmd], ""


_PYTHON = re.compile(r"^python(\d+(\.\d+)?)?$")


def uvicorn_settings(argv: list[str], env: dict[str, str]) -> dict[str, Any] | None:
    """What uvicorn would run from this command: ``{"app", "host", "port"}`` (uvicorn's defaults
    and its ``UVICORN_HOST``/``UVICORN_PORT`` variables count), or None when it is not uvicorn."""
    if not argv:
        return None
    program = PurePosixPath(argv[0]).name
    if program == "uvicorn":
        rest = argv[1:]
    elif _PYTHON.match(program) and argv[1:3] == ["-m", "uvicorn"]:
        rest = argv[3:]
    else:
        return None
    settings: dict[str, Any] = {"app": None, "host": env.get("UVICORN_HOST", "127.0.0.1"),
                                "port": env.get("UVICORN_PORT", "8000")}
    flags_with_values = {"--host", "--port", "--uds", "--fd", "--workers", "--loop", "--http", "--ws",
                         "--lifespan", "--interface", "--env-file", "--log-config", "--log-level",
                         "--root-path", "--limit-concurrency", "--backlog", "--limit-max-requests",
                         "--timeout-keep-alive", "--timeout-graceful-shutdown", "--ssl-keyfile",
                         "--ssl-certfile", "--ssl-keyfile-password", "--ssl-version", "--ssl-cert-reqs",
                         "--ssl-ca-certs", "--ssl-ciphers", "--header", "--forwarded-allow-ips",
                         "--app-dir", "--h11-max-incomplete-event-size", "--reload-dir",
                         "--reload-include", "--reload-exclude", "--reload-delay", "--ws-max-size",
                         "--ws-max-queue", "--ws-ping-interval", "--ws-ping-timeout",
                         "--ws-per-message-deflate"}
    position = 0
    while position < len(rest):
        word = rest[position]
        if word.startswith("--") and "=" in word:
            flag, _, value = word.partition("=")
            if flag in ("--host", "--port"):
                settings[flag[2:]] = value
        elif word in flags_with_values:
            if word in ("--host", "--port") and position + 1 < len(rest):
                settings[word[2:]] = rest[position + 1]
            position += 1
        elif not word.startswith("-") and settings["app"] is None:
            settings["app"] = word
        position += 1
    return settings


def healthcheck_command(value: str) -> tuple[list[str], str] | None:
    """``(argv, text)`` of a HEALTHCHECK's command (its options left out), or None for
    ``HEALTHCHECK NONE``. A shell-form command is split as the shell would split words."""
    match = re.match(r"^\s*((?:--[\w-]+(?:=\S+)?\s+)*)CMD\s+(.*)$", value, re.S | re.I)
    if not match:
        return None
    text = match.group(2).strip()
    argv = exec_form(text)
    if argv is None:
        try:
            argv = shlex.split(text)
        except ValueError:
            argv = text.split()
    return argv, text


def urls(text: str) -> list[Any]:
    """Every http(s) URL in a text, parsed with ``urllib.parse.urlsplit``."""
    found = []
    for raw in re.findall(r"https?://[^\s'\"\\)\]},;]+", text):
        try:
            parts = urlsplit(raw)
            parts.port  # noqa: B018 - raises on a malformed port
        except ValueError:
            continue
        found.append(parts)
    return found


def _tool(name: str) -> str:
    beside = Path(sys.executable).parent / name
    return str(beside) if beside.exists() else (shutil.which(name) or name)


def hadolint_findings(path: str | Path, levels: tuple[str, ...] = ("error", "warning"),
                      pragmas: bool = True) -> list[dict[str, Any]]:
    """hadolint's findings at the given levels, with its default rules (nothing ignored by a
    configuration file; with ``pragmas=False`` the ``# hadolint ignore=`` comments are ignored too)."""
    path = _exists(path)
    with tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp) / "hadolint.yaml"
        config.write_text("ignored: []\n")
        command = [_tool("hadolint"), "--config", str(config), "--format", "json", "--no-fail", "--no-color"]
        command += [] if pragmas else ["--disable-ignore-pragma"]
        done = subprocess.run([*command, str(path)], capture_output=True, text=True, check=False, timeout=60)
    if done.returncode != 0 or not done.stdout.strip().startswith("["):
        raise AssertionError(f"hadolint could not read the Dockerfile: {done.stdout[:500]}{done.stderr[:500]}")
    return [f for f in json.loads(done.stdout) if f["level"] in levels]


# ---- .dockerignore ----

def context_files(root: str | Path, dockerignore_text: str) -> list[str]:
    """The files ``docker build`` sends from ``root``, by Docker's ``.dockerignore`` rules
    (``docker.utils.build.exclude_paths``; the Dockerfile is always sent)."""
    patterns = list(dockerignore_text.splitlines())
    kept = exclude_paths(str(root), patterns, dockerfile="Dockerfile")
    return sorted(p for p in kept if (Path(root) / p).is_file())


# ---- the Compose file ----

def load_compose(path: str | Path) -> dict[str, Any]:
    path = _exists(path)
    try:
        spec = yaml.safe_load(path.read_text())
    except yaml.YAMLError as error:
        raise AssertionError(f"compose.yaml is not valid YAML: {error}") from None
    assert isinstance(spec, dict), "the compose file must be a YAML mapping with a services: key."
    return spec


def check_compose_schema(path: str | Path) -> tuple[bool, str]:
    """``check-jsonschema --builtin-schema vendor.compose-spec``: (passed, its report)."""
    path = _exists(path)
    done = subprocess.run([_tool("check-jsonschema"), "--builtin-schema", "vendor.compose-spec",
                           "--color", "never", str(path)],
                          capture_output=True, text=True, check=False, timeout=120)
    report = " | ".join(line.strip() for line in (done.stdout + done.stderr).splitlines() if line.strip())
    return done.returncode == 0, report


def published_ports(service: dict[str, Any]) -> set[tuple[str, str]]:
    """(host port, container port) pairs from the short or the long ``ports`` syntax."""
    pairs = set()
    for entry in service.get("ports") or []:
        if isinstance(entry, dict):
            if entry.get("published") is not None:
                pairs.add((str(entry["published"]), str(entry.get("target"))))
        else:
            parts = str(entry).split("/")[0].split(":")
            if len(parts) >= 2:
                pairs.add((parts[-2], parts[-1]))
    return pairs


def environment(service: dict[str, Any]) -> dict[str, str]:
    """A service's ``environment``, in mapping or list form, as a dict of strings."""
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(str(item).split("=", 1) if "=" in str(item) else (str(item), "") for item in env)
    return {str(key): "" if value is None else str(value) for key, value in env.items()}


def names(value: Any) -> list[str]:
    """``depends_on`` or ``networks``, in list or mapping form, as a list of names."""
    if isinstance(value, dict):
        return [str(k) for k in value]
    if isinstance(value, list):
        return [str(v) for v in value]
    return []


def mounts(service: dict[str, Any]) -> set[tuple[str, str, str]]:
    """(type, source, target) of each mount, from the short or the long ``volumes`` syntax; a short
    entry whose source is a path (``./data``, ``/srv``, ``~/x``) is a ``bind``, else a ``volume``."""
    found = set()
    for entry in service.get("volumes") or []:
        if isinstance(entry, dict):
            found.add((str(entry.get("type", "volume")), str(entry.get("source")),
                       str(entry.get("target")).rstrip("/") or "/"))
        else:
            parts = str(entry).split(":")
            if len(parts) >= 2:
                kind = "bind" if parts[0].startswith((".", "/", "~", "$")) else "volume"
                found.add((kind, parts[0], parts[1].rstrip("/") or "/"))
    return found
