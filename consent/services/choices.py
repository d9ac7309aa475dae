"""What customers choose: withdrawals, the preference page's topics and limits, the soft
opt-in after an order, and the topics' versioned texts."""

import datetime as dt
from collections.abc import Iterable, Mapping

from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from profiles.models import ChangeSource, Profile, ProfileChange

from ..models import (
    Action,
    Category,
    ConsentEvent,
    ConsentState,
    ConsentText,
    ContactPreference,
    Frequency,
    Source,
    Status,
    SuppressionReason,
    Topic,
)
from ..selectors import state_get, suppressed_profile_ids, topic_is_on
from .ledger import ledger_append, ledger_append_many, profile_lock, profiles_lock
from .opt_in import SubscriptionOutcome, opt_ins_close, subscription_request
from .suppression import suppression_add


@transaction.atomic
def consent_withdraw(
    *,
    profile: Profile,
    topic: Topic,
    now: dt.datetime,
    source: str,
    ip: str | None = None,
    user_agent: str = "",
    actor: User | None = None,
) -> bool:
    """Withdraw a topic (for a service topic: opt out of it). Takes effect at once and
    closes any confirmation link still open for it; a second withdrawal changes nothing.
    Returns whether anything changed."""
    if topic.category == Category.TRANSACTIONAL:
        return False  # nothing to withdraw: the customer set these in motion
    profile_lock(profile)
    opt_ins_close(profile=profile, topics=[topic], now=now)
    state = state_get(profile, topic)
    if state and state.status == Status.WITHDRAWN:
        return False
    ledger_append(
        profile=profile,
        topic=topic,
        action=Action.WITHDRAWN,
        now=now,
        source=source,
        ip=ip,
        user_agent=user_agent,
        actor=actor,
    )
    return True


@transaction.atomic
def unsubscribe_everything(
    *,
    profile: Profile,
    now: dt.datetime,
    source: str,
    ip: str | None = None,
    user_agent: str = "",
) -> None:
    """No more commercial or service mail: every topic withdrawn and the customer on the
    do-not-contact list. Transactional mail they set in motion still arrives."""
    for topic in Topic.objects.exclude(category=Category.TRANSACTIONAL):
        consent_withdraw(
            profile=profile, topic=topic, now=now, source=source, ip=ip, user_agent=user_agent
        )
    suppression_add(
        profile=profile, reason=SuppressionReason.UNSUBSCRIBED_ALL, now=now, note=f"via {source}"
    )


@transaction.atomic
def service_resume(
    *,
    profile: Profile,
    topic: Topic,
    now: dt.datetime,
    source: str,
    ip: str | None = None,
    user_agent: str = "",
) -> bool:
    """Turn a service topic back on after an opt-out. Recorded as such: no permission is
    given or needed for service mail, so none is written down."""
    if topic.category != Category.SERVICE:
        raise ValidationError(_("Only service mail can be turned back on like this."))
    profile_lock(profile)
    state = state_get(profile, topic)
    if state is None or state.status != Status.WITHDRAWN:
        return False
    ledger_append(
        profile=profile,
        topic=topic,
        action=Action.RESUMED,
        now=now,
        source=source,
        ip=ip,
        user_agent=user_agent,
    )
    return True


@transaction.atomic
def topics_choose(
    *,
    profile: Profile,
    wanted: Iterable[str],
    now: dt.datetime,
    ip: str | None = None,
    user_agent: str = "",
) -> SubscriptionOutcome | None:
    """The preference page's topic choices: an unticked topic is withdrawn, a ticked
    service topic is turned back on, and a ticked commercial topic starts a double opt-in
    (one confirmation mail for all of them). Returns that opt-in, if one was started."""
    wanted = set(wanted)
    to_confirm = []
    for topic in Topic.objects.filter(public=True).exclude(category=Category.TRANSACTIONAL):
        state = state_get(profile, topic)
        status = state.status if state else Status.NONE
        on = topic_is_on(topic, status)
        if on and topic.key not in wanted:
            consent_withdraw(
                profile=profile,
                topic=topic,
                now=now,
                source=Source.PREFERENCES,
                ip=ip,
                user_agent=user_agent,
            )
        elif not on and topic.key in wanted:
            if topic.category == Category.SERVICE:
                service_resume(
                    profile=profile,
                    topic=topic,
                    now=now,
                    source=Source.PREFERENCES,
                    ip=ip,
                    user_agent=user_agent,
                )
            elif status != Status.PENDING:
                to_confirm.append(topic)
    if not to_confirm:
        return None
    return subscription_request(
        topics=to_confirm,
        profile=profile,
        source=Source.PREFERENCES,
        now=now,
        ip=ip,
        user_agent=user_agent,
    )


def soft_opt_in_grant(
    *, profile: Profile, now: dt.datetime, source: str = Source.ORDER, note: str = ""
) -> list[Topic]:
    """The existing-customer exception after an order where an opt-out was offered: grant
    it for the topics that allow it, unless the customer ever said no (a withdrawal, an
    unsubscribe from everything, a complaint). Returns the topics granted."""
    return soft_opt_in_grant_many([(profile, note)], now=now, source=source).get(profile.pk, [])


