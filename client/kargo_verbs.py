"""Kargo's CLI commands (akuity/kargo pkg/cli/cmd) and what a Kargo user runs in Gantry
instead, for docs/kargo-compatibility.md. A test checks that every Gantry command named
here exists in the CLI."""

from __future__ import annotations

#: Kargo command -> (the Gantry command, or "" for none; a note)
KARGO_VERBS: dict[str, tuple[str, str]] = {
    "kargo apply -f": ("gantry apply -f", "`--prune` also deletes a project's documents absent from the files"),
    "kargo approve": ("gantry approve", ""),
    "kargo config": ("", "the client reads Temporal's settings (`TEMPORAL_ADDRESS`, profiles, flags)"),
    "kargo create project": ("gantry apply -f", "apply a Project document (or just use its namespace)"),
    "kargo create configmap": ("gantry apply -f", "apply a ConfigMap document"),
    "kargo create generic-credentials": ("", "secrets live in the worker's credentials file"),
    "kargo create repo-credentials": ("", "repository credentials live in the worker's credentials file"),
    "kargo create role / token, grant, revoke": ("", "Gantry has no users or roles of its own"),
    "kargo dashboard": ("", "Temporal Web shows every workflow; `gantry get pipeline` shows a project at a glance"),
    "kargo delete": ("gantry delete", "`-f FILE` or `KIND NAME -p PROJECT`; refuses while promotions run unless `--force`"),
    "kargo get projects": ("gantry get projects", ""),
    "kargo get projectconfig": ("gantry get projectconfig", ""),
    "kargo get warehouses": ("gantry get warehouses", ""),
    "kargo get stages": ("gantry get stages", "`gantry get stage NAME` for one"),
    "kargo get freight": ("gantry get freight", ""),
    "kargo get promotions": ("gantry get promotions", "`gantry get promotion NAME` for one"),
    "kargo get configmaps / clusterconfig / credentials / roles / tokens": ("", "not kept by Gantry as objects to list"),
    "kargo login / logout": ("", "the client connects to Temporal with its settings"),
    "kargo logs": ("gantry verification logs", "a job metric's output"),
    "kargo promote": ("gantry promote", "`--downstream-from` as Kargo's; `--abort NAME`, `--rollback`"),
    "kargo refresh stage": ("gantry refresh stage", ""),
    "kargo refresh warehouse": ("gantry refresh warehouse", ""),
    "kargo refresh projectconfig / clusterconfig": ("", "no equivalent"),
    "kargo server": ("gantry worker", "Temporal is the server; workers run the workflows"),
    "kargo update freight --alias": ("gantry freight alias", ""),
    "kargo update configmap / credentials": ("gantry apply -f", "re-apply the ConfigMap; credentials: the worker's file"),
    "kargo verify stage": ("gantry verify", "`--abort` as Kargo's"),
    "kargo version": ("gantry version", ""),
}
