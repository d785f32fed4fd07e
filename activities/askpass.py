"""Git's askpass helper: answers git's prompts only for the credential's own place.

Git runs it (through ``GIT_ASKPASS``) with a prompt such as ``Username for
'https://host/path': `` or ``Password for 'https://user@host/path': `` (the path is there
because git runs with ``credential.useHttpPath=true``). It answers from its environment
(``GANTRY_ASKPASS_USERNAME``/``_PASSWORD``, set for that one git process) only when the
prompt's ``scheme://host:port`` is ``GANTRY_ASKPASS_ORIGIN`` and its path lies under
``GANTRY_ASKPASS_PATH`` (both decoded, dot segments removed). Anything else (a redirect
to another host, port or path) gets no answer, and git fails with an authentication error.

Runs as a script, isolated (``python -I -S``): standard library only. ``activities.git_ops``
imports ``where`` from here so both sides compare places the same way.
"""

from __future__ import annotations

import os
import re
import sys
from urllib.parse import unquote, urlsplit

_PORTS = {"http": 80, "https": 443}


def norm_path(path: str) -> str:
    """A URL path decoded, without dot segments, empty segments, trailing ``/`` or ``.git``."""
    out: list[str] = []
    for seg in unquote(path).split("/"):
        if seg in ("", "."):
            continue
        if seg == "..":
            if out:
                out.pop()
            continue
        out.append(seg)
    s = "/".join(out)
    while s.endswith(".git") or s.endswith("/"):
        s = s[:-4] if s.endswith(".git") else s[:-1]
    return s


def where(url: str) -> tuple[str, str]:
    """(``scheme://host:port``, normalised path) of an http(s) URL; ValueError otherwise."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in _PORTS or not parts.hostname:
        raise ValueError(url)
    port = parts.port or _PORTS[scheme]
    return f"{scheme}://{parts.hostname.lower()}:{port}", norm_path(parts.path)


def main(argv: list[str]) -> int:
    prompt = argv[1] if len(argv) > 1 else ""
    m = re.fullmatch(r"(Username|Password) for '(.*)':\s*", prompt, re.S)
    origin = os.environ.get("GANTRY_ASKPASS_ORIGIN", "")
    prefix = os.environ.get("GANTRY_ASKPASS_PATH", "")
    if not m or not origin:
        sys.stderr.write("gantry askpass: no credential for this prompt\n")
        return 1
    try:
        got, path = where(m.group(2))
    except ValueError:
        got, path = "", ""
    if got != origin or (prefix and path != prefix and not path.startswith(prefix + "/")):
        shown = re.sub(r"//[^/]*@", "//", m.group(2))
        sys.stderr.write(f"gantry askpass: refused to answer for {shown}: the credential is for {origin}/{prefix}\n")
        return 1
    name = "GANTRY_ASKPASS_USERNAME" if m.group(1) == "Username" else "GANTRY_ASKPASS_PASSWORD"
    sys.stdout.write(os.environ.get(name, "") + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
