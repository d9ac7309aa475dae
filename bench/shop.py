"""The shop the `scheduler` and `dashboard` benchmarks measure, at the scheduler's clock
(NOW): profiles and events generated with SQL (`generate_series`, seeded; the tables'
indexes and constraints dropped during the load and rebuilt afterwards, then `VACUUM
ANALYZE`), the consent ledger by COPY, with the shares a shop would have due for each
lifecycle mail at that moment:

  - birthdays today (~0.3% of the profiles) in a handful of time zones;
  - open baskets last changed 24–72 h ago (~0.5%, `Activity` rows), next to older,
    newer and emptied ones;
  - Order Completed events over two years (more in recent months): some exactly
    30–37 days old (cross-sell), some a customer's first order 14–21 days ago (NPS), some
    customers whose last order was 180–210 days ago (winback), a few Account Closed;
  - a few thousand newsletter confirmations in the last 24 h (welcome), in a ledger of
    about a million rows;
  - twelve past newsletters (sends and deliveries, opens and clicks) so that the sunset
    rule, switched on, finds the customers who never react.
"""

import datetime as dt
import random
import sys
from collections.abc import Iterator
from typing import Any

from bench.data import (
    EVENTS_SQL,
    LEDGER_COPY,
    LIFECYCLE_STAGE_SQL,
    ORDER_FIGURES_JOIN,
    PROFILES_INSERT,
    context_values,
    customer_email,
    customer_email_sql,
    ledger_ip,
    pick,
    sql_params,
    user_id_sql,
)
from bench.db import (
    bulk_load,
    load_session,
    migrate,
    sequence_set,
)

# The clock of the run: every window counts back from here (12:00 UTC: 13:00 in
# Amsterdam, inside the birthday mail's 09:00–23:59 local window).
NOW = dt.datetime(2026, 11, 23, 12, 0, tzinfo=dt.UTC)
NEWSLETTERS = 12  # one every 15 days, the oldest 172 days ago: inside the sunset window
LOADED_TABLES = (
    "events_event",
    "profiles_profile",
    "events_activity",
    "consent_consentevent",
    "consent_consentstate",
    "consent_contactpreference",
    "campaigns_send",
    "campaigns_delivery",
)
# (time zone, cumulative share of the profiles)
ZONES = [
    ("Europe/Amsterdam", 0.90),
    ("Europe/Brussels", 0.96),
    ("Europe/Berlin", 0.98),
    ("Europe/London", 0.99),
    ("America/Curacao", 0.995),
    ("America/Paramaribo", 0.998),
    ("Asia/Jakarta", 0.999),
    ("America/New_York", 1.0),
]


def _zone_sql(random_expr: str) -> str:
    cases = " ".join(f"WHEN {random_expr} < {share} THEN '{zone}'" for zone, share in ZONES[:-1])
    return f"CASE {cases} ELSE '{ZONES[-1][0]}' END"


# Birthdays: 85% have a birth date; 0.35% of those (0.3% of all) today, the rest on any
# other day of the year (so "today" is exactly the share asked for).
PROFILES_SQL = f"""{PROFILES_INSERT}
SELECT g, created, created,
       CASE WHEN erased THEN 'erased-' || md5(g::text) ELSE {user_id_sql("g")} END,
       CASE WHEN erased THEN md5(g::text) || '@erased.invalid'
            ELSE {customer_email_sql("g")} END,
       CASE WHEN erased THEN '' ELSE {pick("first_names", "r2")} END,
       CASE WHEN erased THEN '' ELSE {pick("last_names", "r3")} END,
       CASE WHEN NOT erased AND r1 < 0.85 THEN make_date(
            1940 + floor(r4 * 67)::int,
            extract(month FROM md)::int,
            extract(day FROM md)::int) END,
       CASE WHEN r2 < 0.6 AND NOT erased THEN '06-' || (10000000 + floor(r5 * 89999999))::int ELSE '' END,
       CASE WHEN erased THEN '' ELSE {pick("streets", "r5")} END,
       CASE WHEN erased THEN '' ELSE (1 + floor(r6 * 200)::int)::text END,
       CASE WHEN erased THEN '' ELSE (1000 + floor(r6 * 8999)::int)::text || ' AB' END,
       CASE WHEN erased THEN '' ELSE {pick("cities", "r4 * r4")} END,
       CASE WHEN erased THEN '' ELSE 'NL' END,
       CASE WHEN r6 < 0.9 THEN 'nl' ELSE 'en' END,
       CASE WHEN erased THEN 'Europe/Amsterdam' ELSE {_zone_sql("r7")} END,
       {LIFECYCLE_STAGE_SQL},
       '',
       coalesce(o.n, 0), coalesce(o.total, 0), o.first_at, o.last_at, o.last_at,
       '{{}}'::jsonb,
       gen_random_uuid(),
       CASE WHEN erased THEN %(now)s - interval '30 days' END
FROM (
    SELECT g, r1, r2, r3, r4, r5, r6, r7, created, g %% 1000 = 0 AS erased,
           CASE WHEN r8 < 0.0035 THEN %(today_ref)s::date
                ELSE date '2001-01-01' + ((%(today_doy)s + 1 + floor(r8 * 364)::int) %% 365) END AS md
    FROM (SELECT g, random() AS r1, random() AS r2, random() AS r3, random() AS r4,
                 random() AS r5, random() AS r6, random() AS r7, random() AS r8,
                 %(now)s - random() * interval '1500 days' AS created
          FROM generate_series(1, %(profiles)s) AS g) AS x
) AS r
{ORDER_FIGURES_JOIN}
"""

