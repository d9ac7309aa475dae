"""Logging: no personal data, no key and no customer's link in a log line, and no alarm
for what is a client's mistake."""

import logging
import re

# The paths whose last part is a customer's signed link (a bearer credential: whoever has
# it opens the page): confirm, unsubscribe, preferences, survey, email change.
_LINK = re.compile(
    r"((?:^|[\s\"'(]|://[^/\s\"']+)"
    r"/(?:confirm|unsubscribe|preferences|s|p/email/confirm|p/email/cancel)/)"
    r"[^/\s?\"']+"
)


def mask_links(text: str) -> str:
    """The text with every customer link's token replaced by "…"."""
    return _LINK.sub(r"\1…", text)


class MaskLinks(logging.Filter):
    """Django logs a refused path ("Not Found: /preferences/<token>/"): the token goes."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = mask_links(message)
        if masked != message:
            record.msg, record.args = masked, ()
        return True


class ClientMistake(logging.Filter):
    """What Django's security loggers report — a webhook without its credentials, a Host
    header the site does not serve — is a refused request, answered 400: logged as one
    line at WARNING, without the traceback Django attaches, so that a scanner cannot fill
    the log with errors nor bury a real one."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.exc_info = None
        record.exc_text = None
        if record.levelno > logging.WARNING:
            record.levelno, record.levelname = (
                logging.WARNING,
                logging.getLevelName(logging.WARNING),
            )
        return True
