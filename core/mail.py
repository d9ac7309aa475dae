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
from typing import Any

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.core.mail.backends import smtp
from django.core.mail.backends.base import BaseEmailBackend
from django.template.loader import render_to_string
from django.urls import NoReverseMatch, reverse
from django.utils import timezone, translation


class MailOutcomeUnknown(smtplib.SMTPException):
    """The connection broke (or the server stopped answering) after the message's DATA
    command: the server may have taken the message. Never retried: that could send it
    twice (SmtpEmailBackend raises it; an error before DATA means nothing was taken)."""


class MailRefused(smtplib.SMTPException):
    """The server refused the message for good (5xx): retrying would only repeat it."""


class TemporaryMailRefusal(smtplib.SMTPException):
    """The server answered a 4xx code ("try again later": greylisting, a full mailbox, a
    busy server): nothing was taken, and trying again later may well succeed."""


# What a mail task retries on: the mail server could not be reached, hung up before it
# had the message, or asked to try later. Not a refused recipient (5xx: retrying would
# only repeat it) and not MailOutcomeUnknown (the message may have arrived).
TRANSIENT_MAIL_ERRORS: tuple[type[BaseException], ...] = (
    smtplib.SMTPServerDisconnected,
    smtplib.SMTPConnectError,
    ConnectionError,
    TimeoutError,
    TemporaryMailRefusal,
)


def mail_error_kind(error: BaseException) -> str:
    """What a mail server's error means for the message being sent, one of:

    - "unavailable": the server cannot be reached, hung up or closes the session (421),
      or refuses every sender for now (4xx to MAIL FROM): nothing was taken; try this
      message and the ones after it later, over a new connection;
    - "deferred": this message is refused for now (4xx to RCPT TO or DATA): nothing was
      taken; try it again later, go on with the next one;
    - "refused": this message is refused for good (5xx to RCPT TO or DATA): nothing was
      taken; it fails, with its reason; go on with the next one;
    - "broken": the server refuses our sender for good (5xx to MAIL FROM): nothing was
      taken, but no message will be until the operator fixes the configuration;
    - "unknown": anything else, MailOutcomeUnknown included: the server may have it.
    """
    if isinstance(error, MailOutcomeUnknown):
        return "unknown"
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        codes = [code for code, _message in error.recipients.values()] or [550]
        if 421 in codes:
            return "unavailable"
        return "deferred" if all(400 <= code < 500 for code in codes) else "refused"
    if isinstance(error, smtplib.SMTPResponseException):
        code = error.smtp_code
        if code == 421:
            return "unavailable"
        if isinstance(error, smtplib.SMTPSenderRefused):
            return "unavailable" if 400 <= code < 500 else "broken"
        if isinstance(error, smtplib.SMTPDataError):
            return "deferred" if 400 <= code < 500 else "refused"
        return "unknown"
    if isinstance(error, TRANSIENT_MAIL_ERRORS):
        return "unavailable"
    return "unknown"


def mail_error_code(error: BaseException) -> str:
    """The server's reply code(s) for a log line, or the error's type: never its text,
    which often names the address."""
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        return ",".join(str(code) for code, _m in error.recipients.values())
    if isinstance(error, smtplib.SMTPResponseException):
        return str(error.smtp_code)
    return type(error).__name__


class _UnknownAfterData:
    """smtplib's client, telling a broken connection after DATA (MailOutcomeUnknown: the
    server may have the message) from one before it (nothing was taken)."""

    def data(self, msg: Any) -> tuple[int, bytes]:
        try:
            return super().data(msg)  # type: ignore[misc]
        except (smtplib.SMTPServerDisconnected, OSError) as error:
            raise MailOutcomeUnknown(f"no answer after DATA: {error!r}") from error


class _SMTP(_UnknownAfterData, smtplib.SMTP):
    pass


class _SMTPSSL(_UnknownAfterData, smtplib.SMTP_SSL):
    pass


class SmtpEmailBackend(smtp.EmailBackend):
    """Django's SMTP backend whose errors say whether the message may have arrived (see
    mail_error_kind): what lets campaigns/handover.py retry without sending twice."""

    @property
    def connection_class(self) -> type[smtplib.SMTP]:
        return _SMTPSSL if self.use_ssl else _SMTP


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
    try:
        message.send()
    except smtplib.SMTPResponseException as error:
        raise _refusal(error) from None  # the server's text often names the address
    except smtplib.SMTPRecipientsRefused as error:
        raise _refusal(error) from None


def _refusal(error: smtplib.SMTPException) -> smtplib.SMTPException:
    """A refusal as the task's log may show it: the code, not the server's text. A 4xx
    ("try again later") becomes TemporaryMailRefusal, which the mail tasks retry."""
    answer = f"the mail server answered {mail_error_code(error)}"
    if mail_error_kind(error) in ("deferred", "unavailable"):
        return TemporaryMailRefusal(f"{answer}: try again later")
    return MailRefused(answer)
