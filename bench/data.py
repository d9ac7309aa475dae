"""The shop's data every benchmark generates from: Dutch names, streets, cities, mail
domains and product categories; and the SQL that generates customers and their events in
bulk (`generate_series`, seeded with `setseed`), shared so that every benchmark's shop
follows the same rules (a customer's user id and address, what an event carries).
"""

import json
import random
import unicodedata
from typing import Any

FIRST_NAMES = [
    "Anna",
    "Bram",
    "Daan",
    "Emma",
    "Fleur",
    "Julia",
    "Lars",
    "Lotte",
    "Lucas",
    "Mila",
    "Noah",
    "Sanne",
    "Sem",
    "Sophie",
    "Thijs",
    "Tess",
    "Finn",
    "Eva",
    "Jesse",
    "Lisa",
    "Ruben",
    "Iris",
    "Bas",
    "Femke",
    "Joris",
    "Anouk",
    "Pieter",
    "Marloes",
    "Kees",
    "Ingrid",
    "Henk",
    "Wilma",
    "Gerrit",
    "Mieke",
    "Jan",
    "Els",
    "Mohamed",
    "Fatima",
    "Yusuf",
    "Ayşe",
    "Zoë",
    "Chloë",
    "Noël",
    "José",
    "Jürgen",
    "Kübra",
    "Priya",
    "Wei",
    "Olga",
    "Siobhan",
]
LAST_NAMES = [
    "de Jong",
    "Jansen",
    "de Vries",
    "van den Berg",
    "van Dijk",
    "Bakker",
    "Janssen",
    "Visser",
    "Smit",
    "Meijer",
    "de Boer",
    "Mulder",
    "de Groot",
    "Bos",
    "Vos",
    "Peters",
    "Hendriks",
    "van Leeuwen",
    "Dekker",
    "Brouwer",
    "de Wit",
    "Dijkstra",
    "Smits",
    "de Graaf",
    "van der Meer",
    "van der Linden",
    "Kok",
    "Jacobs",
    "de Haan",
    "Vermeulen",
    "van den Heuvel",
    "van der Veen",
    "van den Broek",
    "de Bruijn",
    "de Bruin",
    "van der Heijden",
    "Schouten",
    "van Beek",
    "Willems",
    "van Vliet",
    "Yılmaz",
    "El Amrani",
    "Müller",
    "Çelik",
    "O'Brien",
    "Nguyen",
    "Kowalski",
    "Dubois",
    "Peeters",
    "Maes",
]
STREETS = [
    "Kerkstraat",
    "Schoolstraat",
    "Molenstraat",
    "Dorpsstraat",
    "Stationsweg",
    "Julianastraat",
    "Wilhelminastraat",
    "Beatrixlaan",
    "Nieuwstraat",
    "Markt",
    "Kastanjelaan",
    "Eikenlaan",
    "Prinses Irenestraat",
    "Oranjestraat",
    "Raadhuisplein",
    "Parallelweg",
    "Industrieweg",
    "Van Goghlaan",
    "Rembrandtstraat",
    "Sportlaan",
    "Lindenlaan",
    "Burgemeester de Withstraat",
    "Prins Bernhardlaan",
    "Emmastraat",
    "Hoofdstraat",
    "Achterweg",
    "Noordeinde",
    "Zuidsingel",
]
CITIES = {
    "NL": [
        "Amsterdam",
        "Rotterdam",
        "Den Haag",
        "Utrecht",
        "Eindhoven",
        "Groningen",
        "Tilburg",
        "Almere",
        "Breda",
        "Nijmegen",
        "Apeldoorn",
        "Haarlem",
        "Arnhem",
        "Enschede",
        "Amersfoort",
        "Zaandam",
        "'s-Hertogenbosch",
        "Zwolle",
        "Leiden",
        "Maastricht",
        "Dordrecht",
        "Delft",
        "Leeuwarden",
        "Alkmaar",
        "Venlo",
        "Deventer",
        "Hilversum",
        "Heerlen",
        "Assen",
        "Goes",
    ],
    "BE": ["Antwerpen", "Gent", "Brugge", "Leuven", "Mechelen", "Hasselt", "Brussel", "Kortrijk"],
    "DE": ["Köln", "Düsseldorf", "Aachen", "Kleve", "Münster", "Emmerich am Rhein"],
}
DOMAINS = [
    "gmail.com",
    "hotmail.com",
    "outlook.com",
    "ziggo.nl",
    "kpnmail.nl",
    "live.nl",
    "xs4all.nl",
    "icloud.com",
    "yahoo.com",
    "planet.nl",
    "telenet.be",
    "web.de",
]
TIERS = ["brons", "zilver", "goud", "platina"]
CATEGORIES = [
    "Schoenen",
    "Jassen",
    "Broeken",
    "Truien",
    "Jurken",
    "Tassen",
    "Sieraden",
    "Sport",
    "Kinderkleding",
    "Accessoires",
    "Ondergoed",
    "Wonen",
]
NL_LETTERS = "ABCDEFGHJKLMNPRSTVWXZ"  # the letters PostNL uses
# The pages of the shop's page events.
PAGES = ["Home", "Sale", "Nieuw binnen", "Zoeken", "Categorie", "Klantenservice"]


