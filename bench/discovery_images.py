"""How long one discover_images pass takes over a repository with 1,000 tags.

A token-auth registry (tests/registry.py: the Debian package docker-registry on a free
loopback port, with its small token service) gets 1,000 tags in one public repository:
900 semantic versions and 100 ``sha-...`` tags, all over the same config and layer blob
(only a manifest PUT per tag, concurrently). Then discover_images runs with the default
subscription (SemVer, no constraint, discoveryLimit 20), anonymously through the token
flow: one tag list, then the manifest and config blob of the 20 selected tags.

Reported: the push time, the first pass (cold: it fetches the token) and the median of
the following passes. Target (issue 7): one pass under 2 s.

Run: .venv/bin/python bench/discovery_images.py [--tags 1000] [--runs 5]
(prints figures; exit 0; not a test)
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from activities.discovery.images import discover_images  # noqa: E402
from tests.registry import image_config, push_tags, token_registry, token_registry_missing  # noqa: E402
from workflows.messages import DiscoveryRequest  # noqa: E402

REPOSITORY = "public/bench-app"


def bench_tags(count: int) -> list[str]:
    """Nine in ten are versions (1.<minor>.<patch>), the rest commit-style tags."""
    versions = [f"1.{i // 100}.{i % 100}" for i in range(count - count // 10)]
    return versions + [f"sha-{i:07x}" for i in range(count // 10)]


async def one_pass(host: str) -> tuple[float, dict]:
    request = DiscoveryRequest(
        project="bench", warehouse="bench", kind="image", subscription={"repoURL": f"{host}/{REPOSITORY}"}
    )
    start = time.perf_counter()
    out = await discover_images(request)
    return time.perf_counter() - start, out


async def bench_images(tags: int = 1000, runs: int = 5) -> dict:
    """Start a registry, push ``tags`` tags, time ``runs`` discovery passes."""
    with token_registry() as reg:
        names = bench_tags(tags)
        start = time.perf_counter()
        # 8 at a time: on a 2-CPU machine more only queue inside the registry
        await push_tags(reg, REPOSITORY, names, config=image_config("2024-05-01T10:00:00Z"), concurrency=8)
        push_s = time.perf_counter() - start
        passes = [await one_pass(reg.host) for _ in range(runs)]
    times = [t for t, _ in passes]
    refs = passes[-1][1]["references"]
    return {
        "tags": len(names),
        "push_s": push_s,
        "first_pass_s": times[0],
        "median_pass_s": statistics.median(times[1:] or times),
        "references": len(refs),
        "newest": refs[0]["tag"] if refs else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tags", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    reason = token_registry_missing()
    if reason:
        print(f"skipped: {reason}")
        return
    r = asyncio.run(bench_images(args.tags, args.runs))
    print(f"pushed {r['tags']} tags in {r['push_s']:.2f} s")
    print(
        f"discover_images (SemVer, limit 20): first pass {r['first_pass_s'] * 1000:.0f} ms, "
        f"median of the next {args.runs - 1}: {r['median_pass_s'] * 1000:.0f} ms "
        f"({r['references']} references, newest {r['newest']}); target < 2000 ms"
    )


if __name__ == "__main__":
    main()
