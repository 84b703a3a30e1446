"""The three roles as groups (employee, admin, compliance); the admin group may manage users,
groups, collections and their access rows in the Django admin."""

from typing import Any

from django.db import migrations

ROLES = ("employee", "admin", "compliance")
ADMIN_MODELS = {"auth": ("user", "group"), "ingest": ("collection", "collectionaccess")}


def create_roles(apps: Any, schema_editor: Any) -> None:
    from django.contrib.auth.management import create_permissions

    for app_config in apps.get_app_configs():  # permissions are otherwise created after all migrations
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for role in ROLES:
        Group.objects.get_or_create(name=role)
    admin = Group.objects.get(name="admin")
    for app_label, models in ADMIN_MODELS.items():
        admin.permissions.add(*Permission.objects.filter(content_type__app_label=app_label, content_type__model__in=models))


class Migration(migrations.Migration):
    dependencies = [("ingest", "0003_collection_access"), ("auth", "0012_alter_user_first_name_max_length")]

    operations = [migrations.RunPython(create_roles, migrations.RunPython.noop)]
