import pytest


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path):
    """Uploads of each test go to its own folder through Django's storage."""
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT
