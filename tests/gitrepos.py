"""Real git repositories for step tests: a bare "remote" seeded with a GitOps layout.

Import the fixtures into a test module (``from tests.gitrepos import remote, promo``);
pytest then uses them like conftest fixtures.
"""

from __future__ import annotations

import os
import subprocess
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from activities.steps.base import MARKER, StepInput, workdir

KUSTOMIZATION = """\
# Kustomization for the uat environment
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
- ../../base  # shared manifests
images:
- name: my-registry/other  # pinned by hand
  newTag: 0.9.0
"""

VALUES = """\
# Helm values for my-app
image:
  repository: my-registry/my-app  # the app image
  tag: 1.0.0
replicas: 2
example.com/version: v1
containers:
- name: app
  image: my-app:v1.0
"""

ENV = {
    "GIT_AUTHOR_NAME": "Test",
    "GIT_AUTHOR_EMAIL": "test@example.com",
    "GIT_COMMITTER_NAME": "Test",
    "GIT_COMMITTER_EMAIL": "test@example.com",
    "GIT_CONFIG_NOSYSTEM": "1",
}


def git(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None) -> str:
    env = {**os.environ, **ENV, **(env or {})}
    return subprocess.run(
        ["git", *args], cwd=cwd, env=env, check=True, capture_output=True, text=True, timeout=60
    ).stdout.strip()


@dataclass
class FastCommit:
    """One commit for ``fast_import``: ``files`` maps a path to its content (None deletes it)."""

    message: str
    when: int  # unix seconds, for author and committer
    files: dict[str, str | None] = field(default_factory=dict)
    author: tuple[str, str] = ("Test", "test@example.com")
    committer: tuple[str, str] | None = None
    merge: tuple[str, ...] = ()  # extra parents (commit ids or refs)


def _data(text: str) -> bytes:
    raw = text.encode()
    return b"data %d\n%s\n" % (len(raw), raw)


def fast_import(repo: Path, commits: list[FastCommit], branch: str = "main") -> list[str]:
    """Append ``commits`` (oldest first) to ``branch`` of ``repo`` in one ``git fast-import``
    run: thousands of commits in well under a second. Returns their ids, oldest first."""
    tip = subprocess.run(
        ["git", "rev-parse", "--verify", "--quiet", f"refs/heads/{branch}"],
        cwd=repo, capture_output=True, text=True, check=False,
    ).stdout.strip()
    out = bytearray()
    for n, c in enumerate(commits, start=1):
        name, email = c.author
        cname, cemail = c.committer or c.author
        out += b"commit refs/heads/%s\nmark :%d\n" % (branch.encode(), n)
        out += f"author {name} <{email}> {c.when} +0000\ncommitter {cname} <{cemail}> {c.when} +0000\n".encode()
        out += _data(c.message)
        if n == 1 and tip:
            out += f"from {tip}\n".encode()
        for parent in c.merge:
            out += f"merge {parent}\n".encode()
        for path, content in c.files.items():
            out += f"D {path}\n".encode() if content is None else f"M 100644 inline {path}\n".encode() + _data(content)
        out += b"\n"
    for n in range(1, len(commits) + 1):
        out += b"get-mark :%d\n" % n
    proc = subprocess.run(
        ["git", "fast-import", "--quiet", "--done", "--cat-blob-fd=1"],
        cwd=repo, input=bytes(out) + b"done\n", capture_output=True, check=True, timeout=120,
    )
    return proc.stdout.decode().split()


@dataclass
class Remote:
    """A bare repository plus a scratch clone for playing "someone else"."""

    bare: Path
    tmp: Path

    @property
    def url(self) -> str:
        return self.bare.as_uri()

    def sha(self, ref: str = "main") -> str:
        return git("rev-parse", ref, cwd=self.bare)

    def count(self, ref: str = "main") -> int:
        return int(git("rev-list", "--count", ref, cwd=self.bare))

    def show(self, path: str, ref: str = "main") -> str:
        return git("show", f"{ref}:{path}", cwd=self.bare)

    def log(self, ref: str = "main") -> list[str]:
        return git("log", "--format=%s", ref, cwd=self.bare).splitlines()

    def push_change(self, path: str, content: str, message: str, branch: str = "main") -> str:
        """Commit and push a change as another user would, from a separate clone."""
        d = self.tmp / f"other-{uuid.uuid4().hex[:8]}"
        git("clone", "--quiet", "--branch", branch, self.url, str(d))
        (d / path).parent.mkdir(parents=True, exist_ok=True)
        (d / path).write_text(content)
        git("add", "-A", cwd=d)
        git("commit", "--quiet", "-m", message, cwd=d)
        git("push", "--quiet", "origin", f"HEAD:{branch}", cwd=d)
        return git("rev-parse", "HEAD", cwd=d)


def make_remote(tmp: Path, files: dict[str, str] | None = None) -> Remote:
    """A bare repo with branch main (kustomization + values), a tag v1 and a branch dev."""
    files = files or {
        "environments/uat/kustomization.yaml": KUSTOMIZATION,
        "charts/my-app/values.yaml": VALUES,
        "base/README.md": "base\n",
    }
    bare = tmp / "remote.git"
    git("init", "--quiet", "--bare", "--initial-branch=main", str(bare))
    seed = tmp / "seed"
    git("init", "--quiet", "--initial-branch=main", str(seed))
    for rel, content in files.items():
        (seed / rel).parent.mkdir(parents=True, exist_ok=True)
        (seed / rel).write_text(content)
    git("add", "-A", cwd=seed)
    git("commit", "--quiet", "-m", "initial layout", cwd=seed)
    git("tag", "v1", cwd=seed)
    (seed / "base" / "README.md").write_text("base v2\n")
    git("commit", "--quiet", "-am", "second commit", cwd=seed)
    git("branch", "dev", "HEAD~1", cwd=seed)
    git("push", "--quiet", str(bare), "main", "dev", "v1", cwd=seed)
    return Remote(bare=bare, tmp=tmp)


@pytest.fixture
def remote(tmp_path: Path) -> Remote:
    return make_remote(tmp_path / "git")


@pytest.fixture
def work_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "work"
    monkeypatch.setenv("GANTRY_WORK_DIR", str(root))
    for var in ("GANTRY_GIT_AUTHOR_NAME", "GANTRY_GIT_AUTHOR_EMAIL", "GANTRY_CREDENTIALS_FILE"):
        monkeypatch.delenv(var, raising=False)
    return root


def new_promotion(promotion: str | None = None) -> str:
    """Make a promotion's working directory and marker, as the workflow does."""
    promotion = promotion or f"p-{uuid.uuid4().hex[:8]}"
    workdir(promotion).mkdir(parents=True)
    (workdir(promotion) / MARKER).write_text(promotion)
    return promotion


@pytest.fixture
def promo(work_root: Path) -> str:
    return new_promotion()


def step(promotion: str, uses: str, config: dict, *, alias: str | None = None, **kw: object) -> StepInput:
    return StepInput(
        promotion=promotion, project="my-project", stage="uat", alias=alias or uses, uses=uses, config=config, **kw
    )


def source_repo(path: Path) -> Path:
    """A plain repository on `main` with one commit (README `v1`): what a git Warehouse watches."""
    git("init", "-q", "-b", "main", str(path))
    (path / "README").write_text("v1\n")
    git("add", "-A", cwd=path)
    git("commit", "-q", "-m", "first", cwd=path)
    return path
