from django.contrib import admin
from django.utils.translation import gettext_lazy as _

admin.site.site_header = _("Klantbeeld")
admin.site.site_title = _("Klantbeeld")
admin.site.index_title = _("Customers, consent and campaigns")
