"""Where the apps above `profiles` plug into what concerns every app: what the management
API shows of a profile, what a GDPR export contains, and what erasure must scrub.

Apps register from their AppConfig.ready(), so adding a capability never means editing
this layer. Each registry is a plain ordered dict of name → function.
"""

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .models import Profile

# name → function(profile) giving extra fields of the management API's profile shape.
profile_fields: dict[str, Callable[[Profile], Any]] = {}
# name → function(profile) giving a JSON-able list for the GDPR export (art. 15/20).
export_sections: dict[str, Callable[[Profile], list[dict[str, Any]]]] = {}
# name → function(profile, now, email) that scrubs the app's personal data of the person
# (art. 17). `email` is the address before erasure. Called in one transaction.
erasers: dict[str, Callable[[Profile, dt.datetime, str], None]] = {}


# name → function(profiles) called after these profiles got an address (created, or
# changed by any path, imports included), in the same transaction.
address_hooks: dict[str, Callable[[list[Profile]], None]] = {}


def register_address_hook(name: str, func: Callable[[list[Profile]], None]) -> None:
    address_hooks[name] = func


def address_changed(profiles: list[Profile]) -> None:
    for hook in address_hooks.values():
        hook(profiles)


# name → (title, function(profile) giving safe HTML) shown on the customer's admin page.
admin_panels: dict[str, tuple[Any, Callable[[Profile], str]]] = {}


def register_admin_panel(name: str, title: Any, func: Callable[[Profile], str]) -> None:
    admin_panels[name] = (title, func)


# name → function(profiles, rng, now) adding an app's demo data to the demo customers;
# each must be idempotent (make run calls load_demo every time).
demo_loaders: dict[str, Callable[[list[Profile], Any, dt.datetime], str]] = {}


def register_demo_loader(name: str, func: Callable[[list[Profile], Any, dt.datetime], str]) -> None:
    demo_loaders[name] = func


def register_profile_field(name: str, func: Callable[[Profile], Any]) -> None:
    profile_fields[name] = func


def register_export_section(name: str, func: Callable[[Profile], list[dict[str, Any]]]) -> None:
    export_sections[name] = func


def register_eraser(name: str, func: Callable[[Profile, dt.datetime, str], None]) -> None:
    erasers[name] = func


@dataclass(frozen=True)
class TimelineItem:
    """One line of a customer's activity timeline in the admin."""

    at: dt.datetime
    kind: str  # what sort of record: a label such as "event", "consent", "mail"
    title: str
    detail: str = ""
    url: str = ""  # the record in the admin, when there is a page for it


# name → function(profile, limit) giving the app's newest `limit` items for the customer.
timeline_sources: dict[str, Callable[[Profile, int], list[TimelineItem]]] = {}


def register_timeline_source(name: str, func: Callable[[Profile, int], list[TimelineItem]]) -> None:
    timeline_sources[name] = func


def timeline(profile: Profile, limit: int = 50) -> list[TimelineItem]:
    """Every app's records of the customer, newest first: each source gives at most
    `limit` (served by an index on (profile, time)), and the newest `limit` of all are kept."""
    items = [item for source in timeline_sources.values() for item in source(profile, limit)]
    return sorted(items, key=lambda item: item.at, reverse=True)[:limit]
