"""Lab 05 (DVC): how the tests run git and dvc in a learner's project and read what they wrote.

The test cells import these helpers (a test cell never uses the notebook's names). They only
run the real tools and parse what they print or write: the decisions (and the inputs and
expected values of the hidden tests) stay in the test cells. Every git or dvc command runs
through ``student().command``, because in a learner's repository it runs learner-controlled
configuration (hooks, ``core.fsmonitor``, ``.dvc/config``): when grading, it runs in the
learner's sandbox.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from mlops_course.grading import student
from mlops_course.privacy import TELEMETRY_OFF

__all__ = ["run", "lock_stages", "stage_cmd", "flat_params", "covers", "dvc_config", "committed_text",
           "in_remote", "md5_of", "frame_md5", "metrics_shown", "copy_without_outputs", "git_ignores"]

_PRIVATE = ("MLOPS_COURSE_GRADER_DIR", "MLOPS_COURSE_STUDENT_KERNEL")


def _env(ws: Path) -> dict[str, str]:
    """The environment for git and dvc: telemetry and colour off, caches in the workspace."""
    home = Path(ws) / ".grader_home"
    home.mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if k not in _PRIVATE}
    env.update(TELEMETRY_OFF)
    env.update(HOME=str(home), GIT_CONFIG_NOSYSTEM="1", DVC_SITE_CACHE_DIR=str(home / "dvc-site-cache"),
               NO_COLOR="1", TERM="dumb", GIT_TERMINAL_PROMPT="0")
    for forcing in ("FORCE_COLOR", "CLICOLOR_FORCE"):
        env.pop(forcing, None)
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    return env


def run(argv: list[str], cwd: Path, ws: Path, timeout: float = 120) -> tuple[int, str]:
    """Run ``argv`` (git or dvc) in ``cwd`` where the learner's code runs; (exit code, output)."""
    try:
        # `env -C`: the sandbox's prefix starts commands in its own folder, whatever cwd= says.
        command = student().command(["env", "-C", str(cwd), *argv])
        done = subprocess.run(command, cwd=cwd, env=_env(ws), stdin=subprocess.DEVNULL,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return -1, f"`{' '.join(argv)}` ran longer than {timeout:g} s and was stopped"
    return done.returncode, done.stdout.strip()


def lock_stages(project: Path) -> dict[str, Any]:
    """The stages recorded in ``dvc.lock`` ({} when there is no readable lock file)."""
    try:
        lock = yaml.safe_load((Path(project) / "dvc.lock").read_text())
    except (OSError, yaml.YAMLError):
        return {}
    stages = lock.get("stages") if isinstance(lock, dict) else None
    return stages if isinstance(stages, dict) else {}


def stage_cmd(stage: dict[str, Any]) -> str:
    """A stage's command as one string (``cmd`` may be a string or a list of commands)."""
    cmd = stage.get("cmd", "")
    return " && ".join(map(str, cmd)) if isinstance(cmd, list) else str(cmd)


def flat_params(stage: dict[str, Any]) -> dict[str, Any]:
    """{'prepare.seed': 7, ...} from a dvc.lock stage, whether whole sections or single keys were declared."""
    found: dict[str, Any] = {}

    def walk(prefix: str, value: Any) -> None:
        if isinstance(value, dict):
            for key, inner in value.items():
                walk(f"{prefix}.{key}" if prefix else str(key), inner)
        else:
            found[prefix] = value

    walk("", (stage.get("params") or {}).get("params.yaml", {}))
    return found


def covers(paths: list[str], target: str) -> bool:
    """True if one of the dvc paths is the file ``target`` or a folder that contains it."""
    return any(target == p.rstrip("/") or target.startswith(p.rstrip("/") + "/") for p in paths)


def dvc_config(project: Path, ws: Path, level: str | None = "--project") -> dict[str, str]:
    """``dvc config --list`` at one level (``--project`` is ``.dvc/config``; None merges all levels)."""
    code, output = run(["dvc", "config", *([level] if level else []), "--list"], project, ws)
    if code != 0:
        return {}
    return dict(line.split("=", 1) for line in output.splitlines() if "=" in line)


def committed_text(project: Path, path: str, ws: Path) -> str | None:
    """The text of ``path`` in the commit at HEAD (None when HEAD has no such file)."""
    code, output = run(["git", "cat-file", "blob", f"HEAD:{path}"], project, ws)
    return output if code == 0 else None


def in_remote(remote: Path, md5: str) -> bool:
    """Whether a DVC 3 remote (a local folder) holds the object ``md5``."""
    return (Path(remote) / "files" / "md5" / md5[:2] / md5[2:]).is_file()


def md5_of(path: Path) -> str:
    return hashlib.md5(Path(path).read_bytes()).hexdigest()


def frame_md5(frame: Any) -> str:
    """The md5 DVC records for ``frame`` written with ``to_csv(index=False)``."""
    return hashlib.md5(frame.to_csv(index=False).encode()).hexdigest()


def metrics_shown(project: Path, ws: Path) -> dict[str, Any]:
    """{path: values} from ``dvc metrics show --json`` ({} when it fails or shows nothing)."""
    code, output = run(["dvc", "metrics", "show", "--json"], project, ws)
    try:
        shown = json.loads(output or "{}") if code == 0 else {}
    except json.JSONDecodeError:
        return {}
    found: dict[str, Any] = {}
    for source in shown.values() if isinstance(shown, dict) else []:
        for path, values in (source.get("data") or {}).items():
            found[path] = (values or {}).get("data", {})
    return found


def copy_without_outputs(project: Path, target: Path) -> Path:
    """A copy of the project without ``dvc.lock`` and the pipeline's outputs (the cache stays)."""
    project = Path(project)
    skip = {".": {"dvc.lock", "models", "eval", "dvc_plots"}, "data": {"prepared"}}

    def ignore(folder: str, names: list[str]) -> list[str]:
        relative = Path(folder).relative_to(project).as_posix()
        return [name for name in names if name in skip.get(relative, set())]

    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(project, target, ignore=ignore, symlinks=True)
    return target


def git_ignores(project: Path, path: str, ws: Path) -> bool:
    """Whether git ignores ``path`` in the project (DVC makes git ignore the outputs it caches)."""
    code, _ = run(["git", "check-ignore", "-q", path], project, ws)
    return code == 0
