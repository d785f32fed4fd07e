"""What git steps read without running git (activities/git_ops.py): HEAD's commit from the
repository's files, the clone's own settings from the checked config listing, and branch
names git surely accepts. Each answer is compared with what git itself says."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from activities.git_ops import Git, plain_branch_name

ENV = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@x", "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@x",
       "GIT_CONFIG_NOSYSTEM": "1", "HOME": "/nonexistent", "PATH": "/usr/bin:/bin"}  # fmt: skip


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=repo, env=ENV, check=True, capture_output=True, text=True).stdout.strip()


def rev_parse(repo: Path) -> str | None:
    r = subprocess.run(["git", "rev-parse", "--verify", "--quiet", "HEAD"], cwd=repo, env=ENV, capture_output=True, text=True)
    return r.stdout.strip() or None


def test_head_from_files_agrees_with_rev_parse_in_every_state(tmp_path: Path) -> None:
    repo = tmp_path / "r"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    assert Git(cwd=repo).head() is None and rev_parse(repo) is None  # unborn branch
    git(repo, "commit", "-q", "--allow-empty", "-m", "one")
    assert Git(cwd=repo).head() == rev_parse(repo)  # loose ref
    git(repo, "pack-refs", "--all")
    assert not (repo / ".git/refs/heads/main").exists()
    assert Git(cwd=repo).head() == rev_parse(repo)  # packed ref
    git(repo, "commit", "-q", "--allow-empty", "-m", "two")
    assert Git(cwd=repo).head() == rev_parse(repo)  # loose ref over a stale packed one
    git(repo, "checkout", "-q", "--detach", "HEAD~1")
    assert Git(cwd=repo).head() == rev_parse(repo)  # detached
    clone = tmp_path / "c"
    subprocess.run(["git", "clone", "-q", "--branch", "main", str(repo), str(clone)], env=ENV, check=True)
    assert Git(cwd=clone).head() == rev_parse(clone)


def test_a_symlinked_ref_is_left_to_git(tmp_path: Path) -> None:
    """A link in .git (only something writing into .git makes one) is not read by Gantry:
    git is asked, and whatever it answers is what the steps use."""
    repo = tmp_path / "r"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    git(repo, "commit", "-q", "--allow-empty", "-m", "one")
    ref = repo / ".git/refs/heads/main"
    elsewhere = tmp_path / "elsewhere"
    elsewhere.write_text(ref.read_text())
    ref.unlink()
    ref.symlink_to(elsewhere)
    assert Git(cwd=repo).head() == rev_parse(repo)


def test_the_clones_own_settings_come_from_the_checked_listing(tmp_path: Path) -> None:
    repo = tmp_path / "r"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    git(repo, "config", "user.name", "Dev Person")
    git(repo, "config", "remote.origin.url", "https://git.example/app.git")
    g = Git(cwd=repo)
    assert g.local_config("user.name") == "Dev Person" and g.local_config("user.email") == ""
    assert g.origin_url() == "https://git.example/app.git"
    git(repo, "config", "user.name", "Another")  # the file changed: read again
    assert g.local_config("user.name") == "Another"


@pytest.mark.parametrize(
    "name",
    ["main", "release/1.0", "kargo/promotion/dev.auto.abc", "feature_x-1", "a..b", ".hidden", "x.lock", "a//b",
     "with space", "ref@{1}", "end.", "a/.b", "-dash", "x/y.lock/z", "ünïcode", "tab\tname"],
)  # fmt: skip
def test_a_plain_branch_name_is_one_git_accepts(name: str) -> None:
    accepted = subprocess.run(["git", "check-ref-format", f"refs/heads/{name}"], env=ENV).returncode == 0
    if plain_branch_name(name):
        assert accepted, f"{name!r} taken as plain but git refuses it"
