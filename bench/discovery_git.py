"""Git commit discovery on a 10,000-commit repository: one discovery pass, cold and warm.

A local bare repository is generated with `git fast-import` (one process, no `git commit`
per commit): N commits on `main`, each changing one file of a GitOps-like tree
(apps/app<k>/{values.yaml,Chart.yaml,templates/deploy.yaml} for k < 50, plus docs/).
Then, through the `discover_git` activity (Temporal's ActivityEnvironment), one pass:

- cold: an empty work root, so the pass clones the repository into the worker's mirror;
- warm: the mirror is there and nothing is new (fetch + read), median of --runs passes;

for these subscriptions:

- NewestFromBranch, default limit (20): reads 20 commits;
- includePaths one app (1 commit in 50 qualifies): reads ~1,000 commits with their paths;
- includePaths matching nothing: reads every commit's paths (the worst case).

Target (issue 7): one pass under 3 s with the cache warm; cold is reported too.

Run: .venv/bin/python bench/discovery_git.py [--commits 10000] [--runs 5]
(prints figures; exit 0; not a test)
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from temporalio.testing import ActivityEnvironment  # noqa: E402

from activities.discovery.git import discover_git  # noqa: E402
from tests.gitrepos import FastCommit, fast_import, git  # noqa: E402
from workflows.messages import DiscoveryRequest  # noqa: E402

T0 = 1_600_000_000
APPS = 50
FILES = ("values.yaml", "Chart.yaml", "templates/deploy.yaml")


def build_repo(path: Path, n: int) -> float:
    """A bare repository with ``n`` commits on main; returns the seconds it took."""
    start = time.perf_counter()
    git("init", "--quiet", "--bare", "--initial-branch=main", str(path))
    commits = []
    for i in range(n):
        if i % 10 == 9:
            target = f"docs/page{i % 7}.md"
        else:
            target = f"apps/app{i % APPS}/{FILES[i % len(FILES)]}"
        commits.append(FastCommit(f"change {i}: bump {target}", T0 + i * 60, {target: f"revision {i}\n"}))
    fast_import(path, commits)
    return time.perf_counter() - start


async def one_pass(sub: dict[str, Any]) -> tuple[float, int]:
    request = DiscoveryRequest(project="bench", warehouse="w", kind="git", subscription=sub)
    start = time.perf_counter()
    result = await ActivityEnvironment().run(discover_git, request)
    return time.perf_counter() - start, len(result["commits"])


async def measure(url: str, name: str, extra: dict[str, Any], runs: int, scratch: Path) -> dict[str, Any]:
    """Cold (fresh work root) then warm passes of one subscription."""
    work = scratch / f"work-{name}"
    shutil.rmtree(work, ignore_errors=True)
    os.environ["GANTRY_WORK_DIR"] = str(work)
    sub = {"repoURL": url, **extra}
    cold, found = await one_pass(sub)
    warm = [(await one_pass(sub))[0] for _ in range(runs)]
    return {"name": name, "cold_s": cold, "warm_s": statistics.median(warm), "warm_max_s": max(warm), "commits": found}


async def bench_git(commits: int = 10_000, runs: int = 5) -> dict[str, Any]:
    """Build the repository, run every scenario, return the figures."""
    scratch = Path(tempfile.mkdtemp(prefix="gantry-bench-git-"))
    try:
        repo = scratch / "remote.git"
        built = build_repo(repo, commits)
        url = repo.as_uri()
        scenarios = [
            ("newest-from-branch", {}),
            ("include-one-app", {"includePaths": ["apps/app7"]}),
            ("include-nothing", {"includePaths": ["glob:nowhere/**"]}),
        ]
        results = [await measure(url, name, extra, runs, scratch) for name, extra in scenarios]
        return {"commits": commits, "build_s": built, "runs": runs, "scenarios": results}
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--commits", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=5, help="warm passes per scenario (median reported)")
    args = parser.parse_args()
    figures = asyncio.run(bench_git(args.commits, args.runs))
    print(f"repository: {figures['commits']} commits built with fast-import in {figures['build_s']:.2f} s")
    print(f"{'scenario':<22} {'commits':>7} {'cold (clone)':>13} {'warm median':>12} {'warm max':>9}")
    for s in figures["scenarios"]:
        print(
            f"{s['name']:<22} {s['commits']:>7} {s['cold_s'] * 1000:>10.0f} ms "
            f"{s['warm_s'] * 1000:>9.0f} ms {s['warm_max_s'] * 1000:>6.0f} ms"
        )
    print("target: one pass under 3 s (warm)")


if __name__ == "__main__":
    main()
