"""From YAML text to validated documents, remembering where each field came from.

Parsing a string is pure, so this module is safe in the workflow sandbox; reading files is
``client.manifests``' job.
"""

from __future__ import annotations

import datetime as _dt
import difflib
from typing import Any

from pydantic import BaseModel, Field, TypeAdapter, ValidationError

from pipeline.manifests.errors import (
    ManifestError,
    ManifestIssue,
    format_path,
    issues_from_validation_error,
)
from pipeline.manifests.models import (
    CLUSTER_SCOPED,
    MODELS,
    SHARED_RESOURCES_NAMESPACE,
    Manifest,
    api_version_of,
)

__all__ = [
    "SourceDocument",
    "SourceRef",
    "SourcedManifest",
    "parse_documents",
    "load_document",
    "load_sourced",
    "document_label",
    "NAMESPACE_REQUIRED",
]

NAMESPACE_REQUIRED = "metadata.namespace is required: it names the Project"


class SourceDocument(BaseModel):
    """One YAML document as plain data, with where it came from."""

    file: str
    index: int  # 0-based document number in the file
    line: int  # 1-based line of the document's first key
    item: int | None = None  # position inside a `kind: List` document
    data: dict[str, Any]
    #: "spec.steps[0].config" -> 1-based line, for precise error lines.
    lines: dict[str, int] = Field(default_factory=dict, repr=False)

    def line_of(self, loc: tuple[Any, ...] | list[Any]) -> int:
        """Line of the field at `loc`, else of the nearest enclosing field, else the doc's."""
        loc = tuple(loc)
        while loc:
            found = self.lines.get(format_path(loc))
            if found is not None:
                return found
            loc = loc[:-1]
        return self.line


class SourceRef(BaseModel):
    """Where an applied object came from, so set-level errors can name the file.

    `lines` (per-field lines) is dropped when serialised, to keep workflow state small;
    errors then fall back to the document's first line.
    """

    file: str
    line: int
    index: int = 0
    item: int | None = None
    document: str = ""  # "Stage/uat"
    lines: dict[str, int] = Field(default_factory=dict, exclude=True, repr=False)

    def line_of(self, path: str) -> int:
        """Line of a formatted field path, else of the nearest enclosing one, else the doc's."""
        while path:
            found = self.lines.get(path)
            if found is not None:
                return found
            cut = max(path.rfind("."), path.rfind("["))
            path = path[:cut] if cut > 0 else ""
        return self.line

    def __str__(self) -> str:
        return f"{self.file}:{self.line}"


class SourcedManifest(BaseModel):
    """A validated document, the project it belongs to (None if cluster-scoped), its source."""

    manifest: Manifest
    project: str | None = None
    source: SourceRef

    @property
    def kind(self) -> str:
        return self.manifest.kind

    @property
    def name(self) -> str:
        return self.manifest.metadata.name or ""


# ---------------------------------------------------------------------------
# YAML text -> SourceDocuments
# ---------------------------------------------------------------------------


def _plain(node: Any, path: tuple[Any, ...], lines: dict[str, int]) -> Any:
    """ruamel's round-trip nodes -> plain Python data, recording each field's line."""
    from ruamel.yaml.comments import CommentedMap, CommentedSeq

    if isinstance(node, dict):
        out: dict[str, Any] = {}
        for key, value in node.items():
            k = "" if key is None else str(key)
            sub = path + (k,)
            if isinstance(node, CommentedMap):
                try:
                    lines[format_path(sub)] = node.lc.key(key)[0] + 1
                except (KeyError, TypeError, AttributeError):
                    pass
            out[k] = _plain(value, sub, lines)
        return out
    if isinstance(node, list):
        items = []
        for i, value in enumerate(node):
            sub = path + (i,)
            if isinstance(node, CommentedSeq):
                try:
                    lines[format_path(sub)] = node.lc.item(i)[0] + 1
                except (KeyError, TypeError, AttributeError, IndexError):
                    pass
            items.append(_plain(value, sub, lines))
        return items
    if isinstance(node, bool):
        return bool(node)
    if isinstance(node, int):
        return int(node)
    if isinstance(node, float):
        return float(node)
    if isinstance(node, str):
        return str(node)
    if isinstance(node, (_dt.datetime, _dt.date)):
        # Keep timestamps as text: the models parse them where a time is meant, and a
        # date-looking var value stays the text the user wrote.
        return node.isoformat()
    if node is None:
        return None
    return str(node)


