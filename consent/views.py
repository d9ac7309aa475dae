"""The customer's own pages: subscribe, confirm, unsubscribe, preferences, privacy.

A GET never changes anything (mail scanners follow links); changes need a POST. Pages
reached with a token speak the customer's language; public pages follow ?lang= or the
browser.
"""

import json

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from core.http import client_ip, customer_page, user_agent
from core.queue import task_queue
from core.ratelimit import RateLimited, ip_bucket, rate_limit_hit
from profiles.models import ChangeSource, Profile
from profiles.selectors import profile_export
from profiles.services import profile_correct, profile_erase
from profiles.validation import email_normalise

from . import services
from .forms import FrequencyForm, LinkRequestForm, ProfileDataForm, SubscribeForm
from .links import LinkError, link_resolve, link_token
from .models import Category, ConsentState, ContactPreference, Source, Status, Topic
from .selectors import privacy_statement, suppression_active, topic_is_on


def _language(request: HttpRequest, profile: Profile | None = None) -> str:
    """The customer's language on a token page; else ?lang=, else the browser's."""
    if profile is not None:
        language = profile.language
    elif request.GET.get("lang") in ("nl", "en"):
        language = request.GET["lang"]
    else:
        language = getattr(request, "LANGUAGE_CODE", settings.LANGUAGE_CODE)[:2]
        language = language if language in ("nl", "en") else settings.LANGUAGE_CODE
    translation.activate(language)
    request.LANGUAGE_CODE = language
    return language


_page = customer_page


def _public_topics():  # type: ignore[no-untyped-def]
    return Topic.objects.filter(public=True, category=Category.COMMERCIAL)


def _over_ip_limit(request: HttpRequest, what: str) -> bool:
    limit, window = settings.RATE_LIMIT_FORM_PER_IP
    return rate_limit_hit(f"{what}:ip:{ip_bucket(client_ip(request))}", limit=limit, window=window)


def _too_many(request: HttpRequest) -> HttpResponse:
    return _page(request, "consent/message.html", {"state": "rate_limited"}, status=429)


# --- Subscribe and confirm ----------------------------------------------------------------


@require_http_methods(["GET", "POST"])
def subscribe(request: HttpRequest) -> HttpResponse:
    _language(request)
    topics = _public_topics()
    form = SubscribeForm(request.POST or None, topics=topics)
    if request.method == "POST" and form.is_valid():
        if form.cleaned_data["website"]:
            # A bot filled the hidden field: answer as if it worked, do nothing.
            return _page(request, "consent/message.html", {"state": "check_mail"})
        if _over_ip_limit(request, "subscribe"):
            return _too_many(request)
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
        except RateLimited:
            return _too_many(request)
        except services.UndeliverableAddress:
            # As if it worked: the form must not tell who is known (or bounced) here.
            return _page(request, "consent/message.html", {"state": "check_mail"})
        except ValidationError as exc:
            for name, errors in exc.message_dict.items():
                form.add_error(name if name in form.fields else None, errors)
        else:
            from .registry import subscribe_questions

            for name, question in subscribe_questions.items():
                if form.cleaned_data.get(name):
                    question.save(outcome.profile, form.cleaned_data[name], timezone.now())
            return _page(request, "consent/message.html", {"state": "check_mail"})
    return _page(
        request,
        "consent/subscribe.html",
        {"form": form, "topics": topics, "language_switch": True},
    )


@require_http_methods(["GET", "POST"])
def confirm(request: HttpRequest, token: str) -> HttpResponse:
    try:
        opt_in = services.opt_in_lookup(token=token)
    except services.OptInError:
        _language(request)
        return _page(request, "consent/message.html", {"state": "invalid"}, status=404)
    _language(request, opt_in.profile)
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
                return _page(request, "consent/message.html", {"state": "check_mail"})
            services.subscription_confirm(
                token=token, now=now, ip=client_ip(request), user_agent=user_agent(request)
            )
        except services.OptInError as exc:
            return _page(request, "consent/confirm.html", {**context, "state": exc.code})
        except RateLimited:
            return _too_many(request)
        preferences = reverse(
            "consent:preferences", args=[link_token(opt_in.profile, "preferences")]
        )
        return _page(
            request,
            "consent/confirm.html",
            {**context, "state": "confirmed", "preferences": preferences},
        )
    state = services.opt_in_state(opt_in, now=now)
    return _page(request, "consent/confirm.html", {**context, "state": state})


