from django.conf import settings
from django.urls import reverse


def absolute_url(viewname: str, *args: object, **kwargs: object) -> str:
    """A link for a mail: always absolute, always under SITE_URL."""
    return settings.SITE_URL + reverse(viewname, args=args or None, kwargs=kwargs or None)
