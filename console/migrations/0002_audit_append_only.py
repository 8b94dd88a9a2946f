"""On PostgreSQL the database itself refuses UPDATE and DELETE on the audit log."""

from django.db import migrations

FORWARD = """
CREATE OR REPLACE FUNCTION pushdeck_audit_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'console_auditentry is append-only: % is not allowed', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER console_auditentry_append_only
    BEFORE UPDATE OR DELETE ON console_auditentry
    FOR EACH ROW EXECUTE FUNCTION pushdeck_audit_append_only();
"""

BACKWARD = """
DROP TRIGGER IF EXISTS console_auditentry_append_only ON console_auditentry;
DROP FUNCTION IF EXISTS pushdeck_audit_append_only();
"""

SQLITE_FORWARD = [
    "CREATE TRIGGER console_auditentry_no_update BEFORE UPDATE ON console_auditentry "
    "BEGIN SELECT RAISE(ABORT, 'console_auditentry is append-only'); END;",
    "CREATE TRIGGER console_auditentry_no_delete BEFORE DELETE ON console_auditentry "
    "BEGIN SELECT RAISE(ABORT, 'console_auditentry is append-only'); END;",
]


def forward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(FORWARD, params=None)
    elif schema_editor.connection.vendor == "sqlite":
        for statement in SQLITE_FORWARD:
            schema_editor.execute(statement)


def backward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(BACKWARD, params=None)
    elif schema_editor.connection.vendor == "sqlite":
        schema_editor.execute("DROP TRIGGER IF EXISTS console_auditentry_no_update;")
        schema_editor.execute("DROP TRIGGER IF EXISTS console_auditentry_no_delete;")


class Migration(migrations.Migration):
    dependencies = [("console", "0001_initial")]

    operations = [migrations.RunPython(forward, backward)]
