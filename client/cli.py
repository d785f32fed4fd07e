"""The `gantry` command line.

Connection flags follow Temporal's conventions and environment variables (see
client/settings.py); every command that talks to a server accepts them before the
command name: `gantry --address host:7233 --namespace prod get stages -p shop`.
"""

from __future__ import annotations

import asyncio
import getpass
import os
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Optional

import typer

from client.output import Col, OutputFormat, emit, errors
from client.errors import DEBUG_ENV, debug_enabled, user_message
from client.settings import TemporalSettings, address_callback, data_dir

app = typer.Typer(
    name="gantry",
    help="Gantry: Kargo-style GitOps promotions as durable Temporal workflows.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
get_app = typer.Typer(help="Show projects, stages, warehouses, freight and promotions.", no_args_is_help=True)
freight_app = typer.Typer(help="Create and inspect Freight.", no_args_is_help=True)
app.add_typer(get_app, name="get")
app.add_typer(freight_app, name="freight")


class State:
    settings = TemporalSettings()


@app.callback()
def main_options(
    address: Optional[str] = typer.Option(
        None, "--address", envvar="TEMPORAL_ADDRESS", help="Temporal frontend host:port", callback=address_callback
    ),
    namespace: Optional[str] = typer.Option(None, "--namespace", "-n", envvar="TEMPORAL_NAMESPACE"),
    api_key: Optional[str] = typer.Option(None, "--api-key", envvar="TEMPORAL_API_KEY", show_default=False),
    tls: Optional[bool] = typer.Option(None, "--tls/--no-tls", help="use TLS (implied by the cert flags)"),
    tls_cert: Optional[str] = typer.Option(None, "--tls-cert-path", envvar="TEMPORAL_TLS_CLIENT_CERT_PATH"),
    tls_key: Optional[str] = typer.Option(None, "--tls-key-path", envvar="TEMPORAL_TLS_CLIENT_KEY_PATH"),
    tls_ca: Optional[str] = typer.Option(None, "--tls-ca-path", envvar="TEMPORAL_TLS_SERVER_CA_CERT_PATH"),
    tls_server_name: Optional[str] = typer.Option(None, "--tls-server-name", envvar="TEMPORAL_TLS_SERVER_NAME"),
    task_queue: str = typer.Option("gantry", "--task-queue", envvar="GANTRY_TASK_QUEUE"),
    debug: bool = typer.Option(
        False, "--debug", envvar=DEBUG_ENV, help="show tracebacks (the CLI's, and a worker's in its log)"
    ),
) -> None:
    if debug:
        os.environ[DEBUG_ENV] = "1"  # the worker `gantry dev` and `gantry worker` run reads it too
    State.settings = TemporalSettings(
        address=address,
        namespace=namespace,
        api_key=api_key,
        tls=tls,
        tls_cert=tls_cert,
        tls_key=tls_key,
        tls_ca=tls_ca,
        tls_server_name=tls_server_name,
        task_queue=task_queue,
    )


def run(coro: Any) -> Any:
    """Run a coroutine; an error becomes one line on stderr and exit 1 (with --debug, the
    traceback first)."""
    try:
        return asyncio.run(coro)
    except (typer.Exit, typer.Abort, KeyboardInterrupt, SystemExit):
        raise
    except Exception as err:
        _print_error(err)
        raise typer.Exit(1) from None


def _print_error(err: BaseException) -> None:
    if debug_enabled():
        import traceback

        traceback.print_exception(err)
    from rich.markup import escape

    try:
        address = State.settings.connect_config().get("target_host")
    except Exception:  # a broken config file: say what failed without the address
        address = State.settings.address
    errors.print(f"[red]error:[/red] {escape(user_message(err, address))}", highlight=False, soft_wrap=True)


async def _connect():
    from client.api import Gantry

    return await Gantry.connect(State.settings)


ProjectOpt = typer.Option(..., "--project", "-p", envvar="GANTRY_PROJECT", help="project (Kargo namespace)")
OutputOpt = typer.Option(OutputFormat.table, "--output", "-o", help="table, wide (more columns), json or yaml (docs/cli.md)")


# -- servers and workers -----------------------------------------------------------------

AllowLocalJobsOpt = typer.Option(
    False,
    "--allow-local-jobs",
    envvar="GANTRY_ALLOW_LOCAL_JOBS",
    help="let job metrics run their command on this worker's host (off by default; docs/security.md)",
)
AllowLocalReposOpt = typer.Option(
    False,
    "--allow-local-repos",
    envvar="GANTRY_ALLOW_LOCAL_REPOS",
    help="let git use file:// URLs and local paths (tests, the quickstart, one-machine setups)",
)


LogFormatOpt = typer.Option(
    None,
    "--log-format",
    envvar="GANTRY_LOG_FORMAT",
    help="console or json (default: console on a terminal, JSON lines otherwise)",
)


def _logging(fmt: Optional[str]) -> None:
    from client.logging_setup import configure_logging

    try:
        configure_logging(fmt)
    except ValueError as err:
        raise typer.BadParameter(str(err), param_hint="--log-format") from None


def _allow(local_jobs: bool, local_repos: bool) -> None:
    """Turn the worker's opt-in capabilities on for this process (activities read the
    environment, activities/trust.py); off stays whatever the environment says."""
    from activities.trust import ALLOW_LOCAL_JOBS, ALLOW_LOCAL_REPOS

    if local_jobs:
        os.environ[ALLOW_LOCAL_JOBS] = "1"
    if local_repos:
        os.environ[ALLOW_LOCAL_REPOS] = "1"


@app.command()
def dev(
    data: Path = typer.Option(None, "--data-dir", envvar="GANTRY_DATA_DIR", help="default ~/.local/share/gantry"),
    port: int = typer.Option(7233, "--port", help="Temporal frontend port"),
    ui_port: int = typer.Option(8233, "--ui-port", help="Temporal Web port"),
    worker: bool = typer.Option(True, "--worker/--no-worker", help="run a worker in this process too"),
    allow_local_jobs: bool = AllowLocalJobsOpt,
    allow_local_repos: bool = AllowLocalReposOpt,
    log_format: Optional[str] = LogFormatOpt,
) -> None:
    """Start the embedded Temporal dev server (SQLite in the data directory) and a worker."""
    from client.devserver import DevServer
    from client.dev import run_dev

    _logging(log_format)
    _allow(allow_local_jobs, allow_local_repos)
    directory = data or data_dir()
    os.environ.setdefault("GANTRY_DATA_DIR", str(directory))
    server = DevServer(db_file=directory / "temporal.db", port=port, ui_port=ui_port, log_file=directory / "temporal.log")
    run(run_dev(server, with_worker=worker))


@app.command()
def worker(
    worker_id: Optional[str] = typer.Option(None, "--worker-id", envvar="GANTRY_WORKER_ID", help="default: host + work dir"),
    work_dir: Optional[Path] = typer.Option(None, "--work-dir", envvar="GANTRY_WORK_DIR"),
    allow_local_jobs: bool = AllowLocalJobsOpt,
    allow_local_repos: bool = AllowLocalReposOpt,
    metrics_port: Optional[int] = typer.Option(
        None, "--metrics-port", envvar="GANTRY_METRICS_PORT", help="serve Prometheus metrics on this port (/metrics)"
    ),
    grace_period: Optional[float] = typer.Option(
        None,
        "--grace-period",
        envvar="GANTRY_WORKER_GRACE_PERIOD",
        help="seconds a stopping worker (SIGTERM) lets running steps finish (default 60); a step cut off resumes elsewhere",
    ),
    health_port: Optional[int] = typer.Option(
        None, "--health-port", envvar="GANTRY_HEALTH_PORT", help="serve GET /healthz and /readyz on this port"
    ),
    log_format: Optional[str] = LogFormatOpt,
) -> None:
    """Run a worker against any Temporal server (flags or TEMPORAL_* variables)."""
    from client.dev import run_worker_forever

    _logging(log_format)
    _allow(allow_local_jobs, allow_local_repos)
    if work_dir:
        os.environ["GANTRY_WORK_DIR"] = str(work_dir)
    if grace_period is not None:
        os.environ["GANTRY_WORKER_GRACE_PERIOD"] = str(grace_period)  # what the workers' messages say too
    run(
        run_worker_forever(
            State.settings, worker_id=worker_id, grace=grace_period, health_port=health_port, metrics_port=metrics_port
        )
    )


# -- manifests ---------------------------------------------------------------------------


@app.command()
def apply(
    files: list[Path] = typer.Option(..., "--filename", "-f", help="YAML file or directory (repeatable)"),
    project: Optional[str] = typer.Option(None, "--project", "-p", help="project for documents without a namespace"),
    prune: bool = typer.Option(
        False, "--prune", help="also delete, in each project the files name, what the files do not name (printed)"
    ),
) -> None:
    """Validate manifests and apply them; a set that does not validate changes nothing."""
    from client.applying import plan_apply
    from client.manifests import load_paths
    from pipeline.manifests import ManifestError

    try:
        loaded = load_paths([str(f) for f in files], default_project=project)
    except ManifestError as err:
        for issue in err.issues:
            errors.print(f"[red]error:[/red] {issue}", highlight=False, soft_wrap=True)
        raise typer.Exit(1) from None

    plan = plan_apply(loaded, project)

    async def go() -> None:
        from client.deleting import check_prune

        gantry = await _connect()
        if prune:
            await check_prune(gantry, plan.documents)
        for line in await gantry.apply(plan.documents, prune=prune):
            print(line)
        for freight_project, freight in plan.freight:
            created = await gantry.create_freight(freight_project, freight)
            print(f"freight/{created['name']} ({created.get('alias')}) applied")

    run(go())


@app.command()
def delete(
    kind: Optional[str] = typer.Argument(None, help="project, projectconfig, warehouse, stage, promotiontask, "
                                         "clusterpromotiontask, analysistemplate, clusteranalysistemplate"),
    name: Optional[str] = typer.Argument(None),
    files: Optional[list[Path]] = typer.Option(None, "--filename", "-f", help="delete every document of these files"),
    project: Optional[str] = typer.Option(None, "--project", "-p", envvar="GANTRY_PROJECT", help="project (Kargo namespace)"),
    force: bool = typer.Option(False, "--force", help="abort promotions running on Stages that go, then delete"),
    dry_run: bool = typer.Option(False, "--dry-run", help="print what would be deleted, delete nothing"),
    ignore_not_found: bool = typer.Option(False, "--ignore-not-found", help="skip objects that do not exist"),
) -> None:
    """Delete objects (a Project: everything in it) and end the workflows they owned.

    Refused while objects that stay still reference them (naming those), and while a
    promotion runs on a Stage that goes, unless --force (docs/cli.md)."""
    from client.manifests import read_documents
    from pipeline.deletion import CLUSTER_KINDS, ObjectRef, resolve_kind, targets_of
    from pipeline.manifests import ManifestError

    if files and (kind or name):
        errors.print("[red]error:[/red] give either -f FILE or KIND NAME, not both", highlight=False)
        raise typer.Exit(2)
    if files:
        try:
            docs, _ = read_documents([str(f) for f in files])
            by_scope = targets_of(docs, project)
        except ManifestError as err:
            for issue in err.issues:
                errors.print(f"[red]error:[/red] {issue}", highlight=False, soft_wrap=True)
            raise typer.Exit(1) from None
    else:
        if not (kind and name):
            errors.print("[red]error:[/red] give KIND NAME (e.g. `stage uat -p PROJECT`) or -f FILE", highlight=False)
            raise typer.Exit(2)
        try:
            resolved = resolve_kind(kind)
        except ValueError as err:
            errors.print(f"[red]error:[/red] {err}", highlight=False, soft_wrap=True)
            raise typer.Exit(2) from None
        scope = name if resolved == "Project" else None if resolved in CLUSTER_KINDS else project
        if resolved not in CLUSTER_KINDS and not scope:
            errors.print(f"[red]error:[/red] a {resolved} belongs to a project: give -p PROJECT", highlight=False)
            raise typer.Exit(2)
        by_scope = {scope: [ObjectRef(kind=resolved, name=name)]}

    async def go() -> None:
        from client.deleting import delete as delete_objects

        gantry = await _connect()
        for line in await delete_objects(
            gantry, by_scope, force=force, dry_run=dry_run, ignore_not_found=ignore_not_found
        ):
            print(line)

    run(go())


# -- get ---------------------------------------------------------------------------------
#
# Each `get` prints a table (`-o wide`: more columns) or Kargo-shaped documents
# (`-o json|yaml`, client/documents.py; docs/cli.md is the contract).


def _structured(output: OutputFormat) -> bool:
    return output in (OutputFormat.json, OutputFormat.yaml)


def _time(value: Any) -> str:
    from client.documents import rfc3339

    return rfc3339(value) or "" if value else ""


def _freight_label(name: str | None, wide: bool) -> str:
    """A Freight name as tables show it: whole in `-o wide`, else the first 12 characters
    (any prefix of 7 or more is accepted back)."""
    return (name or "") if wide else (name or "")[:12]


@get_app.command("projects")
def get_projects(output: OutputFormat = OutputOpt) -> None:
    async def go() -> None:
        from client.documents import item_list, project_document

        gantry = await _connect()
        names = await gantry.projects()
        raw = item_list([project_document(n) for n in names])
        emit([{"name": n, "workflow id": f"project/{n}"} for n in names],
             ["name", Col("WORKFLOW ID", wide=True)], output, raw=raw, title="projects")  # fmt: skip

    run(go())


@get_app.command("stages")
def get_stages(project: str = ProjectOpt, output: OutputFormat = OutputOpt) -> None:
    """Every Stage's health: Freight, verification, soak, lock and queue.

    The latest verification of the current Freight, the soak left before it may go
    downstream, the promotion holding the Stage's lock and how many wait (docs/cli.md)."""

    async def go() -> None:
        from client.documents import current_verification, item_list, short_name, soak_text, soaks, stage_document

        gantry = await _connect()
        facts = await gantry.stage_facts(project, history=_structured(output))
        models = await _all_stage_models(gantry, project)
        now = datetime.now(timezone.utc)
        if _structured(output):
            emit([], [], output, raw=item_list([stage_document(project, f, models, now) for f in facts]))
            return
        rows = []
        for f in facts:
            s, lock = f.view, f.lock
            verification = current_verification(f) or {}
            rows.append(
                {
                    "name": s.name,
                    "freight": s.freight_alias or _freight_label(s.freight, False),
                    "freight name": s.freight or "",
                    "since": _time(s.since),
                    "verification": verification.get("phase") or "",
                    "verification id": verification.get("id") or "",
                    "soak": soak_text(soaks(s.name, f.freight.get(s.freight or ""), models), now),
                    "lock": short_name(lock.holder) if lock and lock.holder else "",
                    "queue": len(lock.queue) if lock else 0,
                    "upstream": ", ".join(s.upstream) or ("(direct)" if s.direct else ""),
                }
            )
        columns = ["name", "freight", Col("FREIGHT NAME", wide=True), Col("SINCE", wide=True), "verification",
                   Col("VERIFICATION ID", wide=True), "soak", "lock", "queue", Col("UPSTREAM", wide=True)]  # fmt: skip
        emit(rows, columns, output, title="stages")

    run(go())


@get_app.command("projectconfig")
def get_project_config(project: str = ProjectOpt, output: OutputFormat = OutputOpt) -> None:
    """The project's ProjectConfig (Kargo: `kargo get projectconfig`).

    The table shows, per Stage, the promotion policy that decides for it and whether
    auto-promotion is on there."""

    async def go() -> None:
        from client.api import GantryError
        from client.documents import policy_text, project_config_document
        from pipeline.manifests import ManifestSet

        gantry = await _connect()
        manifests = ManifestSet.model_validate(await gantry.manifests(project)).projects.get(project)
        if manifests is None or manifests.project_config is None:
            raise GantryError(f"project {project} has no ProjectConfig applied")
        doc = project_config_document(project, manifests)
        policies = manifests.project_config.spec.promotion_policies
        rows = [
            {
                "stage": s["name"],
                "policy": "-" if s.get("policy") is None else f"{s['policy']}: {policy_text(policies[s['policy']])}",
                "auto-promotion": "on" if s["autoPromotionEnabled"] else "off",
            }
            for s in doc["status"].get("stages", [])
        ]
        emit(rows, ["stage", "policy", "auto-promotion"], output, raw=doc, title="stages")

    run(go())


@get_app.command("warehouses")
def get_warehouses(project: str = ProjectOpt, output: OutputFormat = OutputOpt) -> None:
    """Warehouses with their subscriptions and how their last discovery went."""

    async def go() -> None:
        from client.documents import item_list, warehouse_document

        gantry = await _connect()
        manifests = await gantry.manifests(project)
        warehouses = ((manifests.get("projects") or {}).get(project) or {}).get("warehouses") or {}
        names = sorted(warehouses)
        statuses = await asyncio.gather(*(gantry.warehouse_status(project, n) for n in names))
        if _structured(output):
            raw = item_list([warehouse_document(project, n, warehouses[n], s) for n, s in zip(names, statuses)])
            emit([], [], output, raw=raw)
            return
        rows = [_warehouse_row(n, warehouses[n], s) for n, s in zip(names, statuses)]
        emit(rows, WAREHOUSE_COLUMNS, output, title="warehouses")

    run(go())


WAREHOUSE_COLUMNS: list[Any] = [
    "name", Col("INTERVAL", wide=True), "subscriptions", "freight", Col("FREIGHT NAME", wide=True),
    Col("LAST DISCOVERY", wide=True), Col("NEXT DISCOVERY", wide=True), "status",
]  # fmt: skip


def _warehouse_row(name: str, wh: dict[str, Any], status: Any) -> dict[str, Any]:
    subs = []
    for sub in (wh.get("spec") or {}).get("subscriptions") or []:
        for kind in ("image", "git", "chart"):
            if sub.get(kind):
                subs.append(f"{kind}:{sub[kind].get('repoURL')}")
    row = {"name": name, "interval": (wh.get("spec") or {}).get("interval"), "subscriptions": "\n".join(subs)}
    if status is None:
        return {**row, "freight": "-", "status": "not started"}
    state = f"error: {status.error}" if status.error else (status.message or "ok")
    if status.discovering:
        state = "discovering; " + state
    return {
        **row,
        "last discovery": _time(status.last_pass_at) or "-",
        "next discovery": _time(status.next_pass_at),
        "freight": status.last_freight_alias or "-",
        "freight name": status.last_freight or "",
        "status": state,
    }


refresh_app = typer.Typer(help="Make Warehouses discover now, or Stages take their auto-promotion candidates.", no_args_is_help=True)
app.add_typer(refresh_app, name="refresh")


@refresh_app.command("warehouse")
def refresh_warehouse(
    name: str = typer.Argument(..., help="the Warehouse"),
    project: str = ProjectOpt,
    wait: bool = typer.Option(False, "--wait", help="wait for the discovery pass and show its outcome"),
    output: OutputFormat = OutputOpt,
) -> None:
    """Discover now instead of at the next interval (Kargo: `kargo refresh warehouse`)."""

    async def go() -> None:
        gantry = await _connect()
        status = await gantry.refresh_warehouse(project, name, wait=wait)
        if status is None:
            print(f"warehouse {name}: refresh requested")
            return
        manifests = await gantry.manifests(project)
        wh = ((manifests.get("projects") or {}).get(project) or {}).get("warehouses", {}).get(name, {})
        from client.documents import warehouse_document

        row = _warehouse_row(name, wh, status)
        columns = ["name", "last discovery", "freight", Col("FREIGHT NAME", wide=True), "status"]
        emit([row], columns, output, raw=warehouse_document(project, name, wh, status))
        if status.error:
            raise typer.Exit(1)

    run(go())


@refresh_app.command("stage")
def refresh_stage(
    name: str = typer.Argument(..., help="the Stage"),
    project: str = ProjectOpt,
    output: OutputFormat = OutputOpt,
) -> None:
    """Offer the Stage its auto-promotion candidates now (Kargo: `kargo refresh stage`).

    Per requested origin, the newest Freight available to it (MatchUpstream: the one its
    upstream has) that it does not have already; then the Stage is shown (docs/cli.md)."""

    async def go() -> None:
        gantry = await _connect()
        offers = await gantry.refresh_stage(project, name)
        if offers is None:
            print(f"stage {name}: auto-promotion is off (ProjectConfig promotionPolicies): nothing offered", file=sys.stderr)
        elif not offers:
            print(f"stage {name}: no auto-promotion candidate it does not have already", file=sys.stderr)
        for offer in offers or []:
            where = f"from {offer.upstream}" if offer.upstream else "direct"
            print(f"stage {name}: offered freight {offer.freight[:12]} ({where})", file=sys.stderr)

    run(go())
    get_stage(name, project, output)


def _artifact_lines(freight: dict[str, Any], wide: bool) -> str:
    """One artifact a line, each whole: `repo:tag` (`repo@digest` without a tag), commits by
    their id (the first 7 characters, as git shortens, unless wide), charts `name:version`."""
    lines = []
    for i in freight.get("images") or []:
        ref = f"{i.get('repoURL')}:{i['tag']}" if i.get("tag") else f"{i.get('repoURL')}@{i.get('digest') or ''}"
        if wide and i.get("tag") and i.get("digest"):
            ref += f"@{i['digest']}"
        lines.append(ref)
    for c in freight.get("commits") or []:
        ident = c.get("id") or c.get("tag") or ""
        lines.append(f"{c.get('repoURL')}@{ident if wide or c.get('tag') else ident[:7]}")
    for c in freight.get("charts") or []:
        lines.append(f"{c.get('name') or c.get('repoURL')}:{c.get('version')}")
    return "\n".join(lines)


@get_app.command("freight")
def get_freight(
    project: str = ProjectOpt,
    name: Optional[str] = typer.Argument(None, help="name, alias or name prefix (7+ characters); all when omitted"),
    limit: int = typer.Option(100, "--limit", "-n", min=1, help="at most this many, newest first"),
    continue_token: Optional[str] = typer.Option(
        None, "--continue", help="the token a previous page printed: the next page"
    ),
    warehouse: Optional[str] = typer.Option(None, "--warehouse", "-w", help="only Freight from this Warehouse"),
    output: OutputFormat = OutputOpt,
    timeline: bool = typer.Option(False, "--timeline", help="which Freight has been where: a column per Stage"),
) -> None:
    if timeline:
        from client.commands.pipeline import get_freight_timeline

        return get_freight_timeline(project, limit, continue_token, warehouse, output)

    async def go() -> None:
        from client.documents import freight_document, item_list, rfc3339
        from pipeline.manifests import ManifestSet

        gantry = await _connect()
        next_token = None
        if name:
            items = [await gantry.get_freight(project, name)]
        else:
            page = await gantry.freight_page(project, limit=limit, token=continue_token, warehouse=warehouse)
            items, next_token = page.items, page.next_token
        if _structured(output):
            documents = [freight_document(f, project) for f in items]
            emit([], [], output, raw=documents[0] if name else item_list(documents, next_token))
        else:
            manifests = ManifestSet.model_validate(await gantry.manifests(project))
            now = datetime.now(timezone.utc)
            wide = output == OutputFormat.wide
            rows = []
            for f in items:
                availability = await gantry.availability(project, f, manifests)
                rows.append(
                    {
                        "name": _freight_label(f["name"], wide),
                        "alias": f.get("alias"),
                        "origin": (f.get("origin") or {}).get("name"),
                        "artifacts": _artifact_lines(f, wide),
                        "in": ", ".join(sorted(((f.get("status") or {}).get("currentlyIn") or {}).keys())),
                        "created": rfc3339(f.get("discoveredAt")) or "",
                        "stages": ", ".join(f"{stage}: {a.describe(now)}" for stage, a in availability.items()),
                    }
                )
            columns = ["name", "alias", Col("ORIGIN", wide=True), "artifacts", "in", Col("CREATED", wide=True), "stages"]
            emit(rows, columns, output, title="freight")
        if next_token:  # on stderr, so JSON and YAML on stdout stay one document
            errors.print(f"more: gantry get freight -p {project} --limit {limit} --continue {next_token}", soft_wrap=True)

    run(go())


@get_app.command("promotions")
def get_promotions(
    project: str = ProjectOpt,
    stage: Optional[str] = typer.Option(None, "--stage", "-s"),
    collected: bool = typer.Option(
        False, "--collected", help="also those past garbage collection (and of a deleted project of the same name) that Temporal still retains"
    ),
    output: OutputFormat = OutputOpt,
) -> None:
    async def go() -> None:
        from client.documents import item_list, promotion_from_listing

        gantry = await _connect()
        listed = await gantry.promotions(project, stage, collected=collected)
        if _structured(output):
            emit([], [], output, raw=item_list([promotion_from_listing(project, r) for r in listed]))
            return
        wide = output == OutputFormat.wide
        rows = [
            {
                "name": r["name"],
                "stage": r["stage"],
                "freight": _freight_label(r["freight"], wide),
                "phase": r["phase"] or ("Pending" if r["status"] == "running" else ""),
                "started": _time(r["started"]),
                "finished": _time(r.get("finished")),
                "workflow id": r["id"],
            }
            for r in listed
        ]
        columns = ["name", "stage", "freight", "phase", "started", Col("FINISHED", wide=True), Col("WORKFLOW ID", wide=True)]
        emit(rows, columns, output, title="promotions")

    run(go())


@get_app.command("promotion")
def get_promotion(
    name: str = typer.Argument(..., help="promotion name, a prefix of one (7+ characters), or workflow id"),
    project: str = ProjectOpt,
    output: OutputFormat = OutputOpt,
    watch: bool = typer.Option(False, "--watch", "-w", help="follow it step by step until it ends (as promote --wait)"),
) -> None:
    """One promotion with every step's record."""
    if watch:
        raise typer.Exit(run(_watch_promotion(project, name)))

    async def go() -> None:
        from client.documents import promotion_document, short_name

        gantry = await _connect()
        status = await gantry.promotion_status(await gantry.find_promotion(project, name))
        if _structured(output):
            emit([], [], output, raw=promotion_document(project, status))
            return
        rows = [
            {
                "#": i,
                "step": s.alias,
                "uses": s.uses,
                "status": s.status,
                "errors": s.error_count,
                "started": _time(s.started_at),
                "finished": _time(s.finished_at),
                "message": s.message,
            }
            for i, s in enumerate(status.steps, start=1)
        ]
        print(f"{short_name(status.name)}: {status.phase}  {status.message}".rstrip())
        if output == OutputFormat.wide:
            print(f"workflow id: {status.name}; freight: {status.freight}; started: {_time(status.started_at) or '-'}; "
                  f"finished: {_time(status.finished_at) or '-'}")  # fmt: skip
        columns = ["#", "step", "uses", Col("STATUS"), "errors", Col("STARTED", wide=True), Col("FINISHED", wide=True), "message"]
        emit(rows, columns, output, title="steps")

    run(go())


async def _watch_promotion(project: str, name: str) -> int:
    """`get promotion NAME --watch`: the follow loop of `promote --wait`; exit by its outcome."""
    from client.progress import Detached, detach_hint, follow_promotion

    gantry = await _connect()
    workflow_id = await gantry.find_promotion(project, name)
    try:
        status = await follow_promotion(gantry, workflow_id)
    except Detached:
        for line in detach_hint(workflow_id):
            print(line, flush=True)
        return 130
    return 0 if status.phase == "Succeeded" else 1


# -- freight -----------------------------------------------------------------------------


@freight_app.command("create")
def freight_create(
    project: str = ProjectOpt,
    warehouse: Optional[str] = typer.Option(None, "--warehouse", "-w", help="origin; default: the project's only Warehouse"),
    image: list[str] = typer.Option([], "--image", help="REPO:TAG or REPO@DIGEST (repeatable)"),
    commit: list[str] = typer.Option([], "--commit", help="REPO_URL@SHA (repeatable)"),
    chart: list[str] = typer.Option([], "--chart", help="REPO_URL/NAME:VERSION (repeatable)"),
    alias: Optional[str] = typer.Option(None, "--alias"),
    output: OutputFormat = OutputOpt,
) -> None:
    """Create Freight by hand (Warehouses create it from discovery)."""
    from pipeline.freight import parse_chart_ref, parse_commit_ref, parse_image_ref

    try:
        freight: dict[str, Any] = {
            "images": [parse_image_ref(i) for i in image],
            "commits": [parse_commit_ref(c) for c in commit],
            "charts": [parse_chart_ref(c) for c in chart],
        }
    except ValueError as err:
        errors.print(f"[red]error:[/red] {err}", highlight=False)
        raise typer.Exit(1) from None
    if alias:
        freight["alias"] = alias

    async def go() -> None:
        gantry = await _connect()
        origin = warehouse
        if not origin:
            manifests = await gantry.manifests(project)
            names = sorted(((manifests.get("projects") or {}).get(project) or {}).get("warehouses") or {})
            if len(names) != 1:
                from client.api import GantryError

                raise GantryError(
                    "name the origin with --warehouse"
                    + (f" (one of: {', '.join(names)})" if names else " (the project has no Warehouse)")
                )
            origin = names[0]
        freight["origin"] = {"kind": "Warehouse", "name": origin}
        created = await gantry.create_freight(project, freight)
        from client.documents import freight_document

        emit(
            [{"name": created["name"], "alias": created.get("alias"), "origin": origin}],
            ["name", "alias", "origin"],
            output,
            raw=freight_document(created, project),
        )

    run(go())


@freight_app.command("alias")
def freight_alias(
    freight: str = typer.Argument(..., help="Freight name, alias or name prefix"),
    alias: str = typer.Argument(..., help="the new alias (unique in the project)"),
    project: str = ProjectOpt,
) -> None:
    """Give Freight a new alias (Kargo: `kargo update freight --new-alias`)."""

    async def go() -> None:
        gantry = await _connect()
        updated = await gantry.set_freight_alias(project, freight, alias)
        print(f"freight/{updated['name']} is now {updated.get('alias')}")

    run(go())


# -- promote -----------------------------------------------------------------------------


@app.command()
def promote(
    project: str = ProjectOpt,
    stage: Optional[str] = typer.Option(None, "--stage", "-s"),
    downstream_from: Optional[str] = typer.Option(
        None, "--downstream-from", metavar="STAGE", help="promote to every Stage directly downstream of STAGE"
    ),
    freight: Optional[str] = typer.Option(None, "--freight", help="Freight name, alias or name prefix"),
    wait: bool = typer.Option(False, "--wait", help="show each step as it runs; exit 1 unless it succeeds"),
    dry_run: bool = typer.Option(False, "--dry-run", help="render configs, run file steps in a scratch clone, push nothing, print the diff"),
    abort: Optional[str] = typer.Option(None, "--abort", metavar="NAME", help="abort the running promotion NAME"),
    wait_for_soak: bool = typer.Option(False, "--wait-for-soak", help="if the Freight is still soaking upstream, wait for it (durably)"),
    rollback: bool = typer.Option(False, "--rollback", help="mark it a rollback (Kargo's rollback annotation): steps see ctx.meta.promotion.rollback"),
) -> None:
    """Promote Freight to a Stage, or to every Stage directly downstream of one.

    --downstream-from STAGE (Kargo's): one promotion per Stage that takes the Freight's
    origin from STAGE, refused before any starts unless each may take it. --abort NAME
    aborts a running promotion."""
    from client.api import GantryError
    from client.progress import Detached, detach_hint, follow_promotion

    async def go() -> int:
        gantry = await _connect()
        if abort:
            workflow_id = await gantry.find_promotion(project, abort)
            await gantry.abort_promotion(workflow_id, f"aborted by {getpass.getuser()}")
            print(f"promotion {abort}: abort requested")
            return 0
        if downstream_from:
            if stage or dry_run or not freight:
                raise GantryError("--downstream-from takes --freight, and neither --stage nor --dry-run")
            return await _promote_downstream(gantry, project, downstream_from, freight, wait, wait_for_soak)
        if not stage or not freight:
            raise GantryError("--stage and --freight are required (or --downstream-from STAGE, or --abort NAME)")
        handle = await gantry.promote(
            project, stage, freight, actor=getpass.getuser(), dry_run=dry_run, wait_for_soak=wait_for_soak, check=True,
            rollback=rollback,
        )
        print(f"promotion {handle.id.rsplit('/', 1)[-1]} started (workflow id {handle.id})")
        if not (wait or dry_run):
            return 0
        try:
            status = await follow_promotion(gantry, handle.id)
        except Detached as detached:
            for line in detach_hint(detached.workflow_id):
                print(line, flush=True)
            return 130
        if dry_run:
            _print_dry_run(status)
        return 0 if status.phase == "Succeeded" else 1

    code = run(go())
    raise typer.Exit(code)


async def _promote_downstream(gantry: Any, project: str, upstream: str, freight: str, wait: bool, wait_for_soak: bool) -> int:
    """Kargo's `promote --downstream-from`: one promotion per downstream Stage; with --wait,
    exit 1 unless every one succeeds."""
    handles = await gantry.promote_downstream(
        project, upstream, freight, actor=getpass.getuser(), wait_for_soak=wait_for_soak
    )
    for handle in handles:
        print(f"promotion {handle.id.rsplit('/', 1)[-1]} started (workflow id {handle.id})")
    if not wait:
        return 0
    results = await asyncio.gather(*(handle.result() for handle in handles), return_exceptions=True)
    failed = 0
    for handle, result in zip(handles, results):
        phase = result.phase if not isinstance(result, BaseException) else user_message(result)
        print(f"promotion {handle.id.rsplit('/', 1)[-1]}: {phase}")
        failed += phase != "Succeeded"
    return 1 if failed else 0


def _print_dry_run(status) -> None:
    import json as _json

    for step in status.steps:
        print(f"--- {step.alias} ({step.uses}): {step.status}")
        if step.config is not None:
            print(_json.dumps(step.config, indent=2))
    print("--- diff of the working directory")
    print(status.diff or "(no changes)")


@app.command()
def approve(
    project: str = ProjectOpt,
    stage: str = typer.Option(..., "--stage", "-s"),
    freight: str = typer.Option(..., "--freight", help="Freight name, alias or name prefix"),
) -> None:
    """Approve Freight for a Stage: it may be promoted there without verification or soak."""

    async def go() -> None:
        gantry = await _connect()
        found = await gantry.approve(project, stage, freight, getpass.getuser())
        print(f"freight {found.get('alias') or found['name']} approved for stage {stage} by {getpass.getuser()}")

    run(go())


@get_app.command("stage")
def get_stage(
    name: str = typer.Argument(..., help="stage name"),
    project: str = ProjectOpt,
    output: OutputFormat = OutputOpt,
) -> None:
    """One Stage: its current Freight, the lock holder and queue, and its Freight history."""

    async def go() -> None:
        from client.documents import short_name, stage_document

        gantry = await _connect()
        found = await gantry.stage_facts(project, history=True, names={name})
        if not found:
            from client.api import GantryError

            raise GantryError(f"stage {name!r} does not exist in project {project}")
        facts = found[0]
        if _structured(output):
            models = await _all_stage_models(gantry, project)
            emit([], [], output, raw=stage_document(project, facts, models, datetime.now(timezone.utc)))
            return
        wide = output == OutputFormat.wide
        view, lock = facts.view, facts.lock
        label = _freight_label(view.freight, wide)
        print(f"stage {name}: freight {view.freight_alias or '-'} ({label}) since {_time(view.since) or '-'}")
        print(f"lock: held by {short_name(lock.holder) if lock and lock.holder else 'nobody'}; waiting: {len(lock.queue) if lock else 0}")
        running = _running_step(facts.holder)
        if running is not None:  # e.g. a pull request waiting for review
            print(f"  now: {running.alias} ({running.uses}): {running.message or running.status}")
        for waiting in lock.queue if lock else []:
            print(f"  - {short_name(waiting)}")
        for freight_name, until in sorted((lock.pending if lock else {}).items(), key=lambda item: item[1]):
            print(f"auto-promotion of {_freight_label(freight_name, wide)} when its soak ends at {_time(until)}")
        rows = [
            {"freight": _freight_label(h["freight"], wide), "since": _time(h["since"]),
             "until": _time(h.get("until")) or "(current)", "promotion": short_name(h.get("promotion"))}  # fmt: skip
            for h in facts.visits
        ]
        emit(rows, ["freight", "since", "until", "promotion"], output, title="freight history")
        if facts.verifications:
            print()
            runs = [
                {"freight": _freight_label(v.get("freight"), wide), "phase": v.get("phase"), "finished": _time(v.get("finishedAt")),
                 "id": v.get("id"), "message": v.get("message") or ""}  # fmt: skip
                for v in facts.verifications
            ]
            emit(runs, ["freight", "phase", "finished", Col("ID", wide=True), "message"], output, title="verifications")

    run(go())


async def _all_stage_models(gantry: Any, project: str) -> dict[str, Any]:
    from pipeline.manifests import ManifestSet

    manifests = ManifestSet.model_validate(await gantry.manifests(project))
    return dict(manifests.projects[project].stages) if project in manifests.projects else {}


def _running_step(status: Any) -> Any:
    """The step a promotion is at, when it runs one."""
    if status is None or status.current_step is None or not 0 <= status.current_step < len(status.steps):
        return None
    step = status.steps[status.current_step]
    return step if step.status == "Running" else None


def _register_plugins() -> None:
    """Commands that live in their own modules (they import this module: under
    `python -m client.cli` it must be the same module object, not a second copy)."""
    import importlib

    sys.modules.setdefault("client.cli", sys.modules[__name__])

    for module in ("client.commands.validate", "client.commands.expr", "client.commands.verify", "client.commands.pipeline",
                   "client.commands.codec_server", "client.commands.version"):
        try:
            importlib.import_module(module).register(app)
        except ModuleNotFoundError as err:
            if err.name != module:
                raise


_register_plugins()


def _exit_hard(run_cli) -> None:
    """Run the CLI, then leave with os._exit: Temporal's Rust runtime keeps threads that can
    crash a finalizing interpreter ("PyGILState_Release ... finalizing") after asyncio.run."""
    code: int = 0
    try:
        run_cli()
    except SystemExit as done:
        code = done.code if isinstance(done.code, int) else (0 if done.code is None else 1)
        if isinstance(done.code, str):
            print(done.code, file=sys.stderr)
    except KeyboardInterrupt:
        code = 130
    except BaseException as err:  # raised outside run(): one line (the traceback with --debug)
        try:
            _print_error(err)
        except BaseException:
            import traceback

            traceback.print_exc()
        code = 1
    finally:
        from client.tracing import flush

        flush()  # spans the process still holds (traces on: client/tracing.py)
        sys.stdout.flush()
        sys.stderr.flush()
    os._exit(code)


def main() -> None:
    _exit_hard(app)



def worker_main(argv: list[str]) -> None:
    """`python worker.py ...`: the `worker` command, with connection flags in any order."""
    root = typer.main.get_command(app)
    root_flags = {opt for param in root.params for opt in param.opts}
    takes_value = {opt for param in root.params if not getattr(param, "is_flag", False) for opt in param.opts}
    before: list[str] = []
    after: list[str] = []
    args = iter(argv)
    for arg in args:
        flag = arg.split("=", 1)[0]
        if flag in root_flags:
            before.append(arg)
            if flag in takes_value and "=" not in arg:
                before.append(next(args, ""))
        else:
            after.append(arg)
    _exit_hard(lambda: root.main(args=[*before, "worker", *after], prog_name="worker.py", standalone_mode=True))


if __name__ == "__main__":
    main()
