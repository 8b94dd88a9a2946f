import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_healthz_answers_from_the_process_alone(client, settings):
    """Liveness: no database (pytest-django refuses any query here), no broker (unreachable);
    a dependency outage is /readyz's to report."""
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:1/0"
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def _django_check(env_overrides, tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("SECRET_KEY", "FIELD_ENCRYPTION_KEY", "DEBUG")}
    env.update({"PUSHDECK_VAR_DIR": str(tmp_path), "DJANGO_SETTINGS_MODULE": "console.settings", **env_overrides})
    return subprocess.run(
        [sys.executable, "manage.py", "check"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )


def test_production_refuses_to_start_without_secrets(tmp_path):
    result = _django_check({"DEBUG": "false"}, tmp_path)
    assert result.returncode != 0
    assert "SECRET_KEY must be set when DEBUG is off" in result.stderr


def test_debug_is_off_unless_set(tmp_path):
    """A deployment that forgets DEBUG gets production: no generated secrets, no tracebacks."""
    result = _django_check({}, tmp_path)
    assert result.returncode != 0
    assert "SECRET_KEY must be set when DEBUG is off" in result.stderr
    assert not (tmp_path / "secrets.env").exists()


def test_settings_import_writes_nothing(tmp_path):
    """Production settings create no folder at import (read-only containers): not STATIC_ROOT,
    not the folder broker's, not the var folder."""
    var = tmp_path / "var"
    result = _django_check(
        {"DEBUG": "false", "SECRET_KEY": "k" * 50, "FIELD_ENCRYPTION_KEY": "x" * 43 + "=", "ALLOWED_HOSTS": "a"},
        var,
    )
    assert result.returncode == 0, result.stderr
    assert not var.exists()


def test_embedded_default_generates_secrets_once(tmp_path):
    # `make run` sets DEBUG=true: the embedded default.
    assert _django_check({"DEBUG": "true"}, tmp_path).returncode == 0
    first = (tmp_path / "secrets.env").read_text()
    assert "SECRET_KEY=" in first and "FIELD_ENCRYPTION_KEY=" in first
    assert _django_check({"DEBUG": "true"}, tmp_path).returncode == 0
    assert (tmp_path / "secrets.env").read_text() == first
