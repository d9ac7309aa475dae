"""Demo answers for `make run`: NPS over the past year (mostly promoters, some
detractors), "how did you hear of us", reasons rankings and a few exit answers."""

import datetime as dt
import random

from django.db import transaction

from profiles.models import Profile

from .models import Answer, Survey
from .services import answer_submit, invitation_create

WHY = [
    "Snelle levering en goed verpakt.",
    "Fijne service toen ik iets wilde ruilen.",
    "Prima, maar de verzendkosten zijn hoog.",
    "Mooie collectie, wel wat prijzig.",
    "Het duurde lang voor mijn pakket kwam.",
    "",
    "",
]
OTHER = ["Op de markt", "Via mijn werk", "Een flyer in de brievenbus", "Zag de winkel in Utrecht"]


@transaction.atomic
def load_demo_answers(profiles: list[Profile], rng: random.Random, now: dt.datetime) -> str:
    if Answer.objects.filter(profile__in=profiles).exists():
        return "demo answers already loaded"
    surveys = {s.key: s for s in Survey.objects.all()}
    counts = {"nps": 0, "heard-of-us": 0, "reasons": 0, "exit": 0}
    for profile in profiles:
        when = now - dt.timedelta(days=rng.uniform(1, 360))
        if profile.order_count and rng.random() < 0.55 and "nps" in surveys:
            invitation = invitation_create(survey=surveys["nps"], profile=profile, now=when)
            score = rng.choices(range(11), weights=[1, 1, 1, 2, 2, 3, 4, 8, 12, 14, 12])[0]
            answer_submit(
                survey=surveys["nps"],
                profile=profile,
                data={"score": score, "why": rng.choice(WHY)},
                now=when + dt.timedelta(hours=rng.uniform(1, 48)),
                invitation=invitation,
            )
            counts["nps"] += 1
        if rng.random() < 0.35 and "heard-of-us" in surveys:
            options = [o["key"] for o in surveys["heard-of-us"].options]
            choice = rng.choices(options, weights=[6, 4, 5, 2, 1, 1, 2, 1][: len(options)])[0]
            answer_submit(
                survey=surveys["heard-of-us"],
                profile=profile,
                data={"choice": choice, "other_text": rng.choice(OTHER)},
                now=when,
                source="subscribe",
            )
            counts["heard-of-us"] += 1
        if profile.order_count and rng.random() < 0.2 and "reasons" in surveys:
            keys = [o["key"] for o in surveys["reasons"].options]
            order = rng.sample(keys, len(keys))
            answer_submit(
                survey=surveys["reasons"],
                profile=profile,
                data={f"rank_{key}": order.index(key) + 1 for key in keys},
                now=when,
            )
            counts["reasons"] += 1
        if profile.lifecycle_stage == "churned" and "exit" in surveys:
            options = [o["key"] for o in surveys["exit"].options]
            answer_submit(
                survey=surveys["exit"],
                profile=profile,
                data={"choice": rng.choice(options[:-1])},
                now=when,
            )
            counts["exit"] += 1
    return ", ".join(f"{n} {key}" for key, n in counts.items()) + " answers"
