"""Named secrets for the secret() and sharedSecret() expression functions: Kargo's
Secrets of a project's namespace (and of the shared resources namespace), kept in the
worker's credentials file (``GANTRY_CREDENTIALS_FILE``, see activities/credentials.py)::

    secrets:
    - name: slack              # secret('slack') in project my-project
      project: my-project
      data:
        token: xoxb-...
    - name: registry           # sharedSecret('registry') in every project
      shared: true
      dataFiles:               # or each value read from a file at lookup
        token: /run/secrets/registry-token

Read again at every lookup, like the credentials, so rotating needs no restart. Only a
step's activity looks a secret up (activities/step_secrets.py).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from activities.credentials import ENV_FILE, CredentialsError, read_credentials_file


def _entries() -> list[dict[str, Any]]:
    read = read_credentials_file()
    if read is None:
        return []
    path, doc = read
    items = doc.get("secrets") if isinstance(doc, dict) else None
    if items is None:
        return []
    if not isinstance(items, list):
        raise CredentialsError(f"{path}: expected a list under 'secrets'")
    return items


def _data(item: dict[str, Any], where: str) -> dict[str, str]:
    data = item.get("data") or {}
    files = item.get("dataFiles") or {}
    if not isinstance(data, dict) or not isinstance(files, dict):
        raise CredentialsError(f"{where}: 'data' and 'dataFiles' must be mappings of key to text")
    out = {str(k): str(v) for k, v in data.items()}
    for key, file in files.items():
        try:
            out[str(key)] = Path(str(file)).read_text().rstrip("\n")
        except OSError as e:
            raise CredentialsError(f"{where}.dataFiles.{key}: cannot read {file}: {e.strerror}") from None
    return out


def lookup_secret(project: str, name: str, shared: bool) -> dict[str, str] | None:
    """The data of secret `name` of `project` (shared=False) or of the shared ones; None if absent."""
    path = os.environ.get(ENV_FILE, "")
    for index, item in enumerate(_entries()):
        where = f"{path}: secrets[{index}]"
        if not isinstance(item, dict) or not isinstance(item.get("name"), str):
            raise CredentialsError(f"{where}: expected a mapping with a name")
        if item["name"] != name:
            continue
        if shared and item.get("shared") is True:
            return _data(item, where)
        if not shared and item.get("shared") is not True and item.get("project") == project:
            return _data(item, where)
    return None
