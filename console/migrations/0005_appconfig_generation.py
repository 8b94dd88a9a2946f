"""On PostgreSQL, one row counts the changes of what a signed API call reads of its app (the app,
its key configuration, its rate limit, its switched-on vendor channels): statement triggers
bump it in the changing transaction, however the change is made (the console, a queryset
update, SQL). Web processes keep an app while the count is the one they read it under
(console.appcache)."""

from django.db import migrations

TABLE = "pushdeck_appconfig_generation"
WATCHED = {
    "console_app": "INSERT OR UPDATE OR DELETE OR TRUNCATE",
    "console_keyconfig": "INSERT OR UPDATE OR DELETE OR TRUNCATE",
    "security_apiratelimit": "INSERT OR UPDATE OR DELETE OR TRUNCATE",
    # Only what is kept of a channel: a credential's health notes (last_error) change nothing.
    "console_vendorchannel": "INSERT OR UPDATE OF enabled, app_id OR DELETE OR TRUNCATE",
}

FORWARD = f"""
CREATE TABLE {TABLE} (id smallint PRIMARY KEY CHECK (id = 1), generation bigint NOT NULL);
INSERT INTO {TABLE} VALUES (1, 0);
CREATE OR REPLACE FUNCTION pushdeck_appconfig_changed() RETURNS trigger AS $$
BEGIN
    UPDATE {TABLE} SET generation = generation + 1 WHERE id = 1;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;
""" + "".join(
    f"CREATE TRIGGER {table}_appconfig AFTER {events} ON {table} "
    "FOR EACH STATEMENT EXECUTE FUNCTION pushdeck_appconfig_changed();\n"
    for table, events in WATCHED.items()
)

BACKWARD = (
    "".join(f"DROP TRIGGER IF EXISTS {table}_appconfig ON {table};\n" for table in WATCHED)
    + f"DROP FUNCTION IF EXISTS pushdeck_appconfig_changed();\nDROP TABLE IF EXISTS {TABLE};\n"
)


def forward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(FORWARD, params=None)


def backward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(BACKWARD, params=None)


class Migration(migrations.Migration):
    dependencies = [
        ("console", "0004_app_sms_fallback_provider"),
        ("security", "0002_api_refusal_windows"),
    ]

    operations = [migrations.RunPython(forward, backward)]
