"""Kargo's expression environments and functions.

What a `${{ }}` sees depends on where it is (pkg/promotion/evaluator.go and
pkg/expressions/function/functions.go in akuity/kargo):

- promotion steps and vars: `ctx`, `vars`, `outputs`, `task.outputs`, the Freight
  functions (imageFrom, commitFrom, chartFrom, warehouse), semverParse/semverDiff,
  the status functions (success, failure, always, status) and quote & co.;
- Stage verification args: `ctx{project, stage}`, `vars` and the functions, no outputs;
- Warehouse freightCreationCriteria: imageFrom/commitFrom/chartFrom over the
  artifacts just discovered.

The Freight functions return Go-like records, so `.Tag`, `.RepoURL`, `.ID` work as
in Kargo, and return nil when nothing matches.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Callable
from urllib.parse import urlsplit, urlunsplit

from pipeline.expressions.data import PromotionData, data_functions, secret_functions, workflow_secret_functions
from pipeline.expressions.errors import ExpressionError
from pipeline.expressions.goformat import go_json, go_quote
from pipeline.expressions.gotime import time_functions
from pipeline.expressions.semver import semver_diff, semver_parse
from pipeline.expressions.values import Function, Record, type_name
from pipeline.expressions.yamlformat import to_yaml

# (Go field, json name, omitempty) for the kargoapi structs expressions can see.
IMAGE_FIELDS = (("RepoURL", "repoURL", True), ("Tag", "tag", True), ("Digest", "digest", True),
                ("Annotations", "annotations", True))
COMMIT_FIELDS = (("RepoURL", "repoURL", True), ("ID", "id", True), ("Branch", "branch", True),
                 ("Tag", "tag", True), ("Message", "message", True), ("Author", "author", True),
                 ("Committer", "committer", True))
CHART_FIELDS = (("RepoURL", "repoURL", True), ("Name", "name", True), ("Version", "version", True))
ORIGIN_FIELDS = (("Kind", "kind", False), ("Name", "name", False))
DISCOVERED_COMMIT_FIELDS = (("ID", "id", True), ("Branch", "branch", True), ("Tag", "tag", True),
                            ("Subject", "subject", True), ("Author", "author", True),
                            ("Committer", "committer", True), ("CreatorDate", "creatorDate", True))
DISCOVERED_IMAGE_FIELDS = (("Tag", "tag", False), ("Digest", "digest", False),
                           ("Annotations", "annotations", True), ("CreatedAt", "createdAt", True))

#: Kargo's expressionFriendlyArtifactReference has no json tags: JSON uses the Go names
ARTIFACT_FIELDS = (("ArtifactType", "ArtifactType", False), ("SubscriptionName", "SubscriptionName", False),
                   ("Version", "Version", False), ("Metadata", "Metadata", False))

_MAP_FIELDS = {"Annotations"}
_NULLABLE_FIELDS = {"CreatorDate", "CreatedAt"}


def make_record(type_name_: str, fields: tuple[tuple[str, str, bool], ...], data: dict[str, Any]) -> Record:
    """A record from camelCase data (the json names); absent strings are "" as in Go."""
    values: dict[str, Any] = {}
    for go_name, json_name, _ in fields:
        value = data.get(json_name)
        if value is None and go_name not in _MAP_FIELDS and go_name not in _NULLABLE_FIELDS:
            value = ""
        values[go_name] = value
    return Record(type_name_, fields, values, pointer=True)


def origin_record(kind: str, name: str) -> Record:
    return Record("v1alpha1.FreightOrigin", ORIGIN_FIELDS, {"Kind": kind, "Name": name})


# -- URL normalisation (pkg/urls) -------------------------------------------------

def normalize_git_url(url: str) -> str:
    """Enough of Kargo's NormalizeGit for comparisons: case, credentials, trailing / and .git."""
    lowered = url.strip().lower()
    if lowered.startswith(("http://", "https://", "ssh://")):
        try:
            parts = urlsplit(lowered)
        except ValueError:
            return url
        if parts.query:
            return url
        host = parts.hostname or ""
        if parts.port:
            host = f"{host}:{parts.port}"
        if parts.scheme == "ssh" and parts.username:
            host = f"{parts.username}@{host}"
        path = parts.path.rstrip("/") if parts.path.endswith("/") else parts.path
        path = path[: -len(".git")] if path.endswith(".git") else path
        return urlunsplit((parts.scheme, host, path, "", ""))
    path = lowered.rstrip("/") if lowered.endswith("/") else lowered
    return path[: -len(".git")] if path.endswith(".git") else path


# -- Freight functions --------------------------------------------------------------

def _origin_of(freight: dict[str, Any]) -> tuple[str, str]:
    origin = freight.get("origin") or {}
    return (origin.get("kind") or "Warehouse", origin.get("name") or "")


