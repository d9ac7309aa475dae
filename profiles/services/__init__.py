"""Writes of the master list: a customer's profile (profile.py), their own corrections
and address changes (email_change.py), and erasure (erasure.py)."""

from .email_change import (
    EmailChangeError,
    email_change_cancel,
    email_change_confirm,
    email_change_lookup,
    email_change_request,
    email_change_state,
    profile_correct,
)
from .erasure import ERASED_FIELDS, admin_log_erase, history_erase, profile_erase
from .profile import (
    OWN_KEY_PREFIX,
    AddressTaken,
    changes_apply,
    creation_changes,
    history_value,
    profile_create,
    profile_rekey,
    profile_update,
    profile_upsert,
)

__all__ = [
    "ERASED_FIELDS",
    "OWN_KEY_PREFIX",
    "AddressTaken",
    "EmailChangeError",
    "admin_log_erase",
    "changes_apply",
    "creation_changes",
    "email_change_cancel",
    "email_change_confirm",
    "email_change_lookup",
    "email_change_request",
    "email_change_state",
    "history_erase",
    "history_value",
    "profile_correct",
    "profile_create",
    "profile_erase",
    "profile_rekey",
    "profile_update",
    "profile_upsert",
]
