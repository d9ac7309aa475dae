"""Writes of the consent domain: the ledger, double opt-in, withdrawal, suppression,
preferences, and the consent side of erasure.

The ledger is append-only; every write that changes a permission goes through
`ledger_append`, which writes the state the ledger then says in the same transaction.
"""

from .choices import (
    consent_withdraw,
    preferences_update,
    service_resume,
    soft_opt_in_grant,
    soft_opt_in_grant_many,
    sunset_apply,
    sunset_lift,
    topic_text_set,
    topics_choose,
    unsubscribe_everything,
)
from .erasure import consent_erase
from .ledger import ledger_append, ledger_scrub, profile_lock, state_fold, state_rebuild
from .opt_in import (
    LIFTED_BY_OPT_IN,
    OptInError,
    SubscriptionOutcome,
    UndeliverableAddress,
    opt_in_lookup,
    opt_in_resend,
    opt_in_state,
    opt_ins_close,
    opt_ins_expire,
    subscription_confirm,
    subscription_request,
)
from .suppression import (
    suppression_add,
    suppression_lift,
    suppressions_follow_addresses,
)

__all__ = [
    "LIFTED_BY_OPT_IN",
    "OptInError",
    "SubscriptionOutcome",
    "UndeliverableAddress",
    "consent_erase",
    "consent_withdraw",
    "ledger_append",
    "ledger_scrub",
    "opt_in_lookup",
    "opt_in_resend",
    "opt_in_state",
    "opt_ins_close",
    "opt_ins_expire",
    "preferences_update",
    "profile_lock",
    "service_resume",
    "soft_opt_in_grant",
    "soft_opt_in_grant_many",
    "sunset_apply",
    "sunset_lift",
    "state_fold",
    "state_rebuild",
    "subscription_confirm",
    "subscription_request",
    "suppression_add",
    "suppression_lift",
    "suppressions_follow_addresses",
    "topic_text_set",
    "topics_choose",
    "unsubscribe_everything",
]