# --- One-click unsubscribe (RFC 8058) -----------------------------------------------------


@csrf_exempt  # the POST comes from a mail client: no cookies, no form token; the link is the key
@require_http_methods(["GET", "POST"])
def unsubscribe(request: HttpRequest, token: str) -> HttpResponse:
    try:
        profile, topic = link_resolve(token, "unsubscribe")
    except LinkError:
        _language(request)
        return _page(request, "consent/message.html", {"state": "invalid"}, status=404)
    _language(request, profile)
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
        return _page(request, "consent/unsubscribe.html", {**context, "done": True})
    return _page(request, "consent/unsubscribe.html", {**context, "done": False})


# --- The preference page ------------------------------------------------------------------


def _preference_profile(request: HttpRequest, token: str) -> Profile:
    try:
        profile, _topic = link_resolve(token, "preferences")
    except LinkError:
        _language(request)
        raise Http404 from None
    _language(request, profile)
    return profile


def _topic_rows(profile: Profile) -> list[dict]:
    states = {s.topic_id: s for s in ConsentState.objects.filter(profile=profile)}
    rows = []
    for topic in Topic.objects.filter(public=True).exclude(category=Category.TRANSACTIONAL):
        state = states.get(topic.pk)
        status = state.status if state else Status.NONE
        rows.append(
            {
                "topic": topic,
                "on": topic_is_on(topic, status),
                "pending": status == Status.PENDING,
                "state": state,
            }
        )
    return rows


@require_http_methods(["GET", "POST"])
def preferences(request: HttpRequest, token: str) -> HttpResponse:
    profile = _preference_profile(request, token)
    preference = ContactPreference.objects.filter(profile=profile).first()
    data_form = ProfileDataForm(
        initial={
            "email": profile.email,
            "first_name": profile.first_name,
            "last_name": profile.last_name,
            "birth_date": profile.birth_date,
            "language": profile.language,
            "timezone": profile.timezone,
        }
    )
    frequency_form = FrequencyForm(
        initial={
            "max_frequency": preference.max_frequency if preference else "",
            "paused_until": preference.paused_until if preference else None,
            "no_service_mail": preference.no_service_mail if preference else False,
        }
    )
    if request.method == "POST":
        section = request.POST.get("section")
        if section == "data":
            invalid_data = _save_data(request, profile)
            if invalid_data is not None:
                data_form = invalid_data
        elif section == "frequency":
            invalid_frequency = _save_frequency(request, profile)
            if invalid_frequency is not None:
                frequency_form = invalid_frequency
        elif section == "topics":
            _save_topics(request, profile)
        elif section == "everything":
            _save_everything(request, profile)
        elif section == "sunset":
            services.sunset_lift(profile=profile, now=timezone.now())
            messages.success(request, _("Thank you: you will keep receiving our mail."))
        else:
            return HttpResponse(status=400)
        if not any(form.errors for form in (data_form, frequency_form)):
            # Post/redirect/get: the confirmation message shows on the fresh page.
            return HttpResponseRedirect(request.path + f"#{section}")
    return _page(
        request,
        "consent/preferences.html",
        {
            "profile": profile,
            "token": token,
            "data_form": data_form,
            "frequency_form": frequency_form,
            "topic_rows": _topic_rows(profile),
            "suppressed": suppression_active(profile) is not None,
            "sunset": bool(preference and preference.sunset_at),
            "ask_keep": request.GET.get("keep") == "1",
        },
    )


def _save_data(request: HttpRequest, profile: Profile) -> ProfileDataForm | None:
    form = ProfileDataForm(request.POST)
    if not form.is_valid():
        return form
    data = {k: v for k, v in form.cleaned_data.items() if k != "email"}
    try:
        changes, new_address = profile_correct(
            profile=profile, data=data, new_email=form.cleaned_data["email"], now=timezone.now()
        )
    except ValidationError as exc:
        for name, errors in exc.message_dict.items():
            form.add_error(name if name in form.fields else None, errors)
        return form
    translation.activate(profile.language)
    if changes:
        messages.success(request, _("Your details have been saved."))
    if new_address:
        messages.info(
            request,
            _("We sent a link to %(email)s. Your address changes once you open it.")
            % {"email": form.cleaned_data["email"].strip().lower()},
        )
    if not changes and not new_address:
        messages.info(request, _("Nothing changed."))
    return None


