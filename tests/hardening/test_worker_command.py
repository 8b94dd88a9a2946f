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
