"""Small real pipelines for integration tests: a bare GitOps repository and manifests
that promote into it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from tests.gitrepos import git

OVERLAY = """\
# the {env} overlay: Gantry edits the images below
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
- ../../base
"""


@dataclass
class GitOpsRepo:
    bare: Path
    url: str

    def commits(self, branch: str = "main") -> list[str]:
        return git("--git-dir", str(self.bare), "rev-list", branch).split()

    def show(self, path: str, branch: str = "main") -> str:
        return git("--git-dir", str(self.bare), "show", f"{branch}:{path}")

    def message(self, branch: str = "main") -> str:
        return git("--git-dir", str(self.bare), "log", "-1", "--format=%B", branch)


def make_gitops_repo(root: Path, envs: tuple[str, ...] = ("dev", "staging", "prod")) -> GitOpsRepo:
    bare = root / "gitops.git"
    seed = root / "seed"
    git("init", "-q", "--bare", "-b", "main", str(bare))
    git("init", "-q", "-b", "main", str(seed))
    (seed / "base").mkdir()
    (seed / "base" / "kustomization.yaml").write_text("resources: []\n")
    for env in envs:
        (seed / "env" / env).mkdir(parents=True)
        (seed / "env" / env / "kustomization.yaml").write_text(OVERLAY.format(env=env))
    git("add", "-A", cwd=seed)
    git("commit", "-q", "-m", "seed", cwd=seed)
    git("push", "-q", str(bare), "main", cwd=seed)
    return GitOpsRepo(bare=bare, url=f"file://{bare}")


def project_with_warehouse(project: str, image: str) -> str:
    """A Project and its Warehouse `app` watching one image repository."""
    return f"""apiVersion: kargo.akuity.io/v1alpha1
kind: Project
metadata:
  name: {project}
---
apiVersion: kargo.akuity.io/v1alpha1
kind: Warehouse
metadata:
  name: app
  namespace: {project}
spec:
  subscriptions:
  - image:
      repoURL: {image}
"""


def pipeline_manifests(project: str, repo_url: str, image: str = "registry.test/app") -> str:
    """Project, Warehouse and a dev -> staging chain that edit `env/<stage>`."""
    stages = []
    for name, upstream in (("dev", None), ("staging", "dev")):
        sources = "      direct: true" if upstream is None else f"      stages: [{upstream}]"
        stages.append(
            f"""---
apiVersion: kargo.akuity.io/v1alpha1
kind: Stage
metadata:
  name: {name}
  namespace: {project}
spec:
  vars:
  - name: repo
    value: {repo_url}
  requestedFreight:
  - origin: {{kind: Warehouse, name: app}}
    sources:
{sources}
  promotionTemplate:
    spec:
      steps:
      - uses: git-clone
        config:
          repoURL: ${{{{ vars.repo }}}}
          checkout:
          - branch: main
            path: ./src
      - uses: kustomize-set-image
        as: set-image
        config:
          path: ./src/env/{name}
          images:
          - image: {image}
      - uses: git-commit
        config:
          path: ./src
          messageFromSteps: [set-image]
      - uses: git-push
        config:
          path: ./src
          targetBranch: main
"""
        )
    return project_with_warehouse(project, image) + "".join(stages)


async def start_project_with_state(client, task_queue: str, project: str, repo_url: str, state) -> None:
    """A project as one from before would stand: `pipeline_manifests` applied to a
    ProjectWorkflow started with `state` (a ProjectState, e.g. a catalog of old)."""
    from temporalio.client import WithStartWorkflowOperation
    from temporalio.common import WorkflowIDConflictPolicy

    from client.applying import plan_apply
    from client.manifests import LoadedManifests
    from pipeline.manifests import parse_documents
    from workflows.messages import ApplyRequest, ApplyResult
    from workflows.project import ProjectInput

    documents = plan_apply(
        LoadedManifests(documents=parse_documents(pipeline_manifests(project, repo_url), "p.yaml"))
    ).documents[project]
    start = WithStartWorkflowOperation(
        "ProjectWorkflow",
        ProjectInput(name=project, state=state),
        id=f"project/{project}",
        task_queue=task_queue,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
    )
    await client.execute_update_with_start_workflow(
        "apply", ApplyRequest(documents=documents, default_project=project), start_workflow_operation=start, result_type=ApplyResult
    )


def pr_pipeline_manifests(
    project: str, repo_url: str, provider: str, image: str = "registry.test/app", argocd_app: str | None = None
) -> str:
    """dev (direct, pushes to main) -> prod through a pull request: the seed document's
    `pr-flow` PromotionTask (git-open-pr, then git-wait-for-pr) after a push to the
    promotion's own branch. The wait polls every second. With `argocd_app`, prod then points
    that Argo CD Application at the merge commit (argocd-update: verified once it is Healthy there)."""
    argocd = (
        f"""      - uses: argocd-update
        config:
          apps:
          - name: {argocd_app}
            sources:
            - repoURL: {repo_url}
              desiredRevision: ${{{{ outputs['pr::wait-for-pr'].commit }}}}
              updateTargetRevision: true
"""
        if argocd_app
        else ""
    )
    return (
        project_with_warehouse(project, image)
        + f"""---
apiVersion: kargo.akuity.io/v1alpha1
kind: PromotionTask
metadata: {{name: pr-flow, namespace: {project}}}
spec:
  vars:
  - name: repoURL
  - name: sourceBranch
  - name: targetBranch
    value: main
  steps:
  - uses: git-open-pr
    as: open-pr
    config:
      repoURL: ${{{{ vars.repoURL }}}}
      provider: {provider}
      sourceBranch: ${{{{ vars.sourceBranch }}}}
      targetBranch: ${{{{ vars.targetBranch }}}}
      labels: [promotion]
  - uses: git-wait-for-pr
    as: wait-for-pr
    config:
      repoURL: ${{{{ vars.repoURL }}}}
      provider: {provider}
      prNumber: ${{{{ task.outputs['open-pr'].pr.id }}}}
      pollInterval: 1s
"""
        + "".join(
            f"""---
apiVersion: kargo.akuity.io/v1alpha1
kind: Stage
metadata: {{name: {name}, namespace: {project}}}
spec:
  requestedFreight:
  - origin: {{kind: Warehouse, name: app}}
    sources:
{sources}
  promotionTemplate:
    spec:
      steps:
      - uses: git-clone
        config:
          repoURL: {repo_url}
          checkout: [{{branch: main, path: ./src}}]
      - uses: kustomize-set-image
        as: set-image
        config:
          path: ./src/env/{name}
          images: [{{image: {image}}}]
      - uses: git-commit
        config: {{path: ./src, messageFromSteps: [set-image]}}
      - uses: git-push
        as: push
        config: {push}
{tail}"""
            for name, sources, push, tail in (
                ("dev", "      direct: true", "{path: ./src, targetBranch: main}", ""),
                (
                    "prod",
                    "      stages: [dev]",
                    "{path: ./src, generateTargetBranch: true}",
                    f"""      - task: {{name: pr-flow}}
        as: pr
        vars:
        - name: repoURL
          value: {repo_url}
        - name: sourceBranch
          value: ${{{{ outputs.push.branch }}}}
"""
                    + argocd,
                ),
            )
        )
    )
