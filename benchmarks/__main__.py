"""``python -m benchmarks``: run every benchmark (see benchmarks/run.py)."""

import sys

from benchmarks.run import main

if __name__ == "__main__":  # not when a worker process imports this module again
    sys.exit(main())
