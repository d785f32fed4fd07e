"""Warehouse discovery: one pass over an OCI repository with 1,000 tags (target < 2 s)
and over a git repository with 10,000 commits (target < 3 s).

Runs bench/discovery_images.py and bench/discovery_git.py with their defaults; run those
directly for their options.

Run: .venv/bin/python bench/discovery.py   (prints figures; exit 0; not a test)
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import discovery_git  # noqa: E402
import discovery_images  # noqa: E402

if __name__ == "__main__":
    sys.argv = sys.argv[:1]
    print("== images: 1,000 tags in a real registry (docker-registry, token auth)")
    discovery_images.main()
    print("\n== git: 10,000 commits in a local repository")
    discovery_git.main()
