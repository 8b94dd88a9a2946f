"""Every view that accepts a file stops an oversized upload while it streams in.

A 300 MB multipart body is generated on the fly (nothing that size exists anywhere) and sent
through the whole request stack, CSRF check included; the upload temp dir is measured while
the body streams: it never holds more than the view's limit.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from django.test import Client

from console.models import ApnsCertificate, ApnsTokenKey, FcmCredential
from templates_app.models import Template
from tests.templates_app.helpers import make_template

BODY_BYTES = 300 * 1024 * 1024
BOUNDARY = "pushdeckboundary"
BLOCK = memoryview(b"x" * (1 << 20))


def _dir_bytes(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


class GeneratedUpload:
    """A file-like multipart body: a few form fields, one file of `size` bytes, made while read.

    Every read also measures the upload temp dir, so the test knows the most it ever held."""

    def __init__(self, fields: dict[str, str], file_field: str, size: int, temp_dir: Path):
        head = b"".join(
            f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode()
            for k, v in fields.items()
        )
        head += (
            f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{file_field}"; filename="big.bin"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n"
        ).encode()
        self.head, self.tail = head, f"\r\n--{BOUNDARY}--\r\n".encode()
        self.size = size
        self.length = len(head) + size + len(self.tail)
        self.pos = 0
        self.temp_dir = temp_dir
        self.peak_temp = 0
        self.reads = 0

    def read(self, n: int = -1) -> bytes:
        self.reads += 1
        if self.reads % 16 == 0:
            self.peak_temp = max(self.peak_temp, _dir_bytes(self.temp_dir))
        if n is None or n < 0:
            n = self.length - self.pos
        start = len(self.head)
        if start <= self.pos and self.pos + n <= start + self.size and n <= len(BLOCK):
            self.pos += n  # the common case: a slice of the file's middle
            return BLOCK[:n].tobytes()
        out = bytearray()
        while n > 0 and self.pos < self.length:
            if self.pos < len(self.head):
                piece = self.head[self.pos : self.pos + n]
            elif self.pos < len(self.head) + self.size:
                offset = self.pos - len(self.head)
                piece = BLOCK[: min(n, self.size - offset, len(BLOCK))]
            else:
                offset = self.pos - len(self.head) - self.size
                piece = self.tail[offset : offset + n]
            out += piece
            self.pos += len(piece)
            n -= len(piece)
        return bytes(out)

    def readline(self, *args):  # not used by the multipart parser; present for file-likeness
        return self.read(*args)


@pytest.fixture
def upload_dirs(settings, tmp_path):
    settings.FILE_UPLOAD_TEMP_DIR = str(tmp_path / "tmp")
    settings.MEDIA_ROOT = str(tmp_path / "media")
    os.makedirs(settings.FILE_UPLOAD_TEMP_DIR)
    os.makedirs(settings.MEDIA_ROOT)
    return Path(settings.FILE_UPLOAD_TEMP_DIR), Path(settings.MEDIA_ROOT)


def _post_generated(client: Client, path: str, body: GeneratedUpload):
    environ = {
        "wsgi.input": body,
        "CONTENT_LENGTH": str(body.length),
        "CONTENT_TYPE": f"multipart/form-data; boundary={BOUNDARY}",
    }
    return client.generic("POST", path, **environ)


def _views(app, template):
    key = app.app_key
    return [
        (f"/apps/{key}/push-config/apns/certificate/", "certificate", lambda: ApnsCertificate.objects.count()),
        (f"/apps/{key}/push-config/apns/token/", "key_file", lambda: ApnsTokenKey.objects.count()),
        (f"/apps/{key}/push-config/fcm/", "service_account", lambda: FcmCredential.objects.count()),
        (f"/apps/{key}/templates/new/", "icon", lambda: Template.objects.count()),
        (f"/apps/{key}/templates/{template.pk}/edit/", "image", lambda: template.versions.count()),
        (f"/apps/{key}/templates/preview/", "sample_csv", lambda: 0),
        (f"/apps/{key}/send/multiple/", "file", lambda: 0),
        (f"/apps/{key}/send/broadcast/", "targets_file", lambda: 0),
    ]


@pytest.mark.django_db
def test_a_300_mb_upload_to_each_file_view_is_refused_without_reaching_disk(app, channel_admin, upload_dirs, settings):
    temp_dir, media = upload_dirs
    template = make_template(app, name="t-upload", actor=channel_admin)
    client = Client(enforce_csrf_checks=True)
    client.force_login(channel_admin)
    client.get(f"/apps/{app.app_key}/templates/new/")  # the CSRF cookie, as a browser has it
    token = client.cookies["csrftoken"].value
    limits = max(settings.PUSHDECK_MULTIPLE_FILE_MAX_BYTES, settings.PUSHDECK_TARGET_FILE_MAX_BYTES)
    for path, field, rows in _views(app, template):
        before = rows()
        body = GeneratedUpload({"csrfmiddlewaretoken": token, "name": "x"}, field, BODY_BYTES, temp_dir)
        response = _post_generated(client, path, body)
        assert response.status_code in (200, 400), (path, response.status_code)
        assert body.pos == body.length, path  # the whole body was read (drained), the answer is ours
        assert body.peak_temp <= limits, (path, body.peak_temp)
        assert _dir_bytes(temp_dir) == 0 and _dir_bytes(media) == 0, path
        assert rows() == before, path
        page = response.content.decode()
        assert "nothing was stored" in page or "larger than" in page, (path, page[:300])


@pytest.mark.django_db
def test_the_limit_counts_what_arrives_not_what_is_declared(app, channel_admin, upload_dirs, settings):
    """A body that declares a small length but is large is stopped at the limit, too."""
    temp_dir, _media = upload_dirs
    settings.PUSHDECK_CREDENTIAL_FILE_MAX_BYTES = 64 * 1024
    client = Client()
    client.force_login(channel_admin)
    body = GeneratedUpload({"enabled": "on"}, "service_account", 3 * 1024 * 1024, temp_dir)
    response = _post_generated(client, f"/apps/{app.app_key}/push-config/fcm/", body)
    assert response.status_code == 400
    assert "The upload is larger than 64.0\xa0KB; nothing was stored." in response.content.decode()
    assert body.peak_temp <= 64 * 1024
    assert not FcmCredential.objects.filter(app=app).exclude(service_account="").exists()


@pytest.mark.django_db
def test_csrf_is_still_checked_on_file_views(app, channel_admin, upload_dirs):
    temp_dir, _media = upload_dirs
    client = Client(enforce_csrf_checks=True)
    client.force_login(channel_admin)
    body = GeneratedUpload({"enabled": "on"}, "service_account", 1000, temp_dir)
    assert _post_generated(client, f"/apps/{app.app_key}/push-config/fcm/", body).status_code == 403
