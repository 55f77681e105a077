"""Keep every lesson's navigation cells right (after jakevdp's ``tools/add_navigation.py``).

Each lesson starts with a generated header cell (course contents, previous and next
lesson, an Open-in-Binder badge) and ends with a generated footer (the lab, how to check
it, the next lesson). Both carry a cell tag so this script can find and rewrite them;
never edit them by hand. Links point only at files that exist.
"""
from __future__ import annotations

from pathlib import Path

import nbformat

from mlops_course.chapters import CHAPTERS, Chapter, binder_url

HEADER_TAG = "navigation-header"
FOOTER_TAG = "navigation-footer"
BINDER_BADGE = "https://mybinder.org/badge_logo.svg"


def _existing(root: Path) -> list[Chapter]:
    return [c for c in CHAPTERS if (root / c.lesson_path).is_file()]


def header_text(chapter: Chapter, root: Path) -> str:
    chapters = _existing(root)
    index = chapters.index(chapter)
    parts = ["[Hands-On MLOps](../README.md#chapters)"]
    if index > 0:
        before = chapters[index - 1]
        parts.append(f"[← {before.number} · {before.title}]({before.lesson}.ipynb)")
    if index + 1 < len(chapters):
        after = chapters[index + 1]
        parts.append(f"[{after.number} · {after.title} →]({after.lesson}.ipynb)")
    badge = f"[![Open in Binder]({BINDER_BADGE})]({binder_url(chapter.lesson_path)})"
    return " · ".join(parts) + "\n\n" + badge


def footer_text(chapter: Chapter, root: Path) -> str:
    chapters = _existing(root)
    index = chapters.index(chapter)
    lines = ["---", "## Next steps", ""]
    if (root / chapter.lab_path).is_file():
        lines.append(
            f"1. **Do the graded lab:** [Lab {chapter.number} · {chapter.title}]"
            f"(../{chapter.lab_path}). Check your work any time with "
            f"`mlops-course check {chapter.lab_path}` in a terminal."
        )
    if index + 1 < len(chapters):
        after = chapters[index + 1]
        lines.append(f"1. **Continue with** [{after.number} · {after.title}]({after.lesson}.ipynb).")
    else:
        lines.append("1. **This is the last chapter so far.** See the [course map](../README.md#chapters).")
    return "\n".join(lines)


def _set_tagged_cell(nb: nbformat.NotebookNode, tag: str, text: str, at_start: bool) -> bool:
    """Put ``text`` in the cell tagged ``tag`` (adding one if needed); True if anything changed."""
    for cell in nb.cells:
        if tag in cell.get("metadata", {}).get("tags", []):
            if cell.source == text:
                return False
            cell.source = text
            return True
    cell = nbformat.v4.new_markdown_cell(text, metadata={"tags": [tag]})
    nb.cells.insert(0 if at_start else len(nb.cells), cell)
    return True


def refresh_navigation(root: Path, only: str | None = None) -> list[Path]:
    """Rewrite the navigation cells of every lesson under ``root`` (or only the chapter whose
    lesson or lab is named ``only``); return the files changed."""
    changed = []
    for chapter in _existing(root):
        if only is not None and only not in (chapter.lesson, chapter.lab):
            continue
        path = root / chapter.lesson_path
        nb = nbformat.read(path, as_version=4)
        header = _set_tagged_cell(nb, HEADER_TAG, header_text(chapter, root), at_start=True)
        footer = _set_tagged_cell(nb, FOOTER_TAG, footer_text(chapter, root), at_start=False)
        if header or footer:
            nbformat.write(nb, path)
            changed.append(path)
    return changed
