"""The test run's settings: the project's own, on the embedded default's terms.

DEBUG is off unless set (production default), so a plain `pytest` would refuse to start
without SECRET_KEY and FIELD_ENCRYPTION_KEY. The suite runs as `make run` does: DEBUG on
unless the environment says otherwise, secrets generated once into the var folder. The
processes the tests start (workers, gunicorn) inherit this environment or set their own.
"""

import os

os.environ.setdefault("DEBUG", "true")

from console.settings import *  # noqa: E402, F403

# The fakes the tests aim callbacks and gateways at listen on the loopback.
OUTBOUND_ALLOWED_NETWORKS = ["127.0.0.0/8", "::1/128"]
