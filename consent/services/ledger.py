"""The consent ledger: append-only, and the current state per topic derived from it."""

import datetime as dt
from collections.abc import Callable, Iterable, Sequence

from django.contrib.auth.models import User
from django.db import transaction

from profiles.models import Profile, WebhookEvent
from profiles.webhooks import webhooks_emit_many

from ..models import Action, Basis, ConsentEvent, ConsentState, LedgerPermit, Status, Topic


def state_fold(state: ConsentState, event: ConsentEvent) -> None:
    """Apply one ledger event to a state. The only place the rules of the state live."""
    action, at = event.action, event.occurred_at
    if action == Action.REQUESTED:
        if state.status != Status.CONFIRMED:
            state.status = Status.PENDING
        state.requested_at = at
    elif action == Action.CONFIRMED:
        state.status, state.basis = Status.CONFIRMED, Basis.DOUBLE_OPT_IN
        state.confirmed_at, state.withdrawn_at = at, None
        state.consent_text_id = event.consent_text_id
    elif action == Action.SOFT_OPT_IN:
        if state.status in (Status.NONE, Status.PENDING):
            state.status, state.basis = Status.CONFIRMED, Basis.SOFT_OPT_IN
            state.confirmed_at = at
            state.consent_text_id = event.consent_text_id
    elif action == Action.RESUMED:
        # Service mail turned back on: no permission is needed or implied, the "no" goes.
        if state.status == Status.WITHDRAWN:
            state.status, state.basis, state.withdrawn_at = Status.NONE, "", None
    elif action == Action.WITHDRAWN:
        state.status, state.basis, state.withdrawn_at = Status.WITHDRAWN, "", at
    elif action == Action.EXPIRED and state.status == Status.PENDING:
        state.status = Status.WITHDRAWN if state.withdrawn_at else Status.NONE
    state.updated_at = at


def state_rebuild(*, profile: Profile, topic: Topic) -> ConsentState:
    """The state as the ledger alone says it is (unsaved): every event, in time order."""
    state = ConsentState(profile=profile, topic=topic, status=Status.NONE)
    events = ConsentEvent.objects.filter(profile=profile, topic=topic).order_by("occurred_at", "id")
    for event in events:
        state_fold(state, event)
    return state


def profile_lock(profile: Profile) -> Profile:
    """Serialise the consent writes of one customer: two at once (two one-click POSTs, a
    confirmation and a withdrawal) would otherwise both read the old state.

    FOR NO KEY UPDATE: it must not block (or deadlock with) a transaction that inserts
    rows pointing at the customer — an event batch takes FOR KEY SHARE for its foreign
    keys, which a plain FOR UPDATE would conflict with."""
    return Profile.objects.select_for_update(no_key=True).get(pk=profile.pk)


def profiles_lock(profile_ids: Iterable[int]) -> None:
    """profile_lock for many customers at once, in one fixed order (no deadlock between
    two writers locking overlapping sets)."""
    ids = sorted(set(profile_ids))
    if ids:
        list(
            Profile.objects.select_for_update(no_key=True)
            .filter(pk__in=ids)
            .order_by("pk")
            .values_list("pk", flat=True)
        )


STATE_FIELDS = (
    "status",
    "basis",
    "requested_at",
    "confirmed_at",
    "withdrawn_at",
    "consent_text_id",
    "updated_at",
)


def _emit(changes: Sequence[tuple[ConsentEvent, str, str]], source: str, now: dt.datetime) -> None:
    """The outgoing webhooks of ledger events: (event, status, basis after it)."""
    webhooks_emit_many(
        [
            (
                WebhookEvent.CONSENT_CHANGED,
                event.profile_id,
                {
                    "user_id": event.profile.user_id,
                    "topic": event.topic.key,
                    "action": event.action,
                    "status": status,
                    "basis": basis,
                },
            )
            for event, status, basis in changes
        ],
        source=source,
        now=now,
    )