def _save_topics(request: HttpRequest, profile: Profile) -> None:
    try:
        opt_in = services.topics_choose(
            profile=profile,
            wanted=request.POST.getlist("topics"),
            now=timezone.now(),
            ip=client_ip(request),
            user_agent=user_agent(request),
        )
    except (RateLimited, ValidationError):
        messages.error(
            request,
            _("We could not send a confirmation mail just now. Please try again later."),
        )
        return None
    if opt_in is not None and opt_in.pending:
        messages.info(
            request,
            _("We sent you a mail: please confirm your subscription with the link in it."),
        )
    messages.success(request, _("Your choices have been saved."))
    return None


def _save_frequency(request: HttpRequest, profile: Profile) -> FrequencyForm | None:
    form = FrequencyForm(request.POST)
    if not form.is_valid():
        return form
    services.preferences_update(
        profile=profile,
        paused_until=form.cleaned_data["paused_until"],
        max_frequency=form.cleaned_data["max_frequency"] or "",
        no_service_mail=form.cleaned_data["no_service_mail"],
    )
    messages.success(request, _("Your choices have been saved."))
    return None


def _save_everything(request: HttpRequest, profile: Profile) -> None:
    services.unsubscribe_everything(
        profile=profile,
        now=timezone.now(),
        source=Source.PREFERENCES,
        ip=client_ip(request),
        user_agent=user_agent(request),
    )
    messages.success(
        request,
        _(
            "You are unsubscribed from everything. You will only get mail you set in motion yourself, such as a confirmation."
        ),
    )
    return None


@require_http_methods(["GET"])
def preferences_export(request: HttpRequest, token: str) -> HttpResponse:
    """Download my data (GDPR art. 15 and 20)."""
    profile = _preference_profile(request, token)
    body = json.dumps(profile_export(profile), ensure_ascii=False, indent=2, default=str)
    response = HttpResponse(body, content_type="application/json; charset=utf-8")
    response["Content-Disposition"] = 'attachment; filename="my-data.json"'
    return response


@require_http_methods(["GET", "POST"])
def preferences_erase(request: HttpRequest, token: str) -> HttpResponse:
    """Erase me (GDPR art. 17), after a confirmation step."""
    profile = _preference_profile(request, token)
    if request.method == "POST" and request.POST.get("confirm") == "yes":
        profile_erase(profile=profile, now=timezone.now(), source=ChangeSource.CUSTOMER)
        return _page(request, "consent/message.html", {"state": "erased"})
    return _page(request, "consent/erase.html", {"profile": profile, "token": token})


@require_http_methods(["GET", "POST"])
def preferences_request(request: HttpRequest) -> HttpResponse:
    """Ask for a fresh preferences link by mail. The answer never says whether the
    address is known."""
    _language(request)
    form = LinkRequestForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        if _over_ip_limit(request, "link"):
            return _too_many(request)
        email = email_normalise(form.cleaned_data["email"])
        limit, window = settings.RATE_LIMIT_LINK_REQUEST_PER_ADDRESS
        if not rate_limit_hit(f"link:{email}", limit=limit, window=window):
            profile = Profile.objects.filter(email__lower=email, erased_at=None).first()
            if profile is not None:
                task_queue("consent.tasks.send_preferences_link", profile.pk)
        return _page(request, "consent/message.html", {"state": "link_sent"})
    return _page(
        request, "consent/preferences_request.html", {"form": form, "language_switch": True}
    )


@require_http_methods(["GET"])
def home(request: HttpRequest) -> HttpResponse:
    """The site's root: where a customer can subscribe or find their preferences, and
    where staff log in. Says nothing about any customer."""
    _language(request)
    return _page(request, "consent/home.html", {"language_switch": True})


@require_http_methods(["GET"])
def privacy(request: HttpRequest) -> HttpResponse:
    language = _language(request)
    statement = privacy_statement()
    body = ""
    if statement:
        body = statement.body_en if language == "en" else statement.body_nl
    return _page(
        request,
        "consent/privacy.html",
        {
            "statement": statement,
            "paragraphs": [p for p in body.split("\n\n") if p.strip()],
            "language_switch": True,
        },
    )
