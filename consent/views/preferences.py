"""The preference page reached from every mail: details, topics, how often, pause,
unsubscribe from everything, my data, erase me; and asking for a fresh link."""

import json

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from core.http import client_ip, user_agent
from core.queue import task_queue
from core.ratelimit import RateLimited, rate_limit_hit
from profiles.models import ChangeSource, Profile
from profiles.selectors import profile_export
from profiles.services import profile_correct, profile_erase
from profiles.validation import email_normalise

from .. import services
from ..forms import FrequencyForm, LinkRequestForm, ProfileDataForm
from ..links import LinkError, link_resolve
from ..models import Category, ConsentState, ContactPreference, Source, Status, Topic
from ..selectors import suppression_active, topic_is_on
from .common import language_activate, over_ip_limit, page, refused


def _preference_profile(request: HttpRequest, token: str) -> Profile:
    try:
        profile, _topic = link_resolve(token, "preferences")
    except LinkError:
        language_activate(request)
        raise Http404 from None
    language_activate(request, profile)
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
    return page(
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
        return page(request, "consent/message.html", {"state": "erased"})
    return page(request, "consent/erase.html", {"profile": profile, "token": token})


@require_http_methods(["GET", "POST"])
def preferences_request(request: HttpRequest) -> HttpResponse:
    """Ask for a fresh preferences link by mail. The answer never says whether the
    address is known."""
    language_activate(request)
    form = LinkRequestForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        if over_ip_limit(request, "link"):
            return refused(request, RateLimited("link"))
        email = email_normalise(form.cleaned_data["email"])
        limit, window = settings.RATE_LIMIT_LINK_REQUEST_PER_ADDRESS
        if not rate_limit_hit(f"link:{email}", limit=limit, window=window):
            profile = Profile.objects.filter(email__lower=email, erased_at=None).first()
            if profile is not None:
                task_queue("consent.tasks.send_preferences_link", profile.pk)
        return page(request, "consent/message.html", {"state": "link_sent"})
    return page(
        request, "consent/preferences_request.html", {"form": form, "language_switch": True}
    )
