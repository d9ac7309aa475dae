"""Benchmark: the scheduler's full pass over 1,000,000 profiles and 10,000,000 events.

Generates, in a freshly created database of its own, a shop's customer base with SQL
(`generate_series`, seeded; the tables' indexes and constraints dropped during the load
and rebuilt afterwards, then `VACUUM ANALYZE`, as autovacuum would leave the tables) and
the consent ledger with a bulk `COPY`, with realistic shares of customers due for each
lifecycle mail at the run's clock:

  - birthdays today (~0.3% of the profiles) in a handful of time zones;
  - open baskets last changed 24–72 h ago (~0.5%, `Activity` rows), next to older,
    newer and emptied ones;
  - Order Completed events over two years (more in recent months): some exactly
    30–37 days old (cross-sell), some a customer's first order 14–21 days ago (NPS), some
    customers whose last order was 180–210 days ago (winback), a few Account Closed;
  - a few thousand newsletter confirmations in the last 24 h (welcome), in a ledger of
    about a million rows;
  - twelve past newsletters (sends and deliveries, opens and clicks) so that the sunset
    rule, switched on for the run, finds the customers who never react.

Then times `sends_schedule(now=…)`, the scheduler's step 1 (every live campaign's trigger
as one `INSERT … SELECT … ON CONFLICT DO NOTHING`): once on the fresh data ("cold", which
inserts every due send) and three times more ("warm", which must insert nothing: a
second pass is idempotent). Next to it, the same due sends found by hand-written SQL (one
query per campaign, written independently of the ORM), timed in the same run; their
counts and their (campaign, profile, occurrence) keys must equal what the pass inserted.
The exit status is non-zero only when a correctness check fails, never because of speed.

    python -m bench scheduler [--profiles N] [--events N] [--deliveries N] [--keep-db]
"""

import argparse
import datetime as dt
import functools
import json
import os
import platform
import random
import statistics
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from bench.import_profiles import (
    CITIES,
    DOMAINS,
    FIRST_NAMES,
    LAST_NAMES,
    STREETS,
    database_recreate,
    database_url,
    django_setup,
)
from bench.ingest import CATEGORIES, _git_commit, run_lock
from bench.report import results_finish, run_as_script
from bench.selections import _pick, indexes_drop, indexes_restore

TARGET_SECONDS = 60.0
EXPLAIN_OVER_SECONDS = 10.0
WARM_PASSES = 3
HAND_REPEAT = 3
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


# --- Data ------------------------------------------------------------------------------------


def _zone_sql(random_expr: str) -> str:
    cases = " ".join(f"WHEN {random_expr} < {share} THEN '{zone}'" for zone, share in ZONES[:-1])
    return f"CASE {cases} ELSE '{ZONES[-1][0]}' END"


EVENTS_SQL = f"""
INSERT INTO events_event (message_id, type, name, profile_id, user_id, anonymous_id,
                          timestamp, received_at, properties, context)
SELECT 'e' || g,
       CASE WHEN k < 0.70 OR k >= 0.92 THEN 'track' WHEN k < 0.90 THEN 'page' ELSE 'identify' END,
       CASE WHEN k < 0.45 THEN 'Product Viewed'
            WHEN k < 0.57 THEN 'Product Added'
            WHEN k < 0.60 THEN 'Product Removed'
            WHEN k < 0.65 THEN 'Checkout Started'
            WHEN k < 0.70 THEN 'Order Completed'
            WHEN k < 0.90 THEN {_pick("pages", "v")}
            WHEN k < 0.92 THEN ''
            WHEN k < 0.999 THEN 'Cart Viewed'
            ELSE 'Account Closed' END,
       pid,
       CASE WHEN pid IS NULL THEN '' ELSE 'C' || lpad(pid::text, 7, '0') END,
       'v' || coalesce(pid, g %% %(profiles)s + %(profiles)s),
       at,
       at + interval '2 seconds',
       CASE WHEN k < 0.65 OR (k >= 0.92 AND k < 0.999) THEN jsonb_build_object(
                'product_id', 'P' || (10000 + floor(v * 400)::int),
                'category', {_pick("categories", "c")},
                'price', round((4.95 + v * 185)::numeric, 2),
                'currency', 'EUR')
            WHEN k < 0.70 THEN jsonb_build_object(
                'order_id', 'O' || g,
                'total', round((15 + v * v * 400)::numeric, 2),
                'currency', 'EUR',
                'products', jsonb_build_array(jsonb_build_object(
                    'product_id', 'P' || (10000 + floor(c * 400)::int),
                    'category', {_pick("categories", "c")})))
            WHEN k < 0.90 THEN jsonb_build_object('path', '/' || floor(v * 50)::int)
            WHEN k < 0.92 THEN jsonb_build_object('email', 'klant' || coalesce(pid, 0) || '@example.com')
            ELSE '{{}}'::jsonb END,
       (%(contexts)s::jsonb[])[1 + floor(c * cardinality(%(contexts)s::jsonb[]))::int]
FROM (
    SELECT g, random() AS k, random() AS c, random() AS v,
           CASE WHEN random() < 0.9
                -- uneven: some customers are far busier; the multiplication scrambles ids
                THEN 1 + (floor(%(profiles)s * random() ^ 2)::bigint * 7919) %% %(profiles)s
           END AS pid,
           -- stored in the order they happened, as the API appends them; recent months
           -- busier (the age of the g-th of n events is (1 - g/n)^1.5 * 730 days)
           %(now)s - ((1 - (g - random()) / %(events)s) ^ 1.5) * interval '730 days' AS at
    FROM generate_series(1, %(events)s) AS g
) AS r
"""

