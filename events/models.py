from django.db import models
from django.utils.translation import gettext_lazy as _

from profiles.models import Profile


class EventType(models.TextChoices):
    IDENTIFY = "identify", "identify"
    TRACK = "track", "track"
    PAGE = "page", "page"
    SCREEN = "screen", "screen"
    GROUP = "group", "group"
    ALIAS = "alias", "alias"


class Event(models.Model):
    """One call of the shop's systems (Segment's spec), as it came in.

    `timestamp` is when it happened (clock skew corrected), `received_at` when it arrived.
    A repeated `message_id` is refused by the database, which makes every call idempotent.
    Events of a visitor not yet known (only `anonymous_id`) have no profile until an
    identify or alias links them to one.
    """

    message_id = models.CharField(max_length=100)  # unique: see Meta.constraints
    type = models.CharField(max_length=10, choices=EventType.choices)
    # The event's name for track ("Order Completed"), the page's or screen's name otherwise.
    name = models.CharField(max_length=200, blank=True)
    # Looked up through event_profile_name_time, which starts with it: a second index of
    # its own would only cost every insert a write.
    profile = models.ForeignKey(
        Profile,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="events",
        db_index=False,
    )
    user_id = models.CharField(max_length=255, blank=True)
    anonymous_id = models.CharField(max_length=255, blank=True)
    timestamp = models.DateTimeField(_("happened at"))
    received_at = models.DateTimeField(_("received at"))
    properties = models.JSONField(default=dict, blank=True)
    context = models.JSONField(default=dict, blank=True)

    class Meta:
        verbose_name = _("event")
        verbose_name_plural = _("events")
        constraints = [
            # As a constraint rather than unique=True: the same unique index, without the
            # second (LIKE) index Django adds to a unique text field; message ids are only
            # ever looked up exactly.
            models.UniqueConstraint(fields=["message_id"], name="event_message_id_unique"),
        ]
        indexes = [
            # "this profile's events of this name since t"
            models.Index(fields=["profile", "name", "timestamp"], name="event_profile_name_time"),
            # "all events of this name since t" — and whose: the profile rides along, so a
            # selection's event conditions are index-only scans (bench/selections.py).
            models.Index(
                fields=["name", "timestamp"], include=["profile"], name="event_name_time_profile"
            ),
            # attaching a visitor's earlier events once we learn who they are
            models.Index(
                fields=["anonymous_id"],
                name="event_unattached_visitor",
                condition=models.Q(profile=None) & ~models.Q(anonymous_id=""),
            ),
            models.Index(
                fields=["user_id"],
                name="event_unattached_user",
                condition=models.Q(profile=None) & ~models.Q(user_id=""),
            ),
            models.Index(fields=["-received_at"], name="event_received"),
        ]

    def __str__(self) -> str:
        return f"{self.type} {self.name} {self.timestamp:%Y-%m-%d %H:%M}"


class Activity(models.Model):
    """What events keep on a profile besides its value figures: the open basket,
    interests, RFM scores and the at-risk signal. Recomputed from the events, so late or
    out-of-order events never move anything the wrong way."""

    profile = models.OneToOneField(
        Profile, on_delete=models.CASCADE, primary_key=True, related_name="activity"
    )
    last_basket_at = models.DateTimeField(_("last basket change"), null=True, blank=True)
    # Products added since the last order and not removed: [{product_id, name, price, …}]
    basket = models.JSONField(_("open basket"), default=list, blank=True)
    # {"viewed": {category: {"count": n, "last": iso}}, "bought": {…}}
    interests = models.JSONField(_("interests"), default=dict, blank=True)
    usual_order_interval_days = models.FloatField(
        _("usual days between orders"), null=True, blank=True
    )
    at_risk = models.BooleanField(_("at risk"), default=False)
    rfm_recency = models.PositiveSmallIntegerField(_("RFM recency"), null=True, blank=True)
    rfm_frequency = models.PositiveSmallIntegerField(_("RFM frequency"), null=True, blank=True)
    rfm_monetary = models.PositiveSmallIntegerField(_("RFM monetary"), null=True, blank=True)
    rfm_at = models.DateTimeField(_("RFM computed"), null=True, blank=True)
    first_touch = models.JSONField(_("first touch (UTM)"), default=dict, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("activity")
        verbose_name_plural = _("activity")
        indexes = [models.Index(fields=["at_risk"]), models.Index(fields=["last_basket_at"])]

    def __str__(self) -> str:
        return f"activity of {self.profile_id}"


class Alias(models.Model):
    """An earlier id (a visitor's anonymousId, or an old userId) that belongs to a user id;
    later events under the earlier id go to that customer."""

    previous_id = models.CharField(max_length=255, unique=True)
    user_id = models.CharField(max_length=255, db_index=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("alias")
        verbose_name_plural = _("aliases")

    def __str__(self) -> str:
        return f"{self.previous_id} → {self.user_id}"
