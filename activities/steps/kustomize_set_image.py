"""`kustomize-set-image`: point a Kustomization's `images:` at the promoted image.

Edits the file in place the way `kustomize edit set image` would, but round-trips it
with ruamel.yaml so comments, order and quoting survive. Entries follow Kargo's rules:
setting a digest clears ``newTag`` and vice versa, an omitted ``newName`` clears it, and
``"*"`` for ``newName``, ``tag`` or ``digest`` keeps the file's current value.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ruamel.yaml.comments import CommentedMap, CommentedSeq
from temporalio import activity

from activities.steps import _yaml
from activities.steps._common import typed_config
from activities.steps.base import StepInput, StepResult, require_workdir, resolve_path, run_blocking, step_failed
from contracts.step_configs.kustomize_set_image import KustomizeSetImageConfig

KUSTOMIZATION_FILES = ("kustomization.yaml", "kustomization.yml", "Kustomization")
KEEP = "*"
_FIELD_ORDER = ("name", "newName", "newTag", "digest")


def find_kustomization(directory: Path, path: str) -> Path:
    if not directory.is_dir():
        raise step_failed(f"config field 'path': directory {path!r} does not exist")
    found = [directory / n for n in KUSTOMIZATION_FILES if (directory / n).is_file()]
    if not found:
        raise step_failed(f"config field 'path': no {', '.join(KUSTOMIZATION_FILES)} in {path!r}")
    if len(found) > 1:
        raise step_failed(f"config field 'path': ambiguous, {path!r} holds {', '.join(p.name for p in found)}")
    return found[0]


def _freight_image(freight: list[dict[str, Any]], image: str, i: int) -> tuple[str, str]:
    """(tag, digest) of ``image`` in the Freight being promoted."""
    found: list[tuple[str, str]] = []
    for f in freight:
        for img in f.get("images") or []:
            if isinstance(img, dict) and img.get("repoURL") == image:
                pair = (str(img.get("tag") or ""), str(img.get("digest") or ""))
                if pair not in found:
                    found.append(pair)
    if not found:
        raise step_failed(
            f"config field 'images[{i}].image': no Freight being promoted references image {image!r} "
            f"(and images[{i}] sets no tag or digest)"
        )
    if len(found) > 1:
        raise step_failed(
            f"config field 'images[{i}].image': image {image!r} is ambiguous, the Freight being promoted "
            f"holds {', '.join(t or d for t, d in found)}; set images[{i}].tag or digest"
        )
    return found[0]


def targets(config: KustomizeSetImageConfig, freight: list[dict[str, Any]]) -> dict[str, dict[str, str]]:
    """What each image entry should become, by Kustomization image name."""
    items = config.images or []
    if not items:
        # Kargo's automatic mode: every image of the Freight being promoted.
        out: dict[str, dict[str, str]] = {}
        for f in freight:
            for img in f.get("images") or []:
                if isinstance(img, dict) and img.get("repoURL"):
                    out[img["repoURL"]] = {
                        "name": img["repoURL"],
                        "newName": "",
                        "newTag": "" if img.get("digest") and not img.get("tag") else str(img.get("tag") or ""),
                        "digest": str(img.get("digest") or "") if not img.get("tag") else "",
                    }
        if not out:
            raise step_failed("config field 'images' is empty and the Freight being promoted has no images")
        return out
    out = {}
    for i, item in enumerate(items):
        image, name = item.image, item.name or item.image
        tag, digest = item.tag or "", item.digest or ""
        if not tag and not digest:
            ftag, fdigest = _freight_image(freight, image, i)
            if item.use_digest:
                if not fdigest:
                    raise step_failed(f"config field 'images[{i}].useDigest': Freight has no digest for {image!r}")
                digest = fdigest
            elif ftag:
                tag = ftag
            else:
                digest = fdigest
        if name in out:
            raise step_failed(f"config field 'images[{i}]': image {name!r} is listed twice")
        out[name] = {"name": name, "newName": item.new_name or "", "newTag": tag, "digest": digest}
    return out


def _set(entry: CommentedMap, key: str, value: str) -> None:
    if value == KEEP:
        return
    if not value:
        entry.pop(key, None)
        return
    value = _yaml.typed(value)
    if key in entry:
        entry[key] = value
        return
    pos = 0
    for k in _FIELD_ORDER[: _FIELD_ORDER.index(key)]:
        if k in entry:
            pos = list(entry.keys()).index(k) + 1
    entry.insert(pos, key, value)


def apply(doc: Any, wanted: dict[str, dict[str, str]]) -> list[CommentedMap]:
    """Update ``doc['images']`` in place; return the entries touched."""
    if not isinstance(doc, dict):
        raise step_failed("config field 'path': the Kustomization file is not a YAML mapping")
    images = doc.get("images")
    if images is None:
        images = CommentedSeq()
        doc["images"] = images
    if not isinstance(images, list):
        raise step_failed("config field 'path': the Kustomization's 'images' is not a list")
    touched = []
    for name, t in wanted.items():
        entry = next((e for e in images if isinstance(e, dict) and e.get("name") == name), None)
        if entry is None:
            entry = CommentedMap(name=name)
            images.append(entry)
        for key in ("newName", "newTag", "digest"):
            _set(entry, key, t[key])
        touched.append(entry)
    return touched


def commit_message(path: str, entries: list[CommentedMap]) -> str:
    """Kargo's shape: a summary line, a blank line, one "- image:tag" line per image."""
    refs = []
    for e in sorted(entries, key=lambda e: str(e.get("name"))):
        ref = str(e.get("newName") or e.get("name"))
        if e.get("newTag"):
            ref += f":{e['newTag']}"
        if e.get("digest"):
            ref += f"@{e['digest']}"
        refs.append(f"- {ref}")
    plural = "s" if len(refs) > 1 else ""
    return f"Updated {path} to use new image{plural}\n\n" + "\n".join(refs)


def _run(base: Path, config: KustomizeSetImageConfig, freight: list[dict[str, Any]]) -> tuple[str, str]:
    path = config.path
    kus = find_kustomization(resolve_path(base, path), path)
    wanted = targets(config, freight)
    y, docs, text = _yaml.load(kus)
    if len(docs) != 1:
        raise step_failed(f"config field 'path': {kus.name} must hold exactly one YAML document")
    touched = apply(docs[0], wanted)
    _yaml.dump(kus, y, docs, text)
    return commit_message(path, touched), kus.name


@activity.defn(name="kustomize-set-image")
async def kustomize_set_image(input: StepInput) -> StepResult:
    """Set images in the Kustomization at ``path``; output ``commitMessage``."""
    config = typed_config(KustomizeSetImageConfig, input)
    base = require_workdir(input.promotion)
    message, filename = await run_blocking(_run, base, config, input.freight)
    activity.logger.info("kustomize-set-image: updated %s in %s", filename, config.path)
    return StepResult(outputs={"commitMessage": message})
