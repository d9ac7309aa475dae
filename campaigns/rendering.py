"""Marketers' mail templates: Jinja2 in a sandbox, with a whitelisted context.

A template sees plain values only — the customer's name and language, the basket, the
proposition, the shop and the customer's links — never a model, the settings or the ORM.
The HTML part's CSS is inlined for mail clients.
"""

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import css_inline
from django.conf import settings
from django.template.loader import render_to_string
from django.utils import translation
from django.utils.html import escape
from jinja2 import ChainableUndefined, TemplateError, select_autoescape
from jinja2.sandbox import ImmutableSandboxedEnvironment

from consent.links import MailLinks, mail_footer, one_click_headers
from core.errors import DomainError
from events.models import Activity
from profiles.models import Profile

from .models import Campaign, Template

# A missing value renders as nothing (ChainableUndefined: also `a.b.c` of a missing `a`),
# so a marketer's typo shows in the preview instead of stopping the campaign.
_html_env = ImmutableSandboxedEnvironment(
    autoescape=select_autoescape(default=True), undefined=ChainableUndefined
)
_text_env = ImmutableSandboxedEnvironment(autoescape=False, undefined=ChainableUndefined)
_inliner = css_inline.CSSInliner(keep_style_tags=True)


# name → function(send, language) giving more values for the templates of that send (the
# apps above campaigns plug in here: the surveys app adds the survey links).
template_contexts: dict[str, Callable[[Any, str], dict[str, Any]]] = {}
# name → function(campaign, profile, language): the same values for the admin's preview
# and test mail, where there is no send, made without recording anything.
template_previews: dict[str, Callable[[Campaign, Profile, str], dict[str, Any]]] = {}


def register_template_context(
    name: str,
    func: Callable[[Any, str], dict[str, Any]],
    preview: Callable[[Campaign, Profile, str], dict[str, Any]] | None = None,
) -> None:
    template_contexts[name] = func
    if preview is not None:
        template_previews[name] = preview


def preview_context(campaign: Campaign, profile: Profile, language: str) -> dict[str, Any]:
    extra: dict[str, Any] = {}
    for provide in template_previews.values():
        extra.update(provide(campaign, profile, language))
    return extra


@functools.lru_cache(maxsize=256)
def _compiled(html: bool, source: str) -> Any:
    """A template part compiled once per process (by its source, so an edit in the admin
    is a new entry): compiling per mail cost a fifth of the sending time."""
    return (_html_env if html else _text_env).from_string(source)


class RenderError(DomainError):
    """A template that cannot be rendered; the message names the part and the problem."""

    default_code = "template_error"

    def __init__(self, message: str) -> None:
        super().__init__(message=message)


@dataclass(frozen=True)
class Rendered:
    subject: str
    preheader: str
    html: str
    text: str
    headers: dict[str, str]


# Stand-ins for the customer's own links in a footer rendered once per batch: private-use
# characters, which neither escaping nor a shop's name or address produce.
_LINK_SLOTS = {
    "preferences_url": "\ue000preferences\ue000",
    "unsubscribe_url": "\ue000unsubscribe\ue000",
}


def _footer_parts(footer: dict[str, Any], language: str) -> tuple[str, str]:
    """The footer (HTML, text) every mail ends with, in the customer's language."""
    with translation.override(language or "nl"):
        return (
            render_to_string("mail/_footer.html", footer),
            render_to_string("mail/_footer.txt", footer),
        )


class BatchRendering:
    """What the mails of one sending batch share, made once for the batch: the footer
    links' fixed parts (consent.links.MailLinks) and the footer rendered per language
    with slots for the customer's own links. `render(..., batch=…)` makes, string for
    string, the mail that `render` makes without it; the links are still signed per
    customer."""

    def __init__(self) -> None:
        self.links = MailLinks()
        self._footers: dict[tuple[str, tuple[str, ...]], tuple[str, str] | None] = {}

    def footer_parts(self, footer: dict[str, Any], language: str) -> tuple[str, str]:
        own = tuple(name for name in _LINK_SLOTS if footer[name])
        key = (language, own)
        if key not in self._footers:
            slotted = _footer_parts({**footer, **{n: _LINK_SLOTS[n] for n in own}}, language)
            # Only a footer that shows each link once, as it is given, can be filled in.
            fits = all(part.count(_LINK_SLOTS[n]) == 1 for part in slotted for n in own)
            self._footers[key] = slotted if fits else None
        parts = self._footers[key]
        if parts is None:
            return _footer_parts(footer, language)
        html, text = parts
        for name in own:
            # As the template shows a value: autoescaped (the Django engine's default).
            link = str(escape(footer[name]))
            html, text = (
                html.replace(_LINK_SLOTS[name], link),
                text.replace(_LINK_SLOTS[name], link),
            )
        return html, text