_PLAIN_YAML = (
    ("found character '\\t' that cannot start any token", "a tab character: indent YAML with spaces, not tabs"),
    ("found character '\\t'", "a tab character: indent YAML with spaces, not tabs"),
    (
        "mapping values are not allowed here",
        "unexpected 'key: value' here: this line is indented differently from the lines "
        "around it (or a value containing ': ' needs quotes)",
    ),
    (
        "could not find expected ':'",
        "expected 'key: value': a line is missing its ':' or is indented wrongly",
    ),
    (
        "expected <block end>",
        "the indentation of this line does not match the lines above it",
    ),
    (
        "did not find expected key",
        "the indentation of this line does not match the lines above it",
    ),
    (
        "did not find expected '-' indicator",
        "a list item is indented differently from the items before it",
    ),
    ("found duplicate key", "a key appears twice in the same mapping"),
    ("found undefined alias", "an alias (*name) refers to an anchor (&name) that is not defined"),
    ("found unexpected end of stream", "the file ends inside a quoted string or a flow block"),
    ("while scanning a quoted scalar", "a quoted string is not closed"),
)


def _yaml_issue(exc: Exception, file: str) -> ManifestIssue:
    problem = str(getattr(exc, "problem", "") or "").strip()
    context = str(getattr(exc, "context", "") or "").strip()
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    line = mark.line + 1 if mark is not None else None
    said = problem or str(exc).splitlines()[0]
    plain = None
    for needle, words in _PLAIN_YAML:
        if needle in said or (context and needle in context):
            plain = words
            break
    if "duplicate key" in said:
        # ruamel: 'found duplicate key "name" with value ...'
        key = said.split('"')[1] if said.count('"') >= 2 else ""
        plain = f"the key '{key}' appears twice in the same mapping" if key else plain
        said = said.split(" with value")[0]
    message = f"YAML syntax error: {plain or said}"
    if plain:
        message += f" (YAML said: {said}" + (f", {context}" if context else "") + ")"
    return ManifestIssue(file=file, line=line, message=message)


def parse_documents(text: str, file: str) -> list[SourceDocument]:
    """Split multi-document YAML into SourceDocuments; empty documents are skipped and a
    ``kind: List`` document becomes one SourceDocument per item.

    Raises ManifestError (naming file and line, in plain words) on a YAML syntax error or a
    document that is not a mapping.
    """
    from ruamel.yaml.error import YAMLError

    from pipeline.yamlsafe import MAX_DEPTH, YAMLLimitError, make_yaml

    yaml = make_yaml("rt")  # bounded: alias bombs and deep nesting are refused
    docs: list[SourceDocument] = []
    issues: list[ManifestIssue] = []
    try:
        for index, node in enumerate(yaml.load_all(text)):
            if node is None:
                continue
            start = _node_line(node)
            if not isinstance(node, dict):
                issues.append(
                    ManifestIssue(
                        file=file,
                        line=start,
                        message="a document must be a mapping with apiVersion, kind, "
                        f"metadata and spec (got {type(node).__name__})",
                    )
                )
                continue
            lines: dict[str, int] = {}
            data = _plain(node, (), lines)
            if data.get("kind") == "List" and isinstance(data.get("items"), list):
                for i, item_node in enumerate(node["items"]):
                    item_lines: dict[str, int] = {}
                    item = _plain(item_node, (), item_lines)
                    item_line = lines.get(f"items[{i}]", start)
                    if not isinstance(item, dict):
                        issues.append(
                            ManifestIssue(
                                file=file, line=item_line, path=f"items[{i}]",
                                message="a List item must be a mapping (a document)",
                            )
                        )
                        continue
                    docs.append(
                        SourceDocument(
                            file=file, index=index, item=i, line=item_line,
                            data=item, lines=item_lines,
                        )
                    )
                continue
            docs.append(SourceDocument(file=file, index=index, line=start, data=data, lines=lines))
    except YAMLLimitError as exc:
        mark = exc.problem_mark
        issues.append(ManifestIssue(file=file, line=mark.line + 1 if mark else None, message=str(exc.problem)))
    except YAMLError as exc:
        issues.append(_yaml_issue(exc, file))
    except RecursionError:
        issues.append(ManifestIssue(file=file, message=f"YAML nesting is too deep (over {MAX_DEPTH} levels)"))
    if issues:
        raise ManifestError(issues)
    return docs


