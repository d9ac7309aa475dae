"""Logging filters. No personal data in logs; no alarm for what is a client's mistake."""

import logging


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
