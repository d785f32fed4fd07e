"""git-clone's ``recurseSubmodules``: each submodule of a checkout cloned and checked out
at the commit the checkout records, recursively, as ``git clone --recurse-submodules``.

A submodule's URL comes from the repository (``.gitmodules``), so it is untrusted like
any remote: relative URLs are resolved against the superproject's URL as git does, and
the result must pass ``check_remote_url`` (no option-like URLs, no remote helpers such as
``ext::``, local paths only on a worker that allows local repositories) before git sees
it. Each submodule is fetched by its own git command whose credentials are the worker's
for that submodule's URL, so a credential is only ever offered to its own host.
"""

from __future__ import annotations

from pathlib import Path

from activities.git_ops import Git, GitError, check_remote_url
from activities.git_trust import url_transport

#: Submodules inside submodules, at most this deep (a cycle of repositories ends here).
MAX_DEPTH = 8


def resolve_url(base: str, url: str) -> str:
    """``url`` from ``.gitmodules``, made absolute against the superproject's ``base``
    when it starts with ``./`` or ``../`` (each ``..`` drops one path component of ``base``)."""
    if not url.startswith(("./", "../")):
        return url
    if "://" in base:
        scheme, _, rest = base.partition("://")
        host, _, path = rest.partition("/")
        prefix = f"{scheme}://{host}/"
    elif url_transport(base) == "ssh":
        host, _, path = base.partition(":")
        prefix = f"{host}:"
    else:
        prefix, path = ("/" if base.startswith("/") else ""), base
    parts = [p for p in path.split("/") if p]
    for piece in url.split("/"):
        if piece == "..":
            if not parts:
                raise GitError(f"submodule URL {url!r} climbs above the superproject's URL", "usage")
            parts.pop()
        elif piece not in ("", "."):
            parts.append(piece)
    return prefix + "/".join(parts)


def _declared(checkout: Path) -> list[tuple[str, str, str]]:
    """(name, path, url) of each submodule ``.gitmodules`` declares."""
    gitmodules = checkout / ".gitmodules"
    if not gitmodules.is_file() or gitmodules.is_symlink():
        return []
    listing = Git().run("config", "--file", str(gitmodules), "-z", "--get-regexp", r"^submodule\..*\.(path|url)$", check=False)
    found: dict[str, dict[str, str]] = {}
    for entry in filter(None, listing.stdout.split("\0")):
        key, _, value = entry.partition("\n")
        name, _, var = key[len("submodule."):].rpartition(".")
        found.setdefault(name, {})[var] = value
    return [(name, f["path"], f["url"]) for name, f in found.items() if "path" in f and "url" in f]


def update_submodules(checkout: Path, url: str, config: tuple[tuple[str, str], ...] = (), depth: int = 0) -> None:
    """Clone and check out every submodule of the working tree at ``checkout`` (whose
    remote is ``url``), then theirs."""
    root = checkout.resolve()
    for name, path, sub_url in _declared(checkout):
        if any(ord(c) < 32 for c in name + path):
            raise GitError(f"submodule {name!r}: its name or path holds a control character", "usage")
        target = (checkout / path).resolve()
        if root not in target.parents:
            raise GitError(f"submodule {name!r}: path {path!r} lies outside the checkout", "usage")
        if depth >= MAX_DEPTH:
            raise GitError(f"submodule {name!r}: submodules nest deeper than {MAX_DEPTH}", "usage")
        absolute = resolve_url(url, sub_url)
        check_remote_url(absolute)
        here = Git(cwd=checkout)
        here.run("config", "--local", "--", f"submodule.{name}.url", absolute)
        here.run("config", "--local", "--", f"submodule.{name}.active", "true")
        Git(cwd=checkout, url=absolute, config=(*config, (f"submodule.{name}.update", "checkout"))).run(
            "submodule", "update", "--quiet", "--", path
        )
        update_submodules(target, absolute, config, depth + 1)