def ascii_name(text: str) -> str:
    """A name as it goes into an address: lower case, no accents, letters and digits only."""
    plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return "".join(c for c in plain.lower() if c.isalnum())


def nl_postal_letters(rng: random.Random) -> str:
    """The two letters of a Dutch postal code (never SA, SD or SS)."""
    while True:
        letters = rng.choice(NL_LETTERS) + rng.choice(NL_LETTERS)
        if letters not in ("SA", "SD", "SS"):
            return letters


def customer_email(profile_id: int) -> str:
    """The address `customer_email_sql` gives the customer (the ledger keeps it as proof)."""
    return f"klant{profile_id}@{DOMAINS[profile_id % len(DOMAINS)]}"


def ledger_ip(profile_id: int) -> str:
    """The IP address a customer's consent was given from."""
    return f"84.{profile_id % 250}.{(profile_id // 250) % 250}.{1 + profile_id % 200}"


# The consent ledger, written with COPY (its guard triggers refuse UPDATE and DELETE only).
LEDGER_COPY = (
    "COPY consent_consentevent (profile_id, topic_id, action, occurred_at, source, email,"
    " ip, user_agent, note, consent_text_id) FROM STDIN"
)


def context_values(user_agents: list[str], *, locale: str = "") -> list[str]:
    """The `context` (JSON) of an event, one per browser."""
    values = []
    for agent in user_agents:
        context: dict[str, Any] = {"library": {"name": "analytics.js", "version": "next-1.70.0"}}
        if locale:
            context["locale"] = locale
        context["userAgent"] = agent
        values.append(json.dumps(context))
    return values


# --- SQL ---------------------------------------------------------------------------------
#
# Parameters (psycopg, %(name)s): those sql_params gives.


def sql_params(
    *, profiles: int, events: int, now: Any, contexts: list[str], closed_from: float = 1.0
) -> dict[str, Any]:
    """The parameters of EVENTS_SQL and of the profiles' SQL."""
    return {
        "profiles": profiles,
        "events": events,
        "now": now,
        "closed_from": closed_from,
        "pages": PAGES,
        "categories": CATEGORIES,
        "contexts": contexts,
        "domains": DOMAINS,
        "first_names": FIRST_NAMES,
        "last_names": LAST_NAMES,
        "streets": STREETS,
        "cities": CITIES["NL"],
    }


def pick(array: str, random_expr: str) -> str:
    """SQL for one element of a text[] parameter, chosen by a random() in [0, 1)."""
    return (
        f"(%({array})s::text[])[1 + floor({random_expr} * cardinality(%({array})s::text[]))::int]"
    )