# Open baskets: 0.75% changed in the last 96 h (two thirds of them 24–72 h ago), 0.1%
# emptied lately, 9% left long ago; 60% of the customers have an activity row at all.
ACTIVITY_SQL = """
INSERT INTO events_activity (profile_id, last_basket_at, basket, interests,
                             usual_order_interval_days, at_risk, first_touch, updated_at)
SELECT g,
       CASE WHEN b < 0.0085 THEN %(now)s - random() * interval '96 hours'
            WHEN b < 0.0985 THEN %(now)s - interval '4 days' - random() * interval '361 days'
            WHEN b < 0.3 THEN %(now)s - interval '4 days' - random() * interval '700 days' END,
       CASE WHEN b < 0.0075 OR (b >= 0.0085 AND b < 0.0985) THEN (
                SELECT jsonb_agg(jsonb_build_object(
                    'product_id', 'P' || (10000 + floor(random() * 400)::int),
                    'name', 'Artikel ' || i, 'price', round((4.95 + random() * 185)::numeric, 2),
                    'quantity', 1, 'category', 'Schoenen',
                    'url', 'https://shop.example.nl/p/' || i,
                    'image_url', 'https://shop.example.nl/img/' || i || '.jpg'))
                FROM generate_series(1, 1 + (g %% 3)) AS i)
            ELSE '[]'::jsonb END,
       '{}'::jsonb, NULL, false, '{}'::jsonb, %(now)s
FROM (SELECT g, random() AS b FROM generate_series(1, %(profiles)s) AS g) AS x
WHERE b < 0.6 AND g %% 1000 <> 0
"""

CONSENT_STATE_SQL = """
INSERT INTO consent_consentstate (profile_id, topic_id, status, basis, requested_at,
                                  confirmed_at, withdrawn_at, consent_text_id, updated_at)
SELECT profile_id, topic_id,
       CASE last_action WHEN 'confirmed' THEN 'confirmed' WHEN 'requested' THEN 'pending'
                        WHEN 'withdrawn' THEN 'withdrawn' ELSE 'none' END,
       CASE WHEN last_action = 'confirmed' THEN 'double_opt_in' ELSE '' END,
       requested_at, confirmed_at, withdrawn_at, text_id, last_at
FROM (SELECT profile_id, topic_id,
             (array_agg(action ORDER BY occurred_at DESC, id DESC))[1] AS last_action,
             max(occurred_at) FILTER (WHERE action = 'requested') AS requested_at,
             max(occurred_at) FILTER (WHERE action = 'confirmed') AS confirmed_at,
             max(occurred_at) FILTER (WHERE action = 'withdrawn') AS withdrawn_at,
             max(consent_text_id) AS text_id, max(occurred_at) AS last_at
      FROM consent_consentevent GROUP BY profile_id, topic_id) AS x
"""

