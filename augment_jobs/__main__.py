"""`python -m augment_jobs` is the `augment` command."""

import sys

from augment_jobs.cli import main

if __name__ == "__main__":  # not again in `augment run --workers` processes, which import this module
    sys.exit(main())
