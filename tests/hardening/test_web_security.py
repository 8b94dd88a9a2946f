"""Web security: deploy checks, CSP and templates without inline code, CSRF on every form and htmx call, uploads."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings
from django.test import Client
from django.urls import Resolver404, resolve

from console.middleware import CSP

from .conftest import ROOT, subprocess_env

TEMPLATE_DIRS = [p for p in ROOT.glob("**/templates") if ".venv" not in p.parts and "node_modules" not in p.parts]
TEMPLATES = sorted(p for d in TEMPLATE_DIRS for p in d.rglob("*.html"))

INLINE = {
    "inline <script> (only <script src=...></script> is allowed)": re.compile(
        r"<script(?![^>]*\bsrc\s*=)[^>]*>|<script[^>]*>\s*[^<\s]", re.I
    ),
    "on* event handler attribute": re.compile(r"<[^>]+\son[a-z]+\s*=", re.I),
    "hx-on attribute (inline script)": re.compile(r"\bhx-on", re.I),
    "style attribute or <style> element": re.compile(r"<[^>]+\sstyle\s*=|<style[\s>]", re.I),
    "javascript: URL": re.compile(r"javascript:", re.I),
}


def test_templates_were_found():
    names = {p.name for p in TEMPLATES}
    assert {"base.html", "login.html", "two_factor.html"} <= names


@pytest.mark.parametrize("template", TEMPLATES, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_inline_script_handler_or_style(template: Path):
    text = template.read_text()
    found = [what for what, pattern in INLINE.items() if pattern.search(text)]
    assert not found, f"{template.relative_to(ROOT)}: {found}"


@pytest.mark.parametrize("template", TEMPLATES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_post_form_carries_the_csrf_token(template: Path):
    text = template.read_text()
    for match in re.finditer(r"<form\b[^>]*method=\"post\"[^>]*>(.*?)</form>", text, re.I | re.S):
        assert "{% csrf_token %}" in match.group(1), f"{template.relative_to(ROOT)}: {match.group(0)[:120]}"


def test_csp_header_forbids_inline_script(client, db):
    response = client.get("/accounts/login/")
    csp = response["Content-Security-Policy"]
    assert csp == CSP
    directives = dict(d.strip().split(" ", 1) for d in csp.split(";"))
    assert directives["script-src"] == "'self'"
    assert directives["style-src"] == "'self'"
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert directives["frame-ancestors"] == "'none'"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["X-Frame-Options"] == "DENY"


@pytest.mark.django_db
def test_htmx_post_without_csrf_token_is_refused(app, channel_admin):
    client = Client(enforce_csrf_checks=True)
    client.force_login(channel_admin)
    url = f"/apps/{app.app_key}/secret/reveal/"
    refused = client.post(url, headers={"HX-Request": "true"})
    assert refused.status_code == 403
    assert app.app_secret.encode() not in refused.content

    client.get(f"/apps/{app.app_key}/")  # sets the CSRF cookie, as the page does before htmx posts
    token = client.cookies[settings.CSRF_COOKIE_NAME].value
    allowed = client.post(url, headers={"HX-Request": "true", "X-CSRFToken": token})
    assert allowed.status_code == 200
    assert app.app_secret.encode() in allowed.content


@pytest.mark.django_db
def test_form_post_without_csrf_token_is_refused(channel_admin):
    client = Client(enforce_csrf_checks=True)
    client.force_login(channel_admin)
    assert client.post("/apps/new/", {"name": "No token"}).status_code == 403


def test_uploads_live_outside_the_static_root_and_are_not_served():
    media, static = Path(settings.MEDIA_ROOT).resolve(), Path(settings.STATIC_ROOT).resolve()
    for root in [static, *(Path(d).resolve() for d in settings.STATICFILES_DIRS)]:
        assert not media.is_relative_to(root) and not root.is_relative_to(media), (media, root)
    # No URL serves MEDIA_URL: an uploaded file can never be fetched and rendered as HTML.
    with pytest.raises(Resolver404):
        resolve(f"/{settings.MEDIA_URL}evil.html")


def _production_env(tmp_path, **extra):
    return subprocess_env(
        tmp_path,
        production=True,
        ALLOWED_HOSTS="pushdeck.example.com",
        SECURE_HTTPS="true",
        **extra,
    )


@pytest.mark.django_db
def test_check_deploy_prints_no_warning_in_production(tmp_path):
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=_production_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    # Only the HSTS preload opt-out is silenced (SECURE_HSTS_PRELOAD=true opts in).
    assert "System check identified no issues (1 silenced)." in result.stdout
    assert "WARNING" not in result.stdout + result.stderr


def test_https_turns_on_secure_cookies_and_hsts(tmp_path):
    code = (
        "import django, json; django.setup(); from django.conf import settings as s; "
        "print(json.dumps([s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, s.SECURE_HSTS_SECONDS, "
        "s.SECURE_SSL_REDIRECT, s.SESSION_COOKIE_HTTPONLY, s.SECURE_HSTS_PRELOAD]))"
    )
    env = _production_env(tmp_path, DJANGO_SETTINGS_MODULE="console.settings")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    # HSTS preload is an opt-in: a preload list is hard to leave.
    assert out.stdout.strip() == "[true, true, 31536000, true, true, false]"
    out = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={**env, "SECURE_HSTS_PRELOAD": "true"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.stdout.strip() == "[true, true, 31536000, true, true, true]"
    env["SECURE_HTTPS"] = "false"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "[false, false, 0, false, true, false]"
