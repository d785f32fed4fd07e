"""`python worker.py [connection flags] [--worker-id ID] [--work-dir DIR] [--allow-local-jobs]
[--allow-local-repos]`: run a Gantry worker.

The same as `gantry worker`; connection flags and TEMPORAL_* variables as in `gantry --help`.
Local jobs and local repositories are off unless the flags (or GANTRY_ALLOW_LOCAL_JOBS=1,
GANTRY_ALLOW_LOCAL_REPOS=1) turn them on (docs/security.md).
"""

import sys

from client.cli import worker_main

if __name__ == "__main__":
    worker_main(sys.argv[1:])
