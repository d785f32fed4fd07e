"""A loopback Azure DevOps Repos: the Git REST API 7.1 pull-request and refs paths the
provider uses, over real bare repositories (`tests.fakes.gitservice`).

    with AzureDevOpsFake(tmp_path / "ado", token="pat") as ado:
        ado.add_repo("org/proj/_git/app", source)   # the key is the repository's path
        url = ado.repo_url("org/proj/_git/app")      # http://127.0.0.1:<port>/org/proj/_git/app
        # the step config says provider: azure; the API is <origin>/org/proj/_apis/git/...

What it follows of the service (learn.microsoft.com, "Pull Requests" and "Refs", 7.1):

* `{org}/{project}/_apis/git/repositories/{repo}/pullrequests`: POST creates (201), GET
  lists (`searchCriteria.sourceRefName` / `targetRefName` / `status`, default `active`;
  `$top` / `$skip`; `{"value": [...], "count": n}`, newest first); `.../pullrequests/{id}`
  GET reads, PATCH updates (`status: completed` with `lastMergeSourceCommit` and
  `completionOptions.mergeStrategy` merges in git; `status: abandoned` abandons).
* `.../refs?filter=heads/<name>`: refs whose name *starts with* `refs/heads/<name>`.
* Every call needs `api-version`; path segments are case-insensitive.
* Errors are `{"$id": "1", "innerException": null, "message": ..., "typeName": ...,
  "typeKey": ..., "errorCode": 0, "eventId": 3000}`: 409 TF401179 for a second active PR
  between two branches, 404 TF401019 / TF401180 for a repository / PR that is not there,
  400 TF401398 for a branch that does not exist, 400 InvalidArgumentValueException for a
  completion without `lastMergeSourceCommit`; 401 TF400813 without the PAT; 429 with
  Retry-After and the X-RateLimit-* headers when rate-limited.
* `lastMergeCommit` of an active PR is a preview merge commit on no branch; of a completed
  one, the commit the target branch got. `mergeStatus` is `conflicts` when the branches
  conflict and `queued` while `PullRecord.pending_checks` says checks are running (each
  look counts one); a completion asked for meanwhile leaves the PR active. (Simplified:
  real Azure runs completions and policy evaluations asynchronously.)

Wording the docs do not give (a stale `lastMergeSourceCommit`, unknown strategies) is the
fake's own.
"""

from __future__ import annotations

import re
import time
import uuid
from typing import Any
from urllib.parse import unquote

from tests.fakes.gitservice import GIT_PATHS, ApiError, GitService, PullRecord, git

_PATH = re.compile(r"/([^/]+)/([^/]+)/_apis/git/repositories/([^/]+)(?:/(.*))?", re.IGNORECASE)
_STATUS = {"open": "active", "merged": "completed", "closed": "abandoned"}
STRATEGIES = {"noFastForward": "merge", "squash": "squash", "rebase": "rebase"}


def error(message: str, type_key: str, type_name: str = "Microsoft.TeamFoundation.SourceControl.WebServer") -> dict[str, Any]:
    return {
        "$id": "1", "innerException": None, "message": message,
        "typeName": f"{type_name}.{type_key}, {type_name}", "typeKey": type_key, "errorCode": 0, "eventId": 3000,
    }  # fmt: skip


def identity(name: str) -> dict[str, Any]:
    return {
        "displayName": name, "uniqueName": f"{name}@fake.test",
        "id": str(uuid.uuid5(uuid.NAMESPACE_DNS, f"{name}.fake.test")),
    }  # fmt: skip


