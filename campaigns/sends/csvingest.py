"""Multiple push files: streamed line by line, checked, rendered and staged with COPY.

One line is `targetId,customerMsgId,key1=value1,key2=value2...`. The file is never
read whole: it is read in chunks, each line is checked (1-250 characters, UTF-8,
customerMsgId present and <= 64 characters, every key=value well formed, every
template placeholder given) and the good lines are rendered and staged in
SendUploadRow through PostgreSQL COPY (batches of bulk_create elsewhere).
Uniqueness of customerMsgId is checked by the database over the staged rows
(a window query on an index), so memory stays flat whatever the file size.

Nothing is sent from a file with bad lines unless the marketer says so: only its
good lines stay staged (the first line of each customerMsgId, none the app already
used), to be sent without the bad ones on an explicit confirmation. Every bad line
goes to the downloadable report; the first 100 are kept for the page. A file that
cannot be read (encoding, size) keeps nothing.
"""

from __future__ import annotations

import heapq
import json
import logging
import queue
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import BinaryIO

from django.conf import settings
from django.core.files import File
from django.db import connection, models, transaction
from django.utils.translation import gettext as _

from campaigns.models import PushTask, SendUpload, SendUploadRow
from console.validation import http_url_ok, target_id_ok
from templates_app.models import TemplateVersion
from templates_app.rendering import PLACEHOLDER_RE, check_lengths, substitute

logger = logging.getLogger(__name__)

LINE_MAX_CHARS = 250
PAGE_ERRORS = 100
PREVIEW_ROWS = 10
CHUNK_BYTES = 1 << 20
BATCH_ROWS = 50_000
BOM = b"\xef\xbb\xbf"

# COPY text format: escape the characters that mean something to it.
_COPY_ESCAPE = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


class NotUtf8(Exception):
    def __init__(self, line_no: int):
        self.line_no = line_no
        super().__init__(f"line {line_no} is not UTF-8")


def iter_lines(stream: BinaryIO, *, chunk_size: int = CHUNK_BYTES) -> Iterator[tuple[int, bytes, int]]:
    """(line number, raw line without CR/LF, bytes consumed so far). A BOM on line 1 is dropped."""
    rest = b""
    consumed = 0
    line_no = 0
    first = True
    while True:
        chunk = stream.read(chunk_size)
        if not chunk:
            break
        consumed += len(chunk)
        if first:
            if chunk.startswith(BOM):
                chunk = chunk[3:]
            first = False
        data = rest + chunk
        lines = data.split(b"\n")
        rest = lines.pop()
        for raw in lines:
            line_no += 1
            yield line_no, raw[:-1] if raw.endswith(b"\r") else raw, consumed
    if rest:
        line_no += 1
        yield line_no, rest[:-1] if rest.endswith(b"\r") else rest, consumed


def _compile(text: str) -> str:
    """A str.format pattern doing what rendering.substitute does (literal, one pass), at C speed."""
    return PLACEHOLDER_RE.sub(lambda m: "{" + m.group(1) + "}", text.replace("{", "{{").replace("}", "}}"))


@dataclass
class Template:
    """The parts of a template version each line is rendered with (parsed once)."""

    title: str
    body: str
    url: str
    names: frozenset[str]
    platform: str = ""

    def __post_init__(self) -> None:
        self.title_fmt, self.body_fmt, self.url_fmt = _compile(self.title), _compile(self.body), _compile(self.url)
        # str.format reads an all-digit name as a position: those templates use substitute().
        self.fast = not any(name.isdigit() for name in self.names)
        # COPY escaping is only needed when the template or a line holds one of these.
        self.needs_escape = any(c in self.title + self.body + self.url for c in "\\\t\r")

    @classmethod
    def of(cls, version: TemplateVersion, platform: str = "") -> Template:
        names = {
            m.group(1) for text in (version.title, version.body, version.url) for m in PLACEHOLDER_RE.finditer(text)
        }
        return cls(version.title, version.body, version.url, frozenset(names), platform)


@dataclass
class Row:
    line_no: int
    target_id: str
    customer_msg_id: str
    title: str
    body: str
    url: str
    extras: dict[str, str]


