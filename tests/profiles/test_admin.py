"""What a marketer sees and may do in the admin."""

import csv
import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from profiles.models import ImportJob, Profile
from tests.factories import ProfileFactory

pytestmark = pytest.mark.django_db

CHANGELIST = reverse("admin:profiles_profile_changelist")


def listed(response) -> set[str]:
    return {p.user_id for p in response.context["cl"].result_list}


def form_data(profile: Profile, **overrides) -> dict:
    data = {
        "email": profile.email,
        "first_name": profile.first_name,
        "last_name": profile.last_name,
        "birth_date": "",
        "phone": profile.phone,
        "street": "",
        "house_number": "",
        "postal_code": profile.postal_code,
        "city": profile.city,
        "country": profile.country.code or "",
        "language": profile.language,
        "timezone": profile.timezone,
        "lifecycle_stage": profile.lifecycle_stage,
        "acquisition_source": "",
        "custom_attributes": "{}",
    }
    data.update(overrides)
    return data


def test_the_marketer_group_may_find_edit_and_import_but_not_delete(marketer):
    assert marketer.has_perm("profiles.view_profile")
    assert marketer.has_perm("profiles.change_profile")
    assert marketer.has_perm("profiles.add_profile")
    assert marketer.has_perm("profiles.view_profilechange")
    assert not marketer.has_perm("profiles.delete_profile")
    assert not marketer.has_perm("profiles.change_profilechange")
    assert not marketer.has_perm("auth.change_user")


def test_a_marketer_cannot_delete_a_customer(marketer_client):
    profile = ProfileFactory()
    page = marketer_client.get(CHANGELIST)
    assert "delete_selected" not in page.context["action_form"].fields["action"].choices.__repr__()
    response = marketer_client.post(
        reverse("admin:profiles_profile_delete", args=[profile.pk]), {"post": "yes"}
    )
    assert response.status_code == 403
    assert Profile.objects.filter(pk=profile.pk).exists()


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("U-77", {"U-77"}),
        ("sanne@", {"U-77"}),
        ("bakker", {"U-77", "U-78"}),
        ("1012ab", {"U-77"}),
        ("1012 AB", {"U-77"}),
        ("Sanne Bakker", {"U-77"}),
        ("SANNE@EXAMPLE.COM", {"U-77"}),
        ("u-77", set()),  # the shop's key is matched exactly
    ],
)
def test_search_by_user_id_email_name_or_postal_code(marketer_client, query, expected):
    ProfileFactory(
        user_id="U-77",
        email="sanne@example.com",
        first_name="Sanne",
        last_name="Bakker",
        postal_code="1012 AB",
    )
    ProfileFactory(
        user_id="U-78", email="kees@example.com", last_name="Bakker", postal_code="3511 LK"
    )
    ProfileFactory(
        user_id="U-79", email="piet@example.com", last_name="Visser", postal_code="9711 AA"
    )
    assert listed(marketer_client.get(CHANGELIST, {"q": query})) == expected


def test_filters_by_stage_language_country_and_orders(marketer_client):
    ProfileFactory(
        user_id="buyer", lifecycle_stage="customer", order_count=3, language="en", country="BE"
    )
    ProfileFactory(user_id="browser", lifecycle_stage="prospect", order_count=0)
    assert listed(marketer_client.get(CHANGELIST, {"lifecycle_stage__exact": "customer"})) == {
        "buyer"
    }
    assert listed(marketer_client.get(CHANGELIST, {"language__exact": "en"})) == {"buyer"}
    assert listed(marketer_client.get(CHANGELIST, {"country": "BE"})) == {"buyer"}
    assert listed(marketer_client.get(CHANGELIST, {"has_orders": "no"})) == {"browser"}