class AzureDevOpsFake(GitService):
    """Azure DevOps Services for one organization or several, on loopback."""

    #: who the PAT belongs to: the creator and completer of what the API does
    user = "Gantry Bot"

    def __init__(self, *args: Any, **kw: Any):
        super().__init__(*args, **kw)
        #: (repo, number) -> the source and target commits a completion used
        self.completed_heads: dict[tuple[str, int], tuple[str, str]] = {}
        self.creators: dict[tuple[str, int], str] = {}
        self.strategies: dict[tuple[str, int], str] = {}
        self._previews: dict[tuple[str, str, str], str] = {}

    # -- where things are --------------------------------------------------------------

    def repo_url(self, repo: str) -> str:
        """`repo` is `<org>/<project>/_git/<name>`; its remote has no `.git` suffix."""
        return f"{self.base_url}/{repo}"

    def is_git_request(self, path: str) -> bool:
        return "/_git/" in path and bool(GIT_PATHS.search(path))

    def unauthorized(self) -> tuple[int, dict[str, str], Any]:
        message = "TF400813: Resource not available for anonymous access. Client authentication required."
        return 401, {"WWW-Authenticate": "Basic realm=\"https://dev.azure.com/\""}, error(
            message, "UnauthorizedRequestException", "Microsoft.TeamFoundation.Framework.Server"
        )

    def rate_limited_response(self) -> tuple[int, dict[str, str], Any]:
        headers = {
            "Retry-After": "7", "X-RateLimit-Resource": "Core", "X-RateLimit-Delay": "1.5",
            "X-RateLimit-Limit": "200", "X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(int(time.time()) + 7),
        }  # fmt: skip
        message = "TF400733: The request has been canceled: Request was blocked due to exceeding usage of resource 'Core' in namespace 'User'."
        return 429, headers, error(message, "RequestBlockedException", "Microsoft.TeamFoundation.Framework.Server")

    # -- reviewer actions (tests call these) -------------------------------------------

    def merge(self, repo: str, number: int, *, method: str = "merge", by: str = "reviewer") -> PullRecord:
        with self.lock:
            pr = self.find(repo, number)
            assert pr is not None
            heads = (self.head(repo, pr.source), self.head(repo, pr.target))
            done = super().merge(repo, number, method=method, by=by)
            self.completed_heads[(repo, number)] = heads
            self.strategies[(repo, number)] = next(k for k, v in STRATEGIES.items() if v == method)
            return done

    # -- the API -----------------------------------------------------------------------

    def api(self, method: str, path: str, query: dict[str, list[str]], body: Any) -> tuple[int, dict[str, str], Any]:
        m = _PATH.fullmatch(path)
        if not m:
            raise ApiError(404, error(f"The resource {path} does not exist.", "ResourceNotFoundException"))
        if not (query.get("api-version") or [""])[0]:
            raise ApiError(400, error(
                f'No api-version was supplied for the "{method}" request. The version must be supplied either as part '
                "of the Accept header (e.g. \"application/json; api-version=1.0\") or as a query parameter "
                "(e.g. '?api-version=1.0').", "VssVersionNotSpecifiedException", "Microsoft.VisualStudio.Services.WebApi",
            ))  # fmt: skip
        org, project, name = (unquote(g) for g in m.group(1, 2, 3))
        repo = f"{org}/{project}/_git/{name}"
        with self.lock:
            if repo not in self.pulls:
                raise ApiError(404, error(
                    f"TF401019: The Git repository with name or identifier {name} does not exist or you do not have "
                    "permissions for the operation you are attempting.", "GitRepositoryNotFoundException",
                ))  # fmt: skip
            rest = [unquote(s) for s in (m.group(4) or "").split("/") if s]
            kind = rest[0].lower() if rest else ""
            if kind == "pullrequests" and len(rest) == 1:
                if method == "POST":
                    return self._create(repo, body or {})
                if method == "GET":
                    return self._list(repo, query)
            elif kind == "pullrequests" and len(rest) == 2 and rest[1].isdigit():
                pr = self.find(repo, int(rest[1]))
                if pr is None:
                    raise ApiError(404, error("TF401180: The requested pull request was not found.", "GitPullRequestNotFoundException"))
                if method == "GET":
                    return 200, {}, self.pr_json(pr)
                if method == "PATCH":
                    return self._update(repo, pr, body or {})
            elif kind == "refs" and len(rest) == 1 and method == "GET":
                return self._refs(repo, (query.get("filter") or [""])[0])
            raise ApiError(404, error(f"The resource {path} does not exist.", "ResourceNotFoundException"))

    def _create(self, repo: str, body: dict[str, Any]) -> tuple[int, dict[str, str], Any]:
        refs = {}
        for field in ("sourceRefName", "targetRefName"):
            ref = str(body.get(field) or "")
            if not ref.startswith("refs/heads/") or not self.branch_exists(repo, ref.removeprefix("refs/heads/")):
                raise ApiError(400, error(
                    "TF401398: The pull request cannot be activated because the source and/or the target branch no "
                    "longer exists, or the requested refs are not branches", "GitPullRequestCannotBeActivated",
                ))  # fmt: skip
            refs[field] = ref.removeprefix("refs/heads/")
        source, target = refs["sourceRefName"], refs["targetRefName"]
        if any(p.state == "open" and p.source == source and p.target == target for p in self.prs(repo)):
            raise ApiError(409, error(
                "TF401179: An active pull request for the source and target branch already exists.",
                "GitPullRequestExistsException",
            ))  # fmt: skip
        labels = [str(label.get("name")) for label in body.get("labels") or [] if isinstance(label, dict)]
        pr = self.open(repo, source, target, str(body.get("title") or ""), str(body.get("description") or ""), labels)
        self.creators[(repo, pr.number)] = self.user
        return 201, {}, self.pr_json(pr)

    def _list(self, repo: str, query: dict[str, list[str]]) -> tuple[int, dict[str, str], Any]:
        def arg(name: str) -> str:
            return next((v[0] for k, v in query.items() if k.lower() == name.lower()), "")

        status = arg("searchCriteria.status") or "active"
        source, target = arg("searchCriteria.sourceRefName"), arg("searchCriteria.targetRefName")
        try:
            top = int(arg("$top") or 101)
            skip = int(arg("$skip") or 0)
        except ValueError:
            raise ApiError(400, error("Invalid argument value.\r\nParameter name: $top / $skip", "InvalidArgumentValueException")) from None
        chosen = [
            p for p in sorted(self.prs(repo), key=lambda p: -p.number)
            if status in ("all", _STATUS[p.state])
            and source in ("", f"refs/heads/{p.source}") and target in ("", f"refs/heads/{p.target}")
        ]  # fmt: skip
        page = [self.pr_json(p, queued=p.pending_checks > 0) for p in chosen[skip : skip + top]]  # a list is no look
        return 200, {}, {"value": page, "count": len(page)}

    def _update(self, repo: str, pr: PullRecord, body: dict[str, Any]) -> tuple[int, dict[str, str], Any]:
        status = body.get("status")
        if status not in (None, "completed", "abandoned", "active"):
            raise ApiError(400, error(f"Invalid argument value.\r\nParameter name: status {status!r}", "InvalidArgumentValueException"))
        if "title" in body:
            pr.title = str(body["title"])
        if "description" in body:
            pr.body = str(body["description"])
        if status == "abandoned" and pr.state == "open":
            self.close(repo, pr.number, by=self.user)
        elif status == "completed":
            if pr.state != "open":
                raise ApiError(400, error(
                    f"Invalid argument value.\r\nParameter name: pull request {pr.number} is not active", "InvalidArgumentValueException",
                ))  # fmt: skip
            commit = (body.get("lastMergeSourceCommit") or {}).get("commitId")
            if not commit:
                raise ApiError(400, error(
                    "Invalid argument value.\r\nParameter name: You must specify a valid LastMergeSourceCommit to "
                    "perform this operation.", "InvalidArgumentValueException",
                ))  # fmt: skip
            if commit != self.head(repo, pr.source):
                raise ApiError(409, error(
                    f"The source branch of pull request {pr.number} has moved on from {commit}: review the new commits "
                    "and complete it again", "GitPullRequestStaleException",
                ))  # fmt: skip
            strategy = ((body.get("completionOptions") or {}).get("mergeStrategy")) or "noFastForward"
            if strategy not in STRATEGIES:
                raise ApiError(400, error(
                    f"Invalid argument value.\r\nParameter name: completionOptions.mergeStrategy {strategy!r}",
                    "InvalidArgumentValueException",
                ))  # fmt: skip
            held = self._checks_running(pr)
            if not held and not self.has_conflicts(repo, pr):
                self.merge(repo, pr.number, method=STRATEGIES[strategy], by=self.user)
            # else: the PR stays active (conflicts, or policies still evaluating)
            return 200, {}, self.pr_json(pr, queued=held)
        return 200, {}, self.pr_json(pr, queued=False)

    def _refs(self, repo: str, filter_: str) -> tuple[int, dict[str, str], Any]:
        out = git("for-each-ref", "--format=%(refname) %(objectname)", "refs/heads/", cwd=self.bare(repo)).stdout
        prefix = "refs/" + filter_.removeprefix("refs/")
        refs = [line.split(" ", 1) for line in out.splitlines() if line]
        value = [
            {"name": name, "objectId": oid, "creator": identity(self.user), "url": f"{self.base_url}/{repo}/refs?filter={name[5:]}"}
            for name, oid in sorted(refs) if name.startswith(prefix)
        ]  # fmt: skip
        return 200, {}, {"value": value, "count": len(value)}

    # -- JSON ------------------------------------------------------------------------

    def _checks_running(self, pr: PullRecord) -> bool:
        if pr.pending_checks > 0:
            pr.pending_checks -= 1
            return True
        return False

    def _preview(self, repo: str, pr: PullRecord, source: str, target: str) -> str | None:
        """The preview merge of an active PR: a real merge commit on no branch (None: conflicts)."""
        key = (repo, source, target)
        if key not in self._previews:
            done = git("merge-tree", "--write-tree", target, source, cwd=self.bare(repo), check=False)
            if done.returncode != 0:
                return None
            tree = done.stdout.split()[0]
            message = f"Merge pull request {pr.number} from {pr.source} into {pr.target}"
            self._previews[key] = git("commit-tree", tree, "-p", target, "-p", source, "-m", message, cwd=self.bare(repo)).stdout.strip()
        return self._previews[key]

    def pr_json(self, pr: PullRecord, *, queued: bool | None = None) -> dict[str, Any]:
        """The GitPullRequest. Unless `queued` says whether checks hold it, this is a look
        at the checks (one of `pending_checks`)."""
        org, project, _, name = pr.repo.split("/")
        api = f"{self.base_url}/{org}/{project}/_apis/git/repositories/{name}"
        repo_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"{self.base_url}/{pr.repo}"))
        data: dict[str, Any] = {
            "repository": {
                "id": repo_id, "name": name, "url": api,
                "project": {"id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"{self.base_url}/{org}/{project}")), "name": project, "state": "wellFormed"},
            },
            "pullRequestId": pr.number, "codeReviewId": pr.number,
            "status": _STATUS[pr.state],
            "createdBy": identity(self.creators.get((pr.repo, pr.number), pr.author)),
            "creationDate": pr.created_at,
            "title": pr.title, "description": pr.body,
            "sourceRefName": f"refs/heads/{pr.source}", "targetRefName": f"refs/heads/{pr.target}",
            "isDraft": False,
            "mergeId": str(uuid.uuid5(uuid.NAMESPACE_URL, f"{api}/pullrequests/{pr.number}")),
            "reviewers": [],
            "labels": [{"id": str(uuid.uuid5(uuid.NAMESPACE_DNS, label)), "name": label, "active": True} for label in pr.labels],
            "url": f"{api}/pullRequests/{pr.number}",
            "supportsIterations": True,
        }  # fmt: skip
        if pr.state == "open":
            source, target = self.head(pr.repo, pr.source), self.head(pr.repo, pr.target)
            preview = self._preview(pr.repo, pr, source, target)
            if preview is None:
                data["mergeStatus"] = "conflicts"
            elif self._checks_running(pr) if queued is None else queued:
                data["mergeStatus"] = "queued"
            else:
                data["mergeStatus"] = "succeeded"
            if preview is not None:
                data["lastMergeCommit"] = {"commitId": preview, "url": f"{api}/commits/{preview}"}
        else:
            source, target = self.completed_heads.get((pr.repo, pr.number)) or (
                self.head(pr.repo, pr.source), self.head(pr.repo, pr.target)
            )
            data["mergeStatus"] = "succeeded" if pr.state == "merged" else "notSet"
            data["closedBy"] = identity(pr.closed_by or "reviewer")
            data["closedDate"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
            if pr.merge_commit:
                data["lastMergeCommit"] = {"commitId": pr.merge_commit, "url": f"{api}/commits/{pr.merge_commit}"}
                strategy = self.strategies.get((pr.repo, pr.number), "noFastForward")
                data["completionOptions"] = {"mergeStrategy": strategy, "deleteSourceBranch": False}
        data["lastMergeSourceCommit"] = {"commitId": source, "url": f"{api}/commits/{source}"}
        data["lastMergeTargetCommit"] = {"commitId": target, "url": f"{api}/commits/{target}"}
        return data
