"""The sandbox: every notebook writes only under ``workspace/<chapter>/``."""
from __future__ import annotations

import os
import re
import shutil
import sys
from pathlib import Path

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
