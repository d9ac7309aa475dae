"""Where apps above consent add a question to the public subscribe page (the surveys app
asks "how did you hear of us"). Registered from AppConfig.ready()."""

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django import forms

from profiles.models import Profile


@dataclass(frozen=True)
class SubscribeQuestion:
    name: str
    # Builds the form field anew for each page (e.g. options in random order).
    field: Callable[[], forms.Field]
    # Called after a subscription request with the customer and the (non-empty) answer.
    save: Callable[[Profile, Any, dt.datetime], None]


subscribe_questions: dict[str, SubscribeQuestion] = {}


def register_subscribe_question(question: SubscribeQuestion) -> None:
    subscribe_questions[question.name] = question
