"""One-line summaries of steps, shown on each activity in Temporal Web and by the CLI."""

from __future__ import annotations

from typing import Any


def _short(value: Any, limit: int = 120) -> str:
    text = str(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def summarize_step(uses: str, config: dict[str, Any]) -> str:
    """e.g. ``git-push ./src -> main`` or ``git-clone https://host/repo.git``."""
    parts = [uses]
    if "repoURL" in config and uses.startswith("git-clone"):
        parts.append(_short(config["repoURL"], 300))
    elif "path" in config:
        parts.append(_short(config["path"]))
    if uses in ("tar", "untar") and "inPath" in config:
        parts.append(f"{_short(config['inPath'])} -> {_short(config.get('outPath', '?'))}")
    elif uses == "oci-push":
        parts.append(f"{_short(config.get('srcRef', '?'))} -> {_short(config.get('destRef', '?'))}")
    if uses in ("git-push", "github-push"):
        target = config.get("targetBranch") or config.get("tag")
        if config.get("generateTargetBranch"):
            target = "(generated branch)"
        if target:
            parts.append(f"-> {_short(target)}")
    elif uses == "kustomize-set-image":
        images = [i.get("image", "?") for i in config.get("images") or [] if isinstance(i, dict)]
        if images:
            parts.append("[" + ", ".join(_short(i) for i in images[:3]) + "]")
    elif uses in ("argocd-update", "argocd-wait"):
        apps = [a.get("name", "?") for a in config.get("apps") or [] if isinstance(a, dict)]
        if apps:
            parts.append(", ".join(_short(a) for a in apps[:3]))
    summary = " ".join(parts)
    return summary[:390]


def progress_table(steps: list[Any]) -> str:
    """Markdown table of step progress for `workflow.set_current_details` (Temporal Web)."""
    lines = ["| # | step | status | message |", "|---|---|---|---|"]
    for i, step in enumerate(steps, start=1):
        message = (step.message or "").replace("|", "\\|").replace("\n", " ")[:120]
        lines.append(f"| {i} | {step.alias} ({step.uses}) | {step.status} | {message} |")
    return "\n".join(lines)
