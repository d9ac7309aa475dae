"""The sunset rule's second step: after the grace period, customers who were asked whether
they still want commercial mail and did not react stop getting it (consent's
sunset_apply). The first step, asking them, is a trigger (campaigns/triggers.py)."""

import datetime as dt

from django.db.models import Exists, OuterRef, Q

from consent.models import ContactPreference
from consent.services import sunset_apply

from .models import Delivery, Send, SendStatus, SunsetPolicy, TriggerKind


def sunset_expire(*, now: dt.datetime) -> int:
    """After the grace period: customers who were asked and did not react (no open or
    click since, not on the preference page) stop getting commercial mail."""

    policy = SunsetPolicy.current()
    if not policy.active:
        return 0
    deadline = now - dt.timedelta(days=policy.grace_days)
    asked = Send.objects.filter(
        campaign__trigger=TriggerKind.SUNSET,
        status=SendStatus.SENT,
        finished_at__lte=deadline,
        finished_at__gte=deadline - dt.timedelta(days=policy.days),
    )
    reacted = Delivery.objects.filter(profile=OuterRef("profile_id")).filter(
        Q(opened_at__gte=OuterRef("finished_at")) | Q(clicked_at__gte=OuterRef("finished_at"))
    )
    answered = ContactPreference.objects.filter(
        profile=OuterRef("profile_id"), sunset_lifted_at__gte=OuterRef("finished_at")
    )
    stopped = ContactPreference.objects.filter(
        profile=OuterRef("profile_id"), sunset_at__isnull=False
    )
    silent = asked.filter(~Exists(reacted), ~Exists(answered), ~Exists(stopped))
    asked_at: dict[int, dt.datetime] = {}
    for profile_id, finished_at in silent.values_list("profile_id", "finished_at"):
        if finished_at is not None:  # a sent send always has its moment
            asked_at[profile_id] = max(finished_at, asked_at.get(profile_id, finished_at))
    return sunset_apply(asked=asked_at, now=now)
