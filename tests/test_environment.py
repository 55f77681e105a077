"""One environment everywhere: requirements.lock is what `make setup`, Binder and CI install;
environment.yml lists its direct pins; the installed Jupyter is the one learners should see."""
from __future__ import annotations

import functools
import importlib.metadata
import importlib.util
import json
import re
import shlex
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from mlops_course.privacy import TELEMETRY_OFF

ROOT = Path(__file__).resolve().parents[1]
BINDER = ROOT / "binder"
PIN = re.compile(r"^\s+- ([A-Za-z0-9_.-]+)==([^\s#]+)")
REQUIREMENT = re.compile(r"^([A-Za-z0-9][A-Za-z0-9_.-]*)==([0-9][0-9A-Za-z.+!-]*)$")


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _requirements(path: Path) -> dict[str, str]:
    """The exact pins a pip requirements file installs, following ``-r`` includes as pip does
    (relative to the including file). Anything but ``name==version`` fails: no ranges, no URLs."""
    pins: dict[str, str] = {}
    for raw in path.read_text().splitlines():
        line = raw.split(" #", 1)[0].strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith(("-r ", "--requirement ")):
            included = (path.parent / line.split(maxsplit=1)[1]).resolve()
            for name, version in _requirements(included).items():
                assert pins.setdefault(name, version) == version, f"{name} pinned twice"
            continue
        match = REQUIREMENT.match(line)
        assert match, f"{path.relative_to(ROOT)}: {line!r} is not an exact pin (name==version)"
        name = _norm(match.group(1))
        assert name not in pins, f"{path.relative_to(ROOT)}: {name} pinned twice"
        pins[name] = match.group(2)
    return pins


def _lock() -> dict[str, str]:
    return _requirements(ROOT / "requirements.lock")


def test_lock_is_fully_pinned() -> None:
    assert len(_lock()) >= 300


def test_every_direct_pin_is_exact_commented_and_locked() -> None:
    lock = _lock()
    lines = [l for l in (ROOT / "environment.yml").read_text().splitlines() if PIN.match(l)]
    assert len(lines) >= 20
    for line in lines:
        name, version = PIN.match(line).groups()
        assert "#" in line, f"{name}: say which chapter needs it"
        assert lock.get(_norm(name)) == version, f"{name}=={version} disagrees with requirements.lock"
    assert "python=3.11" in (ROOT / "environment.yml").read_text()


def test_binder_installs_exactly_the_lock_on_python_311() -> None:
    # repo2docker reads only binder/ when it exists. An environment.yml (or Pipfile, setup.py,
    # Dockerfile ...) there would win over requirements.txt and install something else.
    for other in ("environment.yml", "environment.yaml", "Pipfile", "Pipfile.lock", "setup.py",
                  "pyproject.toml", "Dockerfile", "install.R", "Project.toml"):
        assert not (BINDER / other).exists(), f"binder/{other} would replace the lock on Binder"
    assert (BINDER / "runtime.txt").read_text().strip() == "python-3.11"
    assert _requirements(BINDER / "requirements.txt") == _lock()
    assert "python_requires" not in (ROOT / "pyproject.toml").read_text()
    assert 'requires-python = ">=3.11,<3.12"' in (ROOT / "pyproject.toml").read_text()


def _ci_apt_list(variable: str) -> set[str]:
    text = (ROOT / ".ci" / "run").read_text()
    match = re.search(rf'^{variable}="([^"]*)"', text, re.MULTILINE)
    assert match, f".ci/run defines {variable}"
    assert f"${variable}" in text.split("apt-get install", 1)[1].splitlines()[0]
    return set(match.group(1).split())


def test_binder_and_ci_install_the_same_debian_engines() -> None:
    apt = {l.strip() for l in (BINDER / "apt.txt").read_text().splitlines() if l.strip()}
    engines = _ci_apt_list("ENGINES")
    assert apt == engines, "binder/apt.txt and ENGINES in .ci/run must list the same packages"
    assert "bubblewrap" in apt  # the grading sandbox
    assert "chromium" in _ci_apt_list("TEST_TOOLS")  # tests/test_browser.py