# Birthdays: 85% have a birth date; 0.35% of those (0.3% of all) today, the rest on any
# other day of the year (so "today" is exactly the share asked for).
PROFILES_SQL = f"""
INSERT INTO profiles_profile (
    id, created_at, updated_at, user_id, email, first_name, last_name, birth_date, phone,
    street, house_number, postal_code, city, country, language, timezone, lifecycle_stage,
    acquisition_source, order_count, total_spent, first_order_at, last_order_at,
    last_seen_at, custom_attributes, public_id, erased_at)
SELECT g, created, created,
       CASE WHEN erased THEN 'erased-' || md5(g::text) ELSE 'C' || lpad(g::text, 7, '0') END,
       CASE WHEN erased THEN md5(g::text) || '@erased.invalid'
            ELSE 'klant' || g || '@' || (%(domains)s::text[])[1 + g %% cardinality(%(domains)s::text[])] END,
       CASE WHEN erased THEN '' ELSE {_pick("first_names", "r2")} END,
       CASE WHEN erased THEN '' ELSE {_pick("last_names", "r3")} END,
       CASE WHEN NOT erased AND r1 < 0.85 THEN make_date(
            1940 + floor(r4 * 67)::int,
            extract(month FROM md)::int,
            extract(day FROM md)::int) END,
       CASE WHEN r2 < 0.6 AND NOT erased THEN '06-' || (10000000 + floor(r5 * 89999999))::int ELSE '' END,
       CASE WHEN erased THEN '' ELSE {_pick("streets", "r5")} END,
       CASE WHEN erased THEN '' ELSE (1 + floor(r6 * 200)::int)::text END,
       CASE WHEN erased THEN '' ELSE (1000 + floor(r6 * 8999)::int)::text || ' AB' END,
       CASE WHEN erased THEN '' ELSE {_pick("cities", "r4 * r4")} END,
       CASE WHEN erased THEN '' ELSE 'NL' END,
       CASE WHEN r6 < 0.9 THEN 'nl' ELSE 'en' END,
       CASE WHEN erased THEN 'Europe/Amsterdam' ELSE {_zone_sql("r7")} END,
       CASE WHEN o.n IS NULL THEN 'prospect'
            WHEN o.last_at < %(now)s - interval '365 days' THEN 'churned'
            WHEN o.last_at < %(now)s - interval '180 days' THEN 'lapsed'
            ELSE 'customer' END,
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
LEFT JOIN (
    SELECT profile_id, count(*) AS n, sum((properties ->> 'total')::numeric) AS total,
           min(timestamp) AS first_at, max(timestamp) AS last_at
    FROM events_event WHERE name = 'Order Completed' AND profile_id IS NOT NULL
    GROUP BY profile_id
) AS o ON o.profile_id = r.g
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


def _email(profile_id: int) -> str:
    """The address PROFILES_SQL gives the profile (the ledger keeps it as proof)."""
    return f"klant{profile_id}@{DOMAINS[profile_id % len(DOMAINS)]}"


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
        ip = f"84.{pid % 250}.{(pid // 250) % 250}.{1 + pid % 200}"
        rows.append(
            (pid, topic_id, action, at, source, _email(pid), ip, USER_AGENTS[pid % 3], "", text_id)
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

    steps: dict[str, float] = {}

    def step(name: str, start: float) -> None:
        steps[name] = round(time.perf_counter() - start, 1)
        print(f"  {name}: {steps[name]:.1f} s", file=sys.stderr)

    today = NOW.date()
    params: dict[str, Any] = {
        "profiles": profiles,
        "events": events,
        "now": NOW,
        "today_ref": dt.date(2001, today.month, today.day),
        "today_doy": (dt.date(2001, today.month, today.day) - dt.date(2001, 1, 1)).days,
        "pages": ["Home", "Sale", "Nieuw binnen", "Zoeken", "Categorie", "Klantenservice"],
        "categories": CATEGORIES,
        "contexts": [
            json.dumps(
                {"library": {"name": "analytics.js", "version": "next-1.70.0"}, "userAgent": a}
            )
            for a in USER_AGENTS
        ],
        "domains": DOMAINS,
        "first_names": FIRST_NAMES,
        "last_names": LAST_NAMES,
        "streets": STREETS,
        "cities": CITIES["NL"],
    }
    with psycopg.connect(url, autocommit=True) as conn, conn.cursor() as cursor:
        cursor.execute("SET synchronous_commit = off")
        cursor.execute("SET maintenance_work_mem = '1GB'")
        cursor.execute("SET work_mem = '256MB'")
        cursor.execute("SELECT setseed(%s)", [(seed % 1000) / 1000])
        topics = {
            key: (pk, text)
            for key, pk, text in cursor.execute(
                "SELECT key, id, current_text_id FROM consent_topic"
            ).fetchall()
        }
        saved = [indexes_drop(cursor, table) for table in LOADED_TABLES]

        start = time.perf_counter()
        cursor.execute(EVENTS_SQL, params)
        step(f"{events:,} events", start)
        start = time.perf_counter()
        cursor.execute(PROFILES_SQL, params)
        cursor.execute(
            "SELECT setval(pg_get_serial_sequence('profiles_profile', 'id'), %s)", [profiles]
        )
        step(f"{profiles:,} profiles (order figures from their events)", start)
        start = time.perf_counter()
        cursor.execute(ACTIVITY_SQL, params)
        step("activity rows (open baskets)", start)

        start = time.perf_counter()
        copied = 0
        with cursor.copy(
            "COPY consent_consentevent (profile_id, topic_id, action, occurred_at, source, email,"
            " ip, user_agent, note, consent_text_id) FROM STDIN"
        ) as copy:
            for item in ledger_rows(profiles, seed, topics["newsletter"], topics["service"]):
                copy.write_row(item)
                copied += 1
        step(f"consent ledger: {copied:,} rows by COPY", start)
        start = time.perf_counter()
        cursor.execute(CONSENT_STATE_SQL)
        cursor.execute(CONTACT_PREFERENCES_SQL, params)
        step("consent states and contact preferences", start)

        if deliveries:
            start = time.perf_counter()
            confirmed = cursor.execute(
                "SELECT count(*) FROM consent_consentstate WHERE topic_id = %s AND status = 'confirmed'",
                [topics["newsletter"][0]],
            ).fetchone()
            per_mail = deliveries / NEWSLETTERS
            share = min(1000, round(1000 * per_mail / max(1, confirmed[0] if confirmed else 1)))
            cursor.execute(NEWSLETTER_SENDS_SQL, {"share": share})
            cursor.execute(DELIVERIES_SQL)
            cursor.execute("UPDATE campaigns_sunsetpolicy SET active = true")
            step(f"{NEWSLETTERS} past newsletters: sends and deliveries", start)

        start = time.perf_counter()
        for kept in reversed(saved):  # the profiles' keys before the foreign keys to them
            indexes_restore(cursor, kept)
        step("indexes and constraints rebuilt", start)
        start = time.perf_counter()
        for table in LOADED_TABLES:
            cursor.execute(f"VACUUM (ANALYZE) {table}")
        step("VACUUM ANALYZE", start)
    return steps


# --- The same due sends, by hand ----------------------------------------------------------------
#
# One query per trigger kind, for the campaign %(campaign)s, giving (campaign, profile,
# occurrence) rows; windows from the campaign's own delay and late cut-off. Written from
# the rules in campaigns/models.py and the docs, not from the ORM code: the birthday in
# one pass with a time-zone conversion per row instead of one query per zone, the NPS
# "first time" as the customer's earliest order instead of NOT EXISTS an earlier one.
# Sends this pass made (created_at = now) do not count as "already sent" for re-entry.
# Erased customers (their bare events and ledger rows stay) get nothing.

_WINDOW = "BETWEEN %(now)s - c.delay - c.late_cutoff AND %(now)s - c.delay"
_ONCE = "CASE WHEN c.reentry = 'once' THEN 'once' ELSE "

HAND_SQL: dict[str, str] = {
    "consent": f"""
        SELECT c.id, e.profile_id, {_ONCE} 'consent:' || e.id END
        FROM campaigns_campaign c
        JOIN consent_consentevent e ON e.topic_id = c.topic_id AND e.action = 'confirmed'
             AND e.occurred_at {_WINDOW}
        JOIN profiles_profile p ON p.id = e.profile_id AND p.erased_at IS NULL
        WHERE c.id = %(campaign)s""",
    "basket": f"""
        SELECT c.id, a.profile_id, {_ONCE} 'basket:' || a.last_basket_at::text END
        FROM campaigns_campaign c
        JOIN events_activity a ON a.last_basket_at {_WINDOW} AND a.basket <> '[]'::jsonb
        JOIN profiles_profile p ON p.id = a.profile_id AND p.erased_at IS NULL
        WHERE c.id = %(campaign)s""",
    "event": f"""
        SELECT c.id, e.profile_id, {_ONCE} 'event:' || e.id END
        FROM campaigns_campaign c
        JOIN events_event e ON e.name = c.trigger_event AND e.profile_id IS NOT NULL
             AND e.timestamp {_WINDOW}
        JOIN profiles_profile p ON p.id = e.profile_id AND p.erased_at IS NULL
        WHERE c.id = %(campaign)s AND c.reentry <> 'days'""",
    "first_event": f"""
        SELECT c.id, f.profile_id, 'at:' || f.first_at::text
        FROM campaigns_campaign c
        JOIN LATERAL (
            SELECT e.profile_id, min(e.timestamp) AS first_at FROM events_event e
            WHERE e.name = c.trigger_event AND e.profile_id IN (
                SELECT w.profile_id FROM events_event w
                WHERE w.name = c.trigger_event AND w.timestamp {_WINDOW})
            GROUP BY e.profile_id) AS f ON f.first_at {_WINDOW}
        JOIN profiles_profile p ON p.id = f.profile_id AND p.erased_at IS NULL
        WHERE c.id = %(campaign)s AND c.reentry = 'days' AND NOT EXISTS (
            SELECT 1 FROM campaigns_send s
            WHERE s.campaign_id = c.id AND s.profile_id = f.profile_id
              AND s.created_at < %(now)s AND s.status <> 'skipped'
              AND s.due_at >= %(now)s - c.reentry_days * interval '1 day')""",
    "inactivity": """
        SELECT c.id, p.id, CASE WHEN c.reentry = 'once' THEN 'once'
                                ELSE 'lapse:' || p.last_order_at::text END
        FROM campaigns_campaign c
        JOIN profiles_profile p ON p.order_count >= 1 AND p.erased_at IS NULL
             AND p.last_order_at BETWEEN
                 %(now)s - coalesce(c.trigger_number, 180) * interval '1 day' - c.delay - c.late_cutoff
                 AND %(now)s - coalesce(c.trigger_number, 180) * interval '1 day' - c.delay
        WHERE c.id = %(campaign)s""",
    "yearly": """
        SELECT c.id, p.id, CASE WHEN c.reentry = 'once' THEN 'once'
                                ELSE 'year:' || extract(year FROM d.day)::int END
        FROM campaigns_campaign c
        CROSS JOIN profiles_profile p
        CROSS JOIN LATERAL (VALUES ((%(now)s AT TIME ZONE p.timezone)::date),
                                   ((%(now)s AT TIME ZONE p.timezone)::date - 1)) AS d(day)
        WHERE c.id = %(campaign)s AND coalesce(nullif(c.trigger_field, ''), 'birth_date') = 'birth_date'
          AND p.erased_at IS NULL AND p.birth_date IS NOT NULL
          AND ((d.day + coalesce(c.send_at_local_time, time '09:00')) AT TIME ZONE p.timezone)
              + c.delay BETWEEN %(now)s - c.late_cutoff AND %(now)s
          AND (to_char(p.birth_date, 'MM-DD') = to_char(d.day, 'MM-DD')
               OR (to_char(p.birth_date, 'MM-DD') = '02-29' AND to_char(d.day, 'MM-DD') = '02-28'
                   AND extract(day FROM make_date(extract(year FROM d.day)::int, 3, 1) - 1) = 28))""",
    "milestone": """
        SELECT c.id, p.id, 'milestone:' || c.trigger_number
        FROM campaigns_campaign c
        JOIN profiles_profile p ON p.order_count = coalesce(c.trigger_number, 10)
             AND p.erased_at IS NULL
             AND p.last_order_at BETWEEN %(now)s - c.delay - c.late_cutoff AND %(now)s - c.delay
        WHERE c.id = %(campaign)s""",
    "sunset": """
        WITH sp AS MATERIALIZED (
                 SELECT active, mails, %(now)s - days * interval '1 day' AS since
                 FROM campaigns_sunsetpolicy ORDER BY id LIMIT 1),
             quiet AS (
                 SELECT d.profile_id FROM campaigns_delivery d
                 WHERE d.category = 'commercial' AND d.sent_at >= (SELECT since FROM sp)
                 GROUP BY d.profile_id
                 HAVING count(*) >= (SELECT mails FROM sp)
                    AND count(d.opened_at) = 0 AND count(d.clicked_at) = 0)
        SELECT c.id, p.id, 'sunset:' || %(today)s::text
        FROM campaigns_campaign c
        CROSS JOIN sp
        JOIN quiet q ON true
        JOIN profiles_profile p ON p.id = q.profile_id AND p.erased_at IS NULL
        WHERE c.id = %(campaign)s AND sp.active
          AND NOT EXISTS (
              SELECT 1 FROM consent_contactpreference cp WHERE cp.profile_id = p.id
                AND (cp.sunset_at IS NOT NULL OR cp.sunset_lifted_at >= sp.since))
          AND NOT EXISTS (
              SELECT 1 FROM campaigns_send s WHERE s.campaign_id = c.id AND s.profile_id = p.id
                AND s.created_at < %(now)s AND s.due_at >= sp.since)""",
}


@dataclass
class LiveCampaign:
    pk: int
    key: str
    trigger: str
    reentry: str

    @property
    def hand_kind(self) -> str | None:
        """The HAND_SQL that finds this campaign's sends (None: not written by hand)."""
        if self.trigger == "event":
            return "event" if self.reentry != "days" else None
        if self.trigger == "first_event":
            return "first_event" if self.reentry == "days" else None
        return self.trigger if self.trigger in HAND_SQL else None


