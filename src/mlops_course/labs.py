"""``mlops-course build-labs``: regenerate ``labs/`` from ``solutions/`` with nbgrader."""
from __future__ import annotations

import filecmp
import shutil
import tempfile
from pathlib import Path

import nbformat

from mlops_course.nbgrader_course import generate_assignment, make_course
from mlops_course.navigation import refresh_navigation
from mlops_course.notebook_metadata import stamp


def solution_folders(root: Path) -> list[Path]:
    """Every lab source folder, ``solutions/labNN_topic/``, in order."""
    return sorted(p for p in (root / "solutions").glob("lab*") if (p / f"{p.name}.ipynb").is_file())


def generate_lab(solution_folder: Path, destination: Path) -> Path:
    """Write the student version of one lab to ``destination/<lab>/``."""
    with tempfile.TemporaryDirectory(prefix="mlops-build-") as scratch:
        course = make_course(solution_folder, Path(scratch))
        release = generate_assignment(course)
        target = destination / solution_folder.name
        if target.exists():
            shutil.rmtree(target)
        shutil.copytree(release, target)
    for notebook_path in target.glob("*.ipynb"):
        _stamp_kernel_metadata(notebook_path)
    return target


def _stamp_kernel_metadata(path: Path) -> None:
    """Store the kernel's full metadata so JupyterLab opens the lab unmodified."""
    notebook = nbformat.read(path, as_version=nbformat.NO_CONVERT)
    stamp(notebook.metadata)
    nbformat.write(notebook, path)


def build_labs(root: Path, destination: Path | None = None, only: str | None = None) -> list[Path]:
    """Regenerate every lab (or only the one named ``only``) into ``labs/`` unless told
    otherwise, and refresh the lessons' navigation cells."""
    out = destination or root / "labs"
    folders = [f for f in solution_folders(root) if only is None or only in (f.name, f.name[3:])]
    built = [generate_lab(folder, out) for folder in folders]
    if destination is None:
        refresh_navigation(root, only=only)
    return built


def differences(left: Path, right: Path) -> list[str]:
    """Files that differ between two folder trees, as relative paths (empty when in sync)."""
    compare = filecmp.dircmp(left, right, ignore=["__pycache__", ".ipynb_checkpoints"])
    found = [f"only in {left.name}: {n}" for n in compare.left_only]
    found += [f"only in {right.name}: {n}" for n in compare.right_only]
    found += [f"differs: {n}" for n in compare.diff_files]
    for name, sub in compare.subdirs.items():
        found += [f"{name}/{item}" for item in differences(Path(sub.left), Path(sub.right))]
    return found