def user_id_sql(profile_id: str) -> str:
    """SQL for the shop's customer number of the profile with id `profile_id` (C0000042)."""
    return f"'C' || lpad({profile_id}::text, 7, '0')"


def customer_email_sql(profile_id: str) -> str:
    """SQL for the address of the profile with id `profile_id` (as `customer_email`)."""
    return (
        f"'klant' || {profile_id} || '@' || "
        f"(%(domains)s::text[])[1 + {profile_id} %% cardinality(%(domains)s::text[])]"
    )


# %(events)s events over the two years before %(now)s (more in recent months): Product
# Viewed 45%, Product Added 12%, Product Removed 3%, Checkout Started 5%, Order Completed
# 5% (a total and a product line), pages 20%, identify 2%, Cart Viewed the rest, except
# that those from %(closed_from)s on are Account Closed (1: none); product events carry
# one of CATEGORIES; 10% from visitors without a profile, the rest unevenly spread over
# %(profiles)s customers.
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
            WHEN k < 0.90 THEN {pick("pages", "v")}
            WHEN k < 0.92 THEN ''
            WHEN k < %(closed_from)s THEN 'Cart Viewed'
            ELSE 'Account Closed' END,
       pid,
       CASE WHEN pid IS NULL THEN '' ELSE {user_id_sql("pid")} END,
       'v' || coalesce(pid, g %% %(profiles)s + %(profiles)s),
       at,
       at + interval '2 seconds',
       CASE WHEN k < 0.65 OR (k >= 0.92 AND k < %(closed_from)s) THEN jsonb_build_object(
                'product_id', 'P' || (10000 + floor(v * 400)::int),
                'category', {pick("categories", "c")},
                'price', round((4.95 + v * 185)::numeric, 2),
                'currency', 'EUR')
            WHEN k < 0.70 THEN jsonb_build_object(
                'order_id', 'O' || g,
                'total', round((15 + v * v * 400)::numeric, 2),
                'currency', 'EUR',
                'products', jsonb_build_array(jsonb_build_object(
                    'product_id', 'P' || (10000 + floor(c * 400)::int),
                    'category', {pick("categories", "c")})))
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
           -- stored in the order they happened, as the API appends them; more recent
           -- months busier (the age of the g-th of n events is (1 - g/n)^1.5 * 730 days)
           %(now)s - ((1 - (g - random()) / %(events)s) ^ 1.5) * interval '730 days' AS at
    FROM generate_series(1, %(events)s) AS g
) AS r
"""


# The start of a profiles INSERT … SELECT with every column of generated profiles.
PROFILES_INSERT = """
INSERT INTO profiles_profile (
    id, created_at, updated_at, user_id, email, first_name, last_name, birth_date, phone,
    street, house_number, postal_code, city, country, language, timezone, lifecycle_stage,
    acquisition_source, order_count, total_spent, first_order_at, last_order_at,
    last_seen_at, custom_attributes, public_id, erased_at)"""

# The profile's lifecycle stage from its order figures (ORDER_FIGURES_JOIN, as o).
LIFECYCLE_STAGE_SQL = """CASE WHEN o.n IS NULL THEN 'prospect'
            WHEN o.last_at < %(now)s - interval '365 days' THEN 'churned'
            WHEN o.last_at < %(now)s - interval '180 days' THEN 'lapsed'
            ELSE 'customer' END"""

# Each profile's order figures from its Order Completed events, joined to the generated
# profiles (r.g their ids) as o: n, total, first_at, last_at.
ORDER_FIGURES_JOIN = """LEFT JOIN (
    SELECT profile_id, count(*) AS n, sum((properties ->> 'total')::numeric) AS total,
           min(timestamp) AS first_at, max(timestamp) AS last_at
    FROM events_event WHERE name = 'Order Completed' AND profile_id IS NOT NULL
    GROUP BY profile_id
) AS o ON o.profile_id = r.g"""
