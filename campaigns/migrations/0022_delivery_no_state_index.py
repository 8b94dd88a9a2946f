"""Deliveries lose the (state, channel) index.

No query needs it: the engine reads deliveries by key, by message (the partial index of
open deliveries) or by device. It cost a write on every insert and state change, and while a
big send ran PostgreSQL sometimes chose it to intersect with the key lookup of a batch's
claim, reading every open delivery of the send for each batch of a hundred.
"""

from django.db import migrations, models

from console.migration_ops import RemoveIndexConcurrently


class Migration(migrations.Migration):
    atomic = False

    dependencies = [("campaigns", "0021_ascending_time_indexes_fewer_index_writes")]

    operations = [
        RemoveIndexConcurrently(model_name="delivery", name="delivery_state_channel"),
    ]
