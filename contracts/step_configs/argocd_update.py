"""``argocd-update``'s config (Kargo's argocd-update-config.json and argocd-common.json)."""

from __future__ import annotations

from pydantic import Field, model_validator

from contracts.step_configs._types import AppSelector, Bool, NonEmpty, one_of
from contracts.step_configs.base import FieldError, StepConfig




class HelmImageUpdate(StepConfig):
    key: NonEmpty
    value: str


class HelmParameterUpdates(StepConfig):
    images: list[HelmImageUpdate] = Field(min_length=1)


class KustomizeImageUpdate(StepConfig):
    repo_url: NonEmpty = Field(alias="repoURL")
    new_name: NonEmpty | None = None
    tag: str | None = None
    digest: str | None = None

    @model_validator(mode="after")
    def _tag_or_digest(self) -> KustomizeImageUpdate:
        if len(one_of(self, "tag", "digest")) > 1:
            raise FieldError("tag", "set 'tag' or 'digest', not both")
        return self


class KustomizeImageUpdates(StepConfig):
    images: list[KustomizeImageUpdate] | None = Field(default=None, min_length=1)


class AppSourceUpdate(StepConfig):
    repo_url: NonEmpty = Field(alias="repoURL")
    chart: NonEmpty | None = None
    desired_revision: NonEmpty | None = None
    update_target_revision: Bool = False
    helm: HelmParameterUpdates | None = None
    kustomize: KustomizeImageUpdates | None = None

    @model_validator(mode="after")
    def _revision_for_target(self) -> AppSourceUpdate:
        if self.update_target_revision and not self.desired_revision:
            raise FieldError("desiredRevision", "required when 'updateTargetRevision' is true")
        return self


class AppUpdate(StepConfig):
    name: NonEmpty | None = None
    namespace: NonEmpty | None = None
    selector: AppSelector | None = None
    sources: list[AppSourceUpdate] | None = Field(default=None, min_length=1)

    @model_validator(mode="after")
    def _name_or_selector(self) -> AppUpdate:
        if len(one_of(self, "name", "selector")) != 1:
            raise ValueError("set exactly one of 'name' and 'selector'")
        return self


class ArgoCDUpdateConfig(StepConfig):
    KARGO_DIFFERENCES = (
        "Applications are updated through Argo CD's REST API (Kargo patches the resource in Kubernetes), so Argo CD's RBAC and sync windows apply",
        "a git source's desired revision is matched on the normalised URL (Kargo compares URLs exactly there)",
        "unauthorized, missing and misconfigured apps are terminal failures (Kargo retries them as Errored)",
    )

    apps: list[AppUpdate] = Field(min_length=1)
