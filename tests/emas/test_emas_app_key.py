"""Every app has a numeric EMAS AppKey, shown on its overview; its AppKey stays as it was."""

from __future__ import annotations

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from console.models import EMAS_APP_KEY_MAX, EMAS_APP_KEY_MIN
from tests.factories import AppFactory


def test_new_apps_get_distinct_numeric_keys_and_the_overview_shows_it(app, marketer, client_for):
    others = [AppFactory() for _ in range(20)]
    keys = [a.emas_app_key for a in [app, *others]]
    assert len(set(keys)) == len(keys) and all(EMAS_APP_KEY_MIN <= k <= EMAS_APP_KEY_MAX for k in keys)
    page = client_for(marketer).get(f"/apps/{app.app_key}/")
    html = page.content.decode()
    assert page.status_code == 200
    assert f'<code data-testid="emas-app-key">{app.emas_app_key}</code>' in html
    assert f'<code data-testid="app-key">{app.app_key}</code>' in html


@pytest.mark.django_db(transaction=True)
def test_the_migration_gives_existing_apps_a_key_and_keeps_their_app_key():
    before, after = [("console", "0002_audit_append_only")], [("console", "0003_app_emas_app_key")]
    executor = MigrationExecutor(connection)
    executor.migrate(before)
    try:
        old_app = executor.loader.project_state(before).apps.get_model("console", "App")
        made = [old_app.objects.create(name=f"Old {i}", app_key=f"oldkey{i:018d}", app_secret="s") for i in range(5)]
    finally:
        executor = MigrationExecutor(connection)
        executor.loader.build_graph()
        executor.migrate(after)
    try:
        # Read with the model as of the key's migration: later migrations are not applied yet.
        new_app = executor.loader.project_state(after).apps.get_model("console", "App")
        apps = {a.app_key: a.emas_app_key for a in new_app.objects.filter(pk__in=[m.pk for m in made])}
    finally:
        # Back to the whole schema, for the tests that follow.
        executor = MigrationExecutor(connection)
        executor.loader.build_graph()
        executor.migrate(executor.loader.graph.leaf_nodes())
    assert sorted(apps) == [f"oldkey{i:018d}" for i in range(5)]
    assert len(set(apps.values())) == 5 and all(EMAS_APP_KEY_MIN <= k <= EMAS_APP_KEY_MAX for k in apps.values())
