"""Expression benchmarks: render a typical step config, evaluate an analysis condition.

Run: .venv/bin/python bench/expressions.py   (prints figures; not a test)
"""

from __future__ import annotations

import sys
import timeit
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pipeline.expressions import compile_expression, evaluate_condition, promotion_env, render  # noqa: E402
from pipeline.expressions.parser import parse  # noqa: E402
from pipeline.expressions.rollouts import condition_env  # noqa: E402

FREIGHT = {
    "name": "8c1e2f7d9a",
    "alias": "frozen-fox",
    "origin": {"kind": "Warehouse", "name": "my-warehouse"},
    "images": [{"repoURL": "my-registry/my-app", "tag": "1.7.2", "digest": "sha256:0d4e"}],
    "commits": [{"repoURL": "https://github.com/example/repo.git", "id": "3f9a1c2b7e", "branch": "main"}],
}

# 20 values, 5 of them expressions: the shape of a kustomize/git/argocd step config.
STEP_CONFIG = {
    "repoURL": "${{ vars.repoURL }}",
    "insecureSkipTLSVerify": False,
    "checkout": [
        {"branch": "main", "path": "./src", "create": False},
        {"branch": "stage/${{ ctx.stage }}", "path": "./out", "create": True},
    ],
    "path": "./src/environments/${{ vars.environment }}",
    "images": [
        {"image": "my-registry/my-app", "tag": "${{ imageFrom('my-registry/my-app').Tag }}", "useDigest": False},
        {"image": "my-registry/sidecar", "tag": "0.4.1", "useDigest": False},
    ],
    "message": "Promote ${{ commitFrom('https://github.com/example/repo.git').ID }} to uat",
    "author": {"name": "Kargo", "email": "kargo@example.com"},
    "apps": [{"name": "my-app-uat", "namespace": "argocd", "sources": [{"repoURL": "x", "desiredRevision": "HEAD"}]}],
}


def per_call(stmt, number: int) -> float:
    best = min(timeit.repeat(stmt, number=number, repeat=5))
    return best / number * 1e6


def main() -> None:
    env = promotion_env(
        project="my-project", stage="uat", promotion="p1", freight=[FREIGHT],
        vars={"repoURL": "https://github.com/example/deploy.git", "environment": "uat"},
    )
    render(STEP_CONFIG, env)  # warm the parse cache
    config_us = per_call(lambda: render(STEP_CONFIG, env), 2000)

    condition = "result[0] < 0.05"
    program = compile_expression(condition)
    cond_env = condition_env([0.01])
    program.evaluate(cond_env)
    evaluate_us = per_call(lambda: program.evaluate(cond_env), 50_000)
    cached_us = per_call(lambda: evaluate_condition(condition, [0.01]), 50_000)
    parse_us = per_call(lambda: parse(condition), 20_000)

    print(f"render step config (20 values, 5 expressions, parse cached): {config_us:8.1f} µs")
    print(f"condition `{condition}`, compiled program evaluate:         {evaluate_us:8.2f} µs")
    print(f"condition `{condition}`, evaluate_condition (cached parse): {cached_us:8.2f} µs  (target < 50 µs)")
    print(f"condition `{condition}`, uncached parse alone:               {parse_us:8.2f} µs")


if __name__ == "__main__":
    main()
