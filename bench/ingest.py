"""Multiple push ingest speed: stream a generated CSV through the real checks and COPY staging.

Usage (against a PostgreSQL database with the migrations applied, e.g. the test DB):

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/test_sends \
        .venv/bin/python bench/ingest.py [--lines 2500000]

Prints rows/s, MB/s and peak memory for validation+staging (the code the worker runs),
for moving the staged rows into messages, and for a plain COPY of the same rows
(the baseline: split on commas, no checks) with the ratio between them.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "console.settings")

import django  # noqa: E402

django.setup()

from common import analyze  # noqa: E402
from django.db import connection  # noqa: E402
from django.utils import timezone  # noqa: E402

from campaigns.models import Message, PushTask, SendUpload, SendUploadRow  # noqa: E402
from campaigns.sends import csvingest  # noqa: E402
from console.models import App  # noqa: E402
from templates_app.models import Template, TemplateVersion  # noqa: E402


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def generate(path: Path, lines: int) -> int:
    with path.open("w", encoding="utf-8", newline="") as out:
        for i in range(lines):
            out.write(f"device{i:012d},cmsg{i:014d},name=Customer{i},code=C{i:09d},city=HZ\r\n")
    return path.stat().st_size


def plain_copy(path: Path) -> float:
    """The baseline: stream, split, COPY into an unlogged table, no checks at all."""
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE IF EXISTS bench_plain")
        cursor.execute("CREATE UNLOGGED TABLE bench_plain (line_no bigint, target text, cmid text, rest text)")
        start = time.perf_counter()
        with path.open("rb") as stream, cursor.cursor.copy("COPY bench_plain FROM STDIN") as copy:
            buf = []
            for n, raw, _ in csvingest.iter_lines(stream):
                target, cmid, rest = raw.decode("utf-8").split(",", 2)
                buf.append(f"{n}\t{target}\t{cmid}\t{rest}\n")
                if len(buf) >= 50_000:
                    copy.write("".join(buf).encode())
                    buf = []
            copy.write("".join(buf).encode())
        elapsed = time.perf_counter() - start
        cursor.execute("DROP TABLE bench_plain")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--lines", type=int, default=2_500_000)
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="pd-bench-"))
    path = workdir / "multiple.csv"
    size = generate(path, args.lines)
    mb = size / 1e6
    print(f"file: {args.lines:,} lines, {mb:.1f} MB; peak RSS after generating: {peak_mb():.0f} MB")

    app = App.objects.create(name=f"bench {time.time():.0f}")
    template = Template.objects.create(app=app, name="bench")
    version = TemplateVersion.objects.create(
        template=template, number=1, description="bench", title="Hi #name#", body="Your code #code# in #city#"
    )
    upload = SendUpload.objects.create(
        app=app, kind="csv", original_name="multiple.csv", size=size, template_version=version
    )
    try:
        tpl = csvingest.Template.of(version, "android")
        start = time.perf_counter()
        with path.open("rb") as stream:
            outcome = csvingest.validate_stream(stream, upload=upload, template=tpl)
        validate_s = time.perf_counter() - start
        assert outcome.bad == 0 and outcome.good == args.lines, (outcome.bad, outcome.errors[:3], outcome.failure)
        print(
            f"validate + render + COPY staging: {validate_s:.1f} s, {args.lines / validate_s:,.0f} rows/s, "
            f"{mb / validate_s:.1f} MB/s, peak RSS {peak_mb():.0f} MB"
        )
        print("  phases: " + ", ".join(f"{k} {v:.1f} s" for k, v in outcome.timings.items()))

        task = PushTask.objects.create(
            app=app, name="bench", push_type="MULTIPLE", source="console", status="ingesting", template_version=version
        )
        start = time.perf_counter()
        count = csvingest.ingest_messages(
            upload=upload,
            task_id=task.pk,
            message_defaults={
                "push_type": "MULTIPLE",
                "target_type": "android_device",
                "platform": "android",
                "payload": {"channel": "auto", "extras": {}},
                "created_at": timezone.now(),
                "expires_at": timezone.now(),
            },
        )
        ingest_s = time.perf_counter() - start
        print(f"staged rows -> messages (INSERT ... SELECT): {ingest_s:.1f} s, {count / ingest_s:,.0f} rows/s")
        total = validate_s + ingest_s
        print(f"end to end: {args.lines / total:,.0f} rows/s, {mb / total:.1f} MB/s")

        baseline_s = plain_copy(path)
        print(f"plain COPY baseline: {baseline_s:.1f} s, {args.lines / baseline_s:,.0f} rows/s")
        print(
            f"ratio validate+staging / baseline: {baseline_s / validate_s:.2f}; "
            f"end to end / baseline: {baseline_s / total:.2f}"
        )
        print(f"peak RSS of the whole run: {peak_mb():.0f} MB")
    finally:
        # Raw deletes: the ORM collector would load 2.5 million messages to cascade them.
        with connection.cursor() as cursor:
            cursor.execute("DELETE FROM campaigns_message WHERE app_id = %s", [app.pk])
            cursor.execute("DELETE FROM campaigns_senduploadrow WHERE upload_id = %s", [upload.pk])
        PushTask.objects.filter(app=app).delete()
        upload.delete()
        app.delete()
        analyze(Message, SendUploadRow, vacuum=True)  # no dead rows for the next run to pay for
        path.unlink()
        workdir.rmdir()


if __name__ == "__main__":
    main()