def campaigns_live() -> list[LiveCampaign]:
    from campaigns.models import Campaign, CampaignStatus

    return [
        LiveCampaign(c.pk, c.key, c.trigger, c.reentry)
        for c in Campaign.objects.filter(status=CampaignStatus.LIVE).order_by("pk")
    ]


def hand_params(campaign: LiveCampaign) -> dict[str, Any]:
    return {"now": NOW, "today": NOW.date().isoformat(), "campaign": campaign.pk}


def hand_count(campaign: LiveCampaign) -> int:
    from django.db import connection

    kind = campaign.hand_kind
    assert kind is not None
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT count(*) FROM (SELECT DISTINCT * FROM ({HAND_SQL[kind]}) AS h(c, p, o)) AS x",
            hand_params(campaign),
        )
        row = cursor.fetchone()
        return int(row[0]) if row else -1


def hand_compare(campaign: LiveCampaign) -> tuple[int, int]:
    """(due by hand but not inserted, inserted but not due by hand), as keys."""
    from django.db import connection

    kind = campaign.hand_kind
    assert kind is not None
    with connection.cursor() as cursor:
        cursor.execute(
            f"""WITH hand AS (SELECT c, p, o::text FROM ({HAND_SQL[kind]}) AS h(c, p, o)),
                     made AS (SELECT campaign_id, profile_id, occurrence::text FROM campaigns_send
                              WHERE campaign_id = %(campaign)s AND created_at = %(now)s)
                SELECT (SELECT count(*) FROM (SELECT * FROM hand EXCEPT SELECT * FROM made) a),
                       (SELECT count(*) FROM (SELECT * FROM made EXCEPT SELECT * FROM hand) b)""",
            hand_params(campaign),
        )
        row = cursor.fetchone()
        return (int(row[0]), int(row[1])) if row else (-1, -1)


