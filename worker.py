"""`python worker.py [connection flags] [--worker-id ID] [--work-dir DIR]`: run a Gantry worker.

The same as `gantry worker`; connection flags and TEMPORAL_* variables as in `gantry --help`.
"""

import sys

from client.cli import worker_main

if __name__ == "__main__":
    worker_main(sys.argv[1:])