def check_line(line_no: int, text: str, tpl: Template) -> Row | str:
    """A rendered Row, or the reason the line is bad."""
    if not text:
        return _("empty line")
    if len(text) > LINE_MAX_CHARS:
        return _("line is %(n)s characters; the limit is %(limit)s") % {"n": len(text), "limit": LINE_MAX_CHARS}
    parts = text.split(",")
    target_id = parts[0].strip()
    if not target_id:
        return _("targetId is missing")
    if not target_id_ok(target_id):
        return _("targetId has characters that are not allowed")
    if len(parts) < 2 or not parts[1].strip():
        return _("customerMsgId is missing")
    cmid = parts[1].strip()
    if len(cmid) > 64:
        return _("customerMsgId is longer than 64 characters")
    try:
        # Fast path: every item has "=", no key repeats, no blank key.
        values = dict(item.split("=", 1) for item in parts[2:])
        fast = len(values) == len(parts) - 2 and "" not in values
    except ValueError:
        fast = False
    if not fast:
        values = {}
        for item in parts[2:]:
            key, sep, value = item.partition("=")
            key = key.strip()
            if not sep or not key:
                return _("'%(item)s' is not key=value") % {"item": item}
            if key in values:
                return _("key '%(key)s' is given twice") % {"key": key}
            values[key] = value
    missing = tpl.names.difference(values)
    if missing:
        return _("missing values for: %(names)s") % {"names": ", ".join(sorted(missing))}
    extras = {k: v for k, v in values.items() if k not in tpl.names}
    if len(extras) > 10:
        return _("more than 10 extension parameters")
    if tpl.fast:
        title = tpl.title_fmt.format_map(values)
        body = tpl.body_fmt.format_map(values)
        url = tpl.url_fmt.format_map(values) if tpl.url else ""
    else:
        title, body, url = substitute(tpl.title, values), substitute(tpl.body, values), substitute(tpl.url, values)
    if url and not http_url_ok(url):
        return _("the click URL is not an http:// or https:// URL")
    if len(title) > 50 or len(body) > 200 or len(url) > 1000:
        problems = check_lengths(title=title, body=body, url=url, platform=tpl.platform)
        if problems:
            return "; ".join(str(p) for p in problems)
    return Row(line_no, target_id, cmid, title, body, url, extras)


@dataclass
class Outcome:
    lines: int = 0
    good: int = 0
    bad: int = 0
    errors: list[dict] = field(default_factory=list)  # the first PAGE_ERRORS
    preview: list[dict] = field(default_factory=list)
    failure: str = ""  # a fatal problem (encoding, size)
    timings: dict[str, float] = field(default_factory=dict)  # seconds per phase (bench/ingest.py prints them)


