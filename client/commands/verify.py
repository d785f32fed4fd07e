"""`gantry verify`, `gantry verification logs` and `gantry analyze`."""

from __future__ import annotations

import asyncio
import json
import sys
import time
import uuid
from pathlib import Path

import typer

from client.output import OutputFormat, emit, errors


def _print_run(status, output: OutputFormat, project: str = "") -> None:
    from client.documents import rfc3339

    if output in (OutputFormat.json, OutputFormat.yaml):
        from client.documents import analysis_run_document

        emit([], [], output, raw=analysis_run_document(project, status))
        return
    print(f"{status.id}: {status.phase}  {status.message}")
    for metric in status.metrics:
        flag = " (dry run)" if metric.dry_run else ""
        print(f"  metric {metric.name}{flag}: {metric.phase}")
        for i, m in enumerate(metric.measurements, start=1):
            value = json.dumps(m.value) if not isinstance(m.value, str) else m.value
            at = rfc3339(m.finished_at) if m.finished_at else ""
            print(f"    #{i} {at} {m.phase} value={value[:80]} {m.message[:120]}".rstrip())


def register(app: typer.Typer) -> None:
    from client.cli import OutputOpt, ProjectOpt, _connect, run

    verification_app = typer.Typer(help="Inspect verification runs.", no_args_is_help=True)
    app.add_typer(verification_app, name="verification")

    @app.command()
    def verify(
        project: str = ProjectOpt,
        stage: str = typer.Option(..., "--stage", "-s"),
        abort: bool = typer.Option(False, "--abort", help="abort the running verification (it ends Failed; its workflow Canceled)"),
        wait: bool = typer.Option(True, "--wait/--no-wait"),
    ) -> None:
        """Re-run verification of the Stage's current Freight, or abort the running one."""
        from client.api import GantryError
        from client.progress import Reconnect, address_of

        async def go() -> int:
            gantry = await _connect()
            if abort:
                workflow_id = await gantry.running_verification(project, stage)
                if workflow_id is None:
                    raise GantryError(f"stage {stage} is not verifying")
                await gantry.client.get_workflow_handle(workflow_id).cancel(reason="aborted by user")
                print(f"verification {workflow_id}: abort requested")
                return 0
            handle = await gantry.reverify(project, stage)
            print(f"verification of stage {stage} started (workflow id {handle.id})")
            if not wait:
                return 0
            # waiting survives a server restart: reconnect, then the verification's outcome
            reconnect = Reconnect(address_of(gantry))
            status = await reconnect.call(lambda: gantry.promotion_result(handle.id))
            print(f"{status.phase}: {status.verification or status.message}")
            return 0 if status.verified_at else 1

        raise typer.Exit(run(go()))

    @verification_app.command("logs")
    def logs(
        project: str = ProjectOpt,
        stage: str = typer.Option(..., "--stage", "-s"),
        follow: bool = typer.Option(False, "--follow", "-f", help="keep printing until the verification ends"),
        output: OutputFormat = OutputOpt,
    ) -> None:
        """The latest verification of a Stage: every measurement, and job output as it runs
        (job logs are read from this machine's work directory, where a local worker writes them)."""
        from client.api import GantryError
        from workflows.verification import VerificationStatus

        async def go() -> None:
            gantry = await _connect()
            workflow_id = await gantry.latest_verification(project, stage)
            if workflow_id is None:
                raise GantryError(f"stage {stage} has no verification yet")
            handle = gantry.client.get_workflow_handle(workflow_id)
            offsets: dict[Path, int] = {}
            while True:
                status = await handle.query("status", result_type=VerificationStatus)
                # job output goes to stderr when stdout is one JSON or YAML document
                _tail_job_logs(workflow_id, offsets, structured=output in (OutputFormat.json, OutputFormat.yaml))
                if not follow or status.phase not in ("Running", "Pending"):
                    break
                await asyncio.sleep(1)
            _print_run(status, output, project)

        run(go())

    @app.command()
    def analyze(
        files: list[Path] = typer.Option(..., "--filename", "-f", help="AnalysisTemplate YAML (repeatable)"),
        arg: list[str] = typer.Option([], "--arg", help="name=value (repeatable)"),
        output: OutputFormat = OutputOpt,
    ) -> None:
        """Run an AnalysisRun from templates on disk, without a Stage; exit 0 only if Successful."""
        from client.manifests import load_paths
        from pipeline.analysis import AnalysisSpecError, build_run_spec
        from pipeline.manifests import AnalysisTemplate, ClusterAnalysisTemplate, ManifestError
        from temporalio.common import SearchAttributePair, TypedSearchAttributes

        from workflows.search_attributes import PHASE
        from workflows.verification import VerificationRequest, VerificationStatus

        try:
            loaded = load_paths([str(f) for f in files], default_project="analyze")
            templates = [
                m.manifest for m in loaded.manifests if isinstance(m.manifest, (AnalysisTemplate, ClusterAnalysisTemplate))
            ]
            args = dict(a.split("=", 1) for a in arg if "=" in a)
            spec = build_run_spec(templates, args)
        except (ManifestError, AnalysisSpecError, ValueError) as err:
            errors.print(f"[red]error:[/red] {err}", highlight=False)
            raise typer.Exit(1) from None

        async def go() -> int:
            gantry = await _connect()
            handle = await gantry.client.start_workflow(
                "VerificationWorkflow",
                VerificationRequest(spec=spec),
                id=f"analysis/{time.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:6]}",
                task_queue=gantry.task_queue,
                result_type=VerificationStatus,
                static_summary="gantry analyze: " + ", ".join(t.metadata.name for t in templates),
                search_attributes=TypedSearchAttributes([SearchAttributePair(PHASE, "Running")]),
            )
            status = await gantry.verification_result(handle.id)
            _print_run(status, output)
            return 0 if status.phase == "Successful" else 1

        raise typer.Exit(run(go()))


def _tail_job_logs(run_id: str, offsets: dict[Path, int], *, structured: bool = False) -> None:
    """Print what job metrics wrote since the last call (local workers only)."""
    from activities.metrics.base import analysis_dir

    folder = analysis_dir(run_id)
    if not folder.is_dir():
        return
    for log in sorted(folder.glob("*.log")):
        with open(log, "rb") as handle:
            handle.seek(offsets.get(log, 0))
            chunk = handle.read()
            offsets[log] = handle.tell()
        for line in chunk.decode(errors="replace").splitlines():
            print(f"[{log.stem}] {line}", flush=True, file=sys.stderr if structured else sys.stdout)