@transaction.atomic
def ledger_append(
    *,
    profile: Profile,
    topic: Topic,
    action: str,
    now: dt.datetime,
    source: str,
    ip: str | None = None,
    user_agent: str = "",
    consent_text_id: int | None = None,
    actor: User | None = None,
    note: str = "",
) -> ConsentEvent:
    """Record what happened to a permission and write the state the ledger now says, in
    the same transaction and under the customer's lock: the state is the whole ledger
    folded in time order, so it cannot drift from it whatever order writes arrive in."""
    profile_lock(profile)
    event = ConsentEvent.objects.create(
        profile=profile,
        topic=topic,
        action=action,
        occurred_at=now,
        source=source,
        email=profile.email,
        ip=ip or None,
        user_agent=user_agent[:500],
        consent_text_id=consent_text_id,
        actor=actor,
        note=note[:200],
    )
    rebuilt = state_rebuild(profile=profile, topic=topic)
    ConsentState.objects.update_or_create(
        profile=profile,
        topic=topic,
        defaults={field: getattr(rebuilt, field) for field in STATE_FIELDS},
    )
    _emit([(event, rebuilt.status, rebuilt.basis)], source, now)
    return event


@transaction.atomic(savepoint=False)
def ledger_append_many(
    events: Sequence[ConsentEvent],
    *,
    source: str,
    now: dt.datetime,
    applies: Callable[[ConsentState | None], bool] | None = None,
) -> list[ConsentEvent]:
    """ledger_append for many (unsaved) ledger events of one moment `now` at once — an
    event batch's first orders — in a fixed number of queries. With `applies`, only the
    events whose current state (read under the lock) it accepts are recorded. Returns
    the events recorded.

    The same rule as one by one: under the customers' locks, the state becomes the ledger
    folded in time order. An event at `now` that is the latest of its ledger folds onto
    the stored state (which is the fold of everything before it); where the ledger already
    holds something later (a clock set back), the whole ledger is folded again instead.
    """
    if not events:
        return []
    profiles_lock(event.profile_id for event in events)
    stored = _states_of({(event.profile_id, event.topic_id) for event in events})
    late, changes = [], []
    folded: dict[tuple[int, int], ConsentState] = {}
    for event in events:
        event.source, event.occurred_at = source, now
        event.email = event.email or event.profile.email
        event.user_agent, event.note = event.user_agent[:500], event.note[:200]
        key = (event.profile_id, event.topic_id)
        state = folded.get(key) or stored.get(key)
        if applies is not None and not applies(state):
            continue
        if state is not None and state.updated_at and state.updated_at > now:
            late.append(event)
            continue
        if state is None:
            state = ConsentState(profile=event.profile, topic=event.topic, status=Status.NONE)
        state_fold(state, event)
        folded[key] = state
        changes.append((event, state.status, state.basis))
    ConsentEvent.objects.bulk_create([event for event, _status, _basis in changes])
    ConsentState.objects.bulk_create(
        folded.values(),
        update_conflicts=True,
        unique_fields=["profile", "topic"],
        update_fields=list(STATE_FIELDS),
    )
    _emit(changes, source, now)
    recorded = [event for event, _status, _basis in changes]
    # Ledgers that hold something later than `now`: folded again whole, one by one.
    return recorded + [_append_one(event, source=source, now=now) for event in late]


def _states_of(keys: set[tuple[int, int]]) -> dict[tuple[int, int], ConsentState]:
    """The stored states of these (profile id, topic id) pairs, in one query."""
    return {
        (state.profile_id, state.topic_id): state
        for state in ConsentState.objects.filter(
            profile_id__in={p for p, _t in keys}, topic_id__in={t for _p, t in keys}
        )
    }


def _append_one(event: ConsentEvent, *, source: str, now: dt.datetime) -> ConsentEvent:
    return ledger_append(
        profile=event.profile,
        topic=event.topic,
        action=event.action,
        now=now,
        source=source,
        ip=event.ip,
        user_agent=event.user_agent,
        consent_text_id=event.consent_text_id,
        actor=event.actor,
        note=event.note,
    )


def ledger_scrub(*, profile: Profile) -> int:
    """The one path that may touch ledger rows: blank their personal columns (address, IP,
    user agent, note) for an erased person. The database allows it only while this
    transaction holds a permit for the profile, and refuses any other change."""
    with transaction.atomic():
        permit = LedgerPermit.objects.create(profile_id=profile.pk)
        scrubbed = ConsentEvent.objects.filter(profile=profile).update(
            email="", ip=None, user_agent="", note=""
        )
        permit.delete()
    return scrubbed