# 2% of the customers chose something on the preference page; some of them were stopped
# by the sunset rule before, some asked to keep getting mail.
CONTACT_PREFERENCES_SQL = """
INSERT INTO consent_contactpreference (profile_id, paused_until, max_frequency,
                                       no_service_mail, sunset_at, sunset_lifted_at, updated_at)
SELECT g,
       CASE WHEN g %% 5 = 0 THEN (%(now)s - interval '30 days' + random() * interval '90 days')::date END,
       CASE WHEN g %% 5 = 1 THEN 'weekly' WHEN g %% 5 = 2 THEN 'monthly' ELSE '' END,
       g %% 11 = 0,
       CASE WHEN g %% 7 = 0 THEN %(now)s - interval '200 days' END,
       CASE WHEN g %% 7 = 1 THEN %(now)s - interval '60 days' END,
       %(now)s
FROM generate_series(1, %(profiles)s) AS g WHERE (g::bigint * 13) %% 100 < 2
"""

# Past newsletters to a segment of the confirmed subscribers (share in 1/1000), each a
# campaign of its own; every send went out as a delivery, which some customers opened and
# clicked; 8% of the customers ("dormant") never react.
NEWSLETTER_SENDS_SQL = """
INSERT INTO campaigns_send (occurrence, trigger_at, due_at, priority, status, reason,
                            deferrals, claimed_at, sending_at, finished_at, created_at,
                            campaign_id, profile_id)
SELECT 'once', n.scheduled_at, n.scheduled_at, 50, 'sent', '', 0, n.scheduled_at,
       n.scheduled_at, n.scheduled_at + interval '20 minutes', n.scheduled_at, n.id, cs.profile_id
FROM campaigns_campaign n
JOIN consent_consentstate cs ON cs.topic_id = n.topic_id AND cs.status = 'confirmed'
     AND cs.confirmed_at < n.scheduled_at
WHERE n.key LIKE 'bench-nieuwsbrief-%%' AND (cs.profile_id * 2654435761) %% 1000 < %(share)s
ORDER BY n.scheduled_at, cs.profile_id
"""

DELIVERIES_SQL = """
INSERT INTO campaigns_delivery (category, sent_at, message_id, subject, opened_at, clicked_at,
                                campaign_id, profile_id, send_id)
SELECT 'commercial', finished_at, '<send' || id || '@klantbeeld.local>', 'Nieuwsbrief',
       CASE WHEN opened THEN finished_at + o * interval '3 days' END,
       CASE WHEN opened AND k < 0.3 THEN finished_at + o * interval '3 days' + interval '1 minute' END,
       campaign_id, profile_id, id
FROM (SELECT s.*, random() AS o, random() AS k,
             mod(s.profile_id * 40503, 100) >= 8 AND random() < 0.35 AS opened
      FROM campaigns_send s WHERE s.status = 'sent' ORDER BY s.id) AS x
"""

USER_AGENTS = [
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) Mobile/15E148",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/124.0 Safari/537.36",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) Chrome/124.0 Mobile Safari/537.36",
]


def ledger_rows(
    profiles: int, seed: int, newsletter: tuple[int, int | None], service: tuple[int, int | None]
) -> Iterator[tuple[Any, ...]]:
    """The consent ledger, in the order it happened: 45% of the customers asked for the
    newsletter at some time (87% of them confirmed, 12% of those withdrew later); 0.4%
    asked and confirmed within the last 30 hours (1% of those withdrew and confirmed
    again at once); 5% turned service mail off."""
    rng = random.Random(seed)
    rows: list[tuple[Any, ...]] = []
    topic, text = newsletter

    def row(pid: int, topic_id: int, text_id: int | None, action: str, at: dt.datetime) -> None:
        source = "preferences" if action == "withdrawn" else "form"
        rows.append(
            (
                pid,
                topic_id,
                action,
                at,
                source,
                customer_email(pid),
                ledger_ip(pid),
                USER_AGENTS[pid % 3],
                "",
                text_id,
            )
        )

    for pid in range(1, profiles + 1):
        if pid % 1000 == 0:  # erased: no ledger rows of their own in this data
            continue
        r = rng.random()
        if r < 0.004:
            confirmed = NOW - dt.timedelta(hours=30) * rng.random()
            row(pid, topic, text, "requested", confirmed - dt.timedelta(minutes=rng.randint(1, 90)))
            row(pid, topic, text, "confirmed", confirmed)
            again = confirmed + dt.timedelta(hours=1)
            if rng.random() < 0.01 and again + dt.timedelta(hours=1) <= NOW:
                row(pid, topic, text, "withdrawn", again)
                row(pid, topic, text, "confirmed", again + dt.timedelta(hours=1))
        elif r < 0.454:
            asked = NOW - dt.timedelta(days=31) - dt.timedelta(days=1000) * rng.random()
            row(pid, topic, text, "requested", asked)
            if rng.random() < 0.87:
                confirmed = asked + dt.timedelta(minutes=rng.randint(2, 2000))
                row(pid, topic, text, "confirmed", confirmed)
                if rng.random() < 0.12:
                    gone = confirmed + (NOW - dt.timedelta(days=1) - confirmed) * rng.random()
                    row(pid, topic, text, "withdrawn", gone)
        if rng.random() < 0.05:
            row(
                pid,
                service[0],
                service[1],
                "withdrawn",
                NOW - dt.timedelta(days=700) * rng.random(),
            )
    rows.sort(key=lambda r: r[3])
    yield from rows


