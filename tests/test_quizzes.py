"""The lesson quizzes teach (COURSE_GUIDE.md, "Quizzes teach"; issue 14).

Right answers are spread over the positions, nothing shows an answer before the learner tries
(not the text fallback, not the cell, not the widgets' front-end state), a hint points the way
without the explanation or the right option, prompts and options are Markdown, and every lesson
closes with open questions and further reading.
"""
from __future__ import annotations

import ast
import html
import re
from collections import Counter
from dataclasses import replace
from pathlib import Path

import ipywidgets as widgets
import nbformat
import pytest

from mlops_course.quiz import Question, Quiz, feedback, markdown_html, question_html, quiz

ROOT = Path(__file__).resolve().parents[1]
LESSONS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
MAX_SHARE = 0.40
TAG = re.compile(r"<[^>]+>")
LINK = re.compile(r"\[[^\]]+\]\((https?://[^)\s]+)\)")


def _ids(paths: list[Path]) -> list[str]:
    return [p.stem for p in paths]


def quiz_cell(path: Path) -> nbformat.NotebookNode:
    """The lesson's quiz cell: the last code cell that calls quiz(...)."""
    nb = nbformat.read(path, as_version=4)
    cells = [c for c in nb.cells if c.cell_type == "code" and "quiz(" in c.source]
    assert cells, f"{path.name} has no quiz cell"
    return cells[-1]


def _call_name(node: ast.Call) -> str:
    return node.func.id if isinstance(node.func, ast.Name) else getattr(node.func, "attr", "")


def lesson_quiz(path: Path) -> Quiz:
    """The quiz a lesson builds, read from its cell's literal arguments (nothing is executed)."""
    calls = [n for n in ast.walk(ast.parse(quiz_cell(path).source)) if isinstance(n, ast.Call)]
    questions = []
    for call in (c for c in calls if _call_name(c) == "Question"):
        args = [ast.literal_eval(a) for a in call.args]
        kwargs = {k.arg: ast.literal_eval(k.value) for k in call.keywords}
        questions.append(Question(*args, **kwargs))
    title = next(ast.literal_eval(c.args[0]) for c in calls if _call_name(c) == "quiz")
    return quiz(title, questions)


def normalise(text: str) -> str:
    """Lower case, without Markdown backticks and with single spaces, for containment checks."""
    return " ".join(text.replace("`", "").lower().split()).rstrip(".")


def first_sentence(text: str) -> str:
    return re.split(r"(?<=[.;:])\s", text, maxsplit=1)[0]


def plain_text(fragment: str) -> str:
    """What a reader sees of an HTML fragment: tags dropped, entities decoded."""
    return html.unescape(TAG.sub("", fragment))


def stored_text(path: Path) -> str:
    """The text/plain the lesson stores for its quiz: what GitHub and nbconvert show."""
    outputs = quiz_cell(path).get("outputs", [])
    texts = [o.get("data", {}).get("text/plain", "") for o in outputs if o.get("output_type") == "execute_result"]
    assert texts, f"{path.name}: the quiz cell stores no output; run mlops-course execute"
    return "".join(texts)


# --- answer positions -----------------------------------------------------------------------

def test_right_answers_are_spread_over_positions() -> None:
    positions = Counter(q.answer for path in LESSONS for q in lesson_quiz(path).questions)
    total = sum(positions.values())
    letter, count = max(positions.items(), key=lambda item: item[1])
    assert count <= MAX_SHARE * total, (
        f"{count} of {total} right answers are option {'abcdefgh'[letter]}; at most {MAX_SHARE:.0%} "
        f"may share a position (now {dict(sorted(positions.items()))}). Reorder some options.")


@pytest.mark.parametrize("path", LESSONS, ids=_ids(LESSONS))
def test_no_lesson_has_every_answer_at_one_position(path: Path) -> None:
    answers = {q.answer for q in lesson_quiz(path).questions}
    assert len(answers) > 1, f"every right answer in {path.name} is option {'abcdefgh'[answers.pop()]}"


# --- hints -------------------------------------------------------------------------------------

@pytest.mark.parametrize("path", LESSONS, ids=_ids(LESSONS))
def test_hints_point_the_way_without_the_answer(path: Path) -> None:
    for number, question in enumerate(lesson_quiz(path).questions, start=1):
        hint = normalise(question.hint)
        assert hint, f"question {number} has no hint"
        assert normalise(first_sentence(question.why)) not in hint, (
            f"question {number}: the hint repeats the explanation ({question.why!r})")
        assert normalise(question.options[question.answer]) not in hint, (
            f"question {number}: the hint contains the right option ({question.options[question.answer]!r})")


def test_feedback_gives_the_hint_for_a_wrong_answer_and_the_why_for_the_right_one() -> None:
    question = Question("Pick `b`", ["a", "b"], 1, "Because b.", hint="Not the first.")
    assert feedback(question, 0) == "Not quite: try again. Hint: Not the first."
    assert feedback(question, 1) == "Correct. Because b."


