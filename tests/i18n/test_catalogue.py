"""Every string a person reads is translated: the catalogue is complete and pages show no English."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import polib
import pytest
from django.urls import reverse

ROOT = Path(__file__).resolve().parents[2]
APPS = ["console", "templates_app", "campaigns"]
# Product and protocol names read the same in both languages.
ALLOWED = {
    "Pushdeck",
    "AppKey",
    "AppSecret",
    "AccessKey ID",
    "mPaaS SDK",
    "APNs",
    "FCM",
    "Huawei",
    "Xiaomi",
    "OPPO",
    "vivo",
    "Honor",
    "Meizu",
    "iOS",
    "Android",
    "CSV",
    "Excel",
    "JSON",
    "URL",
    "ID",
    "IP",
    "HTTP",
    "HTTPS",
    "RSA",
    "PEM",
    "OK",
    "English",
    "App ID",
    "MasterSecret",
    "App secret",
    ".p12",
    ".p8",
    "UTC",
    # ISO 8601 format notation, which date fields show in every language.
    "YYYY-MM-DD",
    "YYYY-MM-DD HH:MM",
    # Apple and Android terms shown as the developer consoles write them.
    "Activity",
    "Key ID",
    "Team ID",
    "Topic",
}


def catalogue(app: str) -> Path:
    return ROOT / app / "locale" / "zh_Hans" / "LC_MESSAGES" / "django.po"


@pytest.mark.skipif(shutil.which("xgettext") is None, reason="gettext is installed by `make test`")
def test_makemessages_finds_no_untranslated_string(tmp_path):
    """Re-extract the strings from a copy of the source and require a translation for each."""
    copy = tmp_path / "src"
    shutil.copytree(
        ROOT, copy, ignore=shutil.ignore_patterns(".venv", "var", ".git", "node_modules", "__pycache__", "bench")
    )
    for app in APPS:
        subprocess.run(
            [
                sys.executable,
                str(copy / "manage.py"),
                "makemessages",
                "-l",
                "zh_Hans",
                "--no-obsolete",
                "--ignore",
                "migrations/*",
            ],
            cwd=copy / app,
            check=True,
            capture_output=True,
            timeout=300,
        )
    problems = []
    for app in APPS:
        po = polib.pofile(str(copy / app / "locale" / "zh_Hans" / "LC_MESSAGES" / "django.po"))
        for entry in po:
            if entry.obsolete:
                continue
            if not entry.translated() or "fuzzy" in entry.flags:
                problems.append(f"{app}: {entry.msgid!r} ({entry.occurrences[:1]})")
    assert not problems, f"{len(problems)} untranslated strings:\n" + "\n".join(problems[:80])


def test_compiled_catalogues_are_current():
    for app in APPS:
        po_path = catalogue(app)
        assert po_path.is_file(), f"missing {po_path.relative_to(ROOT)}"
        mo_path = po_path.with_suffix(".mo")
        assert mo_path.is_file(), f"compile {po_path.relative_to(ROOT)} (manage.py compilemessages)"
        compiled = {e.msgid: e.msgstr for e in polib.mofile(str(mo_path))}
        for entry in polib.pofile(str(po_path)).translated_entries():
            if entry.msgid_plural:
                continue
            assert compiled.get(entry.msgid) == entry.msgstr, f"{app}: .mo is stale for {entry.msgid!r}"


class _Text(HTMLParser):
    """Visible text, without code and without elements marked as user data (translate="no")."""

    def __init__(self):
        super().__init__()
        self.parts: list[str] = []
        self._skip = 0
        self._verbatim: list[list] = []  # [tag, depth] of open translate="no" elements

    def handle_starttag(self, tag, attrs):
        if self._verbatim and self._verbatim[-1][0] == tag:
            self._verbatim[-1][1] += 1
        elif ("translate", "no") in attrs:
            self._verbatim.append([tag, 1])
        if tag in ("script", "style", "code", "pre", "textarea"):
            self._skip += 1
        if self._verbatim:
            return
        for name, value in attrs:
            if name in ("title", "aria-label", "placeholder", "alt") and value:
                self.parts.append(value)

    def handle_endtag(self, tag):
        if tag in ("script", "style", "code", "pre", "textarea") and self._skip:
            self._skip -= 1
        if self._verbatim and self._verbatim[-1][0] == tag:
            self._verbatim[-1][1] -= 1
            if not self._verbatim[-1][1]:
                self._verbatim.pop()

    def handle_data(self, data):
        if not self._skip and not self._verbatim:
            self.parts.append(data)


def visible_text(html: str) -> str:
    parser = _Text()
    parser.feed(html)
    return " ".join(" ".join(parser.parts).split())


def english_msgids() -> set[str]:
    ids = set()
    for app in APPS:
        for entry in polib.pofile(str(catalogue(app))):
            text = entry.msgid
            if "%(" in text or "{" in text or len(text) < 4 or text in ALLOWED:
                continue
            if re.search(r"[A-Za-z]{3,}", text):
                ids.add(text)
    return ids


def test_every_page_renders_in_chinese(app, channel_admin, superuser, client_for):
    from tests.test_url_permissions import URLS, _url

    english = english_msgids()
    c = client_for(superuser)
    c.cookies["django_language"] = "zh-hans"
    from console.services import profile_update

    profile_update(user=superuser, language="zh-hans")
    pages = 0
    checked = set()
    leaks = []
    for name, pattern in URLS.items():
        response = c.get(_url(name, pattern, app))
        if response.status_code != 200 or "text/html" not in response.get("Content-Type", ""):
            continue
        pages += 1
        checked.add(name)
        assert response["Content-Language"] == "zh-hans", name
        text = visible_text(response.content.decode())
        for msgid in english:
            # Words inside identifiers (walk_template, #name#, 1Password) are not prose.
            found = re.search(r"(?<![A-Za-z0-9_#])" + re.escape(msgid) + r"(?![A-Za-z0-9_#])", text)
            if found:
                leaks.append(f"{name}: {msgid!r} in …{text[max(0, found.start() - 40) : found.end() + 40]}…")
    assert pages >= 10
    # Pages behind objects (made by tests/url_kwargs.py) are read too.
    assert {
        "templates_app:template-detail",
        "templates_app:template-history",
        "campaigns:send-task",
        "campaigns:send-upload",
        "campaigns:message-detail",
        "campaigns:task-progress",
    } <= checked
    assert not leaks, "English left on Chinese pages:\n" + "\n".join(leaks[:60])
    assert reverse("login")