class _Stager:
    """Writes staged rows: COPY on PostgreSQL, bulk_create in batches elsewhere."""

    def __init__(self, upload_id: int, *, template_escape: bool = True):
        self.upload_id = upload_id
        self.template_escape = template_escape
        self.buffer: list = []
        self.copy = connection.vendor == "postgresql"

    def add(self, row: Row, *, line_escape: bool = True) -> None:
        if self.copy and not (line_escape or self.template_escape):
            extras = json.dumps(row.extras, ensure_ascii=False) if row.extras else "{}"
            self.buffer.append(
                f"{self.upload_id}\t{row.line_no}\t{row.target_id}\t{row.customer_msg_id}\t{row.title}\t"
                f"{row.body}\t{row.url}\t{extras.translate(_COPY_ESCAPE)}\n"
            )
        elif self.copy:
            esc = _COPY_ESCAPE
            self.buffer.append(
                f"{self.upload_id}\t{row.line_no}\t{row.target_id.translate(esc)}\t"
                f"{row.customer_msg_id.translate(esc)}\t{row.title.translate(esc)}\t{row.body.translate(esc)}\t"
                f"{row.url.translate(esc)}\t{json.dumps(row.extras, ensure_ascii=False).translate(esc) if row.extras else '{}'}\n"
            )
        else:
            self.buffer.append(
                SendUploadRow(
                    upload_id=self.upload_id,
                    line_no=row.line_no,
                    target_id=row.target_id,
                    customer_msg_id=row.customer_msg_id,
                    title=row.title,
                    body=row.body,
                    url=row.url,
                    extras=row.extras,
                )
            )

    def flush(self) -> None:
        if not self.buffer:
            return
        if self.copy:
            self._hand_over("".join(self.buffer).encode("utf-8"))
        else:
            SendUploadRow.objects.bulk_create(self.buffer, batch_size=2000)
        self.buffer = []

    # PostgreSQL: a writer thread runs the COPY of one batch while this thread checks the
    # next one, so parsing and the server's work overlap (the connection is thread-safe).
    _thread: threading.Thread | None = None
    _error: BaseException | None = None

    def _hand_over(self, payload: bytes) -> None:
        if self._thread is None:
            connection.ensure_connection()
            self._queue: queue.Queue = queue.Queue(maxsize=2)
            self._thread = threading.Thread(target=self._writer, args=(connection.connection,), daemon=True)
            self._thread.start()
        if self._error is not None:
            raise self._error
        self._queue.put(payload)

    def _writer(self, raw) -> None:
        sql = (
            f"COPY {SendUploadRow._meta.db_table} "
            "(upload_id, line_no, target_id, customer_msg_id, title, body, url, extras) FROM STDIN"
        )
        while (payload := self._queue.get()) is not None:
            if self._error is not None:
                continue
            try:
                with raw.cursor() as cursor, cursor.copy(sql) as copy:
                    copy.write(payload)
            except BaseException as exc:  # handed back to the checking thread
                self._error = exc

    def close(self) -> None:
        """Wait until every batch is written (re-raising a COPY failure)."""
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join()
            self._thread = None
        if self._error is not None:
            raise self._error


# Staged lines whose customerMsgId appeared on an earlier line or is already used by the app.
_DUPLICATE_ROWS = f"""
    SELECT id, line_no, first_line FROM (
        SELECT r.id, r.line_no,
               min(r.line_no) OVER (PARTITION BY r.customer_msg_id) AS first_line,
               EXISTS (SELECT 1 FROM campaigns_message m
                       WHERE m.app_id = %s AND m.customer_msg_id = r.customer_msg_id) AS used
        FROM {SendUploadRow._meta.db_table} r WHERE r.upload_id = %s
    ) s WHERE line_no <> first_line OR used
"""


def _duplicate_errors(upload: SendUpload) -> Iterator[tuple[int, str, bool]]:
    with connection.cursor() as cursor:
        cursor.execute(f"{_DUPLICATE_ROWS} ORDER BY line_no", [upload.app_id, upload.pk])
        while batch := cursor.fetchmany(10_000):
            for _id, line_no, first_line in batch:
                if line_no != first_line:
                    yield line_no, _("customerMsgId is a duplicate of line %(line)s") % {"line": first_line}, True
                else:
                    yield line_no, _("customerMsgId is already used by an earlier send"), True


