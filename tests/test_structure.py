"""Every lesson and lab follows the course conventions (COURSE_GUIDE.md)."""
from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest

from mlops_course.chapters import CHAPTERS, binder_url
from mlops_course.navigation import FOOTER_TAG, HEADER_TAG, footer_text, header_text
from mlops_course.notebook_metadata import KERNELSPEC, LANGUAGE_INFO

ROOT = Path(__file__).resolve().parents[1]
LESSONS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
SOLUTIONS = sorted((ROOT / "solutions").glob("lab*/lab*.ipynb"))
LABS = sorted((ROOT / "labs").glob("lab*/lab*.ipynb"))
ALL = LESSONS + SOLUTIONS + LABS
LINK = re.compile(r"\]\(([^)\s]+)\)")
ABSOLUTE = re.compile(r"(/root/|/home/[A-Za-z]|/tmp/[A-Za-z0-9_]|/work/|/Users/[A-Za-z]|[A-Z]:\\\\Users)")


def _chapter(path: Path):
    return next(c for c in CHAPTERS if c.lesson == path.stem)


def _ids(paths: list[Path]) -> list[str]:
    return [p.relative_to(ROOT).as_posix() for p in paths]


def test_there_is_a_first_lesson() -> None:
    assert (ROOT / "notebooks" / "00_lifecycle.ipynb").is_file()


@pytest.mark.parametrize("path", ALL, ids=_ids(ALL))
def test_kernel_metadata_is_what_jupyterlab_writes(path: Path) -> None:
    """JupyterLab marks a notebook modified on open when its kernelspec or language_info differs
    from what the kernel reports (then "Save changes?" on close, and a dirty git status)."""
    nb = nbformat.read(path, as_version=4)
    assert nb.metadata.get("kernelspec") == KERNELSPEC
    assert nb.metadata.get("language_info") == LANGUAGE_INFO, (
        "run `mlops-course build-labs` (labs) or re-execute the lesson; solutions: "
        "mlops_course.notebook_metadata.stamp")