def _origin_arg(value: Any, fn: str, position: str) -> tuple[str, str]:
    if isinstance(value, Record) and value.type_name == "v1alpha1.FreightOrigin":
        return (value.get("Kind") or "Warehouse", value.get("Name"))
    if isinstance(value, dict) and isinstance(value.get("name"), str):
        return (value.get("kind") or "Warehouse", value["name"])
    raise ExpressionError(f"{fn}: {position} argument must be FreightOrigin (see warehouse()), got {type_name(value)}")


def _find(
    freight: list[dict[str, Any]],
    origin: tuple[str, str] | None,
    collection: str,
    matches: Callable[[dict[str, Any]], bool],
    what: str,
) -> dict[str, Any] | None:
    """The first matching artifact, from the given origin or the only origin that has one."""
    if origin is None:
        origins = []
        for item in freight:
            if any(matches(a) for a in item.get(collection) or []):
                if _origin_of(item) not in origins:
                    origins.append(_origin_of(item))
        if len(origins) > 1:
            raise ExpressionError(
                f"multiple requested Freight could potentially provide {what}: "
                "please provide a Freight origin to disambiguate, e.g. warehouse(\"name\")"
            )
        if not origins:
            return None
        origin = origins[0]
    for item in freight:
        if _origin_of(item) == origin:
            for artifact in item.get(collection) or []:
                if matches(artifact):
                    return artifact
    return None


def _repo_arg(fn: str, args: tuple[Any, ...], most: int) -> str:
    if not 1 <= len(args) <= most:
        expected = "1 argument" if most == 1 else f"1-{most} arguments"
        raise ExpressionError(f"{fn}: expected {expected}, got {len(args)}")
    if not isinstance(args[0], str):
        raise ExpressionError(f"{fn}: first argument must be string, got {type_name(args[0])}")
    return args[0]


def freight_functions(freight: list[dict[str, Any]]) -> dict[str, Function]:
    """imageFrom, commitFrom, chartFrom, artifactFrom and warehouse over the Freight being promoted."""

    def image_from(*args: Any) -> Record | None:
        repo = _repo_arg("imageFrom", args, 2)
        origin = _origin_arg(args[1], "imageFrom", "second") if len(args) == 2 else None
        found = _find(freight, origin, "images", lambda a: a.get("repoURL") == repo,
                      f"a container image from repository {repo}")
        return None if found is None else make_record("v1alpha1.Image", IMAGE_FIELDS, found)

    def commit_from(*args: Any) -> Record | None:
        repo = normalize_git_url(_repo_arg("commitFrom", args, 2))
        origin = _origin_arg(args[1], "commitFrom", "second") if len(args) == 2 else None
        found = _find(freight, origin, "commits", lambda a: normalize_git_url(a.get("repoURL") or "") == repo,
                      f"a commit from repo {repo}")
        return None if found is None else make_record("v1alpha1.GitCommit", COMMIT_FIELDS, found)

    def chart_from(*args: Any) -> Record | None:
        repo = _repo_arg("chartFrom", args, 3)
        name = ""
        origin = None
        if len(args) >= 2:
            if isinstance(args[1], str):
                name = args[1]
            else:
                origin = _origin_arg(args[1], "chartFrom", "second")
        if len(args) == 3:
            if origin is not None:
                raise ExpressionError("chartFrom: when using three arguments, the second must be the chart name")
            origin = _origin_arg(args[2], "chartFrom", "third")
        found = _find(
            freight, origin, "charts",
            lambda a: a.get("repoURL") == repo and (a.get("name") or "") == name,
            f"a chart from repository {repo}",
        )
        return None if found is None else make_record("v1alpha1.Chart", CHART_FIELDS, found)

    def artifact_from(*args: Any) -> Record | None:
        """Kargo's generic lookup: the artifact of a (generic) subscription, by its name."""
        name = _repo_arg("artifactFrom", args, 2)
        origin = _origin_arg(args[1], "artifactFrom", "second") if len(args) == 2 else None
        found = _find(freight, origin, "artifacts", lambda a: a.get("subscriptionName") == name,
                      f"a {name!r} artifact")
        if found is None:
            return None
        return Record("function.expressionFriendlyArtifactReference", ARTIFACT_FIELDS, {
            "ArtifactType": found.get("artifactType") or "", "SubscriptionName": name,
            "Version": found.get("version") or "", "Metadata": dict(found.get("metadata") or {}),
        })

    return {
        "imageFrom": Function(image_from, "imageFrom"),
        "commitFrom": Function(commit_from, "commitFrom"),
        "chartFrom": Function(chart_from, "chartFrom"),
        "artifactFrom": Function(artifact_from, "artifactFrom"),
        "warehouse": Function(warehouse, "warehouse"),
    }


