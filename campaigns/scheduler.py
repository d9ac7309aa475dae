"""The scheduler: one code path for Celery beat (every minute) and `manage.py tick`.

1. triggers → sends (campaigns/triggers.py: set-based SQL, idempotent inserts);
2. claim due sends in bounded batches, 3. re-check, 4. send, 5. record
   (campaigns/sending.py). Before that, claims of workers that died are recovered.
"""

import datetime as dt
from typing import Any

from .sending import sends_recover, sends_send_due
from .sunset import sunset_expire
from .triggers import sends_schedule


def campaigns_tick(now: dt.datetime) -> dict[str, Any]:
    return {
        "recovered": sends_recover(now=now),
        "scheduled": sends_schedule(now=now),
        "sent": sends_send_due(now=now),
        "sunset": sunset_expire(now=now),
    }
