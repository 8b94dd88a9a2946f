"""The worker command the README recommends is the one bench/dispatch.py measures by default."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_dispatch_bench_runs_the_readme_worker_command_by_default():
    bench = (ROOT / "bench" / "dispatch.py").read_text()
    (command,) = re.findall(r'^README_WORKER = "([^"]+)"$', bench, flags=re.M)
    readme = (ROOT / "README.md").read_text()
    fleet = readme.split("## Running a fleet of workers", 1)[1].split("\n## ", 1)[0]
    assert re.search(rf"^{re.escape(command)}\s", fleet, flags=re.M), (command, fleet)
    words = command.split()
    assert words[words.index("-P") + 1] in {"prefork", "threads"} and int(words[words.index("-c") + 1]) >= 1
    assert "dispatch" in words[words.index("-Q") + 1].split(",")
    # The fleet's worker commands, together, take every queue the tasks are routed to.
    served = {
        q for line in re.findall(r"^celery -A console worker -Q (\S+)", fleet, flags=re.M) for q in line.split(",")
    }
    assert served >= {"default", "ingest", "dispatch", "receipts", "rollups"}, served


def test_the_benches_and_tests_start_the_readme_web_command():
    """bench/api.py, bench/longpoll.py and the production tests start the README's web server:
    its gunicorn settings, the ASGI application, uvicorn workers, and (benches) its -w 4."""
    readme = (ROOT / "README.md").read_text()
    production = readme.split("## Running in production", 1)[1].split("\n## ", 1)[0]
    (web,) = re.findall(r"^DB_POOL_SIZE=4 gunicorn (.+?)\n(?!\s)", production.replace("\\\n", " "), flags=re.M | re.S)
    words = web.split()
    assert words[:3] == ["-c", "python:console.gunicorn_conf", "console.asgi:application"], words
    assert words[words.index("-k") + 1] == "uvicorn.workers.UvicornWorker" and words[words.index("-w") + 1] == "4"
    starters = {
        "bench/api.py": True,
        "bench/longpoll.py": True,
        "tests/hardening/test_ops.py": False,
        "tests/hardening/test_longpoll_scale.py": False,
    }
    for path, default_workers in starters.items():
        source = (ROOT / path).read_text()
        for part in (
            '"-c", "python:console.gunicorn_conf"',
            '"console.asgi:application"',
            '"uvicorn.workers.UvicornWorker"',
        ):
            assert part in source, (path, part)
        if default_workers:
            assert 'parser.add_argument("--workers", type=int, default=4' in source, path
