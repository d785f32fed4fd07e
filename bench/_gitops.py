"""The GitOps repository the promotion benches edit, the Stages that promote into it, and the
same work as a shell script: shared by bench/promotion_speed.py and bench/promotion_overhead.py
so that both measure one workload."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from tests.pipelines import project_with_warehouse

IMAGE = "registry.bench/app"
#: the six steps of the measured promotion, in order (the fourth may be file-write instead)
SIX_STEPS = ["git-clone", "kustomize-set-image", "yaml-update", "kustomize-build", "git-commit", "git-push"]

BASE = """\
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
- deployment.yaml
"""
DEPLOYMENT = f"""\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: app
spec:
  replicas: 1
  selector:
    matchLabels: {{app: app}}
  template:
    metadata:
      labels: {{app: app}}
    spec:
      containers:
      - name: app
        image: {IMAGE}:0.0.0
"""
OVERLAY = f"""\
# the dev overlay: the promotion edits the image below
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
namespace: dev
resources:
- ../../base
images:
- name: {IMAGE}
  newTag: 0.0.0
"""
VALUES = """\
# values read by the app's chart
image:
  repository: registry.bench/app
  tag: 0.0.0
replicas: 1
"""

#: the two edits, as sed expressions (the script and the bare per-step commands use them)
SED_OVERLAY = r"s/^\(  newTag: \).*/\1{tag}/"
SED_VALUES = r"s/^\(  tag: \).*/\1{tag}/"

# The same work as the promotion, the way someone would script it.
SCRIPT = r"""#!/usr/bin/env bash
set -euo pipefail
url=$1 dir=$2 tag=$3 sixth=$4
rm -rf "$dir"
git clone --quiet --branch main "$url" "$dir/src"
cd "$dir/src"
sed -i "s/^\(  newTag: \).*/\1$tag/" env/dev/kustomization.yaml
sed -i "s/^\(  tag: \).*/\1$tag/" env/dev/values.yaml
mkdir -p rendered
if [ "$sixth" = kustomize-build ]; then
  if command -v kustomize >/dev/null; then kustomize build env/dev > rendered/dev.yaml
  else kubectl kustomize env/dev > rendered/dev.yaml; fi
else
  printf 'tag: %s\n' "$tag" > rendered/dev.txt
fi
git add --all
git commit --quiet -m "Updated env/dev to $tag"
git push --quiet origin main
"""

GIT_ENV = {
    **os.environ,
    "GIT_AUTHOR_NAME": "Bench",
    "GIT_AUTHOR_EMAIL": "bench@example.com",
    "GIT_COMMITTER_NAME": "Bench",
    "GIT_COMMITTER_EMAIL": "bench@example.com",
    "GIT_CONFIG_NOSYSTEM": "1",
}


def git(*args: str, cwd: Path | None = None) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True, env=GIT_ENV).stdout


def make_remote(root: Path, name: str) -> Path:
    """A bare repository holding the base and the dev overlay, branch main."""
    bare = root / f"{name}.git"
    seed = root / f"{name}-seed"
    git("init", "-q", "--bare", "-b", "main", str(bare))
    git("init", "-q", "-b", "main", str(seed))
    for rel, text in {
        "base/kustomization.yaml": BASE,
        "base/deployment.yaml": DEPLOYMENT,
        "env/dev/kustomization.yaml": OVERLAY,
        "env/dev/values.yaml": VALUES,
    }.items():
        (seed / rel).parent.mkdir(parents=True, exist_ok=True)
        (seed / rel).write_text(text)
    git("add", "-A", cwd=seed)
    git("commit", "-q", "-m", "seed", cwd=seed)
    git("push", "-q", str(bare), "main", cwd=seed)
    return bare


def stage(project: str, name: str, steps: str) -> str:
    """A Stage taking the Warehouse's Freight directly, with these (indented) steps."""
    return f"""---
apiVersion: kargo.akuity.io/v1alpha1
kind: Stage
metadata:
  name: {name}
  namespace: {project}
spec:
  requestedFreight:
  - origin: {{kind: Warehouse, name: app}}
    sources:
      direct: true
  promotionTemplate:
    spec:
      steps:
{steps}"""


def six_steps(url: str, sixth: str = "kustomize-build") -> str:
    """The measured promotion's steps into the repository at ``url``."""
    if sixth == "kustomize-build":
        sixth_step = """      - uses: kustomize-build
        as: render
        config:
          path: ./src/env/dev
          outPath: ./src/rendered/dev.yaml
"""
    else:
        sixth_step = """      - uses: file-write
        as: render
        config:
          path: ./src/rendered/dev.txt
          overwrite: true
          permissions: "0644"
          contents: "tag: ${{ imageFrom('%s').Tag }}\\n"
""" % IMAGE
    return f"""      - uses: git-clone
        config:
          repoURL: {url}
          checkout:
          - branch: main
            path: ./src
      - uses: kustomize-set-image
        as: set-image
        config:
          path: ./src/env/dev
          images:
          - image: {IMAGE}
      - uses: yaml-update
        as: values
        config:
          path: ./src/env/dev/values.yaml
          updates:
          - key: image.tag
            value: ${{{{ imageFrom("{IMAGE}").Tag }}}}
{sixth_step}      - uses: git-commit
        config:
          path: ./src
          messageFromSteps: [set-image, values]
      - uses: git-push
        config:
          path: ./src
          targetBranch: main
"""


#: the floor: six steps that do nothing, so what is left is Temporal's and Gantry's own cost
NOOP_STEPS = "".join(f"      - uses: compose-output\n        as: noop-{n}\n        config: {{n: {n}}}\n" for n in range(6))


def manifests(project: str, stages: dict[str, str]) -> str:
    """The project, its Warehouse of IMAGE, and one Stage per name -> steps."""
    return project_with_warehouse(project, IMAGE) + "".join(stage(project, name, steps) for name, steps in stages.items())
