from celery import shared_task
from celery.contrib.django.task import DjangoTask
from django.utils import translation

from core.mail import TRANSIENT_MAIL_ERRORS as SMTP_ERRORS
from core.mail import send_transactional_mail
from core.urls import absolute_url
from profiles.models import Profile

from .links import mail_footer, opt_in_token
from .models import OptInRequest


@shared_task(base=DjangoTask, autoretry_for=SMTP_ERRORS, retry_backoff=True, max_retries=5)
def send_opt_in_mail(request_id: int) -> None:
    """The transactional confirmation mail of a double opt-in, in the customer's language.

    Only the request's id travels through the broker; the link's token is derived from
    the request's nonce, so a retried or redelivered task sends the very same link."""
    request = OptInRequest.objects.select_related("profile").filter(pk=request_id).first()
    if request is None or request.confirmed_at or request.expired_at or request.profile.erased_at:
        return
    token = opt_in_token(request)
    profile = request.profile
    with translation.override(request.language):
        topics = [item.topic.name for item in request.items.select_related("topic")]
    send_transactional_mail(
        to=profile.email,
        template="opt_in_confirm",
        language=request.language,
        # No greeting by name: the name on the public form is unverified, and anyone can
        # type someone else's address with an abusive one.
        context={
            "topics": topics,
            "confirm_url": absolute_url("consent:confirm", token=token),
            "expires_at": request.expires_at,
            **mail_footer(profile, None),
        },
    )


@shared_task(base=DjangoTask, autoretry_for=SMTP_ERRORS, retry_backoff=True, max_retries=5)
def send_preferences_link(profile_id: int) -> None:
    """A fresh link to the preference page, asked for on the site."""
    profile = Profile.objects.filter(pk=profile_id, erased_at=None).first()
    if profile is None:
        return
    send_transactional_mail(
        to=profile.email,
        template="preferences_link",
        language=profile.language,
        context={"profile": profile, **mail_footer(profile, None)},
    )
