"""Workflow ids, readable in Temporal Web and predictable for the `temporal` CLI."""

from __future__ import annotations


def project_workflow_id(project: str) -> str:
    return f"project/{project}"


CLUSTER_WORKFLOW_ID = "cluster"


def promotion_workflow_id(project: str, stage: str, name: str) -> str:
    return f"promotion/{project}/{stage}/{name}"


def promotion_name(stage: str, unique: str, freight: str) -> str:
    """Kargo's shape `<stage>.<sortable id>.<freight[:7]>`."""
    return f"{stage}.{unique}.{freight[:7]}"


def stage_workflow_id(project: str, stage: str) -> str:
    return f"stage/{project}/{stage}"


def verification_workflow_id(project: str, stage: str, name: str) -> str:
    return f"verification/{project}/{stage}/{name}"


def warehouse_workflow_id(project: str, warehouse: str) -> str:
    return f"warehouse/{project}/{warehouse}"


def freight_workflow_id(project: str, name: str) -> str:
    return f"freight/{project}/{name}"


def freight_alias_workflow_id(project: str, alias: str) -> str:
    return f"freight-alias/{project}/{alias}"