def warehouse(*args: Any) -> Record:
    if len(args) != 1:
        raise ExpressionError(f"warehouse: expected 1 argument, got {len(args)}")
    if not isinstance(args[0], str):
        raise ExpressionError(f"warehouse: argument must be string, got {type_name(args[0])}")
    if not args[0]:
        raise ExpressionError("warehouse: name must not be empty")
    return origin_record("Warehouse", args[0])


# -- formatting functions (available in every Kargo template) -----------------------

def _one(fn: str, args: tuple[Any, ...]) -> Any:
    if len(args) != 1:
        raise ExpressionError(f"{fn}: expected 1 argument, got {len(args)}")
    return args[0]


def quote(*args: Any) -> str:
    """A string stays a string (quoted, the template strips the quotes); others via unsafeQuote."""
    value = _one("quote", args)
    if isinstance(value, str):
        return go_quote(value)
    return unsafe_quote(value)


def unsafe_quote(*args: Any) -> str:
    return '"' + go_json(_one("unsafeQuote", args)) + '"'


def as_json(*args: Any) -> str:
    return '"' + go_json(_one("asJSON", args), indent="  ") + '\n"'


def as_yaml(*args: Any) -> str:
    return '"' + to_yaml(_one("asYAML", args)) + '"'


def formatting_functions() -> dict[str, Function]:
    return {
        "quote": Function(quote, "quote"),
        "unsafeQuote": Function(unsafe_quote, "unsafeQuote"),
        "asJSON": Function(as_json, "asJSON"),
        "asYAML": Function(as_yaml, "asYAML"),
    }


def utility_functions() -> dict[str, Function]:
    return {"semverParse": Function(semver_parse, "semverParse"), "semverDiff": Function(semver_diff, "semverDiff")}


# -- status functions ---------------------------------------------------------------

_SEPARATOR = "::"


def _step_status(entry: Any) -> tuple[str, bool]:
    """A step_statuses value: "Succeeded", or {"status": ..., "continueOnError": bool}."""
    if isinstance(entry, dict):
        return str(entry.get("status") or ""), bool(entry.get("continueOnError"))
    return str(entry or ""), False


def status_functions(step_statuses: dict[str, Any], current_alias: str | None) -> dict[str, Function]:
    """success(), failure(), always(), status(alias) over the steps run so far."""

    def has_failure() -> bool:
        for entry in step_statuses.values():
            status, continue_on_error = _step_status(entry)
            if not continue_on_error and status in ("Failed", "Errored"):
                return True
        return False

    def no_args(fn: str, args: tuple[Any, ...]) -> None:
        if args:
            raise ExpressionError(f"{fn}: expected 0 arguments, got {len(args)}")

    def success(*args: Any) -> bool:
        no_args("success", args)
        return not has_failure()

    def failure(*args: Any) -> bool:
        no_args("failure", args)
        return has_failure()

    def always(*args: Any) -> bool:
        no_args("always", args)
        return True

    namespace = ""
    if current_alias and len(current_alias.split(_SEPARATOR)) == 2:
        namespace = current_alias.split(_SEPARATOR)[0]

    def status(*args: Any) -> str:
        alias = _one("status", args)
        if not isinstance(alias, str):
            raise ExpressionError(f"status: argument must be string, got {type_name(alias)}")
        if not alias:
            raise ExpressionError("status: argument must not be empty")
        for step_alias, entry in step_statuses.items():
            parts = step_alias.split(_SEPARATOR)
            step_namespace, short = (parts[0], parts[1]) if len(parts) == 2 else ("", step_alias)
            if step_namespace == namespace and short == alias:
                return _step_status(entry)[0]
        return ""

    return {
        "success": Function(success, "success"),
        "failure": Function(failure, "failure"),
        "always": Function(always, "always"),
        "status": Function(status, "status"),
    }


def task_outputs_for(alias: str | None, outputs: dict[str, Any]) -> dict[str, Any] | None:
    """Outputs of the other steps of the task a step was inflated from (`<task>::<step>`)."""
    if not alias:
        return None
    parts = alias.split(_SEPARATOR)
    if len(parts) != 2:
        return None
    prefix = parts[0] + _SEPARATOR
    return {key[len(prefix):]: value for key, value in outputs.items() if key.startswith(prefix) and len(key.split(_SEPARATOR)) == 2}


# -- environments -------------------------------------------------------------------

