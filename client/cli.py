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

from client.output import OutputFormat, emit, errors
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
OutputOpt = typer.Option(OutputFormat.table, "--output", "-o", help="table, json or yaml")


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
) -> None:
    """Start the embedded Temporal dev server (SQLite in the data directory) and a worker."""
    from client.devserver import DevServer
    from client.dev import run_dev

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
) -> None:
    """Run a worker against any Temporal server (flags or TEMPORAL_* variables)."""
    from client.dev import run_worker_forever

    _allow(allow_local_jobs, allow_local_repos)
    if work_dir:
        os.environ["GANTRY_WORK_DIR"] = str(work_dir)
    run(run_worker_forever(State.settings, worker_id=worker_id))


# -- manifests ---------------------------------------------------------------------------


@app.command()
def apply(
    files: list[Path] = typer.Option(..., "--filename", "-f", help="YAML file or directory (repeatable)"),
    project: Optional[str] = typer.Option(None, "--project", "-p", help="project for documents without a namespace"),
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
        gantry = await _connect()
        for line in await gantry.apply(plan.documents):
            print(line)
        for freight_project, freight in plan.freight:
            created = await gantry.create_freight(freight_project, freight)
            print(f"freight/{created['name']} ({created.get('alias')}) applied")

    run(go())


# -- get ---------------------------------------------------------------------------------


@get_app.command("projects")
def get_projects(output: OutputFormat = OutputOpt) -> None:
    async def go() -> None:
        gantry = await _connect()
        names = await gantry.projects()
        emit([{"name": n} for n in names], ["name"], output, title="projects")

    run(go())


@get_app.command("stages")
def get_stages(project: str = ProjectOpt, output: OutputFormat = OutputOpt) -> None:
    async def go() -> None:
        gantry = await _connect()
        stages = await gantry.stages(project)
        rows = [
            {
                "name": s.name,
                "freight": s.freight_alias or (s.freight or "")[:7],
                "since": s.since.isoformat(timespec="seconds") if s.since else "",
                "upstream": ", ".join(s.upstream) or ("(direct)" if s.direct else ""),
                "steps": s.steps,
                "verification": "yes" if s.verification else "",
            }
            for s in stages
        ]
        emit(rows, ["name", "freight", "since", "upstream", "steps", "verification"], output, raw=stages, title="stages")

    run(go())


@get_app.command("warehouses")
def get_warehouses(project: str = ProjectOpt, output: OutputFormat = OutputOpt) -> None:
    """Warehouses with their subscriptions and how their last discovery went."""

    async def go() -> None:
        gantry = await _connect()
        manifests = await gantry.manifests(project)
        warehouses = ((manifests.get("projects") or {}).get(project) or {}).get("warehouses") or {}
        rows, raw = [], []
        for name, wh in sorted(warehouses.items()):
            status = await gantry.warehouse_status(project, name)
            rows.append(_warehouse_row(name, wh, status))
            raw.append({**wh, "status": status.model_dump(mode="json", by_alias=True) if status else {}})
        emit(rows, ["name", "interval", "subscriptions", "last discovery", "freight", "status"], output, raw=raw, title="warehouses")

    run(go())


def _warehouse_row(name: str, wh: dict[str, Any], status: Any) -> dict[str, Any]:
    subs = []
    for sub in (wh.get("spec") or {}).get("subscriptions") or []:
        for kind in ("image", "git", "chart"):
            if sub.get(kind):
                subs.append(f"{kind}:{sub[kind].get('repoURL')}")
    row = {"name": name, "interval": (wh.get("spec") or {}).get("interval"), "subscriptions": ", ".join(subs)}
    if status is None:
        return {**row, "last discovery": "-", "freight": "-", "status": "not started"}
    last = f"{status.last_pass_at:%Y-%m-%d %H:%M:%S}" if status.last_pass_at else "-"
    state = f"error: {status.error}" if status.error else (status.message or "ok")
    if status.discovering:
        state = "discovering; " + state
    return {**row, "last discovery": last, "freight": status.last_freight_alias or "-", "status": state}


refresh_app = typer.Typer(help="Make Warehouses discover now.", no_args_is_help=True)
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
        row = _warehouse_row(name, wh, status)
        emit([row], ["name", "last discovery", "freight", "status"], output, raw=status.model_dump(mode="json"))
        if status.error:
            raise typer.Exit(1)

    run(go())


@get_app.command("freight")
def get_freight(
    project: str = ProjectOpt,
    name: Optional[str] = typer.Argument(None, help="name or alias; all when omitted"),
    limit: int = typer.Option(100, "--limit", "-n", min=1, help="at most this many, newest first"),
    continue_token: Optional[str] = typer.Option(
        None, "--continue", help="the token a previous page printed: the next page"
    ),
    warehouse: Optional[str] = typer.Option(None, "--warehouse", "-w", help="only Freight from this Warehouse"),
    output: OutputFormat = OutputOpt,
) -> None:
    async def go() -> None:
        from pipeline.freight import artifact_summary, freight_document
        from pipeline.manifests import ManifestSet

        gantry = await _connect()
        next_token = None
        if name:
            items = [await gantry.get_freight(project, name)]
        else:
            page = await gantry.freight_page(project, limit=limit, token=continue_token, warehouse=warehouse)
            items, next_token = page.items, page.next_token
        manifests = ManifestSet.model_validate(await gantry.manifests(project))
        now = datetime.now(timezone.utc)
        rows = []
        for f in items:
            availability = await gantry.availability(project, f, manifests)
            rows.append(
                {
                    "name": f["name"][:12],
                    "alias": f.get("alias"),
                    "artifacts": artifact_summary(f),
                    "in": ", ".join(sorted(((f.get("status") or {}).get("currentlyIn") or {}).keys())),
                    "stages": ", ".join(f"{stage}: {a.describe(now)}" for stage, a in availability.items()),
                }
            )
        raw = [freight_document(f, project) for f in items]
        emit(rows, ["name", "alias", "artifacts", "in", "stages"], output, raw=raw, title="freight")
        if next_token:  # on stderr, so JSON and YAML on stdout stay one list
            errors.print(f"more: gantry get freight -p {project} --limit {limit} --continue {next_token}", soft_wrap=True)

    run(go())


@get_app.command("promotions")
def get_promotions(
    project: str = ProjectOpt,
    stage: Optional[str] = typer.Option(None, "--stage", "-s"),
    collected: bool = typer.Option(
        False, "--collected", help="also those past garbage collection that Temporal still retains"
    ),
    output: OutputFormat = OutputOpt,
) -> None:
    async def go() -> None:
        gantry = await _connect()
        rows = await gantry.promotions(project, stage, collected=collected)
        emit(rows, ["name", "stage", "freight", "phase", "started"], output, title="promotions")

    run(go())


@get_app.command("promotion")
def get_promotion(
    name: str = typer.Argument(..., help="promotion name or workflow id"),
    project: str = ProjectOpt,
    output: OutputFormat = OutputOpt,
    watch: bool = typer.Option(False, "--watch", "-w", help="follow it step by step until it ends (as promote --wait)"),
) -> None:
    """One promotion with every step's record."""
    if watch:
        raise typer.Exit(run(_watch_promotion(project, name)))

    async def go() -> None:
        gantry = await _connect()
        status = await gantry.promotion_status(await gantry.find_promotion(project, name))
        rows = [
            {
                "#": i,
                "step": s.alias,
                "uses": s.uses,
                "status": s.status,
                "errors": s.error_count,
                "started": s.started_at.isoformat(timespec="seconds") if s.started_at else "",
                "finished": s.finished_at.isoformat(timespec="seconds") if s.finished_at else "",
                "message": s.message,
            }
            for i, s in enumerate(status.steps, start=1)
        ]
        if output == OutputFormat.table:
            print(f"{status.name}: {status.phase}  {status.message}")
        emit(rows, ["#", "step", "uses", "status", "errors", "started", "finished", "message"], output, raw=status, title="steps")

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
        emit(
            [{"name": created["name"], "alias": created.get("alias"), "origin": origin}],
            ["name", "alias", "origin"],
            output,
            raw=created,
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
    freight: Optional[str] = typer.Option(None, "--freight", help="Freight name, alias or name prefix"),
    wait: bool = typer.Option(False, "--wait", help="show each step as it runs; exit 1 unless it succeeds"),
    dry_run: bool = typer.Option(False, "--dry-run", help="render configs, run file steps in a scratch clone, push nothing, print the diff"),
    abort: Optional[str] = typer.Option(None, "--abort", metavar="NAME", help="abort the running promotion NAME"),
    wait_for_soak: bool = typer.Option(False, "--wait-for-soak", help="if the Freight is still soaking upstream, wait for it (durably)"),
) -> None:
    """Promote Freight to a Stage (or abort a running promotion with --abort NAME)."""
    from client.api import GantryError
    from client.progress import Detached, detach_hint, follow_promotion

    async def go() -> int:
        gantry = await _connect()
        if abort:
            workflow_id = await gantry.find_promotion(project, abort)
            await gantry.abort_promotion(workflow_id, f"aborted by {getpass.getuser()}")
            print(f"promotion {abort}: abort requested")
            return 0
        if not stage or not freight:
            raise GantryError("--stage and --freight are required (or --abort NAME)")
        handle = await gantry.promote(
            project, stage, freight, actor=getpass.getuser(), dry_run=dry_run, wait_for_soak=wait_for_soak, check=True
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
        gantry = await _connect()
        views = {s.name: s for s in await gantry.stages(project)}
        if name not in views:
            from client.api import GantryError

            raise GantryError(f"stage {name!r} does not exist in project {project}")
        view = views[name]
        lock = await gantry.stage_lock(project, name)
        history = await gantry.stage_history(project, name)
        verifications = await gantry.verification_history(project, name)
        raw = {"stage": view, "lock": lock, "history": history, "verifications": verifications}
        if output != OutputFormat.table:
            emit([], [], output, raw=raw)
            return
        print(f"stage {name}: freight {view.freight_alias or '-'} ({(view.freight or '')[:12]}) since {view.since or '-'}")
        print(f"lock: held by {lock.holder if lock and lock.holder else 'nobody'}; waiting: {len(lock.queue) if lock else 0}")
        for waiting in lock.queue if lock else []:
            print(f"  - {waiting}")
        for freight_name, until in sorted((lock.pending if lock else {}).items(), key=lambda item: item[1]):
            print(f"auto-promotion of {freight_name[:12]} when its soak ends at {until:%Y-%m-%d %H:%M:%S} UTC")
        rows = [
            {"freight": h["freight"][:12], "since": h["since"], "until": h.get("until") or "(current)", "promotion": h.get("promotion", "").rsplit("/", 1)[-1]}
            for h in history
        ]
        emit(rows, ["freight", "since", "until", "promotion"], output, title="freight history")
        if verifications:
            print()
            runs = [
                {"freight": v.get("freight", "")[:12], "phase": v.get("phase"), "finished": v.get("finishedAt"), "message": (v.get("message") or "")[:80]}
                for v in verifications
            ]
            emit(runs, ["freight", "phase", "finished", "message"], output, title="verifications")

    run(go())


def _register_plugins() -> None:
    """Commands that live in their own modules (they import this module: under
    `python -m client.cli` it must be the same module object, not a second copy)."""
    import importlib

    sys.modules.setdefault("client.cli", sys.modules[__name__])

    for module in ("client.commands.validate", "client.commands.expr", "client.commands.verify"):
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
