from celery import shared_task
from celery.contrib.django.task import DjangoTask

from core.mail import TRANSIENT_MAIL_ERRORS, send_transactional_mail
from core.tokens import token_from_nonce
from core.urls import absolute_url

from .importing import import_job_run
from .models import EmailChangeRequest
from .webhooks import webhooks_deliver_due


@shared_task(
    base=DjangoTask, autoretry_for=TRANSIENT_MAIL_ERRORS, retry_backoff=True, max_retries=5
)
def send_email_change_mail(request_id: int, kind: str) -> None:
    """One mail of an address change: `verify` to the new address with the confirm link,
    or `notice` to the current address with a cancel link. One mail per task, so a retry
    never repeats a mail that already went out.

    Only the request's id travels through the broker; the link's token is derived from
    the request's nonce, so a retried or redelivered task sends the very same link."""
    request = EmailChangeRequest.objects.select_related("profile").filter(pk=request_id).first()
    if request is None or request.confirmed_at or request.cancelled_at:
        return  # gone (erased), done or cancelled meanwhile
    token = token_from_nonce(request.nonce, "email-confirm" if kind == "verify" else "email-cancel")
    profile = request.profile
    context = {"profile": profile, "new_email": request.new_email, "expires_at": request.expires_at}
    if kind == "verify":
        to = request.new_email
        context["confirm_url"] = absolute_url("profiles:email_change_confirm", token=token)
    else:
        to = profile.email
        context["cancel_url"] = absolute_url("profiles:email_change_cancel", token=token)
    send_transactional_mail(
        to=to, template=f"email_change_{kind}", context=context, language=profile.language
    )


@shared_task(base=DjangoTask)
def run_import_job(job_id: int) -> None:
    import_job_run(job_id=job_id)


@shared_task(base=DjangoTask)
def deliver_webhooks() -> dict[str, int]:
    """After every change and every minute: post the webhook deliveries that are due."""
    return webhooks_deliver_due()