# --- The pass ----------------------------------------------------------------------------------


@dataclass
class Statement:
    campaign: str
    seconds: float
    sql: str
    params: Any


@dataclass
class Pass:
    seconds: float
    created: dict[str, int]
    per_campaign: dict[str, float] = field(default_factory=dict)
    statements: dict[str, int] = field(default_factory=dict)
    slowest: dict[str, Statement] = field(default_factory=dict)


def pass_measure() -> Pass:
    """One `sends_schedule(now=NOW)`, timed as a whole and per campaign (its finders
    wrapped for the run), with the statements each campaign sent and its slowest one."""
    from django.db import connection

    from campaigns import triggers

    per_campaign: dict[str, float] = {}
    statements: dict[str, int] = defaultdict(int)
    slowest: dict[str, Statement] = {}
    current = {"key": "(listing)"}

    def timed(finder: Callable[..., int]) -> Callable[..., int]:
        def run(campaign: Any, now: dt.datetime) -> int:
            current["key"] = campaign.key
            start = time.perf_counter()
            try:
                return finder(campaign, now)
            finally:
                per_campaign[campaign.key] = time.perf_counter() - start
                current["key"] = "(listing)"

        return run

    def capture(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        start = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            seconds = time.perf_counter() - start
            key = current["key"]
            statements[key] += 1
            if key not in slowest or slowest[key].seconds < seconds:
                slowest[key] = Statement(key, seconds, sql, params)

    original = dict(triggers.FINDERS)
    triggers.FINDERS.update({kind: timed(finder) for kind, finder in original.items()})
    try:
        with connection.execute_wrapper(capture):
            start = time.perf_counter()
            created = triggers.sends_schedule(now=NOW)
            seconds = time.perf_counter() - start
    finally:
        triggers.FINDERS.update(original)
    return Pass(seconds, created, per_campaign, dict(statements), slowest)


def explain(statement: Statement) -> str:
    """EXPLAIN (ANALYZE, BUFFERS) of an INSERT, rolled back."""
    from django.db import connection, transaction

    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN (ANALYZE, BUFFERS) {statement.sql}", statement.params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
        transaction.set_rollback(True)
    return plan


def _timed(run: Callable[[], int], repeat: int) -> tuple[list[float], int]:
    seconds, result = [], -1
    for _ in range(repeat):
        start = time.perf_counter()
        result = run()
        seconds.append(time.perf_counter() - start)
    return seconds, result


# --- Output --------------------------------------------------------------------------------------


def table_print(meta: dict[str, Any], rows: list[dict[str, Any]], totals: dict[str, Any]) -> None:
    print()
    print(
        f"Scheduler pass (sends_schedule) on {meta['profiles']:,} profiles, {meta['events']:,} "
        f"events, {meta['ledger_rows']:,} ledger rows, {meta['deliveries']:,} past deliveries; "
        f"now = {meta['now']}; PostgreSQL {meta['postgresql']}, {meta['cpus']} CPUs"
    )
    head = (
        f"{'campaign':18} {'trigger':12} {'cold rows':>9} {'hand rows':>9} {'cold s':>8} "
        f"{'warm s':>8} {'hand s':>8} {'warm/hand':>9} {'stmts':>5}"
    )
    print(head)
    print("-" * len(head))
    for r in rows:
        hand_s = f"{r['hand_seconds']:8.3f}" if r["hand_seconds"] is not None else f"{'—':>8}"
        ratio = f"{r['warm_to_hand']:9.1f}" if r["warm_to_hand"] is not None else f"{'—':>9}"
        hand_rows = f"{r['hand_rows']:9,}" if r["hand_rows"] is not None else f"{'—':>9}"
        print(
            f"{r['key']:18} {r['trigger']:12} {r['cold_rows']:9,} {hand_rows} "
            f"{r['cold_seconds']:8.3f} {r['warm_seconds']:8.3f} {hand_s} {ratio} {r['statements']:5}"
        )
    print("-" * len(head))
    print(
        f"{'full pass':31} {totals['cold_rows']:9,} {totals['hand_rows']:9,} "
        f"{totals['cold_seconds']:8.2f} {totals['warm_seconds']:8.2f} "
        f"{totals['hand_seconds']:8.2f} {totals['warm_to_hand']:9.1f}"
    )
    print()
    print(
        f"cold pass {totals['cold_seconds']:.2f} s = {totals['cold_to_hand']:.1f} x the hand-written "
        f"queries ({totals['hand_seconds']:.2f} s, median of {HAND_REPEAT}); warm passes "
        f"{', '.join(f'{s:.2f}' for s in totals['warm_samples'])} s (median "
        f"{totals['warm_seconds']:.2f} s = {totals['warm_to_hand']:.1f} x hand)."
    )
    print(
        f"Idempotency: the warm passes inserted {totals['warm_inserted']} rows (must be 0). "
        f"Load average before/after: {meta['loadavg_before']} / {meta['loadavg_after']}."
    )
    for r in rows:
        if r.get("explain"):
            print()
            print(
                f"EXPLAIN (ANALYZE, BUFFERS) of the slowest statement of {r['key']} (warm, rolled back):"
            )
            print(r["explain"])
    verdict = "met" if totals["cold_seconds"] < TARGET_SECONDS else "NOT met"
    print()
    print(
        f"Target: the full pass under {TARGET_SECONDS:.0f} s: {verdict} ({totals['cold_seconds']:.1f} s cold)."
    )


# --- Main ------------------------------------------------------------------------------------


def data_load(url: str, args: argparse.Namespace) -> dict[str, float]:
    """Migrate the fresh database and fill it (profiles, events, deliveries) as the
    arguments say; returns the seconds of each step."""
    from django.core.management import call_command

    call_command("migrate", verbosity=0, interactive=False)
    if args.deliveries:
        newsletters_create()
    print(f"Generating {args.profiles:,} profiles and {args.events:,} events …", file=sys.stderr)
    return data_generate(
        url,
        profiles=args.profiles,
        events=args.events,
        deliveries=args.deliveries,
        seed=args.seed,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench scheduler", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--profiles", type=int, default=1_000_000, help="profiles (1,000,000)")
    parser.add_argument("--events", type=int, default=10_000_000, help="events (10,000,000)")
    parser.add_argument(
        "--deliveries",
        type=int,
        default=2_000_000,
        help="past newsletter deliveries for the sunset rule (about 2,000,000; 0: rule off)",
    )
    parser.add_argument("--seed", type=int, default=20251123, help="seed of the data")
    parser.add_argument(
        "--explain", action="store_true", help="EXPLAIN ANALYZE every campaign's slowest statement"
    )
    parser.add_argument("--keep-db", action="store_true", help="keep the benchmark database")
    parser.add_argument(
        "--reuse-db",
        action="store_true",
        help="use the database a --keep-db run left (its sends of this clock are deleted first)",
    )
    args = parser.parse_args(argv)

    url, note = database_url()
    if note:
        print(note)
    parts = urlsplit(url)
    url = urlunsplit(parts._replace(path=f"{parts.path}_scheduler"))
    name = urlsplit(url).path.lstrip("/")
    lock = run_lock(url)  # noqa: F841 - held until the process ends
    if not args.reuse_db:
        print(f"Creating a fresh database {name!r} and migrating …", file=sys.stderr)
        database_recreate(url)
    failures: list[str] = []
    steps: dict[str, float] = {}
    rows: list[dict[str, Any]] = []
    try:
        django_setup(url)
        from django.db import connection

        if not args.reuse_db:
            steps = data_load(url, args)
        else:
            with connection.cursor() as cursor:
                cursor.execute("DELETE FROM campaigns_send WHERE created_at = %s", [NOW])
                cursor.execute("VACUUM (ANALYZE) campaigns_send")

        def scalar(sql: str, params: Any = None) -> Any:
            with connection.cursor() as cursor:
                cursor.execute(sql, params)
                row = cursor.fetchone()
                return row[0] if row else None

        server = scalar("SHOW server_version")
        profiles = scalar("SELECT count(*) FROM profiles_profile")
        events = scalar("SELECT reltuples::bigint FROM pg_class WHERE relname = 'events_event'")
        ledger = scalar("SELECT count(*) FROM consent_consentevent")
        deliveries = scalar("SELECT count(*) FROM campaigns_delivery")
        sends_before = scalar("SELECT count(*) FROM campaigns_send")
        live = campaigns_live()
        loadavg_before = [round(x, 2) for x in os.getloadavg()]

        print("cold pass …", file=sys.stderr)
        cold = pass_measure()
        warm: list[Pass] = []
        for i in range(WARM_PASSES):
            print(f"warm pass {i + 1} …", file=sys.stderr)
            warm.append(pass_measure())
        sends_after = scalar("SELECT count(*) FROM campaigns_send")

        hand: dict[str, tuple[list[float], int]] = {}
        for campaign in live:
            if campaign.hand_kind is None:
                continue
            print(f"hand-written query for {campaign.key} …", file=sys.stderr)
            hand[campaign.key] = _timed(functools.partial(hand_count, campaign), HAND_REPEAT)
        loadavg_after = [round(x, 2) for x in os.getloadavg()]

        # Correctness: idempotency, the counts and the very keys.
        warm_inserted = sum(sum(p.created.values()) for p in warm)
        if warm_inserted:
            failures.append(
                f"the warm passes inserted {warm_inserted} rows; a second pass must insert none"
            )
        if sends_after - sends_before != sum(cold.created.values()):
            failures.append(
                f"sends table grew by {sends_after - sends_before:,}, "
                f"the pass reported {sum(cold.created.values()):,}"
            )
        slowest_key = max(cold.per_campaign, key=lambda k: cold.per_campaign[k])
        for campaign in live:
            key = campaign.key
            warm_seconds = statistics.median(p.per_campaign.get(key, 0.0) for p in warm)
            row: dict[str, Any] = {
                "key": key,
                "trigger": campaign.trigger,
                "cold_rows": cold.created.get(key, 0),
                "cold_seconds": round(cold.per_campaign.get(key, 0.0), 3),
                "warm_seconds": round(warm_seconds, 3),
                "warm_samples": [round(p.per_campaign.get(key, 0.0), 3) for p in warm],
                "statements": cold.statements.get(key, 0),
                "hand_rows": None,
                "hand_seconds": None,
                "warm_to_hand": None,
                "slowest_statement_seconds": round(cold.slowest[key].seconds, 3)
                if key in cold.slowest
                else None,
            }
            if key in hand:
                samples, count = hand[key]
                median = statistics.median(samples)
                row.update(
                    hand_rows=count,
                    hand_seconds=round(median, 3),
                    hand_samples=[round(s, 3) for s in samples],
                    warm_to_hand=round(warm_seconds / median, 1) if median else None,
                )
                if count != row["cold_rows"]:
                    failures.append(
                        f"{key}: the pass inserted {row['cold_rows']:,}, by hand {count:,} are due"
                    )
                missing, extra = hand_compare(campaign)
                row.update(keys_only_by_hand=missing, keys_only_by_pass=extra)
                if missing or extra:
                    failures.append(
                        f"{key}: {missing:,} due sends only by hand, {extra:,} only by the pass"
                    )
            if key in cold.slowest and (
                args.explain
                or (key == slowest_key and cold.per_campaign[key] > EXPLAIN_OVER_SECONDS)
            ):
                print(f"EXPLAIN ANALYZE {key} …", file=sys.stderr)
                row["explain"] = explain(cold.slowest[key])
                row["sql"] = cold.slowest[key].sql
            rows.append(row)
    finally:
        from django.db import connections

        connections.close_all()
        if not args.keep_db:
            database_recreate(url, drop_only=True)

    import django

    hand_total = sum(r["hand_seconds"] or 0.0 for r in rows)
    warm_totals = [p.seconds for p in warm]
    warm_median = statistics.median(warm_totals)
    totals = {
        "cold_seconds": round(cold.seconds, 3),
        "warm_seconds": round(warm_median, 3),
        "warm_samples": [round(s, 3) for s in warm_totals],
        "hand_seconds": round(hand_total, 3),
        "cold_to_hand": round(cold.seconds / hand_total, 1) if hand_total else None,
        "warm_to_hand": round(warm_median / hand_total, 1) if hand_total else None,
        "cold_rows": sum(cold.created.values()),
        "hand_rows": sum(r["hand_rows"] or 0 for r in rows),
        "warm_inserted": warm_inserted,
    }
    meta = {
        "profiles": profiles,
        "events": events,
        "ledger_rows": ledger,
        "deliveries": deliveries,
        "now": NOW.isoformat(),
        "postgresql": str(server).split()[0],
        "python": platform.python_version(),
        "django": django.get_version(),
        "cpus": os.cpu_count(),
        "machine": platform.machine(),
        "git": _git_commit(),
        "measured_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "target_seconds": TARGET_SECONDS,
        "generation_seconds": steps,
        "loadavg_before": loadavg_before,
        "loadavg_after": loadavg_after,
    }
    table_print(meta, rows, totals)
    results = {**meta, "totals": totals, "campaigns": rows, "checks_failed": failures}
    return results_finish("scheduler", results, failures)


if __name__ == "__main__":
    run_as_script(main)
