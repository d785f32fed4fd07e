"""Run one of the loopback Git hosting fakes as a server of its own, for examples and demos:

    python -m tests.fakes.serve gitea --root /tmp/githost --port 3000 --token s3cret \\
        --repo seed/gitops=/path/to/a/repository/with/commits

serves `http://127.0.0.1:3000/seed/gitops.git` (git over smart HTTP, no auth) and the
service's pull-request API (here Gitea's, `/api/v1`, with the token), until SIGTERM or
Ctrl-C. A person reviews through the same API a real Gitea offers, e.g. to merge PR 1:

    curl -X POST -H "Authorization: token s3cret" -H "Content-Type: application/json" \\
        -d '{"Do": "merge"}' http://127.0.0.1:3000/api/v1/repos/seed/gitops/pulls/1/merge

It is the test suite's fake (tests/fakes/), not a Git server to keep data in.
"""

from __future__ import annotations

import argparse
import signal
import threading
from pathlib import Path

KINDS = {
    "github": ("tests.fakes.github", "GitHubFake"),
    "gitlab": ("tests.fakes.gitlab", "GitLabFake"),
    "gitea": ("tests.fakes.gitea", "GiteaFake"),
    "azure": ("tests.fakes.azure", "AzureDevOpsFake"),
    "bitbucket": ("tests.fakes.bitbucket", "BitbucketFake"),
}


def main() -> None:
    import importlib

    parser = argparse.ArgumentParser(description="a loopback Git hosting fake (tests/fakes)")
    parser.add_argument("kind", choices=sorted(KINDS))
    parser.add_argument("--root", type=Path, required=True, help="where the served bare repositories live")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--token", required=True, help="the API token clients must send")
    parser.add_argument("--repo", action="append", default=[], metavar="NAME=SOURCE", help="serve a bare clone of SOURCE as NAME")
    args = parser.parse_args()
    module, name = KINDS[args.kind]
    cls = getattr(importlib.import_module(module), name)
    fake = type(name, (cls,), {"port": args.port})(args.root, token=args.token)
    for spec in args.repo:
        repo, _, source = spec.partition("=")
        fake.add_repo(repo, Path(source))
        print(f"serving {fake.repo_url(repo)}", flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with fake:
        print(f"{args.kind} API at {fake.base_url}", flush=True)
        try:
            stop.wait()
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    main()