@pytest.mark.parametrize("path", LESSONS, ids=_ids(LESSONS))
def test_lesson_header(path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    chapter = _chapter(path)
    first, second = nb.cells[0], nb.cells[1]
    assert HEADER_TAG in first.metadata.get("tags", []), "cell 1 must be the generated navigation header"
    assert first.source == header_text(chapter, ROOT), "navigation is stale: run mlops-course build-labs"
    assert binder_url(chapter.lesson_path) in first.source
    assert second.cell_type == "markdown" and second.source.startswith(f"# {chapter.number} · ")
    for heading in ("What you will learn", "Time", "Prerequisites"):
        assert heading in second.source, f"the title cell needs '{heading}'"
    bullets = second.source.split("What you will learn", 1)[1].split("\n\n**", 1)[0]
    assert 3 <= bullets.count("\n- ") <= 6, "'What you will learn' has 3 to 6 bullets"


@pytest.mark.parametrize("path", LESSONS, ids=_ids(LESSONS))
def test_lesson_footer(path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    chapter = _chapter(path)
    assert FOOTER_TAG in nb.cells[-1].metadata.get("tags", []), "the last cell must be the navigation footer"
    assert nb.cells[-1].source == footer_text(chapter, ROOT), "navigation is stale: run mlops-course build-labs"
    assert chapter.lab_path in nb.cells[-1].source, "the footer links to the chapter's lab"
    sources = [c.source for c in nb.cells]
    assert any(c.cell_type == "markdown" and c.source.startswith("## Summary") for c in nb.cells)
    quiz_cells = [s for s in sources if "quiz(" in s]
    assert quiz_cells, "a lesson ends with a quiz"
    assert 3 <= quiz_cells[-1].count("Question(") <= 5, "the quiz has 3 to 5 questions"


@pytest.mark.parametrize("path", LESSONS, ids=_ids(LESSONS))
def test_lesson_uses_its_workspace(path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    assert code.count(f'workspace("{path.stem}")') == 1, f'call workspace("{path.stem}") once'


@pytest.mark.parametrize("path", LESSONS, ids=_ids(LESSONS))
def test_lesson_outputs_are_stored_and_few_are_ignored(path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(c.get("execution_count") for c in code), "store the outputs: run mlops-course execute"
    ignored = sum("# NBVAL_IGNORE_OUTPUT" in c.source for c in code)
    assert ignored * 5 < len(code), f"{ignored} of {len(code)} code cells ignore their output"


@pytest.mark.parametrize("path", LESSONS, ids=_ids(LESSONS))
def test_nbval_markers_are_whole_comment_lines(path: Path) -> None:
    """nbval honours `# NBVAL_IGNORE_OUTPUT` only as a whole line: with more text on the line
    (`# NBVAL_IGNORE_OUTPUT: why`) the output is compared after all, and fails on another machine."""
    nb = nbformat.read(path, as_version=4)
    for number, cell in enumerate(nb.cells, start=1):
        if cell.cell_type != "code":
            continue
        for line in cell.source.splitlines():
            if "NBVAL_" in line and line.lstrip().startswith("#"):
                assert re.fullmatch(r"\s*#\s*NBVAL_[A-Z_]+\s*", line), (
                    f"cell {number}: {line.strip()!r} is not a marker nbval reads; put the marker alone on "
                    "its line and explain it in a comment on the next line")


@pytest.mark.parametrize("path", LESSONS + SOLUTIONS, ids=_ids(LESSONS + SOLUTIONS))
def test_no_absolute_paths_in_outputs(path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    for number, cell in enumerate(nb.cells, start=1):
        for output in cell.get("outputs", []):
            text = str(output.get("text", "")) + str(output.get("data", {}).get("text/plain", ""))
            text += str(output.get("data", {}).get("text/html", ""))
            assert not ABSOLUTE.search(text), f"cell {number} shows an absolute path: {ABSOLUTE.search(text)[0]}"


@pytest.mark.parametrize("path", ALL, ids=_ids(ALL))
def test_relative_links_resolve(path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        if cell.cell_type != "markdown":
            continue
        for target in LINK.findall(cell.source):
            if re.match(r"^[a-z]+:", target) or target.startswith("#"):
                continue
            file_part = target.split("#")[0]
            assert (path.parent / file_part).exists(), f"broken link {target}"


@pytest.mark.parametrize("path", SOLUTIONS, ids=_ids(SOLUTIONS))
def test_lab_has_statements_and_hidden_tests(path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    grade_cells = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade")]
    assert len(grade_cells) >= 4, "a lab has at least 4 graded test cells"
    # Every task has hidden tests (a task may split its checks over several test cells).
    tasks: dict[str, bool] = {}
    for cell in grade_cells:
        task = re.match(r"test_(task\d+)", cell.metadata["nbgrader"]["grade_id"])
        key = task.group(1) if task else cell.metadata["nbgrader"]["grade_id"]
        tasks[key] = tasks.get(key, False) or "### BEGIN HIDDEN TESTS" in cell.source
    assert all(tasks.values()), f"every task has hidden tests; these have none: {[t for t, h in tasks.items() if not h]}"
    solutions = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("solution")]
    assert all("### BEGIN SOLUTION" in c.source for c in solutions)


def test_readme_links_every_chapter() -> None:
    readme = (ROOT / "README.md").read_text()
    for chapter in CHAPTERS:
        if (ROOT / chapter.lesson_path).exists():
            assert f"({chapter.lesson_path})" in readme, f"README's chapter table misses {chapter.lesson}"
            assert f"({chapter.lab_path})" in readme, f"README's chapter table misses {chapter.lab}"


@pytest.mark.parametrize("path", LESSONS, ids=_ids(LESSONS))
def test_no_trailing_semicolon_to_hide_output(path: Path) -> None:
    """nbval runs cells without storing history, and IPython 9 then ignores a trailing ';':
    the value shows under nbval but not in JupyterLab, so stored outputs never match."""
    nb = nbformat.read(path, as_version=4)
    for number, cell in enumerate(nb.cells, start=1):
        lines = [l for l in cell.source.splitlines() if l.strip() and not l.strip().startswith("#")]
        if cell.cell_type == "code" and lines and lines[-1].rstrip().endswith(";"):
            raise AssertionError(f"cell {number} ends with ';' to hide its value: assign it instead (_ = ...)")
