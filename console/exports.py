"""Streamed exports (CSV and Excel) shared by every list that auditors export."""

from __future__ import annotations

import csv
import tempfile
from collections.abc import Iterable, Sequence
from datetime import datetime

from django.http import FileResponse, StreamingHttpResponse
from django.utils import timezone, translation


class _Echo:
    def write(self, value: str) -> str:
        return value


def export_value(value):
    """Times go out as ISO 8601 with the viewer's offset; everything else as text."""
    if isinstance(value, datetime):
        return timezone.localtime(value).isoformat(timespec="seconds")
    if value is None:
        return ""
    return value


def _csv_safe(value):
    # Cells starting with = + - @ are formulas to spreadsheet programs.
    text = str(export_value(value))
    if text[:1] in ("=", "+", "-", "@") and not _is_number(text) and text != "-":
        return "'" + text
    return text


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def csv_response(filename: str, header: Sequence[str], rows: Iterable[Sequence]) -> StreamingHttpResponse:
    writer = csv.writer(_Echo())
    # The rows are written after the view returns, when the middleware has already reset the
    # viewer's zone and language: keep them for the whole stream.
    zone, language = timezone.get_current_timezone(), translation.get_language()

    def generate():
        with timezone.override(zone), translation.override(language):
            yield "\ufeff"
            yield writer.writerow([str(h) for h in header])
            for row in rows:
                yield writer.writerow([_csv_safe(v) for v in row])

    response = StreamingHttpResponse(generate(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


# An Excel sheet holds at most 1,048,576 rows; a longer export goes on in further sheets.
XLSX_SHEET_ROWS = 1_048_576


def xlsx_response(
    filename: str, header: Sequence[str], rows: Iterable[Sequence], sheet: str = "Sheet1"
) -> FileResponse:
    """Excel through openpyxl's write-only mode into a temporary file: memory stays bounded.

    Each sheet starts with the header; past a sheet's last row the export continues in
    "<sheet> (2)", "<sheet> (3)" and so on, so no row is cut off.
    """
    from openpyxl import Workbook

    workbook = Workbook(write_only=True)
    header = [str(h) for h in header]

    def new_sheet(title: str):
        worksheet = workbook.create_sheet(title=title)
        worksheet.append(header)
        return worksheet

    worksheet, used, number = new_sheet(sheet[:31]), 1, 1
    for row in rows:
        if used == XLSX_SHEET_ROWS:
            number += 1
            worksheet, used = new_sheet(f"{sheet[:24]} ({number})"), 1
        worksheet.append([_xlsx_value(v) for v in row])
        used += 1
    handle = tempfile.TemporaryFile()
    workbook.save(handle)
    handle.seek(0)
    return FileResponse(
        handle,
        as_attachment=True,
        filename=filename,
        content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    )


def _xlsx_value(value):
    if isinstance(value, datetime):
        return timezone.localtime(value).isoformat(timespec="seconds")
    # A lone "-" (a rate over zero) is no formula.
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@") and value != "-":
        return "'" + value
    return value
