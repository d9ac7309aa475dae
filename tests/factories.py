import factory
from django.contrib.auth import get_user_model

from profiles.models import Profile


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"staff{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@shop.example")
    password = factory.django.Password("correct horse battery staple")


class ProfileFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Profile

    user_id = factory.Sequence(lambda n: f"U{n:06d}")
    email = factory.Sequence(lambda n: f"klant{n}@example.com")
    first_name = factory.Faker("first_name", locale="nl_NL")
    last_name = factory.Faker("last_name", locale="nl_NL")
    language = "nl"
    timezone = "Europe/Amsterdam"
    country = "NL"
