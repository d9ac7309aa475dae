"""Mail plumbing shared by every app: the local outbox backend and transactional mail.

Campaign mail has its own pipeline (campaigns); this module sends the one-off
transactional messages (address verification, notices) in the customer's language.
"""

import itertools
import os
import smtplib
import threading
from collections.abc import Sequence
from pathlib import Path

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.core.mail.backends.base import BaseEmailBackend
from django.template.loader import render_to_string
from django.urls import NoReverseMatch, reverse
from django.utils import timezone, translation

# What a mail task retries on: the mail server could not be reached or hung up. Not a
# refused recipient or any other answer: that is final, and retrying would only repeat it.
TRANSIENT_MAIL_ERRORS: tuple[type[BaseException], ...] = (
    smtplib.SMTPServerDisconnected,
    smtplib.SMTPConnectError,
    ConnectionError,
    TimeoutError,
)


class OutboxEmailBackend(BaseEmailBackend):
    """Writes every message as one .eml file under OUTBOX_DIR.

    The development default: a marketer opens the folder (or the outbox page in the
    admin) and sees exactly what a customer would receive, headers included.
    """

    _counter = itertools.count()
    _lock = threading.Lock()

    def __init__(self, fail_silently: bool = False, **kwargs: object) -> None:
        super().__init__(fail_silently=fail_silently)
        self.directory = Path(settings.OUTBOX_DIR)

    def send_messages(self, email_messages: Sequence) -> int:  # type: ignore[override]
        if not email_messages:
            return 0
        self.directory.mkdir(parents=True, exist_ok=True)
        sent = 0
        for message in email_messages:
            with self._lock:
                seq = next(self._counter)
            stamp = timezone.now().strftime("%Y%m%dT%H%M%S%f")
            path = self.directory / f"{stamp}-{os.getpid()}-{seq}.eml"
            path.write_bytes(message.message().as_bytes(linesep="\r\n"))
            sent += 1
        return sent


def mail_defaults(language: str) -> dict[str, str]:
    """What every mail's footer shows even when the sending app adds nothing: who sends,
    and the privacy statement (a site-wide page, found by its URL name)."""
    try:
        privacy_url = f"{settings.SITE_URL}{reverse('consent:privacy')}?lang={language}"
    except NoReverseMatch:
        privacy_url = ""
    return {
        "shop_name": settings.SHOP_NAME,
        "shop_address": settings.SHOP_ADDRESS,
        "privacy_url": privacy_url,
    }


def send_transactional_mail(
    *,
    to: str,
    template: str,
    context: dict,
    language: str,
    headers: dict[str, str] | None = None,
) -> None:
    """Render `mail/<template>.{subject.txt,txt,html}` in `language` and send it now.

    Transactional mail (verifications, notices) is never capped and needs no consent;
    the caller decides that it is transactional. Nothing personal goes into headers
    other than the recipient.
    """
    context = {**mail_defaults(language), **context}
    with translation.override(language):
        subject = render_to_string(f"mail/{template}.subject.txt", context).strip()
        text = render_to_string(f"mail/{template}.txt", context)
        html = render_to_string(f"mail/{template}.html", context)
    message = EmailMultiAlternatives(
        subject=" ".join(subject.split()),
        body=text,
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[to],
        headers=headers or {},
    )
    message.attach_alternative(html, "text/html")
    message.send()