def _drop_duplicate_rows(upload: SendUpload) -> None:
    """Keep only the good lines staged (the first of each customerMsgId, none already used)."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"DELETE FROM {SendUploadRow._meta.db_table} WHERE id IN (SELECT id FROM ({_DUPLICATE_ROWS}) d)",
            [upload.app_id, upload.pk],
        )


def validate_stream(
    stream: BinaryIO,
    *,
    upload: SendUpload,
    template: Template,
    progress: Callable[[int, int], None] | None = None,
) -> Outcome:
    """Check and stage every line. On any bad line the staged rows are removed again."""
    outcome = Outcome()
    started = time.perf_counter()
    stager = _Stager(upload.pk, template_escape=template.needs_escape)
    with tempfile.TemporaryFile("w+", encoding="utf-8") as format_errors:
        try:
            for line_no, raw, consumed in iter_lines(stream):
                outcome.lines = line_no
                try:
                    text = raw.decode("utf-8")
                except UnicodeDecodeError:
                    raise NotUtf8(line_no) from None
                result = check_line(line_no, text, template)
                if isinstance(result, str):
                    outcome.bad += 1
                    format_errors.write(f"{line_no}\t{result}\n")
                    continue
                outcome.good += 1
                if len(outcome.preview) < PREVIEW_ROWS:
                    outcome.preview.append(
                        {
                            "line": line_no,
                            "target_id": result.target_id,
                            "customer_msg_id": result.customer_msg_id,
                            "title": result.title,
                            "body": result.body,
                            "url": result.url,
                        }
                    )
                stager.add(result, line_escape="\\" in text or "\t" in text or "\r" in text)
                if len(stager.buffer) >= BATCH_ROWS:
                    stager.flush()
                    if progress:
                        progress(consumed, line_no)
            stager.flush()
            stager.close()
            outcome.timings["check_and_copy"] = time.perf_counter() - started
        except NotUtf8 as exc:
            stager.close()
            _discard(upload)
            outcome.failure = _("The file is not UTF-8: line %(line)s cannot be decoded. Save it as UTF-8.") % {
                "line": exc.line_no
            }
            outcome.errors = [{"line": exc.line_no, "reason": _("not UTF-8")}]
            outcome.bad += 1
            return outcome
        if outcome.lines == 0:
            outcome.failure = _("The file is empty.")
            return outcome
        format_errors.seek(0)
        from_file = (
            (int(n), reason.rstrip("\n"), False) for n, _tab, reason in (ln.partition("\t") for ln in format_errors)
        )
        report = tempfile.TemporaryFile("w+b")
        duplicates = 0
        for line_no, reason, is_duplicate in heapq.merge(from_file, _duplicate_errors(upload), key=lambda e: e[0]):
            duplicates += is_duplicate
            if len(outcome.errors) < PAGE_ERRORS:
                outcome.errors.append({"line": line_no, "reason": reason})
            report.write(f"{line_no},{reason.replace(',', ';')}\n".encode())
        outcome.bad += duplicates
        outcome.good -= duplicates
        outcome.timings["duplicates"] = time.perf_counter() - started - outcome.timings["check_and_copy"]
        if outcome.bad:
            report.seek(0)
            upload.report.save(f"upload-{upload.pk}-errors.csv", File(report), save=False)
            if not outcome.good:
                _discard(upload)
            elif duplicates:  # the good lines stay staged: they may be sent without the bad ones
                _drop_duplicate_rows(upload)
            outcome.preview = [p for p in outcome.preview if p["line"] not in {e["line"] for e in outcome.errors}]
        report.close()
    return outcome


def _discard(upload: SendUpload) -> None:
    SendUploadRow.objects.filter(upload=upload).delete()


def iter_target_ids(stream: BinaryIO) -> Iterator[str]:
    """A .txt target file: one id per line, UTF-8, blank lines skipped."""
    for line_no, raw, _consumed in iter_lines(stream):
        try:
            text = raw.decode("utf-8").strip()
        except UnicodeDecodeError:
            raise NotUtf8(line_no) from None
        if text:
            yield text


_INSERT_MESSAGES = f"""
    INSERT INTO campaigns_message
        (app_id, task_id, customer_msg_id, push_type, target_type, target_id, platform, title, body,
         payload, created_at, expires_at, state, status, status_desc, status_changed_at, channel)
    SELECT %s, %s, r.customer_msg_id, %s, %s, r.target_id, %s, r.title, r.body,
           %s::jsonb || jsonb_build_object('url', r.url, 'extras', (%s::jsonb -> 'extras') || r.extras),
           %s, %s, 'pending', -1, '', %s, ''
    FROM {SendUploadRow._meta.db_table} r
    WHERE r.upload_id = %s AND r.line_no BETWEEN %s AND %s ORDER BY r.line_no