def newsletters_create() -> None:
    """The past newsletters the deliveries belong to (archived campaigns)."""
    from campaigns.models import Campaign, CampaignStatus, Reentry, TriggerKind
    from consent.models import Topic

    topic = Topic.objects.get(key="newsletter")
    for i in range(NEWSLETTERS):
        at = NOW - dt.timedelta(days=7 + 15 * i)
        Campaign.objects.create(
            key=f"bench-nieuwsbrief-{at:%Y-%m-%d}",
            name=f"Nieuwsbrief {at:%d-%m-%Y}",
            status=CampaignStatus.ARCHIVED,
            topic=topic,
            trigger=TriggerKind.SCHEDULED,
            scheduled_at=at,
            reentry=Reentry.ONCE,
        )


def data_generate(
    url: str, *, profiles: int, events: int, deliveries: int, seed: int
) -> dict[str, float]:
    """Load the data; returns seconds per step."""
    import psycopg

    today = NOW.date()
    params: dict[str, Any] = {
        **sql_params(
            profiles=profiles,
            events=events,
            now=NOW,
            contexts=context_values(USER_AGENTS),
            closed_from=0.999,  # 0.1% of the events are Account Closed
        ),
        "today_ref": dt.date(2001, today.month, today.day),
        "today_doy": (dt.date(2001, today.month, today.day) - dt.date(2001, 1, 1)).days,
    }
    with psycopg.connect(url, autocommit=True) as conn, conn.cursor() as cursor:
        load_session(cursor)
        cursor.execute("SELECT setseed(%s)", [(seed % 1000) / 1000])
        topics = {
            key: (pk, text)
            for key, pk, text in cursor.execute(
                "SELECT key, id, current_text_id FROM consent_topic"
            ).fetchall()
        }
        with bulk_load(cursor, LOADED_TABLES) as steps:
            cursor.execute(EVENTS_SQL, params)
            steps.done(f"{events:,} events")
            cursor.execute(PROFILES_SQL, params)
            sequence_set(cursor, "profiles_profile", profiles)
            steps.done(f"{profiles:,} profiles (order figures from their events)")
            cursor.execute(ACTIVITY_SQL, params)
            steps.done("activity rows (open baskets)")

            copied = 0
            with cursor.copy(LEDGER_COPY) as copy:
                for item in ledger_rows(profiles, seed, topics["newsletter"], topics["service"]):
                    copy.write_row(item)
                    copied += 1
            steps.done(f"consent ledger: {copied:,} rows by COPY")
            cursor.execute(CONSENT_STATE_SQL)
            cursor.execute(CONTACT_PREFERENCES_SQL, params)
            steps.done("consent states and contact preferences")

            if deliveries:
                confirmed = cursor.execute(
                    "SELECT count(*) FROM consent_consentstate WHERE topic_id = %s AND status = 'confirmed'",
                    [topics["newsletter"][0]],
                ).fetchone()
                per_mail = deliveries / NEWSLETTERS
                share = min(1000, round(1000 * per_mail / max(1, confirmed[0] if confirmed else 1)))
                cursor.execute(NEWSLETTER_SENDS_SQL, {"share": share})
                cursor.execute(DELIVERIES_SQL)
                cursor.execute("UPDATE campaigns_sunsetpolicy SET active = true")
                steps.done(f"{NEWSLETTERS} past newsletters: sends and deliveries")
    return steps


def data_load(
    url: str, *, profiles: int, events: int, deliveries: int, seed: int
) -> dict[str, float]:
    """Migrate the fresh database and fill it: `profiles`, `events`, and (unless 0) about
    `deliveries` past newsletter deliveries; returns the seconds of each step."""
    migrate()
    if deliveries:
        newsletters_create()
    print(f"Generating {profiles:,} profiles and {events:,} events …", file=sys.stderr)
    return data_generate(url, profiles=profiles, events=events, deliveries=deliveries, seed=seed)
