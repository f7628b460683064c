"""`python -m augment_jobs` is the `augment` command."""

import sys

from augment_jobs.cli import main

sys.exit(main())
