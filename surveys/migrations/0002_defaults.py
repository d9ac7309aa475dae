"""The four surveys of the brief and their invitation campaigns (NPS 14 days after the
first order, at most once per 90 days; the exit survey on Account Closed), service mail,
Dutch and English. Marketers edit them in the admin."""

import datetime as dt

from django.db import migrations

from core.permissions import MARKETER_GROUP, group_grant

SURVEYS = [
    {
        "key": "nps",
        "kind": "nps",
        "name": "NPS",
        "question_nl": "Hoe waarschijnlijk is het dat u ons aanbeveelt aan vrienden, familie of collega's?",
        "question_en": "How likely are you to recommend us to friends, family or colleagues?",
        "follow_up_nl": "Waarom? (mag leeg blijven)",
        "follow_up_en": "Why? (optional)",
    },
    {
        "key": "heard-of-us",
        "kind": "attribution",
        "name": "Hoe kent u ons?",
        "question_nl": "Hoe heeft u van ons gehoord?",
        "question_en": "How did you hear of us?",
        "options": [
            {"key": "google", "nl": "Google of een andere zoekmachine", "en": "Google or another search engine"},
            {"key": "social", "nl": "Instagram, Facebook of TikTok", "en": "Instagram, Facebook or TikTok"},
            {"key": "friend", "nl": "Via vrienden of familie", "en": "From friends or family"},
            {"key": "ad", "nl": "Een advertentie", "en": "An advertisement"},
            {"key": "tv-radio", "nl": "Tv, radio of podcast", "en": "TV, radio or a podcast"},
            {"key": "press", "nl": "Een krant, tijdschrift of blog", "en": "A newspaper, magazine or blog"},
            {"key": "store", "nl": "Onze winkel", "en": "Our shop"},
            {"key": "other", "nl": "Anders", "en": "Other"},
        ],
    },
    {
        "key": "reasons",
        "kind": "ranking",
        "name": "Waarom bij ons?",
        "question_nl": "Waarom kocht u vandaag bij ons?",
        "question_en": "Why did you buy here today?",
        "options": [
            {"key": "convenience", "nl": "Gemak", "en": "Convenience"},
            {"key": "price", "nl": "Lage prijs", "en": "Low price"},
            {"key": "quality", "nl": "Beste kwaliteit", "en": "Best quality"},
            {"key": "selection", "nl": "Beste assortiment", "en": "Best selection"},
        ],
    },
    {
        "key": "exit",
        "kind": "exit",
        "name": "Exit",
        "question_nl": "Jammer dat u gaat. Waarom stopt u?",
        "question_en": "Sorry to see you go. Why are you leaving?",
        "follow_up_nl": "Wat hadden we beter kunnen doen?",
        "follow_up_en": "What could we have done better?",
        "options": [
            {"key": "price", "nl": "Te duur", "en": "Too expensive"},
            {"key": "elsewhere", "nl": "Ik koop liever ergens anders", "en": "I prefer to buy elsewhere"},
            {"key": "quality", "nl": "Niet tevreden over de kwaliteit", "en": "Not happy with the quality"},
            {"key": "service", "nl": "Niet tevreden over de service", "en": "Not happy with the service"},
            {"key": "no-need", "nl": "Ik heb het niet meer nodig", "en": "I no longer need it"},
            {"key": "other", "nl": "Anders", "en": "Other"},
        ],
    },
]

SCALE = (
    '<table role="presentation"><tr>{% for step in survey.scale %}'
    '<td style="padding:2px"><a href="{{ step.url }}" style="display:inline-block;width:30px;'
    "padding:8px 0;text-align:center;border:1px solid #9aa5b1;border-radius:4px;"
    'text-decoration:none;color:#1f2933">{{ step.score }}</a></td>{% endfor %}</tr></table>'
)

