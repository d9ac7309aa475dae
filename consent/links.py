"""Signed, scoped links for the customer's own pages and the mail headers that carry them.

A token signs the profile's random public_id (and a topic) with a salt per scope, so a
preferences link cannot be used as an unsubscribe link or the other way round, one
customer's token never opens another's data, and the token says nothing about who it is
for. Erasure gives the profile a new public_id: every old link stops working.
"""

import datetime as dt
import re
from typing import Any

from django.conf import settings
from django.core import signing

from core.errors import DomainError
from core.mail import mail_defaults
from core.tokens import token_from_nonce
from core.urls import absolute_url
from profiles.models import Profile

from .models import Category, OptInRequest, Topic

SCOPES = ("preferences", "unsubscribe")
# What signing.dumps makes of a token, and what reverse() puts into a URL as it is.
_URL_SAFE_TOKEN = re.compile(r"[A-Za-z0-9_:.-]+")
_SLOT_IN_URL = "KlantbeeldTokenSlot"


# The HMAC purpose of a double opt-in's confirmation link (its token is derived from the
# request's nonce, so a redelivered mail task sends the very same link).
OPT_IN_TOKEN_PURPOSE = "opt-in"  # noqa: S105 - an HMAC purpose, not a secret


def opt_in_token(request: OptInRequest) -> str:
    """The token of a double opt-in's confirmation link."""
    return token_from_nonce(request.nonce, OPT_IN_TOKEN_PURPOSE)


class LinkError(DomainError):
    """The token is forged, of another scope, expired, or its customer no longer exists."""

    status = 404
    default_code = "invalid"

    def __init__(self, scope: str) -> None:
        super().__init__(message="This link does not work (any more).")
        self.scope = scope


def _payload(profile: Profile, topic: Topic | None) -> list[Any]:
    return [profile.public_id.hex, topic.pk if topic else None]


def link_token(profile: Profile, scope: str, topic: Topic | None = None) -> str:
    assert scope in SCOPES  # noqa: S101 - a programming error, not input
    return signing.dumps(_payload(profile, topic), salt=f"klantbeeld.link.{scope}")


def link_resolve(token: str, scope: str) -> tuple[Profile, Topic | None]:
    """The (profile, topic) a token was made for; raises LinkError otherwise."""
    max_age = (
        dt.timedelta(days=settings.PREFERENCES_LINK_TTL_DAYS) if scope == "preferences" else None
    )
    try:
        public_id, topic_id = signing.loads(token, salt=f"klantbeeld.link.{scope}", max_age=max_age)
    except (signing.BadSignature, ValueError, TypeError) as exc:
        raise LinkError(scope) from exc
    profile = Profile.objects.filter(public_id=public_id, erased_at=None).first()
    if profile is None:
        raise LinkError(scope)
    topic = Topic.objects.filter(pk=topic_id).first() if topic_id else None
    return profile, topic


def preferences_url(profile: Profile) -> str:
    return absolute_url("consent:preferences", token=link_token(profile, "preferences"))


def unsubscribe_url(profile: Profile, topic: Topic) -> str:
    return absolute_url("consent:unsubscribe", token=link_token(profile, "unsubscribe", topic))


def list_unsubscribe_headers(profile: Profile, topic: Topic) -> dict[str, str]:
    """RFC 8058 one-click unsubscribe headers for a commercial or service mail."""
    return one_click_headers(unsubscribe_url(profile, topic))


def one_click_headers(unsubscribe_link: str) -> dict[str, str]:
    """RFC 8058 one-click unsubscribe headers around a link made for the customer."""
    return {
        "List-Unsubscribe": f"<{unsubscribe_link}>",
        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
    }


def mail_footer(profile: Profile, topic: Topic | None) -> dict[str, Any]:
    """What every mail's footer shows (core.mail.mail_defaults: who sends, the privacy
    statement), and the customer's own links."""
    footer: dict[str, Any] = {
        **mail_defaults(profile.language),
        "preferences_url": preferences_url(profile),
        "unsubscribe_url": None,
    }
    if topic is not None and topic.category != Category.TRANSACTIONAL:
        footer["unsubscribe_url"] = unsubscribe_url(profile, topic)
    return footer


class MailLinks:
    """The footers of many mails (a sending batch), string for string what `mail_footer`
    makes: what is the same for every customer — `mail_defaults` per language, the URL
    around a token, the signers — is made once, when first needed; each customer's
    tokens are still signed for that customer. Holds no customer data."""

    def __init__(self) -> None:
        self._defaults: dict[str, dict[str, str]] = {}
        self._around: dict[str, list[str]] = {}
        self._signers = {
            scope: signing.TimestampSigner(salt=f"klantbeeld.link.{scope}") for scope in SCOPES
        }

    def _url(self, viewname: str, profile: Profile, scope: str, topic: Topic | None) -> str:
        token = self._signers[scope].sign_object(_payload(profile, topic))
        if viewname not in self._around:
            self._around[viewname] = absolute_url(viewname, token=_SLOT_IN_URL).split(_SLOT_IN_URL)
        around = self._around[viewname]
        if len(around) == 2 and _URL_SAFE_TOKEN.fullmatch(token):
            return around[0] + token + around[1]
        return absolute_url(viewname, token=token)  # reverse() would change it: let it

    def footer(self, profile: Profile, topic: Topic | None) -> dict[str, Any]:
        language = profile.language
        if language not in self._defaults:
            self._defaults[language] = mail_defaults(language)
        footer: dict[str, Any] = {
            **self._defaults[language],
            "preferences_url": self._url("consent:preferences", profile, "preferences", None),
            "unsubscribe_url": None,
        }
        if topic is not None and topic.category != Category.TRANSACTIONAL:
            footer["unsubscribe_url"] = self._url(
                "consent:unsubscribe", profile, "unsubscribe", topic
            )
        return footer