# --- nothing shows an answer before a try ------------------------------------------------------

@pytest.mark.parametrize("path", LESSONS, ids=_ids(LESSONS))
def test_text_fallback_never_contains_the_answers(path: Path) -> None:
    lesson = lesson_quiz(path)
    text = stored_text(path)
    assert text == lesson.text(), f"{path.name}: the stored quiz output is stale; run mlops-course execute"
    moved = Quiz(lesson.title, [replace(q, answer=(q.answer + 1) % len(q.options)) for q in lesson.questions])
    assert moved.text() == text, "the text fallback changes with the right answers, so it gives them away"
    for number, question in enumerate(lesson.questions, start=1):
        assert normalise(question.why) not in normalise(text), f"the text fallback explains question {number}"
        assert normalise(question.hint) not in normalise(text), f"the text fallback shows question {number}'s hint"


@pytest.mark.parametrize("path", LESSONS, ids=_ids(LESSONS))
def test_quiz_cell_keeps_its_answers_out_of_sight(path: Path) -> None:
    cell = quiz_cell(path)
    hidden = cell.metadata.get("jupyter", {}).get("source_hidden") is True
    assert hidden or "Question(" not in cell.source, (
        f"{path.name}: the quiz cell shows its answers; set its metadata "
        '{"jupyter": {"source_hidden": true}} or keep the questions out of the cell')


@pytest.mark.parametrize("path", LESSONS, ids=_ids(LESSONS))
def test_stored_widget_state_holds_no_explanation_or_hint(path: Path) -> None:
    """The widget state saved in the notebook is what a browser receives before anyone clicks."""
    state = repr(nbformat.read(path, as_version=4).metadata.get("widgets", {}))
    for number, question in enumerate(lesson_quiz(path).questions, start=1):
        for secret in (question.why, question.hint):
            assert html.escape(secret) not in state and secret not in state, (
                f"{path.name}: the stored widget state shows question {number}'s {secret!r}")


def _all_widgets(root: widgets.Widget) -> list[widgets.Widget]:
    found = [root]
    for child in getattr(root, "children", ()):
        found += _all_widgets(child)
    return found


def test_widgets_send_no_answer_to_the_browser_until_checked() -> None:
    question = Question("2 + 2?", ["3", "4", "5"], 1, "Count them: four.", hint="Use your fingers.")
    shown = _all_widgets(quiz("Q", [question]).widget())
    state = repr([w.get_state() for w in shown])
    assert "four" not in state and "fingers" not in state
    radio = next(w for w in shown if isinstance(w, widgets.RadioButtons))
    check = next(w for w in shown if isinstance(w, widgets.Button))
    result = [w for w in shown if isinstance(w, widgets.HTML)][-1]
    radio.value = 0
    check.click()
    assert "Not quite" in result.value and "fingers" in result.value and "four" not in result.value
    radio.value = 1
    check.click()
    assert "Correct." in result.value and "four" in result.value


# --- Markdown ----------------------------------------------------------------------------------

def test_prompts_and_options_render_as_markdown() -> None:
    rendered = question_html(1, Question("Run `dvc repro`?", ["**yes**", "`**/x`"], 0, "Why.", hint="Hint."))
    assert "<code>dvc repro</code>" in rendered and "<strong>yes</strong>" in rendered
    assert "<code>**/x</code>" in rendered and "`" not in rendered
    assert markdown_html("<script>x</script>") == "&lt;script&gt;x&lt;/script&gt;"


@pytest.mark.parametrize("path", LESSONS, ids=_ids(LESSONS))
def test_markdown_keeps_every_character_of_prompts_and_options(path: Path) -> None:
    """Unbalanced backticks or bare `__name__` / `*` would be eaten by Markdown: code goes in backticks."""
    for number, question in enumerate(lesson_quiz(path).questions, start=1):
        for text in [question.prompt, *question.options]:
            assert plain_text(markdown_html(text)) == text.replace("`", ""), (
                f"question {number}: {text!r} does not survive Markdown; put code in backticks")


# --- the end of a lesson -----------------------------------------------------------------------

@pytest.mark.parametrize("path", LESSONS, ids=_ids(LESSONS))
def test_lesson_ends_with_open_questions_and_further_reading(path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    cells = [c.source for c in nb.cells if c.cell_type == "markdown" and c.source.startswith("## Open questions")]
    assert cells, f"{path.name} needs a markdown cell starting '## Open questions' after the quiz"
    assert "## Further reading" in cells[0], "the open questions cell needs a '## Further reading' section"
    questions_part, reading_part = cells[0].split("## Further reading", 1)
    questions = re.findall(r"(?m)^\d+\. .*\?$", questions_part)
    assert 1 <= len(questions) <= 2, f"give one or two open questions, numbered, each ending in '?' ({len(questions)})"
    assert LINK.search(reading_part), "further reading needs at least one link"
