"""Subscribing: the form, the confirmation link (only its button confirms), and the
RFC 8058 one-click unsubscribe."""

from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.urls import reverse
from django.utils import timezone, translation
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from core.http import client_ip, user_agent
from core.ratelimit import RateLimited

from .. import services
from ..forms import SubscribeForm
from ..links import LinkError, link_resolve, link_token
from ..models import Source
from ..registry import subscribe_questions
from .common import language_activate, over_ip_limit, page, public_topics, refused


@require_http_methods(["GET", "POST"])
def subscribe(request: HttpRequest) -> HttpResponse:
    language_activate(request)
    topics = public_topics()
    form = SubscribeForm(request.POST or None, topics=topics)
    if request.method == "POST" and form.is_valid():
        if form.cleaned_data["website"]:
            # A bot filled the hidden field: answer as if it worked, do nothing.
            return page(request, "consent/message.html", {"state": "check_mail"})
        if over_ip_limit(request, "subscribe"):
            return refused(request, RateLimited("form"))
        try:
            outcome = services.subscription_request(
                topics=list(form.cleaned_data["topics"]),
                email=form.cleaned_data["email"],
                first_name=form.cleaned_data["first_name"],
                language=translation.get_language(),
                source=Source.FORM,
                now=timezone.now(),
                ip=client_ip(request),
                user_agent=user_agent(request),
            )
        except RateLimited as exc:
            return refused(request, exc)
        except services.UndeliverableAddress:
            # As if it worked: the form must not tell who is known (or bounced) here.
            return page(request, "consent/message.html", {"state": "check_mail"})
        except ValidationError as exc:
            for name, errors in exc.message_dict.items():
                form.add_error(name if name in form.fields else None, errors)
        else:
            for name, question in subscribe_questions.items():
                if form.cleaned_data.get(name):
                    question.save(outcome.profile, form.cleaned_data[name], timezone.now())
            return page(request, "consent/message.html", {"state": "check_mail"})
    return page(
        request,
        "consent/subscribe.html",
        {"form": form, "topics": topics, "language_switch": True},
    )


@require_http_methods(["GET", "POST"])
def confirm(request: HttpRequest, token: str) -> HttpResponse:
    try:
        opt_in = services.opt_in_lookup(token=token)
    except services.OptInError:
        language_activate(request)
        return page(request, "consent/message.html", {"state": "invalid"}, status=404)
    language_activate(request, opt_in.profile)
    translation.activate(opt_in.language)
    now = timezone.now()
    context = {
        "opt_in": opt_in,
        "items": list(opt_in.items.select_related("topic", "consent_text")),
    }
    if request.method == "POST":
        try:
            if request.POST.get("action") == "resend":
                services.opt_in_resend(
                    token=token, now=now, ip=client_ip(request), user_agent=user_agent(request)
                )
                return page(request, "consent/message.html", {"state": "check_mail"})
            services.subscription_confirm(
                token=token, now=now, ip=client_ip(request), user_agent=user_agent(request)
            )
        except services.OptInError as exc:
            return page(request, "consent/confirm.html", {**context, "state": exc.code})
        except RateLimited as exc:
            return refused(request, exc)
        preferences = reverse(
            "consent:preferences", args=[link_token(opt_in.profile, "preferences")]
        )
        return page(
            request,
            "consent/confirm.html",
            {**context, "state": "confirmed", "preferences": preferences},
        )
    state = services.opt_in_state(opt_in, now=now)
    return page(request, "consent/confirm.html", {**context, "state": state})


@csrf_exempt  # the POST comes from a mail client: no cookies, no form token; the link is the key
@require_http_methods(["GET", "POST"])
def unsubscribe(request: HttpRequest, token: str) -> HttpResponse:
    try:
        profile, topic = link_resolve(token, "unsubscribe")
    except LinkError as exc:
        language_activate(request)
        return refused(request, exc)
    language_activate(request, profile)
    if topic is None:
        raise Http404
    context = {
        "topic": topic,
        "preferences": reverse("consent:preferences", args=[link_token(profile, "preferences")]),
    }
    if request.method == "POST":
        services.consent_withdraw(
            profile=profile,
            topic=topic,
            now=timezone.now(),
            source=Source.ONE_CLICK,
            ip=client_ip(request),
            user_agent=user_agent(request),
        )
        return page(request, "consent/unsubscribe.html", {**context, "done": True})
    return page(request, "consent/unsubscribe.html", {**context, "done": False})
