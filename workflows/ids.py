"""Workflow ids, readable in Temporal Web and predictable for the `temporal` CLI."""

from __future__ import annotations

import re


def project_workflow_id(project: str) -> str:
    return f"project/{project}"


CLUSTER_WORKFLOW_ID = "cluster"


def promotion_workflow_id(project: str, stage: str, name: str) -> str:
    return f"promotion/{project}/{stage}/{name}"


def promotion_name(stage: str, unique: str, freight: str) -> str:
    """Kargo's shape `<stage>.<sortable id>.<freight[:7]>`."""
    return f"{stage}.{unique}.{freight[:7]}"


def parse_promotion_workflow_id(workflow_id: str) -> tuple[str, str, str] | None:
    match = re.fullmatch(r"promotion/([^/]+)/([^/]+)/(.+)", workflow_id)
    return (match.group(1), match.group(2), match.group(3)) if match else None


def stage_workflow_id(project: str, stage: str) -> str:
    return f"stage/{project}/{stage}"


def verification_workflow_id(project: str, stage: str, name: str) -> str:
    return f"verification/{project}/{stage}/{name}"


def warehouse_workflow_id(project: str, warehouse: str) -> str:
    return f"warehouse/{project}/{warehouse}"