CAMPAIGNS = [
    {
        "key": "nps",
        "survey": "nps",
        "name": "NPS-uitnodiging",
        "trigger": "first_event",
        "trigger_event": "Order Completed",
        "delay": dt.timedelta(days=14),
        "reentry": "days",
        "reentry_days": 90,
        "priority": 50,
        "late_cutoff": dt.timedelta(days=7),
        "nl": (
            "Wilt u ons een cijfer geven?",
            "Eén klik is genoeg.",
            "<h1>Hallo{% if customer.first_name %} {{ customer.first_name }}{% endif %},</h1>"
            "<p>{{ survey.question }}</p>" + SCALE
            + "<p>0 = zeer onwaarschijnlijk, 10 = zeer waarschijnlijk</p>",
            "Hallo{% if customer.first_name %} {{ customer.first_name }}{% endif %},\n\n"
            "{{ survey.question }}\n{% for step in survey.scale %}{{ step.score }}: {{ step.url }}\n{% endfor %}",
        ),
        "en": (
            "Would you give us a score?",
            "One click is enough.",
            "<h1>Hello{% if customer.first_name %} {{ customer.first_name }}{% endif %},</h1>"
            "<p>{{ survey.question }}</p>" + SCALE
            + "<p>0 = not at all likely, 10 = extremely likely</p>",
            "Hello{% if customer.first_name %} {{ customer.first_name }}{% endif %},\n\n"
            "{{ survey.question }}\n{% for step in survey.scale %}{{ step.score }}: {{ step.url }}\n{% endfor %}",
        ),
    },
    {
        "key": "exit-survey",
        "survey": "exit",
        "name": "Exit-enquête",
        "trigger": "event",
        "trigger_event": "Account Closed",
        "delay": dt.timedelta(hours=1),
        "reentry": "each",
        "priority": 50,
        "late_cutoff": dt.timedelta(days=3),
        "nl": (
            "Mogen we u nog één vraag stellen?",
            "Uw antwoord helpt ons.",
            "<h1>Jammer dat u gaat</h1><p>{{ survey.question }}</p>"
            '<p><a class="button" href="{{ survey.url }}">Beantwoord de vraag</a></p>',
            "Jammer dat u gaat.\n\n{{ survey.question }}\n{{ survey.url }}\n",
        ),
        "en": (
            "May we ask you one more question?",
            "Your answer helps us.",
            "<h1>Sorry to see you go</h1><p>{{ survey.question }}</p>"
            '<p><a class="button" href="{{ survey.url }}">Answer the question</a></p>',
            "Sorry to see you go.\n\n{{ survey.question }}\n{{ survey.url }}\n",
        ),
    },
]

PERMISSIONS = [
    *(f"surveys.{a}_survey" for a in ("view", "add", "change")),
    *(f"surveys.{a}_answer" for a in ("view", "add")),
    "surveys.view_invitation",
]


def create(apps, schema_editor):
    Survey = apps.get_model("surveys", "Survey")
    Topic = apps.get_model("consent", "Topic")
    Campaign = apps.get_model("campaigns", "Campaign")
    Template = apps.get_model("campaigns", "Template")
    group_grant(apps, MARKETER_GROUP, PERMISSIONS)
    for spec in SURVEYS:
        if not Survey.objects.filter(key=spec["key"]).exists():
            Survey.objects.create(**spec)
    service = Topic.objects.filter(key="service").first()
    if service is None:
        return
    for spec in CAMPAIGNS:
        spec = dict(spec)
        survey_key, nl, en = spec.pop("survey"), spec.pop("nl"), spec.pop("en")
        if Campaign.objects.filter(key=spec["key"]).exists():
            continue
        campaign = Campaign.objects.create(topic=service, status="live", is_default=True, **spec)
        for language, (subject, preheader, body, text) in (("nl", nl), ("en", en)):
            Template.objects.create(
                campaign=campaign,
                language=language,
                subject=subject,
                preheader=preheader,
                html="<html><body>" + body + "</body></html>",
                text=text,
            )
        Survey.objects.filter(key=survey_key).update(invitation_campaign=campaign)


class Migration(migrations.Migration):
    dependencies = [
        ("surveys", "0001_initial"),
        ("campaigns", "0008_sunset_reason"),
        ("consent", "0003_defaults"),
    ]

    operations = [migrations.RunPython(create, migrations.RunPython.noop)]