def test_binder_build_and_start_scripts() -> None:
    post_build = (BINDER / "postBuild").read_text()
    assert post_build.startswith("#!/") and "set -euo pipefail" in post_build
    assert "pip install --no-deps -e ." in post_build
    assert '--name python3 --display-name "Python 3"' in post_build
    assert "bash binder/configure-jupyter.sh" in post_build
    start = (BINDER / "start").read_text()
    assert start.startswith("#!/") and start.rstrip().endswith('exec "$@"')
    exported = dict(re.findall(r"([A-Z_]+)=(\S+)", start))
    for variable, value in TELEMETRY_OFF.items():
        assert exported.get(variable) == value, f"binder/start: export {variable}={value}"
    for script in ("postBuild", "start", "configure-jupyter.sh"):
        assert (BINDER / script).stat().st_mode & 0o111, f"binder/{script} must be executable"


def test_setup_installs_the_lock_with_pinned_uv_or_pip() -> None:
    makefile = (ROOT / "Makefile").read_text()
    assert "uv" in _lock()
    assert "UV_VERSION := $(shell sed -n 's/^uv==//p' requirements.lock)" in makefile
    assert "uv pip install --quiet --compile-bytecode --python $(BIN)/python --no-deps -r requirements.lock" in makefile
    assert "pip install --quiet --no-deps -r requirements.lock" in makefile  # the path without uv
    assert '--name python3 --display-name "Python 3"' in makefile
    assert "bash binder/configure-jupyter.sh" in makefile
    # Every solution already runs through real nbgrader in tests/test_labs_grading.py: no second run.
    test_all = re.search(r"^test-all:(.*)$", makefile, re.MULTILINE).group(1)
    assert "test-solutions" not in test_all and "test-package" in test_all
    assert re.search(r"^test-package:.*\n\t.*-n \$\(WORKERS\).* tests/$", makefile, re.MULTILINE)


def test_setup_compiles_the_environment_to_bytecode() -> None:
    """The grader's sandbox mounts the environment read-only: a module without its .pyc is compiled
    again by every kernel of every submission (lab 06: 30 s a submission instead of 18 s)."""
    site = Path(sysconfig.get_paths()["purelib"])
    sources = [p for p in site.rglob("*.py") if "__pycache__" not in p.parts]
    missing = [p for p in sources if not Path(importlib.util.cache_from_source(str(p))).exists()]
    assert len(missing) <= len(sources) // 100, (
        f"{len(missing)} of {len(sources)} modules have no bytecode (e.g. {missing[:3]}): "
        "make setup must compile them (uv pip install --compile-bytecode)")


def _kernelspecs() -> set[tuple[str, str]]:
    found = set()
    for notebook in [*ROOT.glob("notebooks/*.ipynb"), *ROOT.glob("labs/*/*.ipynb"),
                     *ROOT.glob("solutions/*/*.ipynb")]:
        spec = json.loads(notebook.read_text())["metadata"].get("kernelspec", {})
        found.add((spec.get("name"), spec.get("display_name")))
    return found


def test_installed_kernel_is_the_one_the_notebooks_name() -> None:
    """A notebook whose kernelspec differs from the installed one is marked modified on open."""
    assert _kernelspecs() == {("python3", "Python 3")}
    kernel = Path(sys.prefix) / "share" / "jupyter" / "kernels" / "python3" / "kernel.json"
    if not (Path(sys.prefix) / ".installed").exists():
        pytest.skip("not the environment `make setup` built")
    assert json.loads(kernel.read_text())["display_name"] == "Python 3"


