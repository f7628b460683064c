"""`[core] hostname_callable` for several Celery workers on one machine: a task instance records
the name of the worker that ran it (`AUGMENT_TEST_WORKER`), as workers on separate hosts would."""

from __future__ import annotations

import os


def hostname() -> str:
    """The worker's name, set in its environment by the test that started it."""
    return os.environ["AUGMENT_TEST_WORKER"]