def soft_opt_in_grant_many(
    grants: Iterable[tuple[Profile, str]], *, now: dt.datetime, source: str = Source.ORDER
) -> dict[int, list[Topic]]:
    """soft_opt_in_grant for many (customer, note) at once — the orders of an event batch —
    in a fixed number of queries. Returns the topics granted per profile id."""
    notes: dict[int, tuple[Profile, str]] = {}
    for profile, note in grants:
        if not profile.erased_at:
            notes.setdefault(profile.pk, (profile, note))
    if not notes:
        return {}
    topics = list(Topic.objects.filter(category=Category.COMMERCIAL, soft_opt_in_allowed=True))
    decided = set(
        ConsentState.objects.filter(profile_id__in=notes, topic__in=topics)
        .exclude(status__in=[Status.NONE, Status.PENDING])
        .values_list("profile_id", "topic_id")
    )
    # A repeat order has nothing left to grant: no lock, no further query.
    open_ = [
        profile
        for profile, _note in notes.values()
        if any((profile.pk, topic.pk) not in decided for topic in topics)
    ]
    if not open_:
        return {}
    suppressed = suppressed_profile_ids(open_)
    events = [
        ConsentEvent(
            profile=profile,
            topic=topic,
            action=Action.SOFT_OPT_IN,
            consent_text_id=topic.current_text_id,
            note=notes[profile.pk][1] or "opt-out offered at checkout",
        )
        for profile in open_
        if profile.pk not in suppressed
        for topic in topics
        if (profile.pk, topic.pk) not in decided
    ]
    # Decided again under the customers' locks: a withdrawal may have landed in between.
    recorded = ledger_append_many(
        events,
        source=source,
        now=now,
        applies=lambda state: state is None or state.status in (Status.NONE, Status.PENDING),
    )
    granted: dict[int, list[Topic]] = {}
    for event in recorded:
        granted.setdefault(event.profile_id, []).append(event.topic)
    return granted


def preferences_update(
    *,
    profile: Profile,
    paused_until: dt.date | None,
    max_frequency: str,
    no_service_mail: bool,
) -> ContactPreference:
    """The customer's own limits: a pause, a stricter frequency, no service mail."""
    if max_frequency not in Frequency.values:
        raise ValidationError({"max_frequency": _("Choose one of the offered frequencies.")})
    preference, _created = ContactPreference.objects.update_or_create(
        profile=profile,
        defaults={
            "paused_until": paused_until,
            "max_frequency": max_frequency,
            "no_service_mail": no_service_mail,
        },
    )
    return preference


@transaction.atomic
def sunset_apply(*, asked: Mapping[int, dt.datetime], now: dt.datetime) -> int:
    """Stop commercial mail to customers who no longer react (the sunset rule), recorded in
    their change history; reversible by the customer (`sunset_lift`). `asked`: per
    customer, when they were asked. Returns how many were stopped.

    All or nothing, under the customers' locks (as `sunset_lift` takes them): a customer
    who answered since they were asked — also while this rule was picking them — keeps
    their mail, and no one is stopped without the history row that says why."""
    profiles_lock(asked)
    applied = []
    for profile_id, asked_at in sorted(asked.items()):
        preference, _created = ContactPreference.objects.get_or_create(profile_id=profile_id)
        lifted = preference.sunset_lifted_at
        if preference.sunset_at or (lifted is not None and lifted >= asked_at):
            continue
        preference.sunset_at = now
        preference.save(update_fields=["sunset_at", "updated_at"])
        applied.append(profile_id)
    ProfileChange.objects.bulk_create(
        ProfileChange(
            profile_id=profile_id,
            changed_at=now,
            source=ChangeSource.SYSTEM,
            changes={"commercial_mail": ["on", "stopped: no response"]},
            note="sunset rule",
        )
        for profile_id in applied
    )
    return len(applied)


@transaction.atomic
def sunset_lift(*, profile: Profile, now: dt.datetime) -> bool:
    """The customer wants our mail after all: commercial mail resumes (where they gave
    permission). Returns whether anything changed (an answer to the question counts too)."""
    profile_lock(profile)  # one at a time with the sunset rule (sunset_apply)
    preference, _created = ContactPreference.objects.get_or_create(profile=profile)
    was_stopped = preference.sunset_at is not None
    preference.sunset_at = None
    preference.sunset_lifted_at = now
    preference.save(update_fields=["sunset_at", "sunset_lifted_at", "updated_at"])
    if was_stopped:
        ProfileChange.objects.create(
            profile=profile,
            changed_at=now,
            source=ChangeSource.CUSTOMER,
            changes={"commercial_mail": ["stopped: no response", "on"]},
            note="sunset lifted by the customer",
        )
    return was_stopped


@transaction.atomic
def topic_text_set(*, topic: Topic, text_nl: str, text_en: str) -> ConsentText:
    """Make this the topic's consent text. An unchanged text stays the same version; a
    changed one becomes a new version, and earlier consents keep pointing at theirs."""
    current = topic.current_text
    if current and current.text_nl == text_nl and current.text_en == text_en:
        return current
    latest = topic.texts.order_by("-version").first()
    text = ConsentText.objects.create(
        topic=topic, version=(latest.version + 1) if latest else 1, text_nl=text_nl, text_en=text_en
    )
    topic.current_text = text
    topic.save(update_fields=["current_text"])
    return text