def test_installed_jupyter_is_configured_for_learners() -> None:
    etc = Path(sys.prefix) / "etc" / "jupyter"
    if not (Path(sys.prefix) / ".installed").exists():
        pytest.skip("not the environment `make setup` built")
    disabled = json.loads((etc / "labconfig" / "page_config.json").read_text())["disabledExtensions"]
    for plugin in ("@jupyter/nbgrader:formgrader", "@jupyter/nbgrader:create-assignment",
                   "@jupyter/nbgrader:course-list", "@jupyter/nbgrader:assignment-list",
                   "@jupyter/nbgrader:menu",
                   "jupyterlab-plotly", "@jupyterlab/apputils-extension:announcements"):
        assert disabled.get(plugin) is True, f"{plugin} should be off"
    assert not disabled.get("@jupyter/nbgrader:validate-assignment"), "learners keep Validate"
    labextensions = Path(sys.prefix) / "share" / "jupyter" / "labextensions"
    assert not (labextensions / "jupyterlab-plotly").exists(), "JupyterLab would still load it"
    for extension in ("formgrader", "course_list", "assignment_list"):
        name = f"nbgrader.server_extensions.{extension}"
        setting = json.loads((etc / "jupyter_server_config.d" / f"{name}.json").read_text())
        assert setting["ServerApp"]["jpserver_extensions"][name] is False
    ours = "mlops_course.jupyter_validate"  # Validate on a lesson says there is nothing to validate
    setting = json.loads((etc / "jupyter_server_config.d" / f"{ours}.json").read_text())
    assert setting["ServerApp"]["jpserver_extensions"][ours] is True


def test_nothing_imports_plotly() -> None:
    """configure-jupyter.sh switches jupyterlab-plotly off: only evidently pulls plotly in."""
    for path in [*ROOT.glob("notebooks/*.ipynb"), *ROOT.glob("solutions/*/*.ipynb"),
                 *ROOT.glob("src/mlops_course/*.py")]:
        text = path.read_text()
        assert not re.search(r"(import|from) plotly", text), f"{path.relative_to(ROOT)} uses plotly"


def test_configure_jupyter_runs_in_a_throwaway_prefix(tmp_path: Path) -> None:
    """The script writes only into the environment it is given, and twice gives the same result."""
    import subprocess

    prefix = tmp_path / "prefix"
    fake = tmp_path / "python"
    fake.write_text(f"#!/bin/sh\nexec {shlex.quote(sys.executable)} -c "
                    f"'import sys; sys.prefix = {json.dumps(str(prefix))}; exec(sys.stdin.read())'\n")
    fake.chmod(0o755)
    for _ in range(2):
        subprocess.run(["bash", str(BINDER / "configure-jupyter.sh")], check=True, cwd=ROOT,
                       env={"PATH": "/usr/bin:/bin", "PYTHON": str(fake)}, capture_output=True)
    page = json.loads((prefix / "etc/jupyter/labconfig/page_config.json").read_text())
    assert page["disabledExtensions"]["@jupyter/nbgrader:assignment-list"] is True
    assert sorted(p.name for p in (prefix / "etc/jupyter/jupyter_server_config.d").iterdir()) == [
        "mlops_course.jupyter_validate.json",
        "nbgrader.server_extensions.assignment_list.json",
        "nbgrader.server_extensions.course_list.json",
        "nbgrader.server_extensions.formgrader.json",
    ]


def test_nbformat_imports_without_the_slow_optional_grammar() -> None:
    """rfc3987-syntax compiles an Earley grammar when jsonschema imports it: ~1 s in every process
    that imports nbformat (each graded submission's nbgrader run). The lock and `make lock` leave it out."""
    makefile = (ROOT / "Makefile").read_text()
    assert "SLOW_OPTIONAL := rfc3987-syntax|lark" in makefile
    assert 'grep -v -i -E "^($(SLOW_OPTIONAL))=="' in makefile, "make lock must keep them out of the lock"
    assert not {"rfc3987-syntax", "lark"} & set(_lock()), "requirements.lock must not list rfc3987-syntax or lark"
    code = "import sys, nbformat, jsonschema; print('rfc3987_syntax' in sys.modules, 'lark' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.split() == ["False", "False"], "nbformat's import loaded rfc3987_syntax: remove it from .venv"


# ---- Every direct pin has a real use (issue 15) ---------------------------------------------------
# Where the course's own files show a use: the lessons and labs (code cells), the package, the tests,
# the Makefile, CI and binder/. A package whose only use is at run time by another tool (the kernel
# Jupyter starts, a pytest plugin) says so in its comment: "(run time: ...)".
CORPUS_GLOBS = ["notebooks/*.ipynb", "solutions/*/*.ipynb", "src/**/*.py", "tests/*.py",
                "tests/fixtures/*/*.json", "Makefile", ".ci/run", "binder/*"]


