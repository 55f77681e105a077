"""environment.yml, binder/environment.yml and requirements.lock agree, and Binder is set up."""
from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PIN = re.compile(r"^\s+- ([A-Za-z0-9_.-]+)==([^\s#]+)")


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _lock() -> dict[str, str]:
    pins = {}
    for line in (ROOT / "requirements.lock").read_text().splitlines():
        if line and not line.startswith("#"):
            name, version = line.split("==")
            pins[_norm(name)] = version.strip()
    return pins


def test_binder_environment_is_the_same_file() -> None:
    assert (ROOT / "binder" / "environment.yml").read_text() == (ROOT / "environment.yml").read_text()


def test_every_direct_pin_is_exact_commented_and_locked() -> None:
    lock = _lock()
    lines = [l for l in (ROOT / "environment.yml").read_text().splitlines() if PIN.match(l)]
    assert len(lines) >= 20
    for line in lines:
        name, version = PIN.match(line).groups()
        assert "#" in line, f"{name}: say which chapter needs it"
        assert lock.get(_norm(name)) == version, f"{name}=={version} disagrees with requirements.lock"
    assert "python=3.11" in (ROOT / "environment.yml").read_text()


def test_lock_is_fully_pinned() -> None:
    for name, version in _lock().items():
        assert re.fullmatch(r"[0-9][0-9A-Za-z.+!-]*", version), f"{name} is not pinned exactly"


def test_postbuild_installs_the_package_and_limits_nbgrader() -> None:
    text = (ROOT / "binder" / "postBuild").read_text()
    assert text.startswith("#!/") and "set -e" in text
    assert "pip install" in text and "--no-deps" in text
    assert "DO_NOT_TRACK" in text and "bash binder/configure-jupyter.sh" in text
    jupyter = (ROOT / "binder" / "configure-jupyter.sh").read_text()
    assert "set -e" in jupyter
    assert 'disable --level=sys_prefix "@jupyter/nbgrader:formgrader"' in jupyter
    assert 'disable --level=sys_prefix "@jupyter/nbgrader:create-assignment"' in jupyter
    assert 'enable --level=sys_prefix "@jupyter/nbgrader:validate-assignment"' in jupyter
    assert "bash binder/configure-jupyter.sh" in (ROOT / "Makefile").read_text()
