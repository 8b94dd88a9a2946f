"""Planner statistics brought up to date before big work, instead of a minute later.

PostgreSQL plans from what the last ANALYZE saw. After a bulk change (a device import, a big
file's messages, a table emptied and filled again) autovacuum catches up within a minute or
so; until then a table of 100,000 rows may be planned as empty, and a lookup of 500 devices by
id read every device of the app through another index (45 ms for each chunk of a send). Work
about to touch such tables at volume calls `freshen_statistics()` first: it looks at three cheap
signs (rows changed since the last ANALYZE, how far the table's file has outgrown the size that
ANALYZE saw, and a table ANALYZE saw emptied) and analyzes only the tables that need it.
ANALYZE reads a sample (about 30,000 rows), not the table. It waits at most a moment for a lock
(another ANALYZE or a VACUUM of the same table) and otherwise leaves it to that one.
"""

from __future__ import annotations

import logging

from django.db import DatabaseError, connection, transaction
from django.db.models import Model

logger = logging.getLogger(__name__)

# A table is stale when this many rows changed since its last ANALYZE and they are more than
# STALE_FRACTION of the rows it saw, when its file has grown past twice the pages it saw, or
# when ANALYZE saw fewer rows than pages (emptied) and the file is not small: PostgreSQL then
# plans it as empty whatever was written since (the change counters only count committed work).
MIN_CHANGES = 10_000
STALE_FRACTION = 0.2
MIN_GROWTH_PAGES = 128

_STATE = """
    SELECT c.relname, coalesce(s.n_mod_since_analyze, 0), greatest(c.reltuples, 0), c.relpages,
           pg_relation_size(c.oid) / current_setting('block_size')::int
    FROM pg_class c LEFT JOIN pg_stat_user_tables s ON s.relid = c.oid
    WHERE c.oid = ANY(%s::text[]::regclass[])
"""


def stale_tables(*models: type[Model]) -> list[str]:
    """The tables of these models whose statistics lag far behind their rows (PostgreSQL only)."""
    if connection.vendor != "postgresql" or not models:
        return []
    names = [model._meta.db_table for model in models]
    with connection.cursor() as cursor:
        cursor.execute(_STATE, [names])
        rows = cursor.fetchall()
    return [
        name
        for name, changed, tuples, seen_pages, pages in rows
        if (changed >= MIN_CHANGES and changed > STALE_FRACTION * tuples)
        or pages > 2 * seen_pages + MIN_GROWTH_PAGES
        or (pages > MIN_GROWTH_PAGES and tuples < seen_pages)
    ]


def freshen_statistics(*models: type[Model], lock_wait: str = "2s") -> list[str]:
    """ANALYZE the stale tables among these models' (see the module); the ones analyzed."""
    done = []
    for name in stale_tables(*models):
        try:
            with transaction.atomic(), connection.cursor() as cursor:
                # A local setting lasts to the end of the enclosing transaction, not of this
                # savepoint: the caller's own lock timeout is put back once ANALYZE is done.
                cursor.execute(
                    "SELECT current_setting('lock_timeout'), set_config('lock_timeout', %s, true)", [lock_wait]
                )
                (before, _now) = cursor.fetchone()
                cursor.execute(f'ANALYZE "{name}"')
                cursor.execute("SELECT set_config('lock_timeout', %s, true)", [before])
        except DatabaseError:  # another ANALYZE or VACUUM holds it: that one brings it up to date
            logger.info("statistics of %s left to the ANALYZE or VACUUM already running", name)
            continue
        done.append(name)
    return done