def _corpus() -> str:
    texts = []
    for pattern in CORPUS_GLOBS:
        for path in sorted(ROOT.glob(pattern)):
            if path == Path(__file__):
                continue  # this file names packages to test the check itself
            if path.suffix == ".ipynb":
                cells = json.loads(path.read_text())["cells"]
                texts += ["".join(c["source"]) for c in cells if c["cell_type"] == "code"]
            elif path.is_file():
                texts.append(path.read_text(errors="replace"))
    return "\n".join(texts)


@functools.cache
def _modules_of() -> dict[str, set[str]]:
    """Each installed distribution's top-level modules (private ``_x`` ones left out)."""
    found: dict[str, set[str]] = {}
    for module, dists in importlib.metadata.packages_distributions().items():
        for dist in dists:
            if module.isidentifier() and not module.startswith("_"):
                found.setdefault(_norm(dist), set()).add(module)
    return found


def _uses(dist_name: str, seen: set[str] | None = None) -> tuple[set[str], set[str]]:
    """The top-level modules and the commands a distribution installs. A meta-package (no module
    of its own, such as apache-airflow) is used through its requirements too."""
    seen = set() if seen is None else seen
    seen.add(_norm(dist_name))
    dist = importlib.metadata.distribution(dist_name)
    modules = set(_modules_of().get(_norm(dist_name), set()))
    commands = {ep.name for ep in dist.entry_points if ep.group == "console_scripts"}
    commands |= {Path(f).name for f in dist.files or [] if "/bin/" in f"/{f}" and f.suffix != ".pyc"}
    if not modules:
        for requirement in dist.requires or []:
            if "extra ==" in requirement:
                continue
            name = re.match(r"[A-Za-z0-9][A-Za-z0-9_.-]*", requirement).group(0)
            if _norm(name) not in seen:
                more_modules, more_commands = _uses(name, seen)
                modules |= more_modules
                commands |= more_commands
    return modules, commands


def _is_used(modules: set[str], commands: set[str], corpus: str) -> bool:
    for module in modules:
        if re.search(rf"^\s*(import|from)\s+{re.escape(module)}\b", corpus, re.MULTILINE):
            return True
        if re.search(rf"import_module\(\s*['\"]{re.escape(module)}\b|-m {re.escape(module)}\b", corpus):
            return True
    for command in commands:
        spelled = [command] + ([command.replace("-", " ", 1)] if command.startswith("jupyter-") else [])
        # As a command, not a word in prose: at the start of a string, a line or a path's last part
        # (sh("dvc repro"), ["kubectl", ...], !ruff, $(BIN)/uv, a Makefile recipe).
        if any(re.search(rf"(^\s*|^\s*\$ |[\"'`/!\[]){re.escape(s)}(?=[\s\"'`]|$)", corpus, re.MULTILINE)
               for s in spelled):
            return True
    return False


def test_every_direct_pin_is_used() -> None:
    corpus = _corpus()
    unused = []
    for line in (ROOT / "environment.yml").read_text().splitlines():
        match = PIN.match(line)
        if not match or "(run time:" in line:
            continue
        name = match.group(1)
        modules, commands = _uses(name)
        assert modules or commands, f"{name}: installs no module and no command"
        if not _is_used(modules, commands, corpus):
            unused.append(f"{name} (modules {sorted(modules)}, commands {sorted(commands)})")
    assert not unused, ("pinned in environment.yml but imported or run nowhere in notebooks, solutions, "
                        "src/, tests/, the Makefile, CI or binder/: remove the pin, or say in its comment "
                        "which tool needs it at run time, as '(run time: ...)': " + "; ".join(unused))


def test_the_unused_pin_check_can_fail() -> None:
    modules, commands = _uses("grafana-foundation-sdk")
    assert "grafana_foundation_sdk" in modules
    assert not _is_used(modules, commands, "import grafana\nimport grafana_foundation\n# grafana_foundation_sdk")
    assert _is_used(modules, commands, "from grafana_foundation_sdk.builders import dashboard")
    assert _is_used(*_uses("jupyterlab"), "\tjupyter lab --no-browser")
    assert _is_used(*_uses("dvc"), 'sh("dvc repro", cwd=project)')
    assert not _is_used(*_uses("evidently"), "# only evidently pulls plotly in")