def _node_line(node: Any) -> int:
    lc = getattr(node, "lc", None)
    if lc is not None and getattr(lc, "line", None) is not None:
        return lc.line + 1
    return 1


# ---------------------------------------------------------------------------
# SourceDocument -> model
# ---------------------------------------------------------------------------

_ADAPTER: TypeAdapter[Any] = TypeAdapter(Manifest)


def document_label(data: dict[str, Any]) -> str:
    """'Stage/uat' from a document's kind and metadata.name, as far as they are there."""
    kind = data.get("kind") if isinstance(data.get("kind"), str) else "?"
    meta = data.get("metadata")
    name = meta.get("name") if isinstance(meta, dict) else None
    return f"{kind}/{name if isinstance(name, str) and name else '<no name>'}"


def load_document(doc: SourceDocument) -> Manifest:
    """Validate one document into its model; ManifestError lists every field problem."""
    data = doc.data
    label = document_label(data)
    namespace = (data.get("metadata") or {}).get("namespace") if isinstance(data.get("metadata"), dict) else None
    project = namespace if isinstance(namespace, str) else None

    def issue(path: str, message: str) -> ManifestError:
        line = doc.lines.get(path, doc.line)
        return ManifestError(
            [ManifestIssue(file=doc.file, line=line, document=label, project=project, path=path, message=message)]
        )

    kind = data.get("kind")
    known = ", ".join(sorted(MODELS))
    if kind is None:
        raise issue("kind", f"field required: every document needs a kind (one of {known})")
    if not isinstance(kind, str) or kind not in MODELS:
        hint = ""
        if isinstance(kind, str):
            close = [k for k in MODELS if k.lower() == kind.lower()] or difflib.get_close_matches(
                kind, list(MODELS), n=1, cutoff=0.7
            )
            if close:
                hint = f"; did you mean '{close[0]}'?"
        raise issue("kind", f"unknown kind {kind!r}{hint} (Gantry knows: {known})")
    want = api_version_of(kind)
    got = data.get("apiVersion")
    if got is None:
        raise issue("apiVersion", f"field required: a {kind} needs apiVersion: {want}")
    if got != want:
        raise issue("apiVersion", f"a {kind} needs apiVersion: {want} (got {got!r})")
    model = MODELS[kind]
    try:
        return model.model_validate(data)  # type: ignore[return-value]
    except ValidationError as exc:
        raise ManifestError(
            issues_from_validation_error(
                exc,
                root=model,
                file=doc.file,
                document=label,
                project=project,
                line_of=doc.line_of,
                default_line=doc.line,
            )
        ) from None


def is_shared_config_map(manifest: Any) -> bool:
    """A ConfigMap of the shared resources namespace: every project's, through sharedConfigMap()."""
    return manifest.kind == "ConfigMap" and manifest.metadata.namespace == SHARED_RESOURCES_NAMESPACE


def load_sourced(doc: SourceDocument, default_project: str | None = None) -> SourcedManifest:
    """load_document, plus the project the object belongs to and where it came from.

    The project of a namespaced kind is metadata.namespace (Kargo: namespace == project),
    else `default_project`, else an error. A Project's project is its own name; the
    cluster-scoped task and template kinds belong to none.
    """
    manifest = load_document(doc)
    label = f"{manifest.kind}/{manifest.metadata.name or '<no name>'}"
    source = SourceRef(
        file=doc.file, line=doc.line, index=doc.index, item=doc.item, document=label, lines=doc.lines
    )
    if manifest.kind == "Project":
        project: str | None = manifest.metadata.name
    elif manifest.kind in CLUSTER_SCOPED or is_shared_config_map(manifest):
        project = None
    else:
        project = manifest.metadata.namespace or default_project
        if not project:
            raise ManifestError(
                [
                    ManifestIssue(
                        file=doc.file,
                        line=doc.lines.get("metadata", doc.line),
                        document=label,
                        path="metadata.namespace",
                        message=NAMESPACE_REQUIRED,
                    )
                ]
            )
    return SourcedManifest(manifest=manifest, project=project, source=source)