"""

# Below this many rows one statement is quicker than opening more connections.
PARALLEL_MIN_ROWS = 50_000
RANGES_PER_CONNECTION = 4


def ingest_messages(*, upload: SendUpload, task_id: int, message_defaults: dict) -> int:
    """Move the staged rows into Message rows of the task; returns how many.

    On PostgreSQL this is INSERT ... SELECT on the server, split by line ranges over
    PUSHDECK_INGEST_CONNECTIONS connections that run at once (each range in its own
    transaction; index upkeep is the cost, and it spreads over the server's cores).
    Inside an enclosing transaction (or for a small file) it is one statement.
    Messages a crashed earlier attempt left behind are removed first, and a failure
    removes the task's messages again, so a retry starts clean and nothing is half made.
    """
    if connection.vendor != "postgresql":
        with transaction.atomic():
            return _ingest_in_batches(upload=upload, task_id=task_id, message_defaults=message_defaults)
    payload = json.dumps(message_defaults["payload"], ensure_ascii=False)

    def params(low: int, high: int) -> list:
        return [
            upload.app_id,
            task_id,
            message_defaults["push_type"],
            message_defaults["target_type"],
            message_defaults["platform"],
            payload,
            payload,
            message_defaults["created_at"],
            message_defaults["expires_at"],
            message_defaults["created_at"],
            upload.pk,
            low,
            high,
        ]

    staged = SendUploadRow.objects.filter(upload=upload)
    bounds = staged.aggregate(low=models.Min("line_no"), high=models.Max("line_no"), n=models.Count("pk"))
    parts = settings.PUSHDECK_INGEST_CONNECTIONS
    try:
        if not bounds["n"]:
            count = 0
        elif connection.in_atomic_block or bounds["n"] < PARALLEL_MIN_ROWS or parts < 2:
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute(_INSERT_MESSAGES, params(bounds["low"], bounds["high"]))
                count = cursor.rowcount
        else:
            _drop_messages(task_id)  # rows a crashed attempt left (the task is not dispatched before this ends)
            # More ranges than connections, so the task's progress bar moves as each one commits.
            pieces = parts * RANGES_PER_CONNECTION
            step = (bounds["high"] - bounds["low"]) // pieces + 1
            ranges = [(bounds["low"] + i * step, bounds["low"] + (i + 1) * step - 1) for i in range(pieces)]
            with ThreadPoolExecutor(max_workers=parts, thread_name_prefix="ingest") as pool:
                count = sum(pool.map(lambda r: _insert_range(_INSERT_MESSAGES, params(*r), task_id), ranges))
    except Exception:
        if not connection.in_atomic_block:
            _drop_messages(task_id)
        _discard(upload)
        raise
    _discard(upload)
    return count


def _insert_range(sql: str, params: list, task_id: int) -> int:
    """One line range on this thread's own connection, in its own transaction, counted in
    the task's ingested rows when it commits."""
    try:
        with transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute(sql, params)
                count = cursor.rowcount
            PushTask.objects.filter(pk=task_id).update(ingested_rows=models.F("ingested_rows") + count)
        return count
    finally:
        connection.close()


def _drop_messages(task_id: int) -> None:
    """Messages of a task still ingesting have no deliveries or events yet: one plain DELETE."""
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM campaigns_message WHERE task_id = %s", [task_id])
    PushTask.objects.filter(pk=task_id).update(ingested_rows=0)


def _ingest_in_batches(*, upload: SendUpload, task_id: int, message_defaults: dict) -> int:
    from campaigns.models import Message

    base = message_defaults["payload"]
    count = 0
    batch: list[Message] = []
    for row in SendUploadRow.objects.filter(upload=upload).order_by("line_no").iterator(chunk_size=2000):
        batch.append(
            Message(
                app_id=upload.app_id,
                task_id=task_id,
                customer_msg_id=row.customer_msg_id,
                push_type=message_defaults["push_type"],
                target_type=message_defaults["target_type"],
                target_id=row.target_id,
                platform=message_defaults["platform"],
                title=row.title,
                body=row.body,
                payload={**base, "url": row.url, "extras": {**base.get("extras", {}), **row.extras}},
                created_at=message_defaults["created_at"],
                expires_at=message_defaults["expires_at"],
                status_changed_at=message_defaults["created_at"],
            )
        )
        if len(batch) >= 2000:
            Message.objects.bulk_create(batch)
            count += len(batch)
            batch = []
    Message.objects.bulk_create(batch)
    count += len(batch)
    _discard(upload)
    return count
