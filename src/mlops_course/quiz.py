"""A self-check quiz: multiple choice with instant feedback.

In JupyterLab it renders as ipywidgets: each prompt and its lettered options as Markdown, a row
of radio buttons to pick a letter, and *Check*. A right pick shows the explanation (`why`); a
wrong one shows the question's own `hint`, which points the way without giving the answer.
The answers stay in the kernel: the front end and the plain-text fallback (nbconvert, GitHub)
show only the questions, so a learner has to try before seeing anything.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import ipywidgets as widgets
import mistune

_LETTERS = "abcdefgh"
_render_markdown = mistune.create_markdown(escape=True)
_ONE_PARAGRAPH = re.compile(r"^<p>(.*)</p>\s*$", re.DOTALL)


@dataclass(frozen=True)
class Question:
    """One question: the prompt, its options, the index of the right option, why it is right,
    and a hint for a wrong pick (it must not repeat `why` or the right option)."""

    prompt: str
    options: list[str]
    answer: int
    why: str
    hint: str

    def __post_init__(self) -> None:
        if not 2 <= len(self.options) <= len(_LETTERS):
            raise ValueError(f"{self.prompt!r}: give 2 to {len(_LETTERS)} options.")
        if not 0 <= self.answer < len(self.options):
            raise ValueError(f"{self.prompt!r}: answer must index one of the options.")
        if not self.hint.strip():
            raise ValueError(f"{self.prompt!r}: give a hint for a wrong answer.")


def markdown_html(text: str) -> str:
    """Markdown as HTML (raw HTML escaped); a single paragraph comes back without its <p>."""
    html = _render_markdown(text)
    single = _ONE_PARAGRAPH.match(html)
    return single.group(1) if single and "<p>" not in single.group(1) else html.strip()


def feedback(question: Question, choice: int | None) -> str:
    """The feedback (Markdown) for a choice (``None`` when nothing is picked yet)."""
    if choice is None:
        return "Pick an answer first."
    if choice == question.answer:
        return f"Correct. {question.why}"
    return f"Not quite: try again. Hint: {question.hint}"


def question_html(number: int, question: Question) -> str:
    """The prompt and its lettered options, rendered from Markdown."""
    options = "".join(
        f"<li><b>{_LETTERS[i]})</b> {markdown_html(text)}</li>" for i, text in enumerate(question.options))
    return (f"<div><b>{number}.</b> {markdown_html(question.prompt)}</div>"
            f"<ul style='list-style:none; padding-left:1em; margin:0.3em 0'>{options}</ul>")


class Quiz:
    """A list of questions, displayed as widgets with a plain-text fallback without answers."""

    def __init__(self, title: str, questions: list[Question]) -> None:
        self.title = title
        self.questions = questions

    def _question_widget(self, number: int, question: Question) -> widgets.Widget:
        choices = widgets.RadioButtons(
            options=[(_LETTERS[i], i) for i in range(len(question.options))],
            value=None,
            orientation="horizontal",
            description="Your answer:",
            style={"description_width": "initial"},
        )
        check = widgets.Button(description="Check", button_style="primary")
        result = widgets.HTML()

        def on_check(_: widgets.Button) -> None:
            ok = choices.value == question.answer
            colour = "green" if ok else "#b00"
            result.value = f"<span style='color:{colour}'>{markdown_html(feedback(question, choices.value))}</span>"

        check.on_click(on_check)
        prompt = widgets.HTML(question_html(number, question))
        return widgets.VBox([prompt, choices, widgets.HBox([check, result])])

    def widget(self) -> widgets.Widget:
        header = widgets.HTML(f"<h4>{markdown_html(self.title)}</h4>")
        items = [self._question_widget(n, q) for n, q in enumerate(self.questions, start=1)]
        return widgets.VBox([header, *items])

    def text(self) -> str:
        """The questions as plain text, for viewers without widgets; no answers, no hints."""
        lines = [self.title, ""]
        for number, question in enumerate(self.questions, start=1):
            lines.append(f"{number}. {question.prompt}")
            lines += [f"   {_LETTERS[i]}) {option}" for i, option in enumerate(question.options)]
            lines.append("")
        lines.append("Run this cell in JupyterLab to check each answer and get a hint when it is wrong.")
        return "\n".join(lines)

    def _repr_mimebundle_(self, **kwargs: Any) -> dict[str, Any]:
        bundle = self.widget()._repr_mimebundle_(**kwargs)
        data = bundle[0] if isinstance(bundle, tuple) else bundle
        data["text/plain"] = self.text()
        return data


def quiz(title: str, questions: list[Question]) -> Quiz:
    """Build the end-of-chapter quiz; make it the last expression of a cell to show it."""
    return Quiz(title, questions)
