"""The consent ledger is append-only, and the database itself says so."""

import pytest
from django.db import DatabaseError, connection, transaction

from consent.models import Action, ConsentEvent, ConsentState, Source, Status
from consent.services import ledger_append, ledger_scrub, state_rebuild

from .conftest import NOW

pytestmark = pytest.mark.django_db


@pytest.fixture
def event(customer, newsletter):
    return ledger_append(
        profile=customer,
        topic=newsletter,
        action=Action.CONFIRMED,
        now=NOW,
        source=Source.FORM,
        ip="192.0.2.7",
        user_agent="Firefox",
        consent_text_id=newsletter.current_text_id,
    )


@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE consent_consentevent SET action = 'withdrawn' WHERE id = %s",
        "UPDATE consent_consentevent SET ip = NULL WHERE id = %s",
        "DELETE FROM consent_consentevent WHERE id = %s",
    ],
)
def test_the_database_refuses_to_change_or_delete_a_ledger_row(event, sql):
    with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql, [event.pk])
    event.refresh_from_db()
    assert (event.action, event.ip) == ("confirmed", "192.0.2.7")


@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE consent_consentevent SET ip = NULL WHERE id = %s",
        "DELETE FROM consent_consentevent WHERE id = %s",
    ],
)
def test_a_permit_without_profile_opens_no_door(event, sql):
    # 0002 let every row be deleted while such a permit existed (for test flushes).
    with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("INSERT INTO consent_ledgerpermit (profile_id) VALUES (NULL)")
        cursor.execute(sql, [event.pk])
    event.refresh_from_db()
    assert event.ip == "192.0.2.7"


def test_not_even_erasure_may_delete_a_ledger_row(event, customer):
    from consent.models import LedgerPermit

    with pytest.raises(DatabaseError), transaction.atomic():
        LedgerPermit.objects.create(profile_id=customer.pk)
        ConsentEvent.objects.filter(pk=event.pk).delete()
    assert ConsentEvent.objects.filter(pk=event.pk).exists()


@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE consent_consenttext SET text_nl = 'Iets anders.' WHERE id = %s",
        "DELETE FROM consent_consenttext WHERE id = %s",
    ],
)
def test_the_consent_text_a_customer_saw_cannot_be_changed_or_deleted(newsletter, sql):
    from consent.models import ConsentText
    from consent.services import topic_text_set

    shown = newsletter.current_text
    topic_text_set(topic=newsletter, text_nl="Nieuwe tekst.", text_en="New text.")
    with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql, [shown.pk])  # an earlier version, no longer anyone's current text
    assert ConsentText.objects.get(pk=shown.pk).text_nl == shown.text_nl


def test_the_orm_cannot_edit_the_ledger_either(event):
    event.note = "changed my mind"
    with pytest.raises(DatabaseError), transaction.atomic():
        event.save()
    with pytest.raises(DatabaseError), transaction.atomic():
        ConsentEvent.objects.filter(pk=event.pk).delete()
    assert ConsentEvent.objects.filter(pk=event.pk, note="").exists()


def test_erasure_may_only_blank_the_personal_columns(event, customer):
    assert ledger_scrub(profile=customer) == 1
    event.refresh_from_db()
    assert (event.email, event.ip, event.user_agent) == ("", None, "")
    assert (event.action, event.occurred_at, event.consent_text_id) == (
        "confirmed",
        NOW,
        event.consent_text_id,
    )
    # Even holding the erasure permit, the facts of the record cannot change.
    from consent.models import LedgerPermit

    with pytest.raises(DatabaseError), transaction.atomic():
        LedgerPermit.objects.create(profile_id=customer.pk)
        ConsentEvent.objects.filter(pk=event.pk).update(action="withdrawn")
    # And the permit never outlives its transaction.
    assert not LedgerPermit.objects.exists()


def test_the_current_state_is_the_ledger_folded_and_written_with_it(customer, newsletter):
    steps = [Action.REQUESTED, Action.CONFIRMED, Action.WITHDRAWN, Action.REQUESTED, Action.EXPIRED]
    for n, action in enumerate(steps):
        ledger_append(
            profile=customer,
            topic=newsletter,
            action=action,
            now=NOW.replace(hour=n),
            source=Source.FORM,
        )
        stored = ConsentState.objects.get(profile=customer, topic=newsletter)
        rebuilt = state_rebuild(profile=customer, topic=newsletter)
        assert (stored.status, stored.basis, stored.confirmed_at, stored.withdrawn_at) == (
            rebuilt.status,
            rebuilt.basis,
            rebuilt.confirmed_at,
            rebuilt.withdrawn_at,
        )
    # A re-subscription that was never confirmed leaves the customer withdrawn.
    assert stored.status == Status.WITHDRAWN


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_transactional_test_with_ledger_rows_is_flushed_with_the_guards_back(
    customer, newsletter
):
    """The test flush lifts the triggers around itself only (tests/conftest.py)."""
    from tests.conftest import _guard_triggers

    ledger_append(
        profile=customer, topic=newsletter, action=Action.REQUESTED, now=NOW, source=Source.FORM
    )
    assert len(_guard_triggers(connection)) >= 2  # ledger and consent texts
    with pytest.raises(DatabaseError), transaction.atomic():
        ConsentEvent.objects.all().delete()


def test_a_grant_behind_a_later_ledger_entry_is_folded_in_time_order(customer, newsletter):
    """soft_opt_in_grant writes for many customers at once by folding onto the stored
    state; where the ledger already has a later entry (a clock set back), the state must
    still be the whole ledger in time order."""
    import datetime as dt

    from consent.services import soft_opt_in_grant

    later = NOW + dt.timedelta(hours=1)
    ledger_append(
        profile=customer, topic=newsletter, action=Action.REQUESTED, now=later, source=Source.FORM
    )
    assert soft_opt_in_grant(profile=customer, now=NOW) == [newsletter]

    stored = ConsentState.objects.get(profile=customer, topic=newsletter)
    rebuilt = state_rebuild(profile=customer, topic=newsletter)
    fields = ("status", "basis", "requested_at", "confirmed_at", "updated_at")
    assert [getattr(stored, f) for f in fields] == [getattr(rebuilt, f) for f in fields]
    assert (stored.status, stored.basis, stored.updated_at) == (
        Status.CONFIRMED,
        "soft_opt_in",
        later,
    )