def test_the_country_filter_offers_only_countries_customers_live_in(marketer_client):
    ProfileFactory(country="BE")
    ProfileFactory(country="NL")
    ProfileFactory(country="NL")
    html = marketer_client.get(CHANGELIST, HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "?country=NL" in html and "?country=BE" in html
    assert "?country=AF" not in html
    assert html.index("?country=NL") < html.index("?country=BE")  # most customers first


def test_an_edit_is_checked_by_the_same_rules_and_names_the_field(marketer_client):
    profile = ProfileFactory(postal_code="1012 AB")
    url = reverse("admin:profiles_profile_change", args=[profile.pk])
    response = marketer_client.post(
        url, form_data(profile, postal_code="12345", timezone="Europe/Amsterdam")
    )
    assert response.status_code == 200
    assert "postal_code" in response.context["adminform"].form.errors
    profile.refresh_from_db()
    assert profile.postal_code == "1012 AB"


def test_an_edit_lands_in_the_history_with_the_marketers_name(marketer_client, marketer):
    profile = ProfileFactory(first_name="Jan", order_count=4)
    url = reverse("admin:profiles_profile_change", args=[profile.pk])
    response = marketer_client.post(url, form_data(profile, first_name="Johan", order_count="999"))
    assert response.status_code == 302, response.context["adminform"].form.errors
    profile.refresh_from_db()
    assert profile.first_name == "Johan"
    assert profile.order_count == 4  # value figures are read-only
    change = profile.changes.get()
    assert (change.source, change.actor) == ("admin", marketer)
    assert change.changes == {"first_name": ["Jan", "Johan"]}
    page = marketer_client.get(url)
    assert "Johan" in page.content.decode()
    assert marketer.username in page.content.decode()


def test_each_customers_page_shows_that_customers_own_history(marketer_client):
    from profiles.services import profile_create, profile_update

    anna = profile_create(user_id="anna", data={"email": "anna@example.com"}, source="import")
    bram = profile_create(user_id="bram", data={"email": "bram@example.com"}, source="api")
    for n in range(60):  # plenty of newer changes for someone else
        profile_update(profile=bram, data={"city": f"Woonoord {n}"}, source="api")
    page = marketer_client.get(reverse("admin:profiles_profile_change", args=[anna.pk]))
    html = page.content.decode()
    assert "anna@example.com" in html.split('id="profile-history"')[1]
    assert "Woonoord" not in html
    bram_page = marketer_client.get(reverse("admin:profiles_profile_change", args=[bram.pk]))
    history = bram_page.content.decode().split('id="profile-history"')[1]
    assert history.count("<tr>") == 1 + 50  # header and the latest 50
    assert "Woonoord 59" in history and "Woonoord 9<" not in history
    everything = marketer_client.get(
        reverse("admin:profiles_profilechange_changelist"), {"profile__id__exact": bram.pk}
    )
    assert everything.status_code == 200
    assert {c.profile_id for c in everything.context["cl"].result_list} == {bram.pk}


def test_a_marketer_adds_a_customer_through_the_services(marketer_client, marketer):
    url = reverse("admin:profiles_profile_add")
    data = form_data(
        Profile(
            email="nieuw@example.com",
            language="nl",
            timezone="Europe/Amsterdam",
            lifecycle_stage="prospect",
        )
    )
    data["user_id"] = "NEW-1"
    response = marketer_client.post(url, data)
    assert response.status_code == 302
    profile = Profile.objects.get(user_id="NEW-1")
    assert profile.changes.get().created
    assert profile.changes.get().actor == marketer


def test_the_export_follows_the_current_filter_and_is_safe_in_a_spreadsheet(marketer_client):
    ProfileFactory(user_id="buyer", lifecycle_stage="customer", first_name="=1+1")
    ProfileFactory(user_id="browser", lifecycle_stage="prospect")
    response = marketer_client.get(
        reverse("admin:profiles_profile_export"), {"lifecycle_stage__exact": "customer"}
    )
    assert response["Content-Type"].startswith("text/csv")
    text = b"".join(response.streaming_content).decode("utf-8-sig")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert [r["user_id"] for r in rows] == ["buyer"]
    assert rows[0]["first_name"] == "'=1+1"


def test_an_import_in_the_admin_shows_a_dry_run_then_imports_on_confirmation(
    marketer_client, django_capture_on_commit_callbacks
):
    ProfileFactory(user_id="A2", email="bram@example.com", city="Delft")
    upload = SimpleUploadedFile(
        "klanten.csv",
        b"user_id,email,city\nA1,anna@example.com,Gouda\nA2,bram@example.com,Leiden\nA3,stuk,Ede\n",
        content_type="text/csv",
    )
    with django_capture_on_commit_callbacks(execute=True):
        response = marketer_client.post(reverse("admin:profiles_profile_import"), {"file": upload})
    assert response.status_code == 302
    dry = ImportJob.objects.get()
    page = marketer_client.get(response["Location"])
    html = page.content.decode()
    assert (dry.status, dry.created_count, dry.updated_count, dry.error_count) == ("done", 1, 1, 1)
    assert 'id="refused-rows"' in html and "<td>4</td>" in html
    assert not Profile.objects.filter(user_id="A1").exists()

    with django_capture_on_commit_callbacks(execute=True):
        response = marketer_client.post(reverse("admin:profiles_importjob_run", args=[dry.pk]))
    real = ImportJob.objects.exclude(pk=dry.pk).get()
    assert (real.dry_run, real.status, real.created_count, real.updated_count) == (
        False,
        "done",
        1,
        1,
    )
    assert Profile.objects.get(user_id="A1").city == "Gouda"
    assert Profile.objects.get(user_id="A2").city == "Leiden"
    assert not Profile.objects.filter(user_id="A3").exists()


def test_a_running_import_shows_its_progress(marketer_client):
    job = ImportJob.objects.create(
        filename="groot.csv", content=b"", status="running", rows_total=1000, rows_done=250
    )
    html = marketer_client.get(
        reverse("admin:profiles_importjob_change", args=[job.pk])
    ).content.decode()
    assert '<progress max="100" value="25"' in html
    assert 'http-equiv="refresh"' in html


def test_the_import_page_refuses_other_files(marketer_client):
    upload = SimpleUploadedFile("klanten.pdf", b"%PDF-1.4", content_type="application/pdf")
    response = marketer_client.post(reverse("admin:profiles_profile_import"), {"file": upload})
    assert response.status_code == 200
    assert response.context["form"].errors["file"]
    assert not ImportJob.objects.exists()


@pytest.mark.parametrize("attributes", ["[1, 2]", '"just text"'])
def test_custom_attributes_that_are_not_an_object_are_named_not_a_500(marketer_client, attributes):
    profile = ProfileFactory()
    url = reverse("admin:profiles_profile_change", args=[profile.pk])
    response = marketer_client.post(url, form_data(profile, custom_attributes=attributes))
    assert response.status_code == 200
    assert "custom_attributes" in response.context["adminform"].form.errors


def test_an_export_with_a_filter_that_does_not_exist_goes_back_to_the_list(marketer_client):
    response = marketer_client.get(
        reverse("admin:profiles_profile_export"), {"nonsense__exact": "1"}
    )
    assert response.status_code == 302
    assert response["Location"].endswith("?e=1")


def test_a_stopped_import_shows_why_and_can_be_started_again(
    marketer_client, django_capture_on_commit_callbacks, monkeypatch
):
    from profiles.importing import jobs

    upload = SimpleUploadedFile(
        "k.csv", b"user_id,email\nA1,a@example.com\n", content_type="text/csv"
    )
    with django_capture_on_commit_callbacks(execute=True):
        marketer_client.post(reverse("admin:profiles_profile_import"), {"file": upload})
    dry = ImportJob.objects.get()

    def crash(**kwargs):
        raise RuntimeError("worker lost its database")

    monkeypatch.setattr(jobs, "profiles_import", crash)
    with django_capture_on_commit_callbacks(execute=True):
        marketer_client.post(reverse("admin:profiles_importjob_run", args=[dry.pk]))
    failed = ImportJob.objects.exclude(pk=dry.pk).get()
    assert failed.status == "failed"
    assert "het bestand opnieuw importeren kan veilig" in failed.failure
    page = marketer_client.get(
        reverse("admin:profiles_importjob_change", args=[failed.pk])
    ).content.decode()
    assert "Deze import opnieuw starten" in page

    monkeypatch.undo()
    with django_capture_on_commit_callbacks(execute=True):
        marketer_client.post(reverse("admin:profiles_importjob_run", args=[failed.pk]))
    again = ImportJob.objects.order_by("-pk").first()
    assert (again.status, again.created_count) == ("done", 1)
    assert Profile.objects.filter(user_id="A1").exists()
    # Imported: the uploaded file (personal data) is gone.
    assert ImportJob.objects.exclude(content=b"").count() == 0
