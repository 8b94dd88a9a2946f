"""Start the whole console on this machine: web, Celery worker and Celery beat."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Migrate, seed the demo, then run web + worker + beat until interrupted."

    def add_arguments(self, parser):
        parser.add_argument("--addr", default=os.environ.get("PUSHDECK_ADDR", "127.0.0.1:8000"))
        parser.add_argument("--concurrency", type=int, default=2)

    def handle(self, *args, addr: str, concurrency: int, **options):
        call_command("migrate", interactive=False, verbosity=0)
        call_command("seed_demo")
        python = sys.executable
        # Every job's start and end are debug detail here: the terminal keeps the logins and warnings.
        job_loglevel = os.environ.get("PUSHDECK_JOB_LOGLEVEL", "WARNING")
        queues = ",".join(settings.PUSHDECK_QUEUES)
        commands = {
            "web": [python, "manage.py", "runserver", addr, "--noreload"],
            "worker": [
                python,
                "-m",
                "celery",
                "-A",
                "console",
                "worker",
                "-Q",
                queues,
                "-c",
                str(concurrency),
                "--loglevel",
                job_loglevel,
                "--without-gossip",
                "--without-mingle",
            ],
            "beat": [
                python,
                "-m",
                "celery",
                "-A",
                "console",
                "beat",
                "--loglevel",
                job_loglevel,
                "--schedule",
                settings.CELERY_BEAT_SCHEDULE_FILENAME,
            ],
        }
        procs = {name: subprocess.Popen(cmd, cwd=settings.BASE_DIR) for name, cmd in commands.items()}
        self.stdout.write(self.style.SUCCESS(f"Pushdeck is running at http://{addr}/  (Ctrl-C stops it)"))
        stopping = False

        def stop(*_args):
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGTERM, stop)
        try:
            while not stopping:
                for name, proc in procs.items():
                    if proc.poll() is not None:
                        self.stderr.write(f"{name} exited with {proc.returncode}; stopping.")
                        stopping = True
                time.sleep(0.5)
        except KeyboardInterrupt:
            pass
        for proc in procs.values():
            if proc.poll() is None:
                proc.terminate()
        for proc in procs.values():
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
