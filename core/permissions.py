"""Helpers for data migrations that hand permissions to the staff groups."""

from typing import Any

MARKETER_GROUP = "Marketer"


def group_grant(apps: Any, group_name: str, permissions: list[str]) -> None:
    """Give `group_name` the permissions "app_label.codename" (creating both as needed).

    Permissions are normally created after all migrations ran (post_migrate); a fresh
    database has none yet, so they are created here first.
    """
    from django.contrib.auth.management import create_permissions

    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None
    group_model = apps.get_model("auth", "Group")
    permission_model = apps.get_model("auth", "Permission")
    group, _ = group_model.objects.get_or_create(name=group_name)
    for label in permissions:
        app_label, codename = label.split(".")
        group.permissions.add(
            permission_model.objects.get(content_type__app_label=app_label, codename=codename)
        )


def group_revoke(apps: Any, group_name: str, permissions: list[str]) -> None:
    group_model = apps.get_model("auth", "Group")
    group = group_model.objects.filter(name=group_name).first()
    if group is None:
        return
    for label in permissions:
        app_label, codename = label.split(".")
        group.permissions.remove(
            *group.permissions.filter(content_type__app_label=app_label, codename=codename)
        )