def template_for(campaign: Campaign, language: str) -> Template | None:
    templates = {t.language: t for t in campaign.templates.all()}
    return templates.get(language) or templates.get("nl") or templates.get("en")


def profile_activity(profile: Profile) -> Activity | None:
    """The customer's open basket (and interests): from the row loaded with the profile
    (`select_related("activity")`, as the sending batch does), else one query."""
    try:
        return profile.activity  # type: ignore[no-any-return]
    except Activity.DoesNotExist:
        return None


def customer_context(profile: Profile) -> dict[str, Any]:
    """What a template may know of the customer."""
    activity = profile_activity(profile)
    basket = [
        {
            "name": str(item.get("name") or item.get("product_id") or ""),
            "price": item.get("price"),
            "quantity": item.get("quantity") or 1,
            "image_url": str(item.get("image_url") or ""),
            "url": str(item.get("url") or ""),
            "category": str(item.get("category") or ""),
        }
        for item in (activity.basket if activity else [])
    ]
    return {
        "customer": {
            "first_name": profile.first_name,
            "last_name": profile.last_name,
            "email": profile.email,
            "language": profile.language,
            "order_count": profile.order_count,
            "birth_date": profile.birth_date.isoformat() if profile.birth_date else "",
        },
        "basket": basket,
    }


def render(
    template: Template,
    profile: Profile,
    campaign: Campaign,
    extra: dict[str, Any] | None = None,
    *,
    batch: BatchRendering | None = None,
) -> Rendered:
    """Subject, preheader, HTML (CSS inlined) and text for one customer, with the footer
    links and, for commercial and service mail, the RFC 8058 headers. `batch`: what the
    mails of a sending batch share, made once (the same mail, made faster)."""
    topic = campaign.topic
    footer = batch.links.footer(profile, topic) if batch else mail_footer(profile, topic)
    shop = {**footer, "shop_url": settings.SHOP_URL, "basket_url": settings.SHOP_BASKET_URL}
    context = {**customer_context(profile), **(extra or {}), "shop": shop, "links": footer}
    parts = {}
    for part, env in (
        ("subject", _text_env),
        ("preheader", _text_env),
        ("html", _html_env),
        ("text", _text_env),
    ):
        source = getattr(template, part)
        try:
            parts[part] = _compiled(env is _html_env, source).render(context)
        except TemplateError as exc:
            raise RenderError(f"{part}: {exc}") from exc
    # Every mail ends with who sends it and the customer's links, whatever the template.
    footer_html, footer_text = (
        batch.footer_parts(footer, profile.language)
        if batch
        else _footer_parts(footer, profile.language)
    )
    html = _with_footer(parts["html"], footer_html, parts["preheader"].strip())
    html = _inliner.inline(html)
    text = parts["text"].rstrip() + "\n\n-- \n" + footer_text.strip() + "\n"
    # Commercial and service mail (the footer has an unsubscribe link): RFC 8058.
    unsubscribe = footer["unsubscribe_url"]
    headers = one_click_headers(unsubscribe) if unsubscribe else {}
    return Rendered(
        subject=" ".join(parts["subject"].split()),
        preheader=parts["preheader"].strip(),
        html=html,
        text=text,
        headers=headers,
    )


def _with_footer(html: str, footer: str, preheader: str) -> str:
    hidden = (
        f'<div style="display:none;max-height:0;overflow:hidden;">{escape(preheader)}</div>'
        if preheader
        else ""
    )
    lower = html.lower()
    body_open = lower.find("<body")
    if body_open >= 0:
        start = lower.find(">", body_open) + 1
        html = html[:start] + hidden + html[start:]
    else:
        html = hidden + html
    body_close = html.lower().rfind("</body>")
    if body_close >= 0:
        return html[:body_close] + footer + html[body_close:]
    return html + footer


def template_check(template: Template) -> list[str]:
    """Syntax errors of a template's parts, for the admin's form."""
    errors = []
    for part, env in (
        ("subject", _text_env),
        ("preheader", _text_env),
        ("html", _html_env),
        ("text", _text_env),
    ):
        try:
            env.parse(getattr(template, part) or "")
        except TemplateError as exc:
            errors.append(f"{part}: {exc}")
    return errors