def promotion_env(
    *,
    project: str,
    stage: str,
    promotion: str | None = None,
    freight: list[dict[str, Any]],
    vars: dict[str, Any] | None = None,
    outputs: dict[str, Any] | None = None,
    task_outputs: dict[str, Any] | None = None,
    step_statuses: dict[str, Any] | None = None,
    current_alias: str | None = None,
    actor: str | None = None,
    target_freight: dict[str, Any] | None = None,
    rollback: bool = False,
    ui_base_url: str = "",
    now: datetime | None = None,
    data: PromotionData | None = None,
    secrets: Callable[[str, bool], dict[str, str] | None] | None = None,
) -> dict[str, Any]:
    """The environment of a promotion step's vars, `if` and config.

    `task_outputs` defaults to the outputs of the current step's task, derived from
    `outputs` and a `<task>::<step>` alias, as Kargo does. `step_statuses` maps
    step aliases to statuses ("Succeeded", "Failed", "Errored", "Skipped", ...), or
    to {"status": ..., "continueOnError": true} for steps that must not count
    towards success()/failure(). `now` is what now() returns (workflow time); `data`
    is what stageMetadata() & co. read; `secrets(name, shared)` answers secret() and
    sharedSecret(), which without it refuse (a workflow never sees a secret).
    """
    freight = list(freight or [])
    target = target_freight if target_freight is not None else (freight[0] if freight else {})
    outputs = dict(outputs or {})
    env: dict[str, Any] = {
        "ctx": {
            "uiBaseUrl": ui_base_url,
            "project": project,
            "stage": stage,
            "promotion": promotion or "",
            "targetFreight": {
                "name": target.get("name") or "",
                "alias": target.get("alias") or "",
                "origin": {"name": (target.get("origin") or {}).get("name") or ""},
            },
            "meta": {
                "promotion": {"actor": actor or "", "rollback": bool(rollback)},
                "step": {"alias": current_alias or ""},
            },
        },
        "vars": dict(vars or {}),
        "outputs": outputs,
    }
    task = task_outputs if task_outputs is not None else task_outputs_for(current_alias, outputs)
    if task is not None:
        env["task"] = {"outputs": task}
    env.update(freight_functions(freight))
    env.update(utility_functions())
    env.update(status_functions(dict(step_statuses or {}), current_alias))
    env.update(formatting_functions())
    env.update(time_functions(now))
    env.update(data_functions(data))
    env.update(secret_functions(secrets) if secrets is not None else workflow_secret_functions())
    return env


def verification_env(
    *,
    project: str,
    stage: str,
    freight: list[dict[str, Any]],
    vars: dict[str, Any] | None = None,
    now: datetime | None = None,
    data: PromotionData | None = None,
) -> dict[str, Any]:
    """The environment of a Stage's verification args: ctx{project, stage}, vars, functions
    (the data ones too, as Kargo has them there; secret() refuses: args are workflow data); no outputs."""
    env: dict[str, Any] = {"ctx": {"project": project, "stage": stage}, "vars": dict(vars or {})}
    env.update(freight_functions(list(freight or [])))
    env.update(utility_functions())
    env.update(formatting_functions())
    env.update(time_functions(now))
    env.update(data_functions(data))
    env.update(workflow_secret_functions())
    return env


def criteria_env(artifacts: dict[str, Any] | None, now: datetime | None = None) -> dict[str, Any]:
    """The environment of a Warehouse's freightCreationCriteria.expression.

    `artifacts` has Kargo's DiscoveredArtifacts shape: {"git": [{"repoURL", "commits": [...]}],
    "images": [{"repoURL", "references": [...]}], "charts": [{"repoURL", "name", "versions": [...]}]};
    each function returns the newest (first) discovered item of the repository.
    """
    artifacts = artifacts or {}

    def commit_from(*args: Any) -> Record | None:
        repo = normalize_git_url(_repo_arg("commitFrom", args, 1))
        for result in artifacts.get("git") or []:
            if normalize_git_url(result.get("repoURL") or "") == repo and result.get("commits"):
                return make_record("v1alpha1.DiscoveredCommit", DISCOVERED_COMMIT_FIELDS, result["commits"][0])
        return None

    def image_from(*args: Any) -> Record | None:
        repo = _repo_arg("imageFrom", args, 1)
        for result in artifacts.get("images") or []:
            if result.get("repoURL") == repo and result.get("references"):
                return make_record("v1alpha1.DiscoveredImageReference", DISCOVERED_IMAGE_FIELDS, result["references"][0])
        return None

    def chart_from(*args: Any) -> Record | None:
        repo = _repo_arg("chartFrom", args, 2)
        name = args[1] if len(args) == 2 else ""
        if not isinstance(name, str):
            raise ExpressionError(f"chartFrom: second argument must be string, got {type_name(name)}")
        for result in artifacts.get("charts") or []:
            if result.get("repoURL") != repo or (name and result.get("name") != name):
                continue
            if result.get("versions"):
                return make_record("v1alpha1.Chart", CHART_FIELDS,
                                   {"repoURL": repo, "name": result.get("name") or "", "version": result["versions"][0]})
        return None

    return {
        "commitFrom": Function(commit_from, "commitFrom"),
        "imageFrom": Function(image_from, "imageFrom"),
        "chartFrom": Function(chart_from, "chartFrom"),
        **time_functions(now),
    }
