"""The profiles app's admin: customers, their history, imports, selections and the
outgoing webhooks, one module each (Django's admin autodiscovery imports this package,
which registers them all)."""

from . import customers, history, imports, selections, webhooks  # noqa: F401 - registers them
from .common import staff_user

__all__ = ["staff_user"]
