"""The sandbox: every notebook writes only under ``workspace/<chapter>/``."""
from __future__ import annotations

import importlib.abc
import importlib.machinery
import os
import re
import shutil
import sys
from pathlib import Path
from types import ModuleType

from mlops_course.privacy import disable_telemetry

_CHAPTER_NAME = re.compile(r"^[a-z0-9][a-z0-9_]*$")


def repo_root() -> Path:
    """The course repository: ``$MLOPS_COURSE_ROOT``, else the nearest folder above the
    current one that holds ``src/mlops_course``, else the checkout this package lives in."""
    if os.environ.get("MLOPS_COURSE_ROOT"):
        return Path(os.environ["MLOPS_COURSE_ROOT"]).resolve()
    here = Path.cwd().resolve()
    for folder in (here, *here.parents):
        if (folder / "src" / "mlops_course").is_dir():
            return folder
    package_checkout = Path(__file__).resolve().parents[2]
    if (package_checkout / "pyproject.toml").is_file():
        return package_checkout
    return here


def workspace_root() -> Path:
    """Where chapter workspaces live: ``$MLOPS_COURSE_WORKSPACE`` (the grader sets it for
    each student), else ``workspace/`` in the repository."""
    override = os.environ.get("MLOPS_COURSE_WORKSPACE")
    return Path(override).resolve() if override else repo_root() / "workspace"


def workspace(chapter: str) -> Path:
    """Empty and return ``workspace/<chapter>/``, and sandbox this kernel.

    Sandboxing means: telemetry off in every tool, ``HOME`` (and so git's global config
    and the tools' caches) moved to ``workspace/.home/<chapter>/``, colour and spinners off in
    the tools it starts, and the environment's ``bin/`` first on ``PATH`` so ``!dvc``,
    ``!mlflow`` and ``!hadolint`` find the pinned tools.
    """
    if not _CHAPTER_NAME.match(chapter):
        raise ValueError(
            f"workspace({chapter!r}): use the chapter's folder name, such as '00_lifecycle' "
            "(lower case letters, digits and underscores)."
        )
    root = workspace_root()
    folder = root / chapter
    home = root / ".home" / chapter
    for path in (folder, home):
        if path.exists():
            shutil.rmtree(path)
        path.mkdir(parents=True)
    disable_telemetry()
    mlflow_messages_to_stdout()
    os.environ["HOME"] = str(home)
    os.environ["GIT_CONFIG_NOSYSTEM"] = "1"
    os.environ["DVC_SITE_CACHE_DIR"] = str(home / ".cache" / "dvc")
    os.environ["MPLCONFIGDIR"] = str(home / ".config" / "matplotlib")
    # ipykernel forces colour on (FORCE_COLOR, CLICOLOR_FORCE): tools started from here would
    # write escape codes and spinners into stored outputs. Plain text, as in a log file.
    for forcing in ("FORCE_COLOR", "CLICOLOR_FORCE"):
        os.environ.pop(forcing, None)
    os.environ["NO_COLOR"] = "1"
    os.environ["TERM"] = "dumb"
    # Tools behave differently inside CI or a make run (pytest stops truncating on CI, make
    # prints "make[2]:"): a notebook's output must not depend on where it was started from.
    for outer in ("CI", "BUILD_NUMBER", "MAKELEVEL", "MAKEFLAGS", "MFLAGS", "COLUMNS", "LINES"):
        os.environ.pop(outer, None)
    env_bin = str(Path(sys.executable).parent)
    if os.environ.get("PATH", "").split(os.pathsep)[0] != env_bin:
        os.environ["PATH"] = env_bin + os.pathsep + os.environ.get("PATH", "")
    return folder


_MLFLOW_LOGGING = "mlflow.utils.logging_utils"


def _eprint_to_stdout(logging_utils: ModuleType) -> None:
    """Replace MLflow's ``eprint`` (in its module and wherever it was imported) with one that
    prints to stdout, and still honours ``mlflow.utils.logging_utils.disable_logging()``."""
    original = logging_utils.eprint
    if getattr(original, "_to_stdout", False):
        return
    stream = logging_utils.MLFLOW_LOGGING_STREAM

    def eprint(*args: object, **kwargs: object) -> None:
        kwargs.pop("file", None)
        if stream.enabled:
            print(*args, **kwargs)  # type: ignore[call-overload]

    eprint._to_stdout = True  # type: ignore[attr-defined]
    for name, module in list(sys.modules.items()):
        if name.startswith("mlflow") and getattr(module, "eprint", None) is original:
            module.eprint = eprint  # type: ignore[attr-defined]


class _AfterMlflowLogging(importlib.abc.MetaPathFinder):
    """Runs ``_eprint_to_stdout`` as soon as MLflow's logging module is imported."""

    def find_spec(self, fullname, path, target=None):  # type: ignore[no-untyped-def]
        if fullname != _MLFLOW_LOGGING:
            return None
        spec = importlib.machinery.PathFinder.find_spec(fullname, path, target)
        if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return spec
        execute = spec.loader.exec_module

        def exec_module(module: ModuleType) -> None:
            execute(module)
            _eprint_to_stdout(module)

        spec.loader.exec_module = exec_module  # type: ignore[method-assign]
        return spec


def mlflow_messages_to_stdout() -> None:
    """MLflow's registry prints plain progress messages ("Successfully registered model 'x'.",
    "Created version '1' of model 'x'.") with ``mlflow.utils.logging_utils.eprint``, which always
    writes to stderr: ``MLFLOW_LOGGING_LEVEL`` does not reach it, and JupyterLab draws stderr in
    red, as if it were an error (and nbgrader zeroes a test cell that writes to stderr). Send these
    messages to stdout. MLflow's warnings and errors come from its loggers and stay on stderr.
    Works whether MLflow is imported before or after ``workspace()``."""
    loaded = sys.modules.get(_MLFLOW_LOGGING)
    if loaded is not None:
        _eprint_to_stdout(loaded)
    elif not any(isinstance(finder, _AfterMlflowLogging) for finder in sys.meta_path):
        sys.meta_path.insert(0, _AfterMlflowLogging())


def show_path(path: str | os.PathLike[str]) -> str:
    """A path as the learner should see it: relative to the repository, never absolute."""
    resolved = Path(path).resolve()
    for base, prefix in ((workspace_root(), "workspace"), (repo_root(), "")):
        try:
            relative = resolved.relative_to(base)
        except ValueError:
            continue
        return (Path(prefix) / relative).as_posix() if prefix else relative.as_posix()
    return resolved.name


def workspace_path(chapter: str) -> Path:
    """Where ``workspace(chapter)`` puts its files, without emptying it (for tests and graders)."""
    return workspace_root() / chapter
