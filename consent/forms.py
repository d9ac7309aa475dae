import zoneinfo

from django import forms
from django.utils.translation import gettext_lazy as _

from profiles.models import Language

from .models import Frequency, Topic
from .registry import subscribe_questions

# A browser's date picker reads and writes only YYYY-MM-DD, whatever the language.
DATE_INPUT = forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")


class SubscribeForm(forms.Form):
    email = forms.EmailField(label=_("Email address"), max_length=254)
    first_name = forms.CharField(label=_("First name"), max_length=150, required=False)
    topics = forms.ModelMultipleChoiceField(
        label=_("What would you like to receive?"),
        queryset=Topic.objects.none(),
        widget=forms.CheckboxSelectMultiple,
        error_messages={"required": _("Choose at least one topic.")},
    )
    # A field people never see: bots fill it in.
    website = forms.CharField(required=False, label=_("Leave this field empty"))

    def __init__(self, *args, topics, **kwargs) -> None:  # type: ignore[no-untyped-def]
        super().__init__(*args, **kwargs)
        field = self.fields["topics"]
        field.queryset = topics  # type: ignore[attr-defined]
        field.label_from_instance = lambda topic: topic.name  # type: ignore[attr-defined]

        for name, question in subscribe_questions.items():
            self.fields[name] = question.field()


class ProfileDataForm(forms.Form):
    email = forms.EmailField(label=_("Email address"), max_length=254)
    first_name = forms.CharField(label=_("First name"), max_length=150, required=False)
    last_name = forms.CharField(label=_("Last name"), max_length=150, required=False)
    birth_date = forms.DateField(label=_("Date of birth"), required=False, widget=DATE_INPUT)
    language = forms.ChoiceField(label=_("Language"), choices=Language.choices)
    timezone = forms.ChoiceField(
        label=_("Time zone"),
        choices=lambda: [(z, z) for z in sorted(zoneinfo.available_timezones())],
    )


class FrequencyForm(forms.Form):
    max_frequency = forms.ChoiceField(
        label=_("How often may we mail you?"),
        choices=Frequency.choices,
        required=False,
        widget=forms.RadioSelect,
    )
    paused_until = forms.DateField(
        label=_("No mail at all until"),
        required=False,
        widget=DATE_INPUT,
        help_text=_("Leave empty for no pause."),
    )
    no_service_mail = forms.BooleanField(
        label=_("No service mail either (such as a birthday greeting or a short survey)"),
        required=False,
    )


class LinkRequestForm(forms.Form):
    email = forms.EmailField(label=_("Email address"), max_length=254)
