import pytest
from django.db import DatabaseError, connection, transaction

from console.audit import audit_record
from console.models import AuditEntry


@pytest.fixture
def entry(app, channel_admin):
    return audit_record(action="test.action", actor=channel_admin, app=app, summary={"after": "x"})


def test_postgres_refuses_update_of_an_audit_entry(entry):
    assert connection.vendor == "postgresql"
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("UPDATE console_auditentry SET action = 'forged' WHERE id = %s", [entry.pk])
    entry.refresh_from_db()
    assert entry.action == "test.action"


def test_postgres_refuses_delete_of_an_audit_entry(entry):
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("DELETE FROM console_auditentry WHERE id = %s", [entry.pk])
    assert AuditEntry.objects.filter(pk=entry.pk).exists()


def test_orm_refuses_to_change_or_delete_entries(entry):
    entry.action = "forged"
    with pytest.raises(PermissionError):
        entry.save()
    with pytest.raises(PermissionError):
        entry.delete()
    with pytest.raises(DatabaseError), transaction.atomic():
        AuditEntry.objects.filter(pk=entry.pk).update(action="forged")
    with pytest.raises(DatabaseError), transaction.atomic():
        AuditEntry.objects.filter(pk=entry.pk).delete()
    assert AuditEntry.objects.get(pk=entry.pk).action == "test.action"


def test_deleting_a_user_keeps_their_entries(entry, channel_admin):
    channel_admin.delete()
    kept = AuditEntry.objects.get(pk=entry.pk)
    assert kept.actor_label == "ada_admin"


def test_login_and_failed_login_are_audited(client, channel_admin, password):
    client.post("/accounts/login/", {"username": channel_admin.username, "password": "wrong-password"})
    client.post("/accounts/login/", {"username": channel_admin.username, "password": password})
    actions = list(AuditEntry.objects.order_by("at", "id").values_list("action", "actor_label"))
    assert ("auth.login_failed", "ada_admin") in actions
    assert ("auth.login", "ada_admin") in actions
    # The password that was tried never reaches the log.
    assert "wrong-password" not in str(list(AuditEntry.objects.values("summary", "target")))


def test_auditor_filters_and_exports_the_log(app, auditor, channel_admin, client_for):
    audit_record(action="app.update", actor=channel_admin, app=app, target="x")
    audit_record(action="template.create", actor=channel_admin, app=app, target="y")
    c = client_for(auditor)
    page = c.get(f"/apps/{app.app_key}/audit/", {"action": "app."})
    assert page.status_code == 200
    body = page.content.decode()
    assert "app.update" in body and "template.create" not in body
    export = c.get(f"/apps/{app.app_key}/audit/export.csv", {"actor": "ada"})
    assert export.status_code == 200
    text = b"".join(export.streaming_content).decode("utf-8-sig")
    assert "app.update" in text and "template.create" in text
    assert AuditEntry.objects.filter(action="audit.export", actor=auditor).exists()


def test_audit_filter_rejects_reversed_dates(app, auditor, client_for):
    response = client_for(auditor).get(
        f"/apps/{app.app_key}/audit/", {"date_from": "2026-02-01", "date_to": "2026-01-01"}
    )
    assert response.status_code == 200
    assert "The start date is after the end date." in response.content.decode()


def test_audit_details_read_as_json_in_the_page_and_the_export(app, auditor, channel_admin, client_for):
    audit_record(
        action="app.update", actor=channel_admin, app=app, summary={"filters": {}, "name": "促销", "changed": ["name"]}
    )
    c = client_for(auditor)
    body = c.get(f"/apps/{app.app_key}/audit/", {"action": "app."}).content.decode()
    # Pretty JSON in the page (escaped for HTML), never a Python dict repr.
    assert "{&#x27;filters&#x27;" not in body and "{'filters'" not in body
    assert "&quot;filters&quot;: {}" in body and "&quot;name&quot;: &quot;促销&quot;" in body
    text = b"".join(c.get(f"/apps/{app.app_key}/audit/export.csv").streaming_content).decode("utf-8-sig")
    assert '{""changed"": [""name""], ""filters"": {}, ""name"": ""促销""}' in text
    assert "{'filters'" not in text
