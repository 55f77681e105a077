"""A self-check quiz: multiple choice with instant feedback.

In JupyterLab it renders as ipywidgets (pick an answer, press *Check*). Where no widget
front end is present (nbconvert, a plain-text viewer, GitHub), it shows a readable text
form with the answers at the end.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import ipywidgets as widgets

_LETTERS = "abcdefgh"


@dataclass(frozen=True)
class Question:
    """One question: the prompt, its options, the index of the right option, and why."""

    prompt: str
    options: list[str]
    answer: int
    why: str

    def __post_init__(self) -> None:
        if not 2 <= len(self.options) <= len(_LETTERS):
            raise ValueError(f"{self.prompt!r}: give 2 to {len(_LETTERS)} options.")
        if not 0 <= self.answer < len(self.options):
            raise ValueError(f"{self.prompt!r}: answer must index one of the options.")


def feedback(question: Question, choice: int | None) -> str:
    """The feedback shown for a choice (``None`` when nothing is picked yet)."""
    if choice is None:
        return "Pick an answer first."
    if choice == question.answer:
        return f"Correct. {question.why}"
    return f"Not quite: try again. Hint: {question.why.split('.')[0]}."


class Quiz:
    """A list of questions, displayed as widgets with a plain-text fallback."""

    def __init__(self, title: str, questions: list[Question]) -> None:
        self.title = title
        self.questions = questions

    def _question_widget(self, number: int, question: Question) -> widgets.Widget:
        choices = widgets.RadioButtons(
            options=[(f"{_LETTERS[i]}) {text}", i) for i, text in enumerate(question.options)],
            value=None,
            layout=widgets.Layout(width="max-content"),
        )
        check = widgets.Button(description="Check", button_style="primary")
        result = widgets.HTML()

        def on_check(_: widgets.Button) -> None:
            ok = choices.value == question.answer
            colour = "green" if ok else "#b00"
            result.value = f"<span style='color:{colour}'>{feedback(question, choices.value)}</span>"

        check.on_click(on_check)
        prompt = widgets.HTML(f"<b>{number}. {question.prompt}</b>")
        return widgets.VBox([prompt, choices, widgets.HBox([check, result])])

    def widget(self) -> widgets.Widget:
        header = widgets.HTML(f"<h4>{self.title}</h4>")
        items = [self._question_widget(n, q) for n, q in enumerate(self.questions, start=1)]
        return widgets.VBox([header, *items])

    def text(self) -> str:
        lines = [self.title, ""]
        for number, question in enumerate(self.questions, start=1):
            lines.append(f"{number}. {question.prompt}")
            lines += [f"   {_LETTERS[i]}) {option}" for i, option in enumerate(question.options)]
            lines.append("")
        key = ", ".join(f"{n}{_LETTERS[q.answer]}" for n, q in enumerate(self.questions, start=1))
        lines.append(f"Answers (try first!): {key}")
        return "\n".join(lines)

    def _repr_mimebundle_(self, **kwargs: Any) -> dict[str, Any]:
        bundle = self.widget()._repr_mimebundle_(**kwargs)
        data = bundle[0] if isinstance(bundle, tuple) else bundle
        data["text/plain"] = self.text()
        return data


def quiz(title: str, questions: list[Question]) -> Quiz:
    """Build the end-of-chapter quiz; make it the last expression of a cell to show it."""
    return Quiz(title, questions)
