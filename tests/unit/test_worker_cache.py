"""The worker's workflow cache size comes from GANTRY_MAX_CACHED_WORKFLOWS."""

from __future__ import annotations

import pytest

from client.worker import MAX_CACHED_WORKFLOWS, max_cached_workflows


def test_the_cache_size_is_the_sdk_default_unless_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GANTRY_MAX_CACHED_WORKFLOWS", raising=False)
    assert max_cached_workflows() == MAX_CACHED_WORKFLOWS == 1000
    monkeypatch.setenv("GANTRY_MAX_CACHED_WORKFLOWS", " 20000 ")
    assert max_cached_workflows() == 20000
    monkeypatch.setenv("GANTRY_MAX_CACHED_WORKFLOWS", "lots")
    with pytest.raises(ValueError, match="GANTRY_MAX_CACHED_WORKFLOWS must be a whole number, not 'lots'"):
        max_cached_workflows()
