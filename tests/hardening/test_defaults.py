"""Production defaults and logs: a refused request (403) logs one line, no traceback."""

from __future__ import annotations

import logging


def test_a_403_logs_one_line(client_for, marketer, app, caplog):
    with caplog.at_level(logging.INFO):
        response = client_for(marketer).post(f"/apps/{app.app_key}/secret/reveal/")
    assert response.status_code == 403
    forbidden = [r for r in caplog.records if r.name.startswith("django.") and getattr(r, "status_code", 0) == 403]
    assert len(forbidden) == 1
    record = forbidden[0]
    assert record.exc_info is None and record.exc_text is None
    line = logging.Formatter("%(levelname)s %(name)s %(message)s").format(record)
    assert "\n" not in line and "Traceback" not in line
    assert "Forbidden" in line
