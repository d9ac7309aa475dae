"""The customer's own pages: subscribe, confirm, unsubscribe, preferences, privacy.

A GET never changes anything (mail scanners follow links); changes need a POST. Pages
reached with a token speak the customer's language; public pages follow ?lang= or the
browser.
"""

from .pages import home, privacy
from .preferences import (
    preferences,
    preferences_erase,
    preferences_export,
    preferences_request,
)
from .signup import confirm, subscribe, unsubscribe

__all__ = [
    "confirm",
    "home",
    "preferences",
    "preferences_erase",
    "preferences_export",
    "preferences_request",
    "privacy",
    "subscribe",
    "unsubscribe",
]
